"""The converter's one error type.

It derives from sparsebytenn.errors.SparseByteNNError when that package is
importable, so the CLI prints it as one clean line; the converter itself stays
usable without the rest of the project.
"""
try:  # pragma: no cover - trivial import switch
    from sparsebytenn.errors import SparseByteNNError as _Base
except ImportError:  # pragma: no cover
    _Base = Exception


class ModelError(_Base):
    """A model file that cannot be read or converted; the message names the file."""
