"""The same bridge, cross-built for aarch64 with the NEON kernels, loaded into the
aarch64 MNN==3.6.1 wheel under qemu (arm64 root folder) and compared with stock
aarch64 MNN on tagged models."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bridge_helpers import TOL, require

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.qemu, pytest.mark.slow]

CHILD = r"""
import json, sys
import numpy as np
from sparsebytenn import plugin, Session
backend = plugin.enable()
st = plugin.status()
out = {"backend": backend, "pack": st.pack, "isa": st.isa, "reason": st.reason, "models": {}}
for path, shape in json.loads(sys.argv[1]):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    s = Session(path, plugin=True)
    a = s.run(x)
    r = Session(path, plugin=False).run(x)
    err = max(float(np.abs(a[k] - r[k]).max() / np.abs(r[k]).max()) for k in r)
    out["models"][path] = {"err": err, "plugin_convs": s.stats()["plugin_convs"]}
print("RESULT " + json.dumps(out))
"""


def _arm64():
    script = ROOT / "scripts" / "arm64root.sh"
    r = subprocess.run([str(script), "ensure"], capture_output=True, text=True, timeout=900)
    require(r.returncode == 0, f"the arm64 root folder (scripts/arm64root.sh ensure: {r.stderr.strip()[-300:]})")
    root = Path(r.stdout.strip())
    venv = Path(subprocess.run([str(script), "venv"], capture_output=True, text=True).stdout.strip())
    return root, venv


def _cross_build(build: Path) -> Path:
    toolchain = ROOT / "cmake" / "toolchains" / "aarch64-linux-gnu.cmake"
    require(toolchain.is_file(), "cmake/toolchains/aarch64-linux-gnu.cmake")
    cfg = ["cmake", "-S", str(ROOT), "-B", str(build), f"-DCMAKE_TOOLCHAIN_FILE={toolchain}",
           "-DSBNN_BUILD_PYTHON=OFF", "-DCMAKE_BUILD_TYPE=Release"]
    r = subprocess.run(cfg, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run(["cmake", "--build", str(build), "-j2", "--target", "sparsebytenn_mnn"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    lib = build / "plugin" / "mnn_bridge" / "libsparsebytenn_mnn.so"
    assert lib.is_file()
    return lib


def test_bridge_inside_aarch64_mnn_under_qemu(bridge, small_models, tmp_path):
    for tool in ("qemu-aarch64", "aarch64-linux-gnu-g++", "cmake"):
        require(shutil.which(tool) is not None, f"`{tool}` (scripts/setup.sh installs it)")
    root, venv = _arm64()
    lib = _cross_build(tmp_path / "build-aarch64")
    _, sparse, tagged, _ = small_models
    models = [(str(sparse), [1, 16, 15, 15])]
    from sparsebytenn import zoo
    from sparsebytenn_converter import convert

    mb = tmp_path / "mobilenet-v1-0.5.mnn"
    report = convert(str(zoo.get("mobilenet-v1", progress=False)), str(mb), sparsity=0.5, plain=True, progress=False)
    zoo_expect = sum(1 for layer in report.layers if layer.tagged)
    models.append((str(mb), list(zoo.info("mobilenet-v1")["input_shape"])))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(ROOT / d) for d in ("python", "converter")), SPARSEBYTENN_MNN_BRIDGE=str(lib),
               SPARSEBYTENN_HOME=str(tmp_path / "home"), QEMU_LD_PREFIX=str(root))
    r = subprocess.run(["qemu-aarch64", "-L", str(root), str(venv / "bin" / "python"), "-c", CHILD,
                        json.dumps(models)], capture_output=True, text=True, timeout=1800, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(next(ln for ln in r.stdout.splitlines() if ln.startswith("RESULT "))[7:])
    assert res["backend"] == bridge.BRIDGE_TYPE, res["reason"]
    assert res["pack"] == 4 and res["isa"] == "neon"  # aarch64 fp32 CPU backend packs channels by 4
    small = res["models"][str(sparse)]
    assert small["err"] <= TOL and small["plugin_convs"] == len(tagged)
    mbres = res["models"][models[-1][0]]
    assert mbres["err"] <= TOL and mbres["plugin_convs"] == zoo_expect
