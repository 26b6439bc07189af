"""The one error type the CLI turns into a clean one-line message (no traceback)."""


class SparseByteNNError(Exception):
    """An expected failure caused by the user's input or environment.

    The message must name the file (or option) and the problem, and say what to do
    when there is something to do.
    """
