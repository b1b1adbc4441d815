"""The exceptions for bad input: ProblemError, and its case of non-separable data."""


class ProblemError(ValueError):
    """Invalid input (data, shapes, labels, options).

    The message is one line that names what is wrong and, where there is one, the
    offending row; the command-line tool prints it and exits with status 2.
    """


class NotSeparableError(ProblemError):
    """No w has ⟨w, z_i⟩ > 0 for every row (a ProblemError, so callers may catch either)."""
