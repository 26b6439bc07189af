"""SparseByteNN: fine-grained group-sparse convolution for MNN models.

    import sparsebytenn
    sparsebytenn.convert("model.mnn", "model.sparse.mnn", sparsity=0.5)
    backend = sparsebytenn.enable()          # register the MNN plugin
    sess = sparsebytenn.Session("model.sparse.mnn", plugin=True, threads=1)
    outputs = sess.run({"input": x})
"""
from .errors import SparseByteNNError

__version__ = "0.1.0"

__all__ = ["SparseByteNNError", "__version__"]
