"""What runs inside a worker process: load one model on one engine, infer.

Every runner times the same unit of work, one full inference as a user calls
it: copy the input in, run, copy every output out to numpy. That is what
`sparsebytenn.Session.run` and `onnxruntime.InferenceSession.run` do, so stock
MNN is timed the same way (the copies are ~0.1 ms of a ~10 ms MobileNet run).

Interface: Runner(path, threads, options, inputs) with `.info` (dict sent back
to the parent), `.infer() -> {output name: ndarray}`; the MNN and plugin runners
also have `.profile(runs) -> {op name: ms}` (MNN's per-op timing) and `.op_table()`
-> {op name: {"type", "plugin"}} (what each op is and who ran it).
"""
from __future__ import annotations

import numpy as np

from .worker import EngineUnavailable


class MNNRunner:
    """A .mnn in stock MNN through sparsebytenn.Session (the one MNN runner, which
    checks every status MNN returns): plugin=False is stock MNN's CPU backend (dense,
    or MNN's own sparse path on a file it tagged), PluginRunner the bridge. Both are
    timed by the same Session.run, so the ratios compare engines, not wrappers."""

    plugin = False

    def __init__(self, path, threads, options, inputs):
        from ..session import Session

        self.session = Session(str(path), plugin=self.plugin, threads=int(threads))
        self._feed = {k: np.ascontiguousarray(v, dtype=np.float32)
                      for k, v in _match_names(list(self.session.input_names), inputs).items()}
        self.infer()
        stats = self.session.stats()
        self.info = {"engine_version": self.session.mnn_version, "backend_type": stats["backend_type"]}
        if self.plugin:
            self.info["plugin_convs"] = int(stats["plugin_convs"])
            self.info["plugin_depthwise"] = int(stats["plugin_ops"]["depthwise"])
            self.info["plugin_direct_convs"] = int(stats["plugin_ops"]["direct_conv"])
            self.info["plugin_pointwise"] = int(stats["plugin_ops"]["pointwise"])

    def profile(self, runs: int = 5) -> dict[str, float]:
        """MNN's own per-op timing: op name -> median ms."""
        return self.session.profile(self._feed, runs)

    def op_table(self) -> dict[str, dict]:
        """op name -> {"type", "plugin"}: what each op is and whether the bridge ran it."""
        return self.session.op_table(self._feed)

    def infer(self):
        out = self.session.run(self._feed)
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


class PluginRunner(MNNRunner):
    """The converter's sparse output through the SparseByteNN MNN bridge."""

    plugin = True


class PluginNoDepthwiseRunner(MNNRunner):
    """The plugin with its depthwise convs left to MNN (this worker process only)."""

    plugin = True

    def __init__(self, path, threads, options, inputs):
        import os

        os.environ["SPARSEBYTENN_DWCONV"] = "off"   # read by the bridge when the session is created
        super().__init__(path, threads, options, inputs)


class OnnxRuntimeRunner:
    """ONNX Runtime (CPU execution provider) on the original model's ONNX form."""

    def __init__(self, path, threads, options, inputs):
        try:
            import onnxruntime as ort
        except ImportError:
            raise EngineUnavailable("onnxruntime is not installed "
                                    "(pip install 'sparsebytenn[bench]' or onnxruntime)") from None
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        names = [i.name for i in self.session.get_inputs()]
        self._feed = {k: np.ascontiguousarray(v, dtype=np.float32)
                      for k, v in _match_names(names, inputs).items()}
        self._names = [o.name for o in self.session.get_outputs()]
        self.info = {"engine_version": ort.__version__}

    def infer(self):
        return dict(zip(self._names, self.session.run(self._names, self._feed)))


def _match_names(names: list[str], inputs: dict) -> dict:
    """Map the engine's input names to the arrays: by name, or by position when
    the model has exactly as many inputs (ONNX and MNN may spell names apart)."""
    if set(names) == set(inputs):
        return {n: inputs[n] for n in names}
    if len(names) == len(inputs):
        return dict(zip(names, inputs.values()))
    raise ValueError(f"the model has inputs {names}, the benchmark feeds {list(inputs)}")


class InputProbe:
    """Reads a .mnn model's input names and shapes (to build the benchmark input)."""

    def __init__(self, path, threads, options, inputs):
        from ..session import Session

        self.info = {"inputs": Session(str(path), plugin=False).input_shapes}

    def infer(self):
        return {}
