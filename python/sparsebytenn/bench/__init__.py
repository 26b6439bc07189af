"""Side-by-side benchmark: stock MNN (dense, pruned-dense, its own sparse path),
the SparseByteNN plugin and ONNX Runtime, each engine in its own process,
interleaved round by round.

    from sparsebytenn.bench import BenchConfig, run_bench, write_json
    result = run_bench(BenchConfig(["mobilenet-v1"], sparsities=(0.5,), threads=(1,)))

Modules: engines (the list), prepare (models and cached conversions), worker and
runners (one engine per process), schedule and measure (the timing method),
stats (median, IQR, per-round ratios, Amdahl ideal), machine, report.
"""
from .breakdown import breakdown, format_breakdown
from .engines import ENGINES
from .harness import FULL, QUICK, BenchConfig, run_bench
from .report import format_markdown, format_table, write_json, write_markdown, write_plot

__all__ = ["breakdown", "format_breakdown", "ENGINES", "BenchConfig", "run_bench", "QUICK", "FULL", "format_table",
           "format_markdown", "write_json", "write_markdown", "write_plot"]
