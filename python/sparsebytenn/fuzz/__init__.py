"""Fuzzing the code that reads untrusted model files (`python -m sparsebytenn.fuzz --help`).

Inputs are mutations of real zoo models (truncation, bit flips, byte runs, corrupted
offsets, vtables, vector lengths, union types, swapped tables, huge lengths,
aliasing) and files that are not models at all, fed to the paths of `inspect`,
`convert` and `run`. Anything but a clean SparseByteNNError -- another exception,
a crash, more than 2 s of CPU or too much memory, a half-written output -- is a
failure, saved as a small replayable recipe.
"""
from .mutate import apply, generate
from .runner import Config, campaign, make_input, replay

__all__ = ["Config", "apply", "campaign", "generate", "make_input", "replay"]
