"""Load and run a model once in a child process before the caller's process does.

The reader rejects malformed files, but a well-formed model can still describe a
graph stock MNN cannot run (a stride or padding that breaks the shapes further
on), and MNN 3.6.1 crashes the whole process on some of those instead of
returning an error. `check(path, ...)` turns such a crash -- or a run-away
allocation, bounded by an address-space limit -- into a SparseByteNNError.

    python -m sparsebytenn.preflight MODEL PLUGIN(0|1) THREADS [[NAME=]INPUT.npy ...]   (the child)
"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from .errors import SparseByteNNError

_PREFIX = "preflight-error: "


def check(path: Path, plugin: bool, threads: int, inputs: list[str] | None = None, timeout: float = 600) -> None:
    """inputs: `--input` values of `sparsebytenn run` (FILE.npy or NAME=FILE.npy); random data for the rest."""
    args = [sys.executable, "-m", "sparsebytenn.preflight", str(path), "1" if plugin else "0", str(threads),
            *(inputs or [])]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SparseByteNNError(f"{path}: MNN did not finish one inference in {timeout:.0f} s") from None
    if proc.returncode == 0:
        return
    lines = [ln[len(_PREFIX):] for ln in proc.stderr.splitlines() if ln.startswith(_PREFIX)]
    if lines:
        raise SparseByteNNError(lines[-1])
    code = proc.returncode
    why = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.Signals._value2member_map_ \
        else f"exit status {code}"
    raise SparseByteNNError(f"{path}: MNN crashed running this model ({why}); the file is corrupted "
                            "or describes a graph MNN cannot run")


def _child(argv: list[str]) -> int:
    import resource

    path, plugin, threads, specs = Path(argv[0]), argv[1] == "1", int(argv[2]), [a for a in argv[3:] if a]
    limit = (8 << 30) + 16 * path.stat().st_size  # a hostile shape must not exhaust the machine
    _, hard = resource.getrlimit(resource.RLIMIT_AS)  # only the soft limit: a lower inherited hard one stays
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from . import run_inputs
    from .session import Session

    try:
        sess = Session(path, plugin=plugin, threads=threads)
        sess.run(run_inputs.build(sess, run_inputs.parse(specs)))
    except SparseByteNNError as exc:
        print(_PREFIX + str(exc), file=sys.stderr)
        return 1
    except MemoryError:
        print(_PREFIX + f"{path}: running this model needs more memory than its size justifies", file=sys.stderr)
        return 1
    except Exception as exc:  # MNN's own errors
        print(_PREFIX + f"{path}: MNN cannot run this model ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1:]))
