"""What runs inside a worker process: load one model on one engine, infer.

Every runner times the same unit of work, one full inference as a user calls
it: copy the input in, run, copy every output out to numpy. That is what
`sparsebytenn.Session.run` and `onnxruntime.InferenceSession.run` do, so stock
MNN is timed the same way (the copies are ~0.1 ms of a ~10 ms MobileNet run).

Interface: Runner(path, threads, options, inputs) with `.info` (dict sent back
to the parent), `.infer() -> {output name: ndarray}`; the MNN and plugin runners
also have `.profile(runs) -> {op name: ms}` (MNN's per-op timing).
"""
from __future__ import annotations

import numpy as np

from .worker import EngineUnavailable


class MNNRunner:
    """Stock MNN (Interpreter + Session, CPU backend) — or any MNN backend type."""

    def __init__(self, path, threads, options, inputs, backend="CPU"):
        import MNN

        self._mnn = MNN
        self.interp = MNN.Interpreter(str(path))
        self.session = self.interp.createSession({"backend": backend, "numThread": int(threads)})
        tensors = self.interp.getSessionInputAll(self.session)
        names = _match_names(list(tensors), inputs)
        resized = False
        for name, arr in names.items():
            if tuple(tensors[name].getShape()) != arr.shape:
                self.interp.resizeTensor(tensors[name], arr.shape)
                resized = True
        if resized:
            self.interp.resizeSession(self.session)
            tensors = self.interp.getSessionInputAll(self.session)
        self._inputs = []
        for name, arr in names.items():
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            host = MNN.Tensor(arr.shape, MNN.Halide_Type_Float, arr, MNN.Tensor_DimensionType_Caffe)
            self._inputs.append((tensors[name], host, arr))  # keep arr alive: host may borrow it
        self._outputs = []
        for name, t in self.interp.getSessionOutputAll(self.session).items():
            shape = tuple(t.getShape())
            host = MNN.Tensor(shape, MNN.Halide_Type_Float, np.zeros(shape, np.float32),
                              MNN.Tensor_DimensionType_Caffe)
            self._outputs.append((name, t, host))
        self.info = {"engine_version": MNN.version(),
                     "backend_type": self.interp.getSessionInfo(self.session, 2)}

    def infer(self):
        for tensor, host, _ in self._inputs:
            tensor.copyFromHostTensor(host)
        status = self.interp.runSession(self.session)
        if status != 0:  # MNN leaves the outputs as they were: a wrong result, never a reference
            raise RuntimeError(f"MNN could not run the model (status {status})")
        out = {}
        for name, tensor, host in self._outputs:
            tensor.copyToHostTensor(host)
            out[name] = np.array(host.getNumpyData(), dtype=np.float32, copy=True)
        return out

    def profile(self, runs: int = 5) -> dict[str, float]:
        """MNN's own per-op timing (runSessionWithCallBackInfo): op name -> median ms."""
        from sparsebytenn_converter.op_profile import profile_ops

        for tensor, host, _ in self._inputs:
            tensor.copyFromHostTensor(host)
        return profile_ops(self.interp, self.session, runs)


class PluginRunner:
    """The converter's sparse output through the SparseByteNN MNN bridge."""

    def __init__(self, path, threads, options, inputs):
        from ..session import Session

        self.session = Session(str(path), plugin=True, threads=int(threads))
        self._feed = {k: np.ascontiguousarray(v, dtype=np.float32)
                      for k, v in _match_names(list(self.session.input_names), inputs).items()}
        self.infer()
        self.info = {"plugin_convs": int(self.session.stats()["plugin_convs"])}

    def profile(self, runs: int = 5) -> dict[str, float]:
        return self.session.profile(self._feed, runs)

    def infer(self):
        out = self.session.run(self._feed)
        return {k: np.asarray(v, dtype=np.float32) for k, v in out.items()}


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
        import MNN

        interp = MNN.Interpreter(str(path))
        session = interp.createSession({"backend": "CPU", "numThread": 1})
        self.info = {"inputs": {name: list(t.getShape())
                                for name, t in interp.getSessionInputAll(session).items()}}

    def infer(self):
        return {}
