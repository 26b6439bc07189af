"""Runtime ISA dispatch and the SPARSEBYTENN_ISA override (native build only)."""
import os
import subprocess
import sys

import pytest

import kernel_backend

pytestmark = pytest.mark.skipif(kernel_backend.BACKEND != "native", reason="dispatch is tested on the native build")


def isa_seen(env_value):
    env = dict(os.environ)
    env.pop("SPARSEBYTENN_ISA", None)
    if env_value is not None:
        env["SPARSEBYTENN_ISA"] = env_value
    code = ("import numpy as np, sparsebytenn._kernels as K;"
            "pc = K.PackedConv(np.ones((8, 4, 1, 1), np.float32), None, 8);"
            "print(K.default_isa(), pc.info['isa'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split(), out.stderr


def test_automatic_dispatch_picks_best_available():
    import sparsebytenn._kernels as K
    order = [v["isa"] for v in K.variants()]
    best = next(isa for isa in dict.fromkeys(order) if K.isa_available(isa))
    (default, packed), _ = isa_seen(None)
    assert default == packed == best


@pytest.mark.parametrize("isa", ["ref", "avx2", "avx512"])
def test_env_override(isa):
    import sparsebytenn._kernels as K
    if not K.isa_available(isa):
        pytest.skip(f"this CPU/build cannot run {isa}")
    (default, packed), _ = isa_seen(isa)
    assert default == packed == isa


def test_env_override_unavailable_warns_and_falls_back():
    (default, packed), err = isa_seen("no-such-isa")
    assert default == packed != "no-such-isa"
    assert "SPARSEBYTENN_ISA=no-such-isa" in err
