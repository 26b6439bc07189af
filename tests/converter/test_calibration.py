"""Calibrated pruning (reconstruct.py, calibration.py, convert --calibration), against
independent references: numpy least squares for the re-fit, brute-force removal
costs for the saliency, stock MNN for the converted models, MNN's own JSON dump for
the group shape."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sbnn_testing import require
from helpers import inputs, json_conv_weights, mnn_json, mnn_run

from sparsebytenn_converter import convert, read_model
from sparsebytenn_converter.errors import ModelError
from sparsebytenn_converter.reconstruct import DAMP, fit_layer


# ---------------------------------------------------------------- the math, one layer

def ridge_reference(x, t, w_dense, b_dense, mask, damp=DAMP):
    """Row by row: min ||t_o - w x||^2 + lam ||w - w_dense_o||^2 over the kept inputs
    (and the bias), solved as an augmented least-squares problem with numpy's lstsq."""
    O, I, kh, kw = w_dense.shape
    taps = kh * kw
    xa = np.vstack([x, np.ones((1, x.shape[1]))]).astype(np.float64)
    wa = np.hstack([w_dense.reshape(O, -1), b_dense[:, None]]).astype(np.float64)
    lam = damp * np.mean(np.sum(xa * xa, axis=1))
    W = np.zeros((O, I * taps))
    b = np.zeros(O)
    for o in range(O):
        keep = np.append(np.repeat(~mask[o], taps), True)
        A = np.vstack([xa[keep].T, np.sqrt(lam) * np.eye(keep.sum())])
        y = np.concatenate([t[o], np.sqrt(lam) * wa[o, keep]])
        sol = np.linalg.lstsq(A, y, rcond=None)[0]
        W[o, keep[:-1]] = sol[:-1]
        b[o] = sol[-1]
    return W.reshape(w_dense.shape), b


def magnitude_mask(w, G, n_main, n_tail):
    """The n_main weakest G-row groups and n_tail weakest tail units by L2 (numpy only)."""
    O, I = w.shape[:2]
    e = (w.astype(np.float64) ** 2).sum(axis=(2, 3))
    full = O // G * G
    mask = np.zeros((O, I), bool)
    ge = e[:full].reshape(-1, G, I).sum(axis=1).ravel()
    for k in np.argsort(ge, kind="stable")[:n_main]:
        g, i = divmod(int(k), I)
        mask[g * G:(g + 1) * G, i] = True
    te = e[full:].ravel()
    for k in np.argsort(te, kind="stable")[:n_tail]:
        r, i = divmod(int(k), I)
        mask[full + r, i] = True
    return mask


def layer_problem(O, I, k, m, seed):
    rng = np.random.default_rng(seed)
    # inputs whose channels differ in scale by orders of magnitude, as after folded BN
    scale = np.exp(rng.uniform(-3, 2, I))
    x = (rng.standard_normal((I * k * k, m)) * np.repeat(scale, k * k)[:, None]).astype(np.float32)
    w = rng.standard_normal((O, I, k, k)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    t = w.reshape(O, -1).astype(np.float64) @ x + b[:, None] + 0.1 * rng.standard_normal((O, m))
    return x, t, w, b


@pytest.mark.parametrize("n_main,n_tail", [(2, 1), (30, 12)])   # few removed / most removed: both solver branches
@pytest.mark.parametrize("k", [1, 3])
def test_refit_equals_numpy_ridge_least_squares(n_main, n_tail, k):
    O, I, G = 10, 9, 4                                   # 2 groups of 4 + 2 tail rows
    x, t, w, b = layer_problem(O, I, k, 400, seed=k)
    fit = fit_layer(w, b, x, t, G, n_main, n_tail, score="l2")
    mask = magnitude_mask(w, G, n_main, n_tail)
    assert np.array_equal(fit.mask, mask)
    W_ref, b_ref = ridge_reference(x, t, w, b, mask)
    assert np.abs(fit.weights - W_ref).max() <= 1e-4 * np.abs(W_ref).max()
    assert np.abs(fit.bias - b_ref).max() <= 1e-4 * max(np.abs(b_ref).max(), 1.0)
    assert np.all(fit.weights[mask] == 0)
    # the re-fit never does worse than plain pruning on the data it was fitted to
    assert fit.error <= fit.error_plain


@pytest.mark.parametrize("k", [1, 3])
def test_saliency_picks_the_unit_whose_removal_costs_least(k):
    """Removing one unit: the chosen unit minimises the exactly re-fitted objective,
    computed here by brute force (one lstsq per candidate)."""
    O, I, G = 8, 6, 4
    x, t, w, b = layer_problem(O, I, k, 300, seed=10 + k)
    fit = fit_layer(w, b, x, t, G, 1, 0, score="obs")

    def objective(mask):
        W, bb = ridge_reference(x, t, w, b, mask)
        r = t - W.reshape(O, -1) @ x - bb[:, None]
        xa = np.vstack([x, np.ones((1, x.shape[1]))])
        lam = DAMP * np.mean(np.sum(xa.astype(np.float64) ** 2, axis=1))
        d = np.hstack([W.reshape(O, -1), bb[:, None]]) - np.hstack([w.reshape(O, -1), b[:, None]])
        return float(np.sum(r * r) + lam * np.sum(d * d))

    costs = {}
    for g in range(O // G):
        for i in range(I):
            m = np.zeros((O, I), bool)
            m[g * G:(g + 1) * G, i] = True
            costs[(g, i)] = objective(m)
    best = min(costs, key=costs.get)
    chosen = [(g, i) for g in range(O // G) for i in range(I) if fit.mask[g * G, i]]
    assert chosen == [best]
    # and magnitude alone would have chosen worse here (the inputs differ in scale)
    plain = magnitude_mask(w, G, 1, 0)
    assert objective(plain) >= costs[best]


# ---------------------------------------------------------------- whole models in stock MNN



def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("rearrange", [False, True])
def test_calibrated_model_is_closer_to_dense_and_group_shaped(small_model, tmp_path, rearrange):
    G, S = 4, 0.5
    cal = inputs(48, 1)
    held_out = [inputs(1, 100 + i) for i in range(6)]        # not in the calibration set
    plain, calib = tmp_path / "plain.mnn", tmp_path / "calib.mnn"
    convert(small_model, plain, sparsity=S, group=G, rearrange=rearrange, progress=False)
    rep = convert(small_model, calib, sparsity=S, group=G, rearrange=rearrange, progress=False, calibration=cal)

    dense_out = [mnn_run(small_model, x) for x in held_out]   # stock MNN loads and runs all three
    err_plain = np.mean([rel(mnn_run(plain, x), d) for x, d in zip(held_out, dense_out)])
    err_calib = np.mean([rel(mnn_run(calib, x), d) for x, d in zip(held_out, dense_out)])
    assert err_calib < 0.7 * err_plain, (err_calib, err_plain)

    # the file is still tagged sparse and every G-group is entirely zero or entirely kept
    tagged = {c.name for c in read_model(calib).convs if c.sparse is not None}
    assert tagged == {r.name for r in rep.layers} and len(tagged) == 6
    ref = json_conv_weights(mnn_json(calib, tmp_path))       # MNN decodes its own sparse coding
    total = zeros = 0
    for r in rep.layers:
        w = ref[r.name]
        O, I = w.shape[:2]
        dead = ~(w != 0).any(axis=(2, 3))                       # (O, I)
        full = O // G * G
        groups = dead[:full].reshape(-1, G, I)
        assert np.all(groups.all(axis=1) | ~groups.any(axis=1)), r.name
        kept = w[~np.repeat(dead[:, :, None, None], w.shape[2] * w.shape[3], axis=2).reshape(w.shape)]
        assert np.count_nonzero(kept) == kept.size            # re-fitted weights stay nonzero
        total += w.size
        zeros += int(np.count_nonzero(w == 0))
    assert zeros / total == pytest.approx(S, abs=0.03)
    assert rep.calibration["samples"] == 39       # every 5th of the 48 is held out for the fidelity check
    assert set(rep.calibration["layers"]) == tagged
    for rec in rep.calibration["layers"].values():
        assert rec["error_calibrated"] <= rec["error_plain"] + 1e-9


def test_calibration_inputs_errors(small_model, tmp_path):
    out = tmp_path / "o.mnn"
    with pytest.raises(ModelError, match="expected NCHW"):
        convert(small_model, out, sparsity=0.5, calibration=np.zeros((3, 3), np.float32), progress=False)
    bad = np.full((2, 3, 32, 32), np.nan, np.float32)
    with pytest.raises(ModelError, match="NaN"):
        convert(small_model, out, sparsity=0.5, calibration=bad, progress=False)
    with pytest.raises(ModelError, match="cannot run the calibration inputs"):
        convert(small_model, out, sparsity=0.5, calibration=np.zeros((2, 5, 32, 32), np.float32), progress=False)
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    (img_dir / "a.png").write_bytes(b"not really")
    with pytest.raises(ModelError, match=r"a\.png: calibration images need the model's preprocessing"):
        convert(small_model, out, sparsity=0.5, calibration=img_dir, progress=False)
    with pytest.raises(ModelError, match="do not combine it with --calibration"):
        convert(small_model, out, detect=True, calibration=bad, progress=False)
    assert not out.exists()


# ---------------------------------------------------------------- the CLI

def test_cli_calibration_npy_and_errors(small_model, tmp_path, capsys):
    from sparsebytenn.cli import main

    npy = tmp_path / "cal.npy"
    np.save(npy, inputs(16, 3))
    out, rep = tmp_path / "o.mnn", tmp_path / "r.json"
    assert main(["convert", str(small_model), str(out), "--sparsity", "0.5", "--group", "4",
                 "--calibration", str(npy), "--report", str(rep), "-q"]) == 0
    r = json.loads(rep.read_text())
    assert r["calibration"]["samples"] == 13 and len(r["calibration"]["layers"]) == 6
    capsys.readouterr()
    assert np.isfinite(mnn_run(out, inputs(1, 9))).all()

    # images for a model the zoo does not know: a one-line error naming the file
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    (img_dir / "x.jpg").write_bytes(b"\xff\xd8")
    assert main(["convert", str(small_model), str(tmp_path / "p.mnn"), "--sparsity", "0.5",
                 "--calibration", str(img_dir)]) == 1
    err = capsys.readouterr().err
    assert "x.jpg" in err and "--like" in err and "Traceback" not in err
    assert main(["convert", str(small_model), str(tmp_path / "p.mnn"), "--sparsity", "0.5",
                 "--calibration", str(tmp_path / "missing")]) == 1
    assert "missing: calibration image not found" in capsys.readouterr().err
    assert main(["convert", str(small_model), str(tmp_path / "p.mnn"), "--sparsity", "0.5",
                 "--calibration", str(img_dir), "--like", "resnet-9000"]) == 1
    assert "--like 'resnet-9000': unknown zoo model" in capsys.readouterr().err
    assert not (tmp_path / "p.mnn").exists()


def test_cli_detects_zoo_model_preprocessing(small_model, tmp_path):
    from sparsebytenn import zoo
    from sparsebytenn.commands.convert import _zoo_model_of

    assert _zoo_model_of(small_model) is None
    require(zoo.is_cached("mobilenet-v1"), "zoo model mobilenet-v1 (sparsebytenn zoo get mobilenet-v1)")
    copy = zoo.copy_to(zoo.get("mobilenet-v1", progress=False), tmp_path / "renamed.mnn")
    assert _zoo_model_of(copy) == "mobilenet-v1"


def test_probe_falls_back_to_one_sample_when_the_model_fixes_the_batch():
    """EfficientNet-Lite0's MNN graph reshapes its logits to 1 x 1000: batches of 4 fail in
    MNN, so the probe must run one sample at a time and still return every sample."""
    from sparsebytenn import zoo
    from sparsebytenn_converter.calibration import Probe

    require(zoo.is_cached("efficientnet-lite0"), "zoo model efficientnet-lite0 (sparsebytenn zoo get)")
    path = zoo.get("efficientnet-lite0", progress=False)
    x = np.random.default_rng(0).standard_normal((5, 3, 64, 64)).astype(np.float32)
    got = {}
    Probe("input", batch=4).run(path, x, ["logits"], str(path),
                                lambda start, arrays: got.__setitem__(start, arrays[0]))
    logits = np.concatenate([got[k] for k in sorted(got)])
    ref = np.concatenate([mnn_run(path, x[i:i + 1]).reshape(1, -1) for i in range(5)])
    assert logits.shape == (5, 1000)
    assert np.abs(logits - ref).max() <= 1e-4 * np.abs(ref).max()
