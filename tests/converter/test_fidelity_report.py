"""The fidelity report of every pruning conversion, recomputed from stock MNN outputs with
numpy: held-out split, output metrics, per-layer errors (channel order recovered from the
outputs themselves for rearranged layers), warnings and --min-agreement."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from sbnn_testing import require
from helpers import inputs, mnn_run

from sparsebytenn_converter import convert, read_model
from sparsebytenn_converter.errors import ModelError
from sparsebytenn_converter.mnn_wheel import MNNModule




def tensors(path, x, names):
    """Named tensors of one input in stock MNN (Module API), in NCHW."""
    return MNNModule(path, ["input"], names).forward(x)


def conv_output_names(path, layers):
    m = read_model(path)
    return [m.tensor_names[m.ops[m.conv(n).op_index].outputs[0]] for n in layers]


@pytest.mark.parametrize("rearrange,api", [(False, "session"), (True, "session"), (True, "module")])
def test_fidelity_numbers_match_stock_mnn(small_model, tmp_path, monkeypatch, rearrange, api):
    # api: how the converter runs the models (an Interpreter session tapping each layer's op as
    # it runs, or MNN's Module API, kept for models whose ops are not named once each)
    if api == "module":
        import sparsebytenn_converter.fidelity as fidelity

        monkeypatch.setattr(fidelity, "_named_once", lambda model, ops: False)
    cal = inputs(20, 1)                       # every 5th (4, 9, 14, 19) is held out
    out = tmp_path / "o.mnn"
    rep = convert(small_model, out, sparsity=0.5, group=4, rearrange=rearrange, calibration=cal,
                  progress=False)
    f = rep.fidelity
    assert f["samples"] == 4 and "held out" in f["source"]
    held = cal[4::5]
    d = np.stack([mnn_run(small_model, x[None]).ravel() for x in held]).astype(np.float64)
    p = np.stack([mnn_run(out, x[None]).ravel() for x in held]).astype(np.float64)
    cos = np.mean([a @ b / np.linalg.norm(a) / np.linalg.norm(b) for a, b in zip(d, p)])
    rel = np.mean([np.linalg.norm(b - a) / np.linalg.norm(a) for a, b in zip(d, p)])
    top1 = np.mean(d.argmax(1) == p.argmax(1))
    top5 = np.mean([len(set(np.argsort(-a)[:5]) & set(np.argsort(-b)[:5])) / 5 for a, b in zip(d, p)])
    assert f["logit_cosine"] == pytest.approx(cos, abs=1e-5)
    assert f["relative_error"] == pytest.approx(rel, rel=1e-4)
    assert f["top1_agreement"] == pytest.approx(top1)
    assert f["top5_overlap"] == pytest.approx(top5)

    layers = [r.name for r in rep.layers]
    assert set(f["layers"]) == set(layers)
    names = conv_output_names(small_model, layers)
    permuted = {r.name for r in rep.layers if r.permuted}
    assert bool(permuted) == rearrange
    dense_t = [tensors(small_model, x[None], names) for x in held]
    conv_t = [tensors(out, x[None], conv_output_names(out, layers)) for x in held]
    for k, n in enumerate(layers):
        a = np.concatenate([t[k].reshape(t[k].shape[1], -1) for t in dense_t], axis=1).astype(np.float64)
        b = np.concatenate([t[k].reshape(t[k].shape[1], -1) for t in conv_t], axis=1).astype(np.float64)
        if n in permuted:   # which dense channel each converted channel is: the cheapest matching
            from scipy.optimize import linear_sum_assignment

            cost = (b * b).sum(1)[:, None] + (a * a).sum(1)[None, :] - 2 * b @ a.T
            rows, order = linear_sum_assignment(cost)
            assert np.any(order != np.arange(len(order)))
            a = a[order]
        err = np.linalg.norm(b - a) / np.linalg.norm(a)
        assert f["layers"][n] == pytest.approx(err, rel=1e-3, abs=1e-5), n


def test_holdout_inputs_are_never_calibration_inputs(small_model, tmp_path, monkeypatch):
    import sparsebytenn_converter.reconstruct as rc

    seen = {}
    real = rc.Calibrator.__init__

    def spy(self, model, chosen, x, **kw):
        seen["x"] = x.copy()
        real(self, model, chosen, x, **kw)

    monkeypatch.setattr(rc.Calibrator, "__init__", spy)
    cal = inputs(10, 3)
    convert(small_model, tmp_path / "o.mnn", sparsity=0.3, group=4, calibration=cal, progress=False)
    assert seen["x"].shape[0] == 8
    held = cal[[4, 9]]
    assert not any(np.array_equal(h, c) for h in held for c in seen["x"])


def test_no_images_means_noise_and_says_so(small_model, tmp_path):
    rep = convert(small_model, tmp_path / "o.mnn", sparsity=0.5, group=4, progress=False)
    assert "noise" in rep.fidelity["source"] and rep.fidelity["samples"] > 0
    js = json.loads(json.dumps(rep.to_dict()))
    assert js["fidelity"]["source"] == rep.fidelity["source"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "sparsebytenn", *map(str, args)], capture_output=True,
                          text=True)


def mobilenet():
    from sparsebytenn import zoo
    require(zoo.is_cached("mobilenet-v1") or not zoo.missing_requirements("mobilenet-v1"),
            "zoo model mobilenet-v1")
    require(len(zoo.sample_photos()) >= 8, "the installed photos (scikit-image, darknet, scikit-learn)")
    return zoo.get("mobilenet-v1", progress=False)


def first_pruned_layer(model, tmp_path):
    rep = convert(model, tmp_path / "first.mnn", sparsity=0.5, rearrange=False, fidelity=False, plain=True,
                  progress=False)
    (tmp_path / "first.mnn").unlink()
    return rep.layers[0].name


def test_min_agreement_refuses_and_writes_nothing(tmp_path):
    # plain one-shot pruning at 50 % breaks MobileNet-V1 on the photos (the CLI's default
    # held-out inputs for a zoo model): refused, and not one file written
    src = mobilenet()
    out, rep, md = tmp_path / "o.mnn", tmp_path / "r.json", tmp_path / "r.md"
    r = cli("convert", src, out, "--sparsity", "0.5", "--plain", "--min-agreement", "0.5", "--report", rep,
            "--markdown", md, "-q")
    assert r.returncode == 1
    err = [line for line in r.stderr.splitlines() if line.startswith("sparsebytenn: error")]
    assert len(err) == 1 and "below --min-agreement" in err[0] and "installed photos" not in err[0]
    assert list(tmp_path.iterdir()) == []

    ok = cli("convert", src, out, "--layer", f"{first_pruned_layer(src, tmp_path)}=0.05", "--plain",
             "--min-agreement", "0.9",
             "--report", rep, "--markdown", md, "-q")
    assert ok.returncode == 0, ok.stderr
    got = json.loads(rep.read_text())["fidelity"]
    assert got["top1_agreement"] >= 0.9 and "installed photos" in got["source"]
    text = md.read_text()
    assert "| layer |" in text and "top-1 agreement" in text


def test_warning_says_what_to_do_only_when_needed(tmp_path):
    src = mobilenet()
    bad = convert(src, tmp_path / "bad.mnn", sparsity=0.5, plain=True, progress=False)
    assert bad.fidelity["top1_agreement"] < 0.9 or bad.fidelity["logit_cosine"] < 0.9
    assert len(bad.warnings) == 1 and "--calibration" in bad.warnings[0] and "--group" in bad.warnings[0]
    assert bad.warnings[0] in bad.table()
    r = cli("convert", src, tmp_path / "bad2.mnn", "--sparsity", "0.5", "--plain", "-q")
    assert r.returncode == 0                  # a warning, not an error; the CLI prints it on stderr
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "installed photos" in warnings[0]
    good = convert(src, tmp_path / "good.mnn", layers={first_pruned_layer(src, tmp_path): 0.05}, plain=True,
                   progress=False)
    assert good.fidelity["top1_agreement"] >= 0.9 and good.fidelity["logit_cosine"] >= 0.9
    assert good.warnings == []


def test_min_agreement_option_is_checked_before_work(small_model, tmp_path):
    with pytest.raises(ModelError, match="--min-agreement 1.5"):
        convert(small_model, tmp_path / "o.mnn", sparsity=0.5, min_agreement=1.5)
    with pytest.raises(ModelError, match="--no-fidelity"):
        convert(small_model, tmp_path / "o.mnn", sparsity=0.5, min_agreement=0.5, fidelity=False)
    assert list(tmp_path.iterdir()) == []
