"""The project's one exception type for bad input."""


class ProblemError(ValueError):
    """Invalid input (data, shapes, labels, options).

    The message is one line that names what is wrong and, where there is one, the
    offending row; the command-line tool prints it and exits with status 2.
    """
