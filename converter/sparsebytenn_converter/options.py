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
# The group sizes --group auto chooses from, per target. x86 includes G=1: G=1's own kernel is
# slow (one load per FMA), but the plugin packs such a layer in wider groups where that is faster
# (sbnn_gsparse_fastest_group) and the time model prices it so (ImageNet MobileNet-V1, 30 %, 140
# views: 61.4 -> 78.6 % kept without images, 74.8 -> 88.8 % calibrated, 1.74-2.14x measured;
# docs/results/eval-mobilenet-v1-auto30-repack-seed*.json).
AUTO_GROUPS = {"x86": (16, 8, 4, 2, 1), "arm64": (8, 4, 2), "wasm": (8, 4, 2)}
# --group auto's speed floor unless --target-speedup says otherwise (prune.speed_floor): at least
# AUTO_MIN_SPEEDUP over stock MNN (below it sparsity does not pay off), and at --sparsity S at
# least S times the modelled speed-up of the target's G at S in every layer: the more a user
# prunes, the more of what it buys goes to speed. With 1.3x alone auto ran every layer of
# MobileNet-V1 at G=1 at 30-90 % on AVX-512 (the plugin's dense kernels already give ~1.6x):
# 3.2x modelled at 90 % where G=8 gives 5.3x. A fixed share of 0.8 instead cost ImageNet answers
# at 30 % for no measurable speed (docs/results/experiments/eval-mobilenet-v1-auto30-share80-*).
AUTO_MIN_SPEEDUP = 1.3


def host_target() -> str:
    m = platform.machine().lower()
    return "arm64" if m in ("aarch64", "arm64") else "x86"


@dataclass
class ConvertOptions:
    """What to convert and how (see `sparsebytenn convert --help` for each option)."""

    sparsity: float | None = None
    group: int | str | None = None       # G; "auto": per layer from AUTO_GROUPS; None: the target's default
    target_speedup: float | None = None  # modelled end-to-end speed-up to reach (at least)
    speed_table: str | Path | None = None  # kernel speeds (bench speed-table); None: the shipped one
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
    calibration: object = None           # images, a folder, an .npy/.npz or an NCHW array; None:
                                         #   1/f noise images (data-free), unless plain
    plain: bool = False                  # magnitude pruning, no calibration (fast, breaks most real models)
    input_range: tuple = (-1.0, 1.0)     # value range of the model's inputs, for the noise images
    noise_samples: int = 128             # noise images for data-free calibration
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
    groups: tuple = field(default=(), init=False)   # the G each layer may get
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

    @property
    def auto_by_default(self) -> bool:
        """No --group given: choose G per layer when pruning data-free on x86 (there is a
        measured kernel table). Measured (docs/accuracy.md): data-free, ImageNet MobileNet-V1
        at 30 % keeps 18 % of its ten-crop answers with G=8 and about half with auto; with 512
        of the user model's own images G=8 lost 0.34 pt at 1.86x and auto 0.18 pt at 1.25x,
        so with the user's images the target's G stays the default."""
        return (self.prunes and not self.plain and not self.rearrange_only and self.calibration is None
                and bool(self.sparsity or self.target_speedup)
                and self.resolved_target == host_target() == "x86")

    @property
    def by_damage(self) -> bool:
        """Per-layer sparsity (and G) from measured damage under a speed floor (allocate_by_damage)."""
        return self.group == "auto" or self.target_speedup is not None

    def check(self) -> "ConvertOptions":
        """Validate and resolve; a typo costs nothing (no file is read yet)."""
        if self.target not in ("auto", *TARGET_G):
            raise ModelError(f"--target {self.target!r}: unknown target; use arm64, wasm, x86 or auto")
        self.resolved_target = host_target() if self.target == "auto" else self.target
        if self.group is None and self.auto_by_default:
            self.group = "auto"
        if self.group == "auto" and self.resolved_target != host_target():
            raise ModelError(f"--group auto measures this machine; to choose groups for {self.resolved_target}, "
                             f"convert there (or give --group)")
        if self.group == "auto":
            self.groups = AUTO_GROUPS[self.resolved_target]
            self.G = TARGET_G[self.resolved_target]
        else:
            self.G = TARGET_G[self.resolved_target] if self.group is None else self.group
            if self.G not in GROUPS:
                raise ModelError(f"--group {self.group!r}: G must be one of {', '.join(map(str, GROUPS))} "
                                 "or auto")
            self.groups = (self.G,)
        if self.target_speedup is not None and not 1.0 <= self.target_speedup <= 20:
            raise ModelError(f"--target-speedup {self.target_speedup}: use a factor from 1 to 20, e.g. 1.3")
        if self.by_damage and self.plain:
            raise ModelError("--group auto and --target-speedup choose by measured damage: do not combine them "
                             "with --plain")
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
        if self.plain and self.calibration is not None:
            raise ModelError("--plain prunes by magnitude alone: do not combine it with --calibration")
        lo, hi = self.input_range
        if not lo < hi:
            raise ModelError(f"--input-range {lo},{hi}: the low end must be below the high end")
        if self.detect and self.calibration is not None:
            raise ModelError("--detect prunes nothing: do not combine it with --calibration")
        if not self.detect and s is None and not self.overrides and self.target_speedup is None:
            raise ModelError("nothing to do: give --sparsity S, --target-speedup X, --layer NAME=S or --detect")
        if self.by_damage and self.detect:
            raise ModelError("--detect prunes nothing: do not combine it with --group auto or --target-speedup")
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
