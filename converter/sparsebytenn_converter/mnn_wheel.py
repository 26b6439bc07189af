"""Stock MNN's Python wheel, quietly: one place that imports MNN and calls its converter.

MNN writes from C++ straight to file descriptors 1 and 2 (a banner on import,
"The device supports: ..."; shape errors while running; the converter's log), which
would corrupt a caller's output (e.g. `--json` on stdout). Whoever talks to the
wheel does it inside quiet()."""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from typing import Iterator


@contextlib.contextmanager
def quiet(stderr: bool = False):
    """Send fd 1 (and fd 2 with stderr=True) to /dev/null, Python's sys.stdout too."""
    fds = (1, 2) if stderr else (1,)
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            saved = [os.dup(fd) for fd in fds]
        except (OSError, ValueError):      # no real descriptors (an embedding host): nothing to hide
            yield
            return
        try:
            with open(os.devnull, "w") as null:
                for fd in fds:
                    os.dup2(null.fileno(), fd)
                yield
        finally:
            for fd, keep in zip(fds, saved):
                os.dup2(keep, fd)
                os.close(keep)


@contextlib.contextmanager
def captured() -> Iterator[list[str]]:
    """Keep what native code writes to fd 1 and 2 meanwhile: the one string in the
    yielded list, once the block ends (for error messages that quote MNN)."""
    out: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield out
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            out.append(tmp.read().decode(errors="replace"))


def import_mnn():
    """The MNN module, imported without its banner."""
    if "MNN" not in sys.modules:
        with quiet():
            import MNN  # noqa: F401  (imported for sys.modules)
    return sys.modules["MNN"]


def mnnconvert(*args) -> tuple[bool, str]:
    """MNN's converter in-process (`_tools.mnnconvert`, never the console script, which
    pip-installs packages and sends telemetry): (whether it says it succeeded, its
    log). It can say so and write nothing: callers also check the file."""
    import_mnn()
    with quiet(stderr=True):
        import _tools  # prints the same banner as MNN on import
    with captured() as log:
        rc = _tools.mnnconvert(["mnnconvert", *map(str, args)])
    # True on success (older builds: 0 or None).
    return rc is True or (rc is not False and rc in (None, 0)), log[0]


def simd_oc_config(oc_block: int) -> dict:
    """MNN's compression config that marks convs for its own sparse path, in blocks
    of `oc_block` output channels (what `--detectSparseSpeedUp` reads)."""
    return {"version": "0.0.0", "algo": [{"type": "PRUNE", "prune_params": {
        "type": "SIMD_OC", "simd_oc_pruner_params": {"oc_blocks": [int(oc_block)]}}}]}


def mnn_sparse_tag(src, dst, oc_block: int = 4) -> tuple[bool, str]:
    """An .mnn re-written by MNN's converter with its own sparse metadata on the convs
    whose zeros it finds worth it (the tagging pass only reads MNN input)."""
    import json

    with tempfile.TemporaryDirectory(prefix="sbnn-mnn-tag-") as tmp:
        cfg = os.path.join(tmp, "simd_oc.json")
        with open(cfg, "w") as f:
            json.dump(simd_oc_config(oc_block), f)
        return mnnconvert("-f", "MNN", "--modelFile", src, "--MNNModel", dst, "--detectSparseSpeedUp",
                          "--compressionParamsFile", cfg)
