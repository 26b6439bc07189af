"""The fp16 bridge matrix in full (issue 16): every zoo model at 30 / 50 / 90 %, Interpreter
and Module APIs, 1 and 2 threads, precision=low sessions of the aarch64 MNN==3.6.1 wheel
under qemu-aarch64 -cpu neoverse-n1, each against stock MNN's own fp16 run of the same file
(correctness only; nothing here is timed). The suite runs a reduced matrix
(tests/bridge/test_bridge_aarch64_fp16_qemu.py, same code and tolerance); this one takes
about 20-30 minutes (224 px runs take ~24 s each under qemu):

  .venv/bin/python docs/results/arm_fp16_bridge.py docs/results/arm-fp16-bridge.json

Exits non-zero when a run exceeds the tolerance or a tagged conv fell back to MNN.
"""
import datetime
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "bridge"), str(ROOT / "tests"), str(ROOT / "python"), str(ROOT / "converter")]
from fp16_matrix import ALL_CASES, run_matrix, zoo_model  # noqa: E402
from test_bridge_aarch64_fp16_qemu import F16_TOL  # noqa: E402

ZOO = ("mobilenet-v1", "efficientnet-lite0", "mobilenet-v1-fmnist", "efficientnet-lite0-fmnist")
SPARSITIES = (0.3, 0.5, 0.9)


def main(out: Path) -> int:
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        models, expect = [], {}
        for name in ZOO:
            for sp in SPARSITIES:
                row, n = zoo_model(name, sp, Path(d), ALL_CASES)
                models.append(row)
                expect[row[0]] = (name, sp, n)
        res = run_matrix(models, Path(d) / "home", timeout=7200)
    rows, bad = [], 0
    for run in res["runs"]:
        name, sp, n = expect[run.pop("model")]
        ok = run["err"] <= F16_TOL and run["ours_vs_fp32"] <= F16_TOL and run["convs"] == n
        bad += not ok
        rows.append({"model": name, "sparsity": sp, "tagged_convs": n, **run, "ok": ok})
        print(f"{name:26} {sp:.1f} {run['api']:11} {run['threads']}t  ours vs stock fp16 {run['err']:.2e}  "
              f"stock fp16 vs fp32 {run['stock_fp16_vs_fp32']:.2e}  convs {run['convs']}/{n}  "
              f"{'ok' if ok else 'FAILED'}")
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    out.write_text(json.dumps({
        "command": "python docs/results/arm_fp16_bridge.py " + str(out),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host_cpu": cpu, "host": platform.machine(), "emulator": "qemu-aarch64 -cpu neoverse-n1",
        "tolerance": f"{F16_TOL} of max |output| (vs stock MNN fp16 and vs stock fp32)",
        "probe": res["probe"], "low_precision": res["low_precision"], "seconds": round(time.time() - t0),
        "runs": rows, "failed": bad}, indent=1) + "\n")
    print(f"{len(rows)} runs, {bad} failed, {time.time() - t0:.0f} s -> {out}")
    return 1 if bad or not res["low_precision"] else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "results" / "arm-fp16-bridge.json"))
