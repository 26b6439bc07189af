"""Bridge smoke test for scripts/sanitize.sh: run with libasan preloaded and
SPARSEBYTENN_MNN_BRIDGE pointing at the ASan+UBSan build of the bridge.

Converts mobilenet-v1 to group-sparse, runs it through MNN with the sanitized
bridge (2 threads) and with stock MNN, and checks that the bridge really ran the
tagged convolutions and that the outputs agree; the dense model with its 1x1 convs on the
kernels (SPARSEBYTENN_PWCONV=on); then the regression corpus's files
with corrupted sparse metadata (the bridge must validate them and fall back). Any
bad memory access in the bridge or the kernels aborts the process with an
ASan/UBSan report.
"""
import os
import sys
import warnings
from pathlib import Path

import numpy as np


def main() -> int:
    lib = Path(os.environ["SPARSEBYTENN_MNN_BRIDGE"]).resolve()
    from sparsebytenn import plugin, zoo
    from sparsebytenn_converter import convert

    out_dir = lib.parent
    model = out_dir / "mobilenet-v1.sparse50.mnn"
    if not model.is_file():
        convert(zoo.get("mobilenet-v1", progress=False), model, sparsity=0.5, plain=True, progress=False, force=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend = plugin.enable()
    st = plugin.status()
    if backend != plugin.BRIDGE_TYPE or Path(st.library).resolve() != lib:
        print(f"bridge smoke: the sanitized bridge was not armed: {st.reason} "
              f"({[str(w.message) for w in caught]})", file=sys.stderr)
        return 1
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    st, err = _against_stock(model, x)
    ran = st["plugin_convs"]
    dw = st["plugin_ops"]["depthwise"]   # AVX2/AVX-512: those measured faster than MNN's (auto)
    direct = st["plugin_ops"]["direct_conv"]   # the first conv, likewise
    print(f"bridge smoke: {ran} convs, {dw} depthwise convs and {direct} direct convs ran in the sanitized "
          f"bridge, max relative error {err:.2e}")
    if ran < 1 or err > 1e-3:
        print("bridge smoke: FAILED", file=sys.stderr)
        return 1
    # the dense model: its 1x1 convs and classifier on the group-sparse kernels, every group kept
    os.environ["SPARSEBYTENN_PWCONV"] = "on"      # read when a session is created
    st, err = _against_stock(zoo.get("mobilenet-v1", progress=False), x)
    pw = st["plugin_ops"]["pointwise"]
    print(f"bridge smoke: {pw} dense 1x1 convs of the dense model ran in the sanitized bridge, "
          f"max relative error {err:.2e}")
    if pw < 14 or err > 1e-3:
        print("bridge smoke: FAILED", file=sys.stderr)
        return 1
    return corrupted_metadata(out_dir)


def _against_stock(model: Path, x: np.ndarray) -> tuple[dict, float]:
    """One run through the sanitized bridge (2 threads): its stats and its largest error
    against stock MNN."""
    from sparsebytenn.session import Session

    sess = Session(model, plugin=True, threads=2)
    out = sess.run(x)
    return sess.stats(), _max_rel_err(out, Session(model, plugin=False).run(x))


def _max_rel_err(out: dict, ref: dict) -> float:
    """Largest |out - ref| over every output, relative to max(1, |ref|)."""
    return max(float(np.abs(out[k] - ref[k]).max() / max(1.0, np.abs(ref[k]).max())) for k in ref)


def corrupted_metadata(out_dir: Path) -> int:
    """The regression corpus's valid files with corrupted sparse metadata: the bridge
    validates them (falling back to MNN per conv) with every access checked."""
    import json

    from sparsebytenn.fuzz.mutate import apply

    corpus = Path(__file__).resolve().parent / "corpus"
    names = []
    for f in sorted(corpus.glob("*.json")):
        r = json.loads(f.read_text())
        if r["expect"] != "accepted" or "sparse" not in r["seed_file"]:
            continue
        model = out_dir / f"corpus-{f.stem}.mnn"
        model.write_bytes(apply((corpus / r["seed_file"]).read_bytes(), r["ops"]))
        x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
        _, err = _against_stock(model, x)
        if err > 1e-4:
            print(f"bridge smoke: {f.stem}: the bridge's output differs from stock MNN ({err:.2e})",
                  file=sys.stderr)
            return 1
        names.append(f.stem)
    if not names:
        print("bridge smoke: no corrupted-metadata files in the corpus", file=sys.stderr)
        return 1
    print(f"bridge smoke: {len(names)} files with corrupted sparse metadata ran correctly ({', '.join(names)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
