"""Every option of a conversion in one object, checked before any work starts.

`convert(IN, OUT, **options)` builds a ConvertOptions from its keywords; the stages
of the pipeline (convert.py) read only this object, so an option is defined,
defaulted and validated in exactly one place.
"""
from __future__ import annotations

import platform
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

from .errors import ModelError

GROUPS = (1, 2, 4, 8, 16)
# Default G per target: the fp32 SIMD width the kernels there use (arm64 NEON and
# wasm SIMD128: 4 floats; x86 AVX2: 8 floats; MNN packs channels by 4 / 8 there).
TARGET_G = {"arm64": 4, "wasm": 4, "x86": 8}


def host_target() -> str:
    m = platform.machine().lower()
    return "arm64" if m in ("aarch64", "arm64") else "x86"


@dataclass
class ConvertOptions:
    """What to convert and how (see `sparsebytenn convert --help` for each option)."""

    sparsity: float | None = None
    group: int | None = None             # G; None: the target's default
    target: str = "auto"                 # arm64, wasm, x86 or auto (this machine)
    per_layer: bool = False
    min_keep: float = 0.1
    skip: tuple | list | None = None     # None: ("first", "last") when pruning, () with detect
    layers: dict | list | None = None    # {name: S} or ["NAME=S", ...]
    detect: bool = False
    format: str = "sparse"               # sparse or dense
    rearrange: bool = True
    rearrange_only: bool = False         # permute only: the output computes the input's function
    compact: bool = True                 # drop the replaced dense weights from OUT
    calibration: object = None           # images, a folder, an .npy/.npz or an NCHW array
    preprocess: Callable | None = None   # image path -> (1, C, H, W) float32, for calibration images
    fidelity: bool = True                # measure dense vs converted on held-out inputs when pruning
    holdout: object = None               # held-out inputs (like calibration); None: a share of the
    holdout_source: str | None = None    #   calibration inputs, else 1/f noise; what they are
    min_agreement: float | None = None   # refuse (write nothing) below this top-1 agreement
    report_path: str | Path | None = None   # the report as JSON ...
    markdown_path: str | Path | None = None  # ... and as Markdown, written with OUT or not at all
    force: bool = False
    progress: bool = True
    # resolved by check(): the target and G actually used, the per-layer overrides
    resolved_target: str = field(default="", init=False)
    G: int = field(default=0, init=False)
    overrides: dict = field(default_factory=dict, init=False)

    @classmethod
    def of(cls, **kwargs) -> "ConvertOptions":
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"convert() got unknown option(s): {', '.join(unknown)}")
        return cls(**kwargs).check()

    @property
    def prunes(self) -> bool:
        return not self.detect

    def check(self) -> "ConvertOptions":
        """Validate and resolve; a typo costs nothing (no file is read yet)."""
        if self.target not in ("auto", *TARGET_G):
            raise ModelError(f"--target {self.target!r}: unknown target; use arm64, wasm, x86 or auto")
        self.resolved_target = host_target() if self.target == "auto" else self.target
        self.G = TARGET_G[self.resolved_target] if self.group is None else self.group
        if self.G not in GROUPS:
            raise ModelError(f"--group {self.group!r}: G must be one of {', '.join(map(str, GROUPS))}")
        if self.format not in ("sparse", "dense"):
            raise ModelError(f"--format {self.format!r}: use sparse or dense")
        s = self.sparsity
        if s is not None and not (isinstance(s, (int, float)) and 0 <= s < 1):
            raise ModelError(f"--sparsity {s}: must be in [0, 1)")
        if not 0 <= self.min_keep <= 1:
            raise ModelError(f"--min-keep {self.min_keep}: must be in [0, 1]")
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 1:
            raise ModelError(f"--min-agreement {self.min_agreement}: must be in [0, 1]")
        if self.min_agreement is not None and not self.fidelity:
            raise ModelError("--min-agreement needs the fidelity measurement: do not combine it with --no-fidelity")
        self.overrides = parse_layer_overrides(self.layers)
        if self.detect and (s is not None or self.overrides):
            raise ModelError("--detect prunes nothing: do not combine it with --sparsity or --layer")
        if self.detect and self.calibration is not None:
            raise ModelError("--detect prunes nothing: do not combine it with --calibration")
        if not self.detect and s is None and not self.overrides:
            raise ModelError("nothing to do: give --sparsity S, --layer NAME=S or --detect")
        if self.skip is None:
            self.skip = () if self.detect else ("first", "last")
        self.skip = tuple(self.skip)
        return self


def parse_layer_overrides(layers) -> dict[str, float]:
    """{name: S} from a dict or from ["NAME=S", ...] (the CLI's repeatable --layer)."""
    if not layers:
        return {}
    if isinstance(layers, dict):
        items = list(layers.items())
    else:
        items = []
        for spec in layers:
            if "=" not in spec:
                raise ModelError(f"--layer {spec!r}: expected NAME=S")
            name, s = spec.rsplit("=", 1)
            try:
                items.append((name, float(s)))
            except ValueError:
                raise ModelError(f"--layer {spec!r}: {s!r} is not a number") from None
    for name, s in items:
        if not 0 <= s < 1:
            raise ModelError(f"--layer {name}={s}: sparsity must be in [0, 1)")
    return dict(items)
