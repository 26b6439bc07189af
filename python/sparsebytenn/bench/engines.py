"""The engines the benchmark compares: which model form each runs, what it is
checked against, and which runner (in runners.py) drives it in its worker."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineSpec:
    name: str
    model: str            # original | onnx | pruned-dense | sparse
    factory: str          # "module:callable" building the runner inside the worker
    reference: str | None  # engine whose outputs this one must reproduce (same sparsity)
    help: str

    @property
    def pruned(self) -> bool:
        return self.model in ("pruned-dense", "sparse")


_R = "sparsebytenn.bench.runners:"

ENGINES: dict[str, EngineSpec] = {e.name: e for e in [
    EngineSpec("mnn-dense", "original", _R + "MNNRunner", None,
               "stock MNN, the original (unpruned) model"),
    EngineSpec("onnxruntime", "onnx", _R + "OnnxRuntimeRunner", "mnn-dense",
               "ONNX Runtime on the original model's ONNX form"),
    EngineSpec("mnn-pruned-dense", "pruned-dense", _R + "MNNRunner", None,
               "stock MNN, the converter's output stored dense (format='dense')"),
    EngineSpec("mnn-sparse", "sparse", _R + "MNNRunner", "mnn-pruned-dense",
               "stock MNN running its own sparse path on the converter's sparse output"),
    EngineSpec("plugin", "sparse", _R + "PluginRunner", "mnn-pruned-dense",
               "the converter's sparse output through the SparseByteNN MNN bridge"),
    EngineSpec("plugin-nodw", "sparse", _R + "PluginNoDepthwiseRunner", "mnn-pruned-dense",
               "the same with the bridge's depthwise convs off (SPARSEBYTENN_DWCONV=off): "
               "what the depthwise kernels add"),
]}

# plugin-nodw only on request (--engines).
DEFAULT_ENGINES = [e for e in ENGINES if e != "plugin-nodw"]
