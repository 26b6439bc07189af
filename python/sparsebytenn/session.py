"""`Session`: run an .mnn model in MNN, with or without the SparseByteNN bridge.

    sess = sparsebytenn.Session("model.sparse.mnn", plugin=True, threads=2)
    outputs = sess.run(x)              # or sess.run({"input": x}); -> {name: ndarray}
    sess.stats()                       # {"plugin_convs": 13, "ops": {...}, ...}

It is a thin layer over the project's one stock-MNN runner
(sparsebytenn_converter.mnn_wheel.MNNSession, over MNN's Interpreter API): the same
model, the same MNN CPU backend for every op, the tagged convolutions run by the
bridge when plugin=True.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from . import plugin as _plugin
from .errors import SparseByteNNError
from sparsebytenn_converter.mnn_wheel import MNNSession

# How the bridge's notes on the dense ops it may take over begin, by kind.
_DENSE_NOTES = {"depthwise": "depthwise conv ", "direct_conv": "direct conv ", "pointwise": "pointwise conv "}


class Session(MNNSession):
    """A model loaded into stock MNN (through the bridge with plugin=True): the project's
    one MNN runner (sparsebytenn_converter.mnn_wheel.MNNSession, which feeds inputs,
    reads outputs and checks every status MNN returns) after the reader validated the
    file, with the bridge's bookkeeping (fallbacks, convs run by the plugin).

    isolate=True first loads the model and runs one inference on random inputs in a
    child process (what `sparsebytenn run`, `convert` and `eval` do with every file):
    the few well-formed files on which MNN 3.6.1 itself crashes then raise
    SparseByteNNError instead of killing this process. It costs one load and run."""

    Error = SparseByteNNError

    def __init__(self, path, plugin: bool = True, threads: int = 1, precision: str | None = None,
                 isolate: bool = False):
        path = Path(path)
        if not path.is_file():
            raise SparseByteNNError(f"{path}: no such model file")
        if int(threads) < 1:
            raise SparseByteNNError(f"threads must be >= 1, not {threads}")
        # Validate before MNN sees the file: stock MNN trusts it and can crash the
        # process on a corrupted one; the reader turns that into a clean error.
        from sparsebytenn_converter import read_model

        read_model(path)
        if isolate:
            from .preflight import check

            check(path, plugin, int(threads))
        backend = _plugin.enable() if plugin else _plugin.MNN_FORWARD_CPU
        self.plugin = backend == _plugin.BRIDGE_TYPE
        notes_before = _plugin.thread_note_count()
        created_before = _plugin.thread_convs_created()
        packed_before = _plugin.thread_convs_packed()
        dense_created_before = {k: _plugin.thread_dense_created(k) for k in _plugin.DENSE_OPS}
        super().__init__(path, threads=threads, backend=backend, precision=precision)
        self.backend = backend
        self.plugin_convs_created = _plugin.thread_convs_created() - created_before
        self.plugin_convs_packed = {g: n - packed_before.get(g, 0) for g, n in _plugin.thread_convs_packed().items()
                                    if n - packed_before.get(g, 0)}
        self.plugin_dense_created = {k: _plugin.thread_dense_created(k) - n for k, n in dense_created_before.items()}
        self._fallbacks = _plugin.thread_notes(notes_before)
        self._last_plugin_convs = 0
        self._last_plugin_threads = 0
        self._last_plugin_dense = {k: 0 for k in _plugin.DENSE_OPS}
        self._ops: dict | None = None

    # ------------------------------------------------------------------ #
    def resize(self) -> None:
        notes_before = _plugin.thread_note_count()
        super().resize()
        self._fallbacks += _plugin.thread_notes(notes_before)   # a resize can make convs fall back

    def run(self, inputs) -> dict:
        """One inference; inputs: an array (single-input models) or {name: array}."""
        with self.lock:
            self.set_inputs(inputs)
            before, before_threads = _plugin.thread_conv_runs(), _plugin.thread_conv_threads()
            before_dense = {k: _plugin.thread_dense_runs(k) for k in _plugin.DENSE_OPS}
            notes_before = _plugin.thread_note_count()
            self.invoke()
            # the bridge notes a dense op it measured slower than MNN's own in a run
            self._fallbacks += _plugin.thread_notes(notes_before)
            self._last_plugin_dense = {k: _plugin.thread_dense_runs(k) - n for k, n in before_dense.items()}
            self._last_plugin_convs = _plugin.thread_conv_runs() - before
            self._last_plugin_threads = _plugin.thread_conv_threads() - before_threads
            return self.outputs()

    def run_timed(self, inputs, repeats: int = 10, warmup: int = 2) -> list[float]:
        """Milliseconds per inference; a plugin session's warm-up covers the bridge's
        trial runs (plugin.TRIAL_RUNS, where it runs an op twice), whatever `warmup` asks."""
        notes_before = _plugin.thread_note_count()
        try:
            return super().run_timed(inputs, repeats, max(warmup, _plugin.TRIAL_RUNS) if self.plugin else warmup)
        finally:   # e.g. the dense ops the bridge left to MNN after its trials
            self._fallbacks += _plugin.thread_notes(notes_before)

    def profile(self, inputs, runs: int = 5) -> dict[str, float]:
        """MNN's per-op timing of this session: op name -> median ms over `runs`
        inferences (the tagged convolutions are timed inside the bridge like any op)."""
        from sparsebytenn_converter.op_profile import profile_ops

        return profile_ops(self, inputs, runs)

    def op_table(self, inputs) -> dict[str, dict]:
        """One run; op name -> {"type": MNN's op type, "plugin": True when the bridge
        executed it (its per-thread count of ops run rose while the op ran)}."""
        from sparsebytenn_converter.op_profile import op_table

        return op_table(self, inputs, _plugin.thread_plugin_op_runs if self.plugin else None)

    @property
    def fallbacks(self) -> list[str]:
        """This session's notes from the bridge about tagged convs (those that fell back
        to MNN, and why), made while creating it and at every resize since; distinct, in order."""
        return [n for n in dict.fromkeys(self._fallbacks) if not n.startswith(tuple(_DENSE_NOTES.values()))]

    def dense_fallbacks(self, kind: str) -> list[str]:
        """The same for the dense ops of `kind` ("depthwise", "direct_conv", "pointwise") the bridge
        wanted but left to MNN (kept apart: `fallbacks` answers "did every tagged conv
        run in the plugin")."""
        return [n for n in dict.fromkeys(self._fallbacks) if n.startswith(_DENSE_NOTES[kind])]

    @property
    def depthwise_fallbacks(self) -> list[str]:
        return self.dense_fallbacks("depthwise")

    def stats(self) -> dict:
        """plugin_convs: tagged (sparse) convs the bridge ran in the last run();
        plugin_ops: every op it ran in that run, by type ({"sparse_conv": n, "depthwise": m,
        "direct_conv": k, "pointwise": p}); plugin_ops_created: the dense executions it created, by type;
        plugin_convs_packed: the sparse convs created, by the G the kernels packed them in
        ({G: n}; larger than the model's G where they run faster so);
        plugin_threads: the thread count the kernels were given in that run (per sparse
        conv, from numThread);
        ops: op type -> count executed per inference; fallbacks: the bridge's notes."""
        if self._ops is None:
            counts = Counter()

            def before(tensors, info):
                counts[info.getType()] += 1
                return True

            def after(tensors, info):
                return True

            self.run_with_callbacks(None, before, after)
            self._ops = dict(sorted(counts.items()))
        with self.lock:
            per_conv = self._last_plugin_threads / self._last_plugin_convs if self._last_plugin_convs else None
            return {"plugin_convs": self._last_plugin_convs, "plugin_convs_created": self.plugin_convs_created,
                    "plugin_convs_packed": dict(self.plugin_convs_packed),
                    "plugin_threads": per_conv,
                    "plugin_ops": {"sparse_conv": self._last_plugin_convs, **self._last_plugin_dense},
                    "plugin_ops_created": dict(self.plugin_dense_created),
                    "depthwise_fallbacks": self.depthwise_fallbacks,
                    "direct_conv_fallbacks": self.dense_fallbacks("direct_conv"),
                    "pointwise_fallbacks": self.dense_fallbacks("pointwise"),
                    "ops": self._ops, "backend": "sparsebytenn" if self.plugin else "mnn-cpu",
                    "backend_type": self.interp.getSessionInfo(self.session, 2),
                    "threads": self.threads, "fallbacks": self.fallbacks}
