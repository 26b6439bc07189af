"""convert(): prune (or detect), rearrange, tag and write an .mnn model."""
from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from .allocate import allocate
from .calibration import load_calibration
from .conv_tables import Unsupported, check_carry_over, conv2d_node
from .errors import ModelError
from .graph_perm import components
from .groups import Units, group_shape, prune_mask
from .model import ConvInfo, read_model
from .output_paths import check_outputs
from .rearrange import choose_permutation
from .reconstruct import Calibrator
from .report import LayerRecord, Report
from .rewrite import Rewriter
from .schema import BlobF, OpType

GROUPS = (1, 2, 4, 8, 16)
# Default G per target: the fp32 SIMD width the kernels there use (arm64 NEON and
# wasm SIMD128: 4 floats; x86 AVX2: 8 floats; MNN packs channels by 4 / 8 there).
TARGET_G = {"arm64": 4, "wasm": 4, "x86": 8}
DETECT_MIN_GROUP_SPARSITY = 0.05   # below this a layer is not worth tagging
DETECT_MIN_SHAPED = 0.9            # share of a layer's zeros that must lie in whole groups


def host_target() -> str:
    m = platform.machine().lower()
    return "arm64" if m in ("aarch64", "arm64") else "x86"


def _parse_layers(layers) -> dict[str, float]:
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


def _why(skipped: list[dict]) -> str:
    """The skip reasons, so an error says why no layer was left (e.g. NaN weights)."""
    if not skipped:
        return ""
    shown = "; ".join(f"{s['name']}: {s['reason']}" for s in skipped[:4])
    return f" ({shown}{'; ...' if len(skipped) > 4 else ''})"


def _unlink_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _stage(out_path: Path, data: bytes) -> str:
    """Write data to a temp file beside out_path (fsynced, usual mode); return its name."""
    parent = out_path.resolve().parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise ModelError(f"{out_path}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(f.fileno(), 0o666 & ~umask)  # mkstemp makes 0600; OUT gets the usual mode
    except OSError as exc:
        _unlink_quietly(tmp)
        raise ModelError(f"{out_path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def write_all_atomic(files: list[tuple[Path, bytes]]) -> None:
    """Every file fully written to a temp file first, then all renamed: no half-written
    output, and no OUT without its report when the report cannot be written."""
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files:
            staged.append((_stage(path, data), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except OSError as exc:
        raise ModelError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                _unlink_quietly(tmp)


def convert(in_path, out_path, *, sparsity=None, group=None, target="auto", per_layer=False, min_keep=0.1,
            skip=None, layers=None, detect=False, format="sparse", rearrange=True, report_path=None,
            force=False, progress=True, rearrange_only=False, compact=True, calibration=None,
            preprocess=None) -> Report:
    """Convert IN to OUT. See `sparsebytenn convert --help` for every option.

    skip=None means ("first", "last") when pruning and nothing with detect=True.
    rearrange_only=True applies the rearrangement chosen for this sparsity but prunes
    and tags nothing: the output computes the same function as the input (a check).
    compact=False keeps the replaced dense weights in the file (unreachable) instead
    of removing them; the output is then larger but byte-identical to the input
    wherever nothing changed.
    calibration (image paths, a folder of images, an .npy/.npz of preprocessed NCHW
    inputs, or an array) turns on calibrated pruning (reconstruct.py): groups are
    chosen by the output error they cost and the kept weights and biases re-fit,
    layer by layer; images need preprocess(path) -> (1, C, H, W) float32.
    """
    t0 = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    # -- options first, so a typo costs nothing
    if target not in ("auto", *TARGET_G):
        raise ModelError(f"--target {target!r}: unknown target; use arm64, wasm, x86 or auto")
    tgt = host_target() if target == "auto" else target
    G = TARGET_G[tgt] if group is None else group
    if G not in GROUPS:
        raise ModelError(f"--group {group!r}: G must be one of {', '.join(map(str, GROUPS))}")
    if format not in ("sparse", "dense"):
        raise ModelError(f"--format {format!r}: use sparse or dense")
    if sparsity is not None and not (isinstance(sparsity, (int, float)) and 0 <= sparsity < 1):
        raise ModelError(f"--sparsity {sparsity}: must be in [0, 1)")
    if not 0 <= min_keep <= 1:
        raise ModelError(f"--min-keep {min_keep}: must be in [0, 1]")
    overrides = _parse_layers(layers)
    if detect and (sparsity is not None or overrides):
        raise ModelError("--detect prunes nothing: do not combine it with --sparsity or --layer")
    if not detect and sparsity is None and not overrides:
        raise ModelError("nothing to do: give --sparsity S, --layer NAME=S or --detect")
    check_outputs([("", out_path, None), ("--report", report_path, None)], inputs=[in_path], force=force)
    calib_inputs = None
    if calibration is not None:
        if detect:
            raise ModelError("--detect prunes nothing: do not combine it with --calibration")
        calib_inputs = load_calibration(calibration, preprocess=preprocess)

    model = read_model(in_path)

    # -- which convolutions can carry group sparsity
    eligible: list[ConvInfo] = []
    skipped = []
    for c in model.convs:
        if c.op_type != OpType.Convolution or c.is_depthwise:
            if c.is_depthwise:
                skipped.append({"name": c.name, "reason": "depthwise convolutions stay dense"})
            else:
                skipped.append({"name": c.name, "reason": f"{c.type} is not supported"})
            continue
        if c.group != 1:
            skipped.append({"name": c.name, "reason": f"grouped convolution (group {c.group})"})
            continue
        if c.weights is None or len(model.ops[c.op_index].inputs) != 1:
            skipped.append({"name": c.name, "reason": f"weights not in the model ({c.storage})"})
            continue
        if not np.isfinite(c.weights).all():
            skipped.append({"name": c.name, "reason": "weights contain NaN or infinity"})
            continue
        try:
            check_carry_over(c)
        except Unsupported as exc:
            skipped.append({"name": c.name, "reason": str(exc)})
            continue
        eligible.append(c)
    if not eligible:
        raise ModelError(f"{in_path}: no convolution can be made group-sparse (no group-1 Convolution "
                         "with float weights in the model)" + _why(skipped))
    names = [c.name for c in eligible]
    unknown = [n for n in overrides if n not in names]
    if unknown:
        raise ModelError(f"--layer {unknown[0]!r}: no such eligible layer; valid names: " + ", ".join(names))

    skip = (() if detect else ("first", "last")) if skip is None else tuple(skip)
    skip_names = set()
    for s in skip:
        if s == "none":
            continue
        if s == "first":
            skip_names.add(names[0])
        elif s == "last":
            skip_names.add(names[-1])
        elif s in names:
            skip_names.add(s)
        else:
            raise ModelError(f"--skip {s!r}: no such eligible layer; use first, last, none or one of: "
                             + ", ".join(names))
    for c in eligible:
        if c.name in skip_names and c.name not in overrides:
            skipped.append({"name": c.name, "reason": "skipped (--skip)"})
    chosen = [c for c in eligible if c.name not in skip_names or c.name in overrides]
    if not chosen:
        raise ModelError(f"{in_path}: every eligible layer is skipped; nothing to convert" + _why(skipped))
    if not detect and sparsity is None:
        chosen = [c for c in chosen if c.name in overrides]

    W = {c.name: np.array(c.weights, dtype=np.float32) for c in model.convs if c.weights is not None}
    B = {c.name: (np.array(c.bias, dtype=np.float32) if c.bias is not None else None) for c in model.convs}
    before = {c.name: W[c.name].copy() for c in chosen}
    report = Report(str(in_path), str(out_path), "detect" if detect else "prune", G, tgt, format,
                    bool(rearrange and not detect), sparsity, skipped=skipped)
    tagged: set[str] = set()
    permuted: set[str] = set()        # weights touched by a permutation (any axis)
    out_permuted: set[str] = set()    # output channels rearranged
    counts: dict[str, tuple[int, int]] = {}
    retained_id: dict[str, float] = {}
    const_edits = {}

    if detect:
        for c in chosen:
            gs = group_shape(W[c.name], G)
            if gs["group_sparsity"] >= DETECT_MIN_GROUP_SPARSITY and gs["shaped_fraction"] >= DETECT_MIN_SHAPED:
                tagged.add(c.name)
            elif gs["zero_fraction"] >= DETECT_MIN_GROUP_SPARSITY:
                report.not_group_shaped.append({"name": c.name, **gs})
        if not tagged:
            raise ModelError(f"{in_path}: --detect found no layer whose zeros form G={G} groups"
                             + (f" ({len(report.not_group_shaped)} sparse but not group-shaped)"
                                if report.not_group_shaped else ""))
    else:
        calib = None
        if calib_inputs is not None and not rearrange_only:
            calib = Calibrator(model, chosen, calib_inputs, progress=progress)
        units = {c.name: calib.units(c.name, W[c.name], G) if calib else Units.of(W[c.name], G)
                 for c in chosen}
        sizes = {c.name: W[c.name].size for c in chosen}
        counts = allocate(units, sizes, sparsity or 0.0, per_layer=per_layer, min_keep=min_keep,
                          overrides=overrides)
        retained_id = {n: Units.of(W[n], G).retained(*counts[n]) for n in counts}
        if rearrange:
            comps = components(model, {n for n, k in counts.items() if k != (0, 0)})
            for comp in _progress(comps, progress, "rearranging"):
                info = {"seed": comp.producers[0].name if comp.producers else None,
                        "producers": [p.name for p in comp.producers]}
                report.components.append(info)
                if comp.blocked:
                    info["decision"] = f"identity: {comp.blocked}"
                    continue
                pruned = [p for p in comp.producers if p.name in counts]
                perm, val, base = choose_permutation([calib.scaled(p.name, W[p.name]) if calib else W[p.name]
                                                      for p in pruned], G,
                                                     [counts[p.name] for p in pruned])
                info.update(retained=val, retained_identity=base)
                if perm is None:
                    info["decision"] = "identity: no grouping retains more energy"
                    continue
                info["decision"] = "permuted"
                for p in comp.producers:
                    W[p.name] = W[p.name][perm]
                    if B[p.name] is not None and len(B[p.name]) == len(perm):
                        B[p.name] = B[p.name][perm]
                    permuted.add(p.name)
                    out_permuted.add(p.name)
                for d in comp.depthwise:
                    W[d.name] = W[d.name][perm]
                    if B[d.name] is not None and len(B[d.name]) == len(perm):
                        B[d.name] = B[d.name][perm]
                    permuted.add(d.name)
                for k in comp.consumers:
                    W[k.name] = W[k.name][:, perm]
                    permuted.add(k.name)
                    if calib:
                        calib.permute_inputs(k.name, perm)
                for op, vals in comp.constants:
                    current = const_edits[op.index][1] if op.index in const_edits else np.array(vals)
                    const_edits[op.index] = (op, current[perm])
        if calib:
            def write_dense(Wc, Bc):   # the model as pruned so far, for calibration to run
                rw = Rewriter(model, compact=False)
                for c in model.convs:
                    if c.name in permuted or c.name in counts:
                        if c.storage == "dense":
                            rw.set_dense(c, Wc[c.name], Bc[c.name])
                        else:
                            rw.replace_conv2d(c, conv2d_node(c, Wc[c.name], Bc[c.name], sparse=None))
                for op, vals in const_edits.values():
                    rw.write_floats(op.main.vector(BlobF.float32s, 4)[0], vals)
                return rw.result()
            report.calibration = {"samples": int(calib_inputs.shape[0]),
                                  "layers": calib.reconstruct(W, B, counts, G, write_dense)}
        for c in chosen:
            n_main, n_tail = counts[c.name]
            if rearrange_only or calib:
                continue
            mask = prune_mask(W[c.name], G, n_main, n_tail)
            W[c.name][mask] = 0.0
        if format == "sparse" and not rearrange_only:
            tagged = {c.name for c in chosen}

    # -- write
    rw = Rewriter(model, compact=compact)
    pattern_of = {}
    for c in model.convs:
        changed = c.name in permuted or c.name in counts
        if c.name in tagged and format == "sparse":
            pattern = "oc-group" if c.kernel == (1, 1) else "kernel"
            pattern_of[c.name] = pattern
            rw.replace_conv2d(c, conv2d_node(c, W[c.name], B[c.name] if B[c.name] is not None else None,
                                             sparse={"G": G, "pattern": pattern, "target": tgt}))
        elif changed or (c.name in tagged and c.storage != "dense"):
            if c.storage == "dense":
                rw.set_dense(c, W[c.name], B[c.name])
            else:
                rw.replace_conv2d(c, conv2d_node(c, W[c.name], B[c.name], sparse=None))
    for op, vals in const_edits.values():
        start, n = op.main.vector(BlobF.float32s, 4)
        rw.write_floats(start, vals)
    data = rw.result()

    # -- check what we wrote with the reader (independently validated elsewhere by MNN)
    written = read_model(out_path, data=data)
    for c in written.convs:
        if c.name in W and c.weights is not None and not np.array_equal(c.weights, W[c.name], equal_nan=True):
            raise ModelError(f"{out_path}: internal error: layer {c.name!r} did not round-trip")

    for c in chosen:
        w0, w1 = before[c.name], W[c.name]
        O, I = w0.shape[:2]
        total = float(np.sum(w0.astype(np.float64) ** 2))
        gs = group_shape(w1, G)
        n_units = (O // G) * I + (O % G) * I
        report.layers.append(LayerRecord(
            name=c.name, kind=c.type, shape=list(w0.shape), G=G,
            pattern="oc-group" if c.kernel == (1, 1) else "kernel",
            sparsity_before=float(np.count_nonzero(w0 == 0) / w0.size),
            sparsity_after=float(np.count_nonzero(w1 == 0) / w1.size),
            groups_total=n_units, groups_kept=n_units - gs["zero_main_groups"] - gs["zero_tail_units"],
            macs_before=int(np.count_nonzero(w0)), macs_after=int(np.count_nonzero(w1)),
            energy_total=total, retained_identity=retained_id.get(c.name, total),
            retained=float(np.sum(w1.astype(np.float64) ** 2)),
            permuted=c.name in out_permuted, tagged=c.name in tagged))
    report.input_bytes = model.size
    report.output_bytes = len(data)
    report.reused_bytes = rw.reused_bytes
    report.appended_bytes = rw.appended_bytes
    report.compacted = rw.compaction.applied
    report.reclaimed_bytes = rw.compaction.removed_bytes
    report.compaction_note = rw.compaction.reason
    report.seconds = time.perf_counter() - t0
    outputs = [(out_path, data)]
    if report_path:
        import json
        outputs.append((Path(report_path), json.dumps(report.to_dict(), indent=1).encode()))
    write_all_atomic(outputs)
    return report


def _progress(items, enabled: bool, desc: str):
    if not enabled or len(items) < 2:
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit="component", leave=False)
