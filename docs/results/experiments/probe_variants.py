"""Experiment (docs/results/experiments/README.md, probe-variants-30pct.jsonl): ImageNet
MobileNet-V1 `--group auto` at 30 %, ten-crop agreement on the held-out fold (speed: modelled).
Knobs by environment: CROPS (calibration crops per fold), DAMP (ridge damping), MAXCOL/MINCOL/CPR
(sampled columns per layer), REFIT (layer names re-fitted at 0 % sparsity), OOS (hold the
probe's scored inputs out of its fit -- for code before 6091d74, which does it itself), MORE
(sensitivity.MORE_PROBES), NOISE (noise images), DATAFREE (no images), KL=T (probe damage as
the mean KL divergence of the softmax at temperature T, not the relative squared logit error),
NODW (with dw-refit.patch applied: its depthwise re-fit off). Usage: python
probe_variants.py ROW_NAME; appends the row to ./probe-variants.jsonl."""
import os, sys, json, tempfile, time
from pathlib import Path
import numpy as np
from sparsebytenn import zoo
from sparsebytenn.fidelity import photo_protocol as pp
from sparsebytenn_converter import convert, reconstruct as rc

name = sys.argv[1]
crops = int(os.environ.get("CROPS", "140"))
if "DAMP" in os.environ:
    d = float(os.environ["DAMP"])
    sys.modules["sparsebytenn_converter.convert"].damping_for = lambda samples, noise: d
if "MAXCOL" in os.environ:
    rc.MAX_COLUMNS = int(os.environ["MAXCOL"]); rc.MIN_COLUMNS = int(os.environ.get("MINCOL", rc.MIN_COLUMNS))
    rc.COLUMNS_PER_ROW = int(os.environ.get("CPR", rc.COLUMNS_PER_ROW))
group = os.environ.get("GROUP", "auto")
if os.environ.get("MORE"):
    from sparsebytenn_converter import sensitivity as _s
    _s.MORE_PROBES = tuple(float(v) for v in os.environ["MORE"].split(","))
if os.environ.get("OOS"):
    from sparsebytenn_converter import sensitivity as sens
    _cal = {}
    _orig_cap = rc.Calibrator.capture_dense
    def cap(self, b):
        _cal["c"] = self
        return _orig_cap(self, b)
    rc.Calibrator.capture_dense = cap
    _orig_pd = sens.probe_damage
    def pd(curves, w, b, x, damp, run_with):
        lay = [l for l in _cal["c"].layers.values() if l.x_dense is x][0]
        keep = lay.pos[:, 0] >= sens.PROBE_SAMPLES
        return _orig_pd(curves, w, b, x[:, keep], damp, run_with)
    sens.probe_damage = pd
sp = float(os.environ.get("SP", "0.3"))
if os.environ.get("KL"):
    T = float(os.environ["KL"])
    def _kl_damage(self, model_bytes, samples):
        x = self.inputs[:samples]
        outs = []
        self.probe.run(model_bytes, x, list(self.model.output_names), self.where,
                       lambda start, arrays: outs.append(np.concatenate([o.reshape(o.shape[0], -1) for o in arrays], axis=1)))
        got = np.concatenate(outs).astype(np.float64) / T
        ref = self.reference_output[:samples].astype(np.float64) / T
        lp = ref - ref.max(1, keepdims=True); lp -= np.log(np.exp(lp).sum(1, keepdims=True))
        lq = got - got.max(1, keepdims=True); lq -= np.log(np.exp(lq).sum(1, keepdims=True))
        return float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1)))
    rc.Calibrator.output_damage = _kl_damage
if os.environ.get("NODW"):
    rc.REFIT_DEPTHWISE = False
src = zoo.get("mobilenet-v1", progress=False)
facts = {}
def build(calib, path):
    kw = {}
    if os.environ.get("REFIT"):
        kw["layers"] = {n: 0.0 for n in os.environ["REFIT"].split(",")}
    if os.environ.get("NOISE"):
        kw["noise_samples"] = int(os.environ["NOISE"])
    r = convert(src, path, sparsity=sp, group=group if group == "auto" else int(group), calibration=calib, progress=False, force=True, **kw)
    facts.setdefault("cal_layers", []).append({k[-24:]: [round(v["error_plain"], 4), round(v["error_calibrated"], 4)] for k, v in (r.calibration.get("layers") or {}).items()})
    a = r.allocation or {}
    facts.setdefault("modelled", []).append(a.get("modelled_speedup"))
    if a.get("layers"):
        facts.setdefault("G", []).append([v["G"] for v in a["layers"].values()])
        facts.setdefault("s", []).append([round(v["sparsity"], 3) for v in a["layers"].values()])
    rec = getattr(r, "calibration", {}) or {}
    facts.setdefault("damp", []).append(rec.get("damping"))
t0 = time.time()
res = pp.held_out_agreement("mobilenet-v1", Path(src), build, Path(tempfile.mkdtemp()), calibrated=not os.environ.get("DATAFREE"), crops=crops)
row = dict(variant=name, top1=res["top1_agreement"], ci=res["top1_agreement_ci95"], cos=res["logit_cosine"],
           seconds=round(time.time() - t0), **facts)
print(json.dumps(row), flush=True)
with open("probe-variants.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
