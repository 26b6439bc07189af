"""Peak memory of `sparsebytenn convert` on a big model (docs/results/convert-memory.md).

    python docs/results/convert_memory.py build-vgg vgg19.mnn      # VGG-19-shaped, random weights, 548 MiB
    python docs/results/convert_memory.py peak convert vgg19.mnn out.mnn --sparsity 0.5 --plain -q
    python docs/results/convert_memory.py stages vgg19.mnn out.mnn '{"plain": true, "sparsity": 0.5}'
    python docs/results/convert_memory.py mnn-alone vgg19.mnn [session|module]

`peak` runs the command in a fresh process and prints its peak RSS above the same
process's peak after importing everything the command uses (VmHWM, the kernel's
account), the total, and the wall time. `stages` runs convert() with those keyword
options in this process and prints each stage's peak RSS (VmHWM between its start and
end, reset through /proc/self/clear_refs; above the imports). `mnn-alone` is stock MNN
by itself doing what the fidelity check asks of it, for 4 random inputs, the first
output and every conv's output but the first and last: `session` as it does now (an
Interpreter session without Winograd, one input at a time, the layers' outputs copied
out as they run), `module` as it did before (the Module API, a batch of 4). OLDSRC=DIR
runs the code of a `git archive REV converter python | tar -x -C DIR` export instead of
this checkout (the "before" column).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, os, sys
if os.environ.get("OLDSRC"):        # an exported older tree instead of the editable install
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path[:0] = [os.environ["OLDSRC"] + "/converter", os.environ["OLDSRC"] + "/python"]
def hwm_kb():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
import numpy as np
from sparsebytenn_converter.mnn_wheel import import_mnn
import_mnn()
from sparsebytenn.cli import build_parser, main
import sparsebytenn.commands.convert, sparsebytenn.preflight  # noqa: F401
import sparsebytenn_converter as sc
from sparsebytenn_converter import (calibration, compact, encode, fidelity, rearrange, reconstruct,  # noqa: F401
                                    self_check)
build_parser()
base = hwm_kb()
status = main(sys.argv[1:])
print(json.dumps({"base_kb": base, "peak_kb": hwm_kb(), "status": status, "code": sc.__file__}))
"""

VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def build_vgg(out: Path) -> None:
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    layers, c = [], 3
    for v in VGG19:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Linear(4096, 4096),
                        nn.ReLU(), nn.Linear(4096, 1000)).eval()
    onnx = out.with_suffix(".onnx")
    torch.onnx.export(net, torch.randn(1, 3, 224, 224), str(onnx), opset_version=13, dynamo=False,
                      input_names=["input"], output_names=["logits"])
    code = "import sys, _tools; _tools.mnnconvert(['mnnconvert'] + sys.argv[1:])"   # MNN's own converter
    subprocess.run([sys.executable, "-c", code, "-f", "ONNX", "--modelFile", str(onnx), "--MNNModel", str(out),
                    "--bizCode", "vgg"], capture_output=True, check=False)
    onnx.unlink()
    print(f"{out}: {out.stat().st_size:,} bytes")


def peak(args: list[str]) -> None:
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    t = time.time()
    r = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True)
    wall = time.time() - t
    got = json.loads(r.stdout.strip().splitlines()[-1])
    model = os.path.getsize(args[1]) / 2**20
    extra = (got["peak_kb"] - got["base_kb"]) / 1024
    print(f"sparsebytenn {' '.join(args)}\n  code {got['code']}, exit status {got['status']}, load before {load}\n"
          f"  model {model:.1f} MiB: peak {extra:.0f} MiB above the imports ({extra / model:.2f}x), "
          f"{got['peak_kb'] / 1024:.0f} MiB in all (imports {got['base_kb'] / 1024:.0f} MiB), {wall:.1f} s")
    if r.returncode or got["status"]:
        print(r.stderr[-2000:])


STAGES = ["read_model", "choose_layers", "Calibrator", "plan_sparsity", "rearrange_network", "check_rearrangement",
          "prune_and_fit", "encode", "check_round_trip", "check_fidelity", "write_all_atomic"]


def stages(src: str, out: str, options: str) -> None:
    from sparsebytenn_converter.mnn_wheel import import_mnn

    import_mnn()
    import sparsebytenn_converter.convert  # noqa: F401
    cv = sys.modules["sparsebytenn_converter.convert"]

    def status(key):
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)) // 1024

    def reset_hwm():    # VmHWM back to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")

    # each stage's peak is the kernel's VmHWM between its start and its end (a sampling
    # thread misses what happens while MNN or numpy holds the GIL); code between stages
    # counts for "other"
    now, peaks, top = ["other"], {}, [0]

    def close():
        peaks[now[0]] = max(peaks.get(now[0], 0), status("VmHWM"))
        top[0] = max(top[0], status("VmHWM"))
        reset_hwm()

    def timed(name, f):
        def run(*args, **kwargs):
            close()
            outer, now[0] = now[0], name
            try:
                return f(*args, **kwargs)
            finally:
                close()
                now[0] = outer
        return run

    for name in STAGES:
        setattr(cv, name, timed(name, getattr(cv, name)))
    base = status("VmHWM")
    reset_hwm()
    cv.convert(src, out, progress=False, **json.loads(options))
    close()
    size = os.path.getsize(src) / 2**20
    print(f"{src}: {size:.1f} MiB, peak {top[0] - base} MiB above the imports")
    for name in STAGES + ["other"]:
        if name in peaks:
            print(f"  {name:20s} {peaks[name] - base:6d} MiB ({(peaks[name] - base) / size:.2f}x)")


def mnn_alone(src: str, way: str) -> None:
    import numpy as np

    from sparsebytenn_converter import read_model
    from sparsebytenn_converter.mnn_wheel import WINOGRAD_MEMORY_LEVEL, MNNModule, MNNSession, import_mnn

    import_mnn()
    m = read_model(src, mapped=True)          # (mapped: the weights are not read)
    convs = [m.ops[c.op_index] for c in m.convs][1:-1]
    names = [m.output_names[0]] + [m.tensor_names[op.outputs[0]] for op in convs]
    ops = [op.name for op in convs]
    shape = [d if d > 0 else 1 for d in next(op.main.array(0, "i32") for op in m.ops if op.type_name == "Input")]
    del m

    def hwm():
        return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) // 1024

    x = np.random.default_rng(0).uniform(-1, 1, [4, *shape[1:]]).astype(np.float32)
    base = hwm()
    if way == "module":
        module = MNNModule(src, ["input"], names)
        loaded = hwm() - base
        module.forward(x)
        what = f"a batch of 4 with {len(names)} outputs (Module API)"
    else:
        session = MNNSession(src, threads=1, hints={WINOGRAD_MEMORY_LEVEL: 0})
        loaded = hwm() - base
        for i in range(4):
            session.run_tapping(x[i:i + 1], ops)
        what = f"4 inputs one at a time with {len(ops)} layers' outputs (session, no Winograd)"
    print(f"{src}: stock MNN peaks {loaded} MiB above the imports loading it, {hwm() - base} MiB running {what}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["build-vgg"]:
        build_vgg(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["peak"]:
        peak(sys.argv[2:])
    elif sys.argv[1:2] == ["stages"]:
        stages(*sys.argv[2:5])
    elif sys.argv[1:2] == ["mnn-alone"]:
        mnn_alone(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "session")
    else:
        sys.exit(__doc__)
