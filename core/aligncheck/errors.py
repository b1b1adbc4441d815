"""The exceptions for bad input: ProblemError, and its case of non-separable data."""


class ProblemError(ValueError):
    """Invalid input (data, shapes, labels, options).

    The message is one line that names what is wrong and, where there is one, the
    offending row; the command-line tool prints it and exits with status 2.
    """


class NotSeparableError(ProblemError):
    """No w has ⟨w, z_i⟩ > 0 for every row (a ProblemError, so callers may catch either).

    The message says why in a user's terms: the network has no bias, so separable means
    separable by a hyperplane through the origin, and data separated by an affine hyperplane
    become separable through the origin with a constant feature appended."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"data are not linearly separable by a hyperplane through the origin (the network has no bias term): {why}; "
            "if a hyperplane with an offset separates them, append a constant feature (a column of 1s) to X"
        )
