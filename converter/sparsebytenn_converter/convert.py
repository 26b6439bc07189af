"""convert(): the conversion pipeline, one small function per stage.

read -> choose layers -> plan sparsity -> rearrange -> prune and fit -> write ->
measure fidelity -> report. Every stage reads the one ConvertOptions object (options.py) and the Work
state (work.py) the stages before it left.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .calibration import load_calibration
from .choose_layers import choose_layers
from .encode import check_round_trip, dense_model, encode
from .errors import ModelError
from .fidelity import (HeldOut, fidelity_warning, measure_fidelity, model_input_shape, noise_inputs,
                       split_calibration)
from .noise import pink_noise
from .model import read_model
from .options import ConvertOptions
from .output_paths import Staged, check_outputs, new_staged, write_all_atomic
from .prune import detect_groups, plan_sparsity, prune_and_fit
from .rearrange import rearrange_network, regroup_network
from .reconstruct import Calibrator, damping_for
from .report import Report
from .self_check import check_same_function
from .work import Work


def convert(in_path, out_path, options: ConvertOptions | None = None, **kwargs) -> Report:
    """Convert IN to OUT. See `sparsebytenn convert --help` for every option.

    Options come as keywords (ConvertOptions' fields) or as one ConvertOptions.
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
    opts = options.check() if options is not None else ConvertOptions.of(**kwargs)
    in_path, out_path = Path(in_path), Path(out_path)
    check_outputs([("", out_path, None), ("--report", opts.report_path, None),
                   ("--markdown", opts.markdown_path, ".md")], inputs=[in_path], force=opts.force)
    calib_inputs, held = read_inputs(opts)

    try:
        return run_stages(in_path, out_path, opts, calib_inputs, held, t0)
    except OSError as exc:      # a full disk (or a folder gone) under OUT or the temporary files beside it
        raise ModelError(f"{out_path}: cannot write ({exc.strerror or exc})") from None


def run_stages(in_path: Path, out_path: Path, opts: ConvertOptions, calib_inputs, held, t0: float) -> Report:
    model = read_model(in_path, mapped=True)
    choice = choose_layers(model, opts)
    # temporary files (parked weights, models for stock MNN, the output) go beside OUT
    work = Work.start(model, choice.chosen, opts.G, scratch_dir=out_path.resolve().parent)
    work.drop_pages()           # choosing read every weight; stages page in what they use
    report = Report(str(in_path), str(out_path), "detect" if opts.detect else "prune", opts.G,
                    opts.resolved_target, opts.format, bool(opts.rearrange), opts.sparsity,
                    skipped=choice.skipped)
    if opts.detect:
        if opts.rearrange:
            regroup_network(work, report)
            check_rearrangement(work, in_path, report)
        detect_groups(work, report)
    else:
        calib = None
        if not opts.rearrange_only and not opts.plain:
            x = calibration_or_noise(model, calib_inputs, opts, report)
            damp = damping_for(x.shape[0], noise=calib_inputs is None)
            report.calibration["damping"] = damp
            work.park()
            calib = Calibrator(model, work.chosen, x, damp=damp, progress=opts.progress)
        plan_sparsity(work, opts, calib, report)
        if opts.rearrange:
            rearrange_network(work, calib, report, opts.progress)
            check_rearrangement(work, in_path, report)
        prune_and_fit(work, opts, calib, report)

    staged = new_staged(out_path)       # OUT is written here, renamed at the very end
    try:
        finish(work, model, opts, report, held, calib_inputs, out_path, staged, t0)
    finally:
        if staged.exists():
            staged.unlink()
    return report


def finish(work: Work, model, opts: ConvertOptions, report: Report, held, calib_inputs, out_path: Path,
           staged: Path, t0: float) -> None:
    """The write, fidelity and report stages, OUT written to `staged` first (streamed from the
    input file and the changed weights: no model-sized buffer in memory)."""
    sparse = work.tagged if opts.format == "sparse" else set()
    rw = encode(work, staged, sparse=sparse, target=opts.resolved_target, compact=opts.compact)
    check_round_trip(work, staged, out_path)
    report.add_layers(work)
    work.release_weights()      # they are in the written file now; fidelity runs the files

    if opts.prunes and not opts.rearrange_only and opts.fidelity:
        check_fidelity(work, staged, held or noise_inputs(model, opts.input_range, calib_inputs), opts, report,
                       out_path)

    report.input_bytes = model.size
    report.output_bytes = rw.size
    report.reused_bytes = rw.reused_bytes
    report.appended_bytes = rw.appended_bytes
    report.compacted = rw.compaction.applied
    report.reclaimed_bytes = rw.compaction.removed_bytes
    report.compaction_note = rw.compaction.reason
    report.warn_on_growth()
    report.seconds = time.perf_counter() - t0
    outputs = [(out_path, Staged(staged))]
    if opts.report_path:
        outputs.append((Path(opts.report_path), json.dumps(report.to_dict(), indent=1).encode()))
    if opts.markdown_path:
        outputs.append((Path(opts.markdown_path), report.markdown().encode()))
    write_all_atomic(outputs)


def read_inputs(opts: ConvertOptions) -> tuple:
    """(calibration inputs or None, held-out inputs or None), read before the model."""
    calib = held = None
    if opts.calibration is not None:
        calib = load_calibration(opts.calibration, preprocess=opts.preprocess)
    if opts.holdout is not None:
        x = load_calibration(opts.holdout, preprocess=opts.preprocess)
        held = HeldOut(x, opts.holdout_source or f"{x.shape[0]} held-out inputs you gave")
    elif calib is not None and opts.fidelity:
        calib, rest = split_calibration(calib)
        if rest is not None:
            held = HeldOut(rest, f"{rest.shape[0]} of your calibration inputs, held out from calibration")
    return calib, held


def calibration_or_noise(model, calib_inputs, opts: ConvertOptions, report):
    """The user's calibration inputs, else 1/f noise images in the model's input range."""
    if calib_inputs is not None:
        report.calibration["source"] = f"{calib_inputs.shape[0]} inputs you gave"
        return calib_inputs
    shape = model_input_shape(model)
    if shape is None:
        raise ModelError(f"{model.path}: the file does not fix the input shape, so no noise images can be "
                         "made for data-free calibration; give --calibration images (or --plain)")
    lo, hi = opts.input_range
    report.calibration["source"] = (f"{opts.noise_samples} 1/f noise images in [{lo:g}, {hi:g}] (data-free: "
                                    "calibrate with your own images for better accuracy)")
    return pink_noise(opts.noise_samples, shape, seed=0, low=lo, high=hi)


def check_rearrangement(work: Work, in_path: Path, report) -> None:
    """The rearrange stage's proof (self_check.py); raises when the function changed."""
    if work.permuted or work.const_edits:
        with dense_model(work) as rearranged:
            report.rearrangement_check = check_same_function(in_path, rearranged)


def check_fidelity(work: Work, written: Path, held: HeldOut | None, opts: ConvertOptions, report,
                   out_path: Path) -> None:
    """The measure-fidelity stage; refuses the result below --min-agreement."""
    if held is None:
        report.warnings.append("fidelity not measured: the model's input shape is not fixed in the file; "
                               "give --holdout or --calibration inputs")
        if opts.min_agreement is not None:
            raise ModelError(f"{out_path}: --min-agreement cannot be checked without held-out inputs "
                             "(give --holdout or --calibration); nothing written")
        return
    report.fidelity = measure_fidelity(work, written, held, out_path)
    warning = fidelity_warning(report.fidelity)
    if warning:
        report.warnings.append(warning)
    if opts.min_agreement is not None:
        agree = report.fidelity.get("top1_agreement")
        if agree is None:
            raise ModelError(f"{out_path}: --min-agreement needs a model whose first output has 2 or more "
                             "values per input; nothing written")
        if agree < opts.min_agreement:
            raise ModelError(f"{out_path}: top-1 agreement {agree:.1%} on {report.fidelity['samples']} "
                             f"held-out inputs is below --min-agreement {opts.min_agreement:.1%}; nothing "
                             "written (calibrate with your images, use a smaller --group, a lower --sparsity, "
                             "or fine-tune)")
