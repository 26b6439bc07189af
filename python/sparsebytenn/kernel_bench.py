"""Kernel benchmark: SparseByteNN group-sparse 1x1 convs on MobileNet-V1 shapes.

Run: python -m sparsebytenn.kernel_bench [--isa avx512,avx2] [--json FILE]
(`sparsebytenn bench kernels ...` calls main(argv)).

Per (layer, sparsity, threads, isa) it times the kernel on MNN's NC8HW8 layout
(the x86 plugin's layout), median over rounds that interleave all cases, and
reports effective GFLOP/s = 2 x nonzero MACs / time and the max relative error
against a numpy float64 reference. Peers (MNN dense/sparse, XNNPACK) are not
measured by this version.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

LAYERS = [  # name, H(=W), C_in, C_out
    ("112x112_32-64", 112, 32, 64),
    ("56x56_128-128", 56, 128, 128),
    ("28x28_256-256", 28, 256, 256),
    ("14x14_512-512", 14, 512, 512),
    ("7x7_1024-1024", 7, 1024, 1024),
]
SPARSITIES = (0.0, 0.3, 0.5, 0.7, 0.9)


def _pruned(rng, o, i, group, sparsity):
    w = rng.standard_normal((o, i, 1, 1)).astype(np.float32)
    keep = rng.random((-(-o // group), i)) >= sparsity
    return w * np.repeat(keep, group, axis=0)[:o, :, None, None]


def _to_nc8(x, p=8):
    n, c, h, w = x.shape
    blocks = -(-c // p)
    buf = np.zeros((blocks * p, n, h, w), np.float32)
    buf[:c] = x.transpose(1, 0, 2, 3)
    return np.ascontiguousarray(buf.reshape(blocks, p, n, h, w).transpose(0, 2, 3, 4, 1))


def _from_nc8(y, c):
    blocks, n, h, w, p = y.shape
    return y.transpose(0, 4, 1, 2, 3).reshape(blocks * p, n, h, w)[:c].transpose(1, 0, 2, 3)


def build_parser():
    p = argparse.ArgumentParser(
        prog="sparsebytenn bench kernels",
        description="Time the group-sparse conv kernels on MobileNet-V1 1x1 layers (NC8HW8, batch 1).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="output: a table on stdout; --json FILE writes records "
               '{"isa","layer","sparsity","threads","engine","median_ms","gflops_effective","max_rel_err"}\n\n'
               "examples:\n"
               "  python -m sparsebytenn.kernel_bench --quick\n"
               "  sparsebytenn bench kernels --isa avx512,avx2 --threads 1 --json kernels.json\n")
    p.add_argument("--isa", default="", help="comma list of ISAs (default: every ISA this CPU runs except ref)")
    p.add_argument("--group", type=int, default=8, help="G output channels per group (default 8, x86 converter default)")
    p.add_argument("--threads", default="1,2", help="comma list of thread counts (default 1,2)")
    p.add_argument("--sparsity", default=",".join(str(s) for s in SPARSITIES), help="comma list")
    p.add_argument("--layers", default="", help="comma list of layer names (default all)")
    p.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    p.add_argument("--repeats", type=int, default=5, help="runs per case per round (default 5)")
    p.add_argument("--quick", action="store_true", help="14x14 512->512 only, 5 rounds")
    p.add_argument("--json", metavar="FILE", help="write the records as a JSON list (temp file + rename)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from sparsebytenn import _kernels as K
    isas = [s for s in args.isa.split(",") if s] or \
        [i for i in dict.fromkeys(v["isa"] for v in K.variants()) if i != "ref" and K.isa_available(i)]
    for isa in isas:
        if not K.isa_available(isa):
            print(f"error: ISA {isa!r} is not available on this machine/build", file=sys.stderr)
            return 1
    threads = [int(t) for t in args.threads.split(",")]
    sparsities = [float(s) for s in args.sparsity.split(",")]
    layers = LAYERS
    if args.quick:
        layers = [l for l in LAYERS if l[0] == "14x14_512-512"]
        args.rounds = min(args.rounds, 5)
    if args.layers:
        names = args.layers.split(",")
        layers = [l for l in LAYERS if l[0] in names]
    rng = np.random.default_rng(0)
    cases = []
    for name, hw, ci, co in layers:
        x = rng.standard_normal((1, ci, hw, hw)).astype(np.float32)
        xp = _to_nc8(x)
        for sp in sparsities:
            w = _pruned(rng, co, ci, args.group, sp)
            ref = np.einsum("oc,nchw->nohw", w[:, :, 0, 0].astype(np.float64), x.astype(np.float64))
            macs = np.count_nonzero(w) * hw * hw
            for isa in isas:
                pc = K.PackedConv(w, None, args.group, isa=isa)
                got = _from_nc8(pc.run(xp, pack=8), co)
                err = float(np.abs(got - ref).max() / max(1e-30, np.abs(ref).max()))
                for t in threads:
                    cases.append(dict(isa=isa, layer=name, sparsity=sp, threads=t, pc=pc, x=xp, macs=macs,
                                      err=err, times=[]))
    try:
        from tqdm import tqdm
    except ImportError:  # progress bar is optional
        def tqdm(it, **_):
            return it
    for c in cases:  # warm-up
        c["pc"].run(c["x"], pack=8, threads=c["threads"])
    for _ in tqdm(range(args.rounds), desc="rounds", file=sys.stderr):
        for c in cases:
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                c["pc"].run(c["x"], pack=8, threads=c["threads"])
                c["times"].append(time.perf_counter() - t0)
    records = []
    print(f"{'isa':8} {'layer':16} {'sp':>4} {'thr':>3} {'median_ms':>10} {'GFLOP/s':>8} {'max_rel_err':>11}")
    for c in cases:
        med = float(np.median(c["times"]))
        rec = dict(isa=c["isa"], layer=c["layer"], sparsity=c["sparsity"], threads=c["threads"],
                   engine="sparsebytenn", median_ms=med * 1e3,
                   gflops_effective=(2 * c["macs"] / med / 1e9) if c["macs"] else 0.0, max_rel_err=c["err"])
        records.append(rec)
        print(f"{rec['isa']:8} {rec['layer']:16} {rec['sparsity']:4.1f} {rec['threads']:3d} "
              f"{rec['median_ms']:10.3f} {rec['gflops_effective']:8.1f} {rec['max_rel_err']:11.2e}")
    print(f"load average: {os.getloadavg()}")
    if args.json:
        d = os.path.dirname(os.path.abspath(args.json))
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(records, f, indent=1)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
