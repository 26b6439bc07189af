"""SparseByteNN: fine-grained group-sparse convolution for MNN models.

    import sparsebytenn
    sparsebytenn.convert("model.mnn", "model.sparse.mnn", sparsity=0.5)
    backend = sparsebytenn.enable()          # register the MNN plugin
    sess = sparsebytenn.Session("model.sparse.mnn", plugin=True, threads=1)
    outputs = sess.run({"input": x})
"""
from .errors import SparseByteNNError

__version__ = "0.1.0"

__all__ = ["SparseByteNNError", "__version__", "convert", "read_model", "enable", "BACKEND", "Session"]


def convert(in_path, out_path, **options):
    """Rewrite an .mnn with group-sparse metadata; see sparsebytenn_converter.convert."""
    from sparsebytenn_converter import convert as _convert

    return _convert(in_path, out_path, **options)


def read_model(path):
    """Read an .mnn's convolutions (bounds-checked); see sparsebytenn_converter.read_model."""
    from sparsebytenn_converter import read_model as _read_model

    return _read_model(path)


def enable() -> int:
    """Register the MNN bridge; returns the MNN backend type for configs (see plugin.py)."""
    from . import plugin

    return plugin.enable()


def __getattr__(name):
    # Lazy: `import sparsebytenn` must not import MNN or load the bridge.
    if name == "BACKEND":
        return enable()
    if name == "Session":
        from .session import Session

        return Session
    raise AttributeError(f"module 'sparsebytenn' has no attribute {name!r}")
