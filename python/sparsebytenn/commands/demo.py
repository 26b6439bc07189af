"""`sparsebytenn demo`: the README's main command, end to end on a real model."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from ..errors import SparseByteNNError

MODEL = "mobilenet-v1"
SPARSITY = 0.5

DESCRIPTION = f"""\
The end-to-end demo (what scripts/demo.sh runs after the set-up):

  1. get {MODEL} from the model zoo (real ImageNet weights),
  2. convert it at {SPARSITY:.0%} sparsity and print the converter's report,
  3. classify a real photo with stock MNN and with the SparseByteNN plugin and print
     both top-5 lists (they must agree),
  4. run `sparsebytenn bench {MODEL} --quick` and print its table.

A step whose piece is not installed or built says so and the demo goes on with what
it can do; nothing is faked. Exit status 0 only when every step ran.

outputs (in --out DIR, default ./sparsebytenn-demo/): the converted model, the
converter report (JSON), bench.json, bench.md and bench.png.
"""

EXAMPLES = """\
examples:
  sparsebytenn demo
  sparsebytenn demo --out /tmp/demo --photo my_cat.jpg
  sparsebytenn demo --no-bench
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="the README's end-to-end demo on MobileNet-V1",
                              description=DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", metavar="DIR", default="sparsebytenn-demo",
                   help="where to write the outputs (default ./sparsebytenn-demo)")
    p.add_argument("--photo", metavar="FILE", help="classify this image instead of a bundled photo")
    p.add_argument("--no-bench", action="store_true", help="skip step 4 (the quick benchmark)")
    p.set_defaults(func=run)


def _step(n: int, title: str) -> None:
    print(f"\n== {n}. {title}", flush=True)


def _print_report(report) -> None:
    """The converter's own rendering when it has one, else a table of its layers."""
    for attr in ("format", "to_text", "table"):
        if callable(getattr(report, attr, None)):
            print(getattr(report, attr)())
            return
    if type(report).__str__ is not object.__str__:
        print(report)
        return
    print(f"  {'layer':40s} {'kind':10s} {'G':>3s} {'before':>7s} {'after':>7s}  tagged")
    for ly in getattr(report, "layers", []) or []:
        g = (lambda k: ly.get(k)) if isinstance(ly, dict) else (lambda k: getattr(ly, k, None))
        print(f"  {str(g('name'))[:40]:40s} {str(g('kind')):10s} {str(g('G')):>3s} "
              f"{g('sparsity_before') or 0:7.1%} {g('sparsity_after') or 0:7.1%}  {g('tagged')}")


def _outputs_in_worker(label: str, factory: str, path: Path, inputs: dict, log_dir: Path) -> dict:
    """One inference in a separate process (a crash there cannot take the demo down)."""
    from ..bench.worker import Worker, WorkerError

    w = Worker(label, log_dir)
    try:
        w.call("load", factory, str(path), 1, {}, inputs, timeout=600)
        return w.call("outputs", timeout=300)
    except WorkerError as exc:
        raise SparseByteNNError(f"{label}: {exc}") from None
    finally:
        w.stop()


def run(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="sbnn-demo-"))
    problems: list[str] = []

    def skip(step: str, why: str) -> None:
        print(f"   SKIPPED: {why}")
        problems.append(f"step {step}: {why}")

    # 1. the model
    _step(1, f"get {MODEL} from the zoo")
    try:
        from .. import zoo
    except ImportError as exc:
        raise SparseByteNNError(f"the model zoo is not available in this installation ({exc})") from None
    model = Path(zoo.get(MODEL, progress=True))
    print(f"   {model} ({model.stat().st_size / 1e6:.1f} MB)")

    # 2. convert at 50 %
    _step(2, f"convert at {SPARSITY:.0%} sparsity")
    from ..bench.prepare import default_converter
    converter = default_converter()
    sparse = out / f"{MODEL}.sparse{round(SPARSITY * 100)}.mnn"
    if converter is None:
        skip("2", "the converter is not available yet (sparsebytenn.convert is missing)")
        sparse = None
    else:
        try:
            report = converter(str(model), str(sparse), sparsity=SPARSITY,
                               report_path=str(out / "convert-report.json"), force=True)
            _print_report(report)
            print(f"   wrote {sparse}")
        except SparseByteNNError as exc:
            skip("2", f"conversion failed: {exc}")
            sparse = None

    # 3. classify a real photo: stock MNN and the plugin on the converted model
    _step(3, "classify a real photo")
    photos = [(Path(args.photo).stem, Path(args.photo), None)] if args.photo else zoo.sample_photos()
    if not photos:
        skip("3", "no sample photo is installed (pip install scikit-image) and no --photo given")
    else:
        name, photo, expected = next((p for p in photos if p[2]), photos[0])
        print(f"   photo: {photo}" + (f" (expected: {expected})" if expected else ""))
        x = zoo.preprocess(MODEL, photo)
        inputs = {zoo.info(MODEL)["input_name"]: x}
        runs = [("stock MNN, original", "sparsebytenn.bench.runners:MNNRunner", model)]
        if sparse is not None:
            runs += [(f"stock MNN, {SPARSITY:.0%} sparse", "sparsebytenn.bench.runners:MNNRunner", sparse),
                     (f"plugin, {SPARSITY:.0%} sparse", "sparsebytenn.bench.runners:PluginRunner", sparse)]
        tops, logits = {}, {}
        for label, factory, path in runs:
            try:
                outputs = _outputs_in_worker(label.split(",")[0].replace(" ", "-"), factory, path,
                                             inputs, logs)
                logits[label] = next(iter(outputs.values()))
                tops[label] = zoo.top_k(MODEL, logits[label], 5)
            except SparseByteNNError as exc:
                skip("3", f"{label}: {str(exc).splitlines()[0]}")
        for label, top in tops.items():
            print(f"   {label}:")
            for i, (cls, p) in enumerate(top, 1):
                print(f"     {i}. {cls:32s} {p:6.1%}")
        stock, plug = (f"stock MNN, {SPARSITY:.0%} sparse", f"plugin, {SPARSITY:.0%} sparse")
        if stock in tops and plug in tops:
            same = [c for c, _ in tops[stock]] == [c for c, _ in tops[plug]]
            diff = float(np.abs(logits[stock] - logits[plug]).max())
            print(f"   plugin vs stock MNN on the same model: top-5 {'identical' if same else 'DIFFERENT'},"
                  f" max logit difference {diff:.2e}")
            if not same:
                problems.append("step 3: the plugin's top-5 differs from stock MNN's")
            dense = "stock MNN, original"
            if dense in tops and tops[dense][0][0] != tops[stock][0][0]:
                # say it before a user concludes the plugin is wrong: it is the pruning
                print(f"   note: one-shot {SPARSITY:.0%} magnitude pruning changed the dense model's answer "
                      f"({tops[dense][0][0]} -> {tops[stock][0][0]}); the plugin computes exactly what "
                      "stock MNN computes on the pruned file. Folded batch norm makes MobileNet-V1 fragile "
                      "to magnitude pruning: use `convert --calibration` with images like your inputs "
                      "(README, 'Accuracy').")

    # 4. the quick benchmark
    if args.no_bench:
        return _finish(problems)
    _step(4, f"sparsebytenn bench {MODEL} --quick")
    from ..bench import BenchConfig, QUICK, format_table, run_bench, write_json, write_markdown, write_plot
    result = run_bench(BenchConfig([MODEL], sparsities=QUICK["sparsities"], threads=QUICK["threads"],
                                   rounds=QUICK["rounds"], runs=QUICK["runs"], warmup=QUICK["warmup"]),
                       log_dir=logs)
    print(format_table(result))
    for writer, fname in ((write_json, "bench.json"), (write_markdown, "bench.md"),
                          (write_plot, "bench.png")):
        print(f"   wrote {writer(result, out / fname)}")
    bad = [r for r in result["results"] if r["status"] != "ok"]
    if bad:
        problems.append(f"step 4: {len(bad)} engine result(s) not measured (see the table)")
    return _finish(problems)


def _finish(problems: list[str]) -> int:
    if not problems:
        print("\ndemo: every step ran.")
        return 0
    print("\ndemo: done, with gaps:")
    for p in problems:
        print(f"  - {p}")
    return 1
