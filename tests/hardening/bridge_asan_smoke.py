"""Bridge smoke test for scripts/sanitize.sh: run with libasan preloaded and
SPARSEBYTENN_MNN_BRIDGE pointing at the ASan+UBSan build of the bridge.

Converts mobilenet-v1 to group-sparse, runs it through MNN with the sanitized
bridge (2 threads) and with stock MNN, and checks that the bridge really ran the
tagged convolutions and that the outputs agree. Any bad memory access in the
bridge or the kernels aborts the process with an ASan/UBSan report.
"""
import os
import sys
import warnings
from pathlib import Path

import numpy as np


def main() -> int:
    lib = Path(os.environ["SPARSEBYTENN_MNN_BRIDGE"]).resolve()
    from sparsebytenn import plugin, zoo
    from sparsebytenn.session import Session
    from sparsebytenn_converter import convert

    out_dir = lib.parent
    model = out_dir / "mobilenet-v1.sparse50.mnn"
    if not model.is_file():
        convert(zoo.get("mobilenet-v1", progress=False), model, sparsity=0.5, progress=False, force=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend = plugin.enable()
    st = plugin.status()
    if backend != plugin.BRIDGE_TYPE or Path(st.library).resolve() != lib:
        print(f"bridge smoke: the sanitized bridge was not armed: {st.reason} "
              f"({[str(w.message) for w in caught]})", file=sys.stderr)
        return 1
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    sess = Session(model, plugin=True, threads=2)
    out = sess.run(x)
    ran = sess.stats()["plugin_convs"]
    ref = Session(model, plugin=False).run(x)
    err = max(float(np.abs(out[k] - ref[k]).max() / max(1.0, np.abs(ref[k]).max())) for k in ref)
    print(f"bridge smoke: {ran} convs ran in the sanitized bridge, max relative error {err:.2e}")
    if ran < 1 or err > 1e-3:
        print("bridge smoke: FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
