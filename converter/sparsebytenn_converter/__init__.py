"""The SparseByteNN converter: reads and rewrites .mnn files (pure Python, no C++).

    from sparsebytenn_converter import read_model, convert
    model = read_model("m.mnn")                    # validated; model.convs has the weights
    report = convert("m.mnn", "m.sparse.mnn", sparsity=0.5)
"""
from .errors import ModelError
from .model import read_model
from .convert import convert  # noqa: E402  (binds the function over the submodule name)

__all__ = ["ModelError", "read_model", "convert"]


