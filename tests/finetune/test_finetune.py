"""Fine-tuning that recovers: masks from the converter's (rearranged) groups, gradual
pruning with distillation, the round trip back through MNN's converter and
`convert --detect`, and the CLI end to end on a reduced user-model build.

References are independent of the code under test: the files' bytes read with
tests/fbedit.py, the torch weights themselves (with batch norm folded by hand),
a numpy formula for the KD loss, stock MNN's Module API for accuracy.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sbnn_testing import require

G = 4
SIZE = 16
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _require_torch():
    require(importlib.util.find_spec("torch") is not None and importlib.util.find_spec("onnx") is not None,
            "torch and onnx (pip install -e '.[zoo]')")


def _net():
    """Pointwise layers joined by a depthwise one, so the converter's rearrangement
    permutes channels across layers; batch norm that is not the identity."""
    import torch
    import torch.nn as nn

    torch.manual_seed(0)

    class Net(nn.Module):
        def __init__(s):
            super().__init__()
            s.stem = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
            s.bn0 = nn.BatchNorm2d(16)
            s.pw1 = nn.Conv2d(16, 32, 1, bias=False)
            s.bn1 = nn.BatchNorm2d(32)
            s.dw = nn.Conv2d(32, 32, 3, 1, 1, groups=32)
            s.pw2 = nn.Conv2d(32, 32, 1)
            s.k3 = nn.Conv2d(32, 24, 3, 1, 1)
            s.fc = nn.Linear(24, 10)

        def forward(s, x):
            x = torch.relu(s.bn0(s.stem(x)))
            x = torch.clamp(s.bn1(s.pw1(x)), 0, 6)
            x = torch.relu(s.pw2(torch.relu(s.dw(x))))
            x = torch.relu(s.k3(x))
            return s.fc(x.mean((2, 3)))

    net = Net()
    with torch.no_grad():
        for bn in (net.bn0, net.bn1):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
    return net.eval()


class FakeData:
    """TrainingData's interface on random 16x16 inputs with learnable labels."""

    def __init__(self, n=256, seed=0):
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, 3, SIZE, SIZE)).astype(np.float32)
        self.y = (self.x[:, 0].mean((1, 2)) > 0).astype(np.int64) * 3 + (self.x[:, 1].mean((1, 2)) > 0)

    def batches(self, batch, steps, seed, shift, flip):
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            idx = rng.integers(0, len(self.x), batch)
            yield self.x[idx], self.y[idx]

    def plain(self, batch, count, seed):
        for x, _ in self.batches(batch, count, seed + 1, 0, False):
            yield x


def _to_mnn(net, folder, name):
    from sparsebytenn.zoo import export
    onnx_path, mnn_path = folder / f"{name}.onnx", folder / f"{name}.mnn"
    export.torch_to_onnx(net, (1, 3, SIZE, SIZE), onnx_path, "input", "logits")
    export.onnx_to_mnn(onnx_path, mnn_path)
    return mnn_path


def _zero_kernels(w):
    return (w == 0).all(axis=(2, 3))


def _back(a, out_order, in_order):
    """Independent of masks.to_torch_order: element (i, j) of the written layer is
    element (out_order[i], in_order[j]) of the torch layer."""
    O, I = a.shape
    oo = range(O) if out_order is None else out_order
    io = range(I) if in_order is None else in_order
    b = np.zeros_like(a)
    for i, r in enumerate(oo):
        for j, c in enumerate(io):
            b[r, c] = a[i, j]
    return b


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The small net, its dense .mnn, and the converter's calibrated 50 % version (G=4)."""
    _require_torch()
    from sparsebytenn_converter import convert
    folder = tmp_path_factory.mktemp("finetune")
    net = _net()
    dense = _to_mnn(net, folder, "dense")
    pruned = folder / "pruned.mnn"
    calib = np.random.default_rng(1).standard_normal((64, 3, SIZE, SIZE)).astype(np.float32)
    report = convert(dense, pruned, sparsity=0.5, group=G, calibration=calib, format="dense", progress=False)
    return {"net": net, "dense": dense, "pruned": pruned, "report": report, "folder": folder}


# --- masks: the converter's groups, mapped back to the torch order --------------------

def test_masks_are_the_files_zero_groups_in_torch_order(converted):
    import fbedit

    from sparsebytenn.finetune import converter_masks
    net, pruned, report = converted["net"], converted["pruned"], converted["report"]
    masks = converter_masks(pruned, report, net)
    assert [m.module for m in masks] == ["pw1", "pw2", "k3"]
    records = {ly.name: ly for ly in report.layers}
    assert any(ly.out_order is not None and ly.out_order != sorted(ly.out_order) for ly in report.layers)
    file_w = fbedit.FB(pruned.read_bytes()).conv_weights()           # bit-exact, without our reader
    for m in masks:
        w, ly = file_w[m.conv], records[m.conv]
        zero = _zero_kernels(w)
        # written order: every zero kernel lies in a zero group of G consecutive outputs
        full = w.shape[0] // G * G
        groups = zero[:full].reshape(-1, G, w.shape[1])
        assert (groups.all(axis=1) == groups.any(axis=1)).all(), m.module
        assert np.array_equal(m.keep, _back(~zero, ly.out_order, ly.in_order)), m.module
        assert m.keep.shape == tuple(getattr(net, m.module).weight.shape[:2])
        assert 0 < m.sparsity() < 1
        # members of one group share an id and are all pruned or all kept
        for gid in np.unique(m.group_id):
            assert len(set(m.keep[m.group_id == gid].tolist())) == 1
    taps = {m.module: file_w[m.conv][0, 0].size for m in masks}
    zeros = sum((~m.keep).sum() * taps[m.module] for m in masks)
    assert zeros / sum(m.keep.size * taps[m.module] for m in masks) == pytest.approx(0.5, abs=0.01)


def test_mapping_direction_matches_the_torch_weights(converted, tmp_path):
    """With plain (magnitude) pruning the kept weights are the torch ones (batch norm folded):
    written[i, j] == torch[out_order[i], in_order[j]] * bn_scale[out_order[i]]."""
    import fbedit
    import torch

    from sparsebytenn.finetune import converter_masks
    from sparsebytenn_converter import convert
    net = converted["net"]
    plain = tmp_path / "plain.mnn"
    report = convert(converted["dense"], plain, sparsity=0.5, group=G, plain=True, progress=False)
    masks = {m.module: m for m in converter_masks(plain, report, net)}
    file_w = fbedit.FB(plain.read_bytes()).conv_weights()
    bn1 = net.bn1
    scale1 = (bn1.weight / torch.sqrt(bn1.running_var + bn1.eps)).detach().numpy()
    checked = 0
    for ly in report.layers:
        name = next(n for n, m in masks.items() if m.conv == ly.name)
        wt = getattr(net, name).weight.detach().numpy().astype(np.float64)
        if name == "pw1":
            wt = wt * scale1[:, None, None, None]
        oo = np.arange(wt.shape[0]) if ly.out_order is None else np.array(ly.out_order)
        io = np.arange(wt.shape[1]) if ly.in_order is None else np.array(ly.in_order)
        want = wt[oo][:, io]
        got = file_w[ly.name]
        kept = ~_zero_kernels(got)
        assert np.allclose(got[kept], want[kept], rtol=1e-5, atol=1e-6), name
        assert np.array_equal(masks[name].keep[np.ix_(oo, io)], kept), name
        checked += ly.out_order is not None
    assert checked >= 2


def test_calibrated_start_reproduces_the_converters_file(converted):
    """The re-fit weights and biases, brought back to torch (un-permuted, batch norm
    unfolded), compute what the converter's file computes in stock MNN."""
    import torch

    from sparsebytenn.finetune import MaskedWeights, converter_masks
    from sparsebytenn.finetune.warm_start import load_calibrated
    from sparsebytenn_converter.mnn_wheel import MNNSession
    x = np.random.default_rng(7).standard_normal((4, 3, SIZE, SIZE)).astype(np.float32)
    stock = MNNSession(converted["pruned"])
    want = np.concatenate([stock.run_single(x[i:i + 1]).reshape(1, -1) for i in range(4)])
    scale = np.abs(want).max()
    masked_only, student = _net(), _net()
    masks = converter_masks(converted["pruned"], converted["report"], student)
    MaskedWeights(masked_only, [m.module for m in masks]).set({m.module: m.keep for m in masks})
    load_calibrated(student, converted["dense"], converted["pruned"], converted["report"], masks)
    with torch.no_grad():
        got = student(torch.from_numpy(x)).numpy()
        without_refit = masked_only(torch.from_numpy(x)).numpy()
    assert np.abs(without_refit - want).max() > 1e-2 * scale             # the re-fit matters here
    assert np.abs(got - want).max() <= 1e-5 * scale
    for m in masks:
        w = getattr(student, m.module).weight.detach().numpy()
        assert (w[~m.keep] == 0).all(), m.module


# --- the losses and schedules -----------------------------------------------------------

def test_kd_loss_is_the_written_formula():
    _require_torch()
    import torch

    from sparsebytenn.finetune import kd_loss
    rng = np.random.default_rng(3)
    s, t = rng.normal(0, 3, (7, 10)), rng.normal(0, 3, (7, 10))
    y = rng.integers(0, 10, 7)

    def log_softmax(z):
        z = z - z.max(1, keepdims=True)
        return z - np.log(np.exp(z).sum(1, keepdims=True))

    for T, alpha in ((4.0, 0.9), (1.0, 0.5), (2.5, 0.0), (3.0, 1.0)):
        pt = np.exp(log_softmax(t / T))
        kl = (pt * (log_softmax(t / T) - log_softmax(s / T))).sum(1).mean()
        ce = -log_softmax(s)[np.arange(7), y].mean()
        want = alpha * T * T * kl + (1 - alpha) * ce
        got = kd_loss(torch.tensor(s), torch.tensor(t), torch.tensor(y), T, alpha).item()
        assert got == pytest.approx(want, rel=1e-9), (T, alpha)


def test_cubic_schedule_and_learning_rate():
    from sparsebytenn.finetune.schedule import cubic_fraction, learning_rate, pruning_stages
    plan = pruning_stages(1000, 8, 0.5)
    steps, shares = list(plan), list(plan.values())
    assert steps[0] == 0 and max(steps) < 500 and shares[-1] == 1.0
    assert all(a < b for a, b in zip(shares, shares[1:])) and all(a < b for a, b in zip(steps, steps[1:]))
    assert shares == pytest.approx([1 - (1 - k / 8) ** 3 for k in range(1, 9)])
    gains = np.diff([0.0] + shares)
    assert all(a > b for a, b in zip(gains, gains[1:]))             # big steps first
    assert cubic_fraction(8, 8) == 1.0
    lr = [learning_rate(i, 100, 0.1, 0.1) for i in range(100)]
    assert lr[9] == pytest.approx(0.1) and lr[0] == pytest.approx(0.01) and lr[-1] < 1e-3
    assert all(a >= b for a, b in zip(lr[9:], lr[10:]))


def test_stage_masks_are_nested_weakest_first_and_end_at_the_converters(converted):
    from sparsebytenn.finetune import converter_masks
    from sparsebytenn.finetune.gradual import group_energy, stage_keep
    net = converted["net"]
    for m in converter_masks(converted["pruned"], converted["report"], net):
        w = getattr(net, m.module).weight.detach().numpy()
        energy = group_energy(w, m.group_id)
        previous = np.ones_like(m.keep)
        n = len(m.pruned_groups)
        for share in (0.33, 0.58, 0.8, 0.95, 1.0):
            keep = stage_keep(m, w, share)
            assert not (keep & ~previous).any()                        # nested: nothing comes back
            assert (keep | ~m.keep).all()                              # only the converter's groups go
            gone = np.unique(m.group_id[~keep])
            assert len(gone) == round(share * n)
            rest = np.setdiff1d(m.pruned_groups, gone)
            if len(gone) and len(rest):
                assert energy[gone].max() <= energy[rest].min()        # the weakest first
            previous = keep
        assert np.array_equal(previous, m.keep)


def test_batch_norm_reestimate_is_the_plain_average():
    _require_torch()
    import torch

    from sparsebytenn.finetune.batchnorm import reestimate
    net = _net()
    batches = [torch.from_numpy(x) for x in FakeData(64).plain(16, 3, 0)]
    seen = []
    net.pw1.register_forward_hook(lambda mod, inp, out: seen.append(out.detach().double()))
    assert reestimate(net, batches) == 3
    acts = torch.stack(seen)                                        # (3, 16, C, H, W)
    mean = acts.mean((1, 3, 4)).mean(0)
    n = acts.shape[1] * acts.shape[3] * acts.shape[4]
    var = (acts.var((1, 3, 4), unbiased=False) * n / (n - 1)).mean(0)
    assert torch.allclose(net.bn1.running_mean.double(), mean, atol=1e-5)
    assert torch.allclose(net.bn1.running_var.double(), var, rtol=1e-4)
    assert net.bn1.momentum == 0.1 and not net.training


# --- training, export, --detect, plugin -------------------------------------------------

def test_training_keeps_groups_zero_and_detect_tags_exactly_them(converted, tmp_path):
    import fbedit
    import torch

    from sparsebytenn import Session
    from sparsebytenn.finetune import Recipe, converter_masks, fine_tune
    from sparsebytenn.finetune.checks import check_detected
    from sparsebytenn_converter.mnn_wheel import MNNSession
    from sparsebytenn_converter import convert, read_model

    teacher = converted["net"]
    student = _net()
    masks = converter_masks(converted["pruned"], converted["report"], student)
    before = {n: p.detach().clone() for n, p in student.named_parameters()}
    recipe = Recipe(steps=16, batch=16, lr=0.05, start="dense", schedule="nested", stages=4, prune_until=0.5,
                    bn="recal", recal_batches=2)
    info = fine_tune(student, teacher, FakeData(), recipe, masks)
    assert [s["step"] for s in info["stages"]] == [0, 2, 4, 6] and info["stages"][-1]["share"] == 1.0
    for m in masks:
        w = getattr(student, m.module).weight.detach().numpy()
        assert (w[~m.keep] == 0).all(), m.module                        # pruned: exactly zero
        assert (w[m.keep] != 0).all(), m.module
        assert not np.array_equal(w[m.keep], before[m.module + ".weight"].numpy()[m.keep]), m.module
    assert not torch.equal(student.stem.weight, before["stem.weight"])   # every layer trains

    # the exported file holds the masks' zeros in the torch order, read two ways
    tuned = _to_mnn(student, tmp_path, "tuned")
    ours = {c.name: c.weights for c in read_model(tuned).convs}
    theirs = fbedit.FB(tuned.read_bytes()).conv_weights()
    names = [c.name for c in read_model(tuned).convs]
    for m in masks:
        name = names[m.index]
        for w in (ours[name], theirs[name]):
            assert np.array_equal(~_zero_kernels(w), m.keep), m.module

    # --detect regroups the scattered groups and tags exactly the masked layers
    tagged = tmp_path / "tuned.sparse.mnn"
    det = convert(tuned, tagged, detect=True, group=G, progress=False)
    assert {ly.name for ly in det.layers if ly.tagged} == {names[m.index] for m in masks}
    assert sum(ly.permuted for ly in det.layers if ly.tagged) >= 2       # the groups were scattered
    records = {ly.name: ly for ly in det.layers}
    tagged_w = fbedit.FB(tagged.read_bytes()).conv_weights()
    for m in masks:
        ly = records[names[m.index]]
        assert np.array_equal(_back(~_zero_kernels(tagged_w[ly.name]), ly.out_order, ly.in_order), m.keep)
    check_detected(tagged, det, masks, student)

    # same function as torch; the plugin runs the tagged layers and agrees with stock MNN
    x = np.random.default_rng(5).standard_normal((1, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        ref = student(torch.from_numpy(x)).numpy()
    got = MNNSession(tagged).run_single(x).reshape(ref.shape)
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()
    stock, plugin = Session(tagged, plugin=False), Session(tagged, plugin=True)
    a = next(iter(stock.run(x).values()))
    b = next(iter(plugin.run(x).values()))
    assert plugin.stats()["plugin_convs"] == len(masks)
    assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()


def test_converter_schedule_runs_the_converter_per_stage(converted, tmp_path):
    import types

    import fbedit

    from sparsebytenn.finetune import Recipe, converter_masks, fine_tune
    from sparsebytenn.finetune.converter_stages import ConverterStages
    teacher, student = converted["net"], _net()
    modules = [m.module for m in converter_masks(converted["pruned"], converted["report"], student)]
    spec = types.SimpleNamespace(input_shape=(1, 3, SIZE, SIZE), input_name="input", output_name="logits")
    calib = np.random.default_rng(1).standard_normal((32, 3, SIZE, SIZE)).astype(np.float32)
    stages = ConverterStages(spec, calib, 0.5, G, tmp_path, modules)
    recipe = Recipe(steps=6, batch=16, stages=3, prune_until=0.5, start="dense", schedule="converter")
    info = fine_tune(student, teacher, FakeData(), recipe, stages)
    assert stages.calls == 3 and [s["step"] for s in info["stages"]] == [0, 1, 2]
    sparsities = [s["sparsity"] for s in info["stages"]]
    assert 0 < sparsities[0] < sparsities[2]
    # the last stage's masks are the last converter output's zero groups (same count per
    # layer, up to the channel order), and they hold through training
    last = stages.final_masks()
    file_w = fbedit.FB((tmp_path / "stage-3.pruned.mnn").read_bytes()).conv_weights()
    assert last and set(m.module for m in last) <= set(modules)     # the converter's allocation may change
    for m in last:
        w = file_w[m.conv]
        whole = _zero_kernels(w).reshape(-1, G, w.shape[1]).all(axis=1)      # zero G-groups, written order
        assert (~m.keep).sum() == whole.sum() * G, m.module
        assert (getattr(student, m.module).weight.detach().numpy()[~m.keep] == 0).all(), m.module


def test_check_detected_refuses_other_layers_or_other_zeros(converted, tmp_path):
    import dataclasses

    from sparsebytenn.errors import SparseByteNNError
    from sparsebytenn.finetune import MaskedWeights, converter_masks
    from sparsebytenn.finetune.checks import check_detected
    from sparsebytenn_converter import convert
    net = _net()
    masks = converter_masks(converted["pruned"], converted["report"], net)
    MaskedWeights(net, [m.module for m in masks]).set({m.module: m.keep for m in masks})   # torch order
    tagged = tmp_path / "masked-detect.mnn"
    det = convert(_to_mnn(net, tmp_path, "masked"), tagged, detect=True, group=G, progress=False)
    assert check_detected(tagged, det, masks, net)["tagged_by_detect"] == ["pw1", "pw2", "k3"]
    with pytest.raises(SparseByteNNError, match="--detect tagged layers"):
        check_detected(tagged, det, masks[:-1], net)
    keep = masks[1].keep.copy()
    keep[masks[1].group_id == masks[1].pruned_groups[0]] = True        # one group less
    other = masks[:1] + [dataclasses.replace(masks[1], keep=keep)] + masks[2:]
    with pytest.raises(SparseByteNNError, match="zeros differ from the mask"):
        check_detected(tagged, det, other, net)


def test_masks_refuse_a_different_network(converted):
    import torch.nn as nn

    from sparsebytenn.errors import SparseByteNNError
    from sparsebytenn.finetune import converter_masks
    with pytest.raises(SparseByteNNError, match="Conv2d/Linear modules"):
        converter_masks(converted["pruned"], converted["report"], nn.Sequential(nn.Conv2d(3, 8, 1)))


# --- the CLI ------------------------------------------------------------------------------

def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "sparsebytenn.finetune", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", [[sys.executable, "-m", "sparsebytenn.finetune"],
                                     [sys.executable, "-m", "sparsebytenn", "finetune"]])
def test_cli_help_explains(command):
    r = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    for word in ("--sparsity", "--minutes", "--steps", "--group", "--out", "--seed", "out_order",
                 "distillation", "dense model fine-tuned by the same recipe", "one-shot", "--detect", "Wilson"):
        assert word in r.stdout, word
    bad = subprocess.run([*command, "--sparsity", "1.5", "-q"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "must be in (0, 1)" in bad.stderr and bad.stderr.count("\n") == 1


def test_cli_errors_are_one_line(tmp_path):
    cases = [(["--model", "mobilenet-v1"], "not a user model"),
             (["--sparsity", "1.5"], "must be in (0, 1)"),
             (["--sparsity", "0.5", "0.5"], "given twice"),
             (["--alpha", "2"], "alpha"),
             (["--schedule", "nested"], "needs schedule 'oneshot'"),
             (["--out", tmp_path / "file.txt"], "is a file")]
    (tmp_path / "file.txt").write_text("x")
    for args, message in cases:
        r = _cli(*args, "--from", tmp_path, "-q")
        assert r.returncode == 1, args
        assert message in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    existing = tmp_path / "mobilenet-v1-fmnist-s50.finetune.json"
    existing.write_text("{}")
    r = _cli("--sparsity", "0.5", "--from", tmp_path, "--out", tmp_path, "-q")
    assert r.returncode == 1 and "already exists; use --force" in r.stderr
    assert existing.read_text() == "{}"


REDUCED = dict(steps=10, batch=8, train_images=256, test_images=100, validation_images=32)


@pytest.fixture(scope="module")
def reduced_user_model(tmp_path_factory):
    _require_torch()
    require((FASHION / "train-images-idx3-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")
    from sparsebytenn import zoo
    require(not zoo.missing_requirements("mobilenet-v1-fmnist"), "the mobilenet-v1 zoo packages")
    folder = tmp_path_factory.mktemp("user-model")
    return zoo.build_variant("mobilenet-v1-fmnist", folder, threads=1, **REDUCED).parent


def _module_api_correct(path, x, y):
    """Stock MNN's Module API (not the project's runners), one image at a time."""
    from sparsebytenn_converter.mnn_wheel import import_mnn
    MNN = import_mnn()
    module = MNN.nn.load_module_from_file(str(path), ["input"], ["logits"])
    pred = [int(np.argmax(np.array(module.forward(MNN.expr.const(np.ascontiguousarray(im[None]),
                                                                    [1, *im.shape], MNN.expr.NCHW)).read())))
            for im in x]
    return np.array(pred) == y


def test_cli_end_to_end_on_a_reduced_user_model(reduced_user_model, tmp_path):
    import fbedit

    from sparsebytenn import zoo
    out = tmp_path / "out"
    args = ["--from", reduced_user_model, "--sparsity", "0.5", "--steps", "4", "--batch", "8", "--stages", "2",
            "--train-images", "64", "--test", "60", "--calibration", "32", "--plugin-check", "4",
            "--threads", "1", "--out", out, "-q"]
    r = _cli(*args)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    s = json.loads((out / "mobilenet-v1-fmnist-s50.finetune.json").read_text())
    tagged = out / "mobilenet-v1-fmnist-s50.sparse.mnn"
    assert s["G"] == 8 and s["sparsity"] == 0.5 and s["budget"]["steps"] == 4
    assert s["layers"]["masked"] == s["layers"]["tagged_by_detect"] and len(s["layers"]["masked"]) == 13
    assert s["plugin_vs_stock"]["plugin_convs"] == 13 and s["plugin_vs_stock"]["max_rel_diff"] <= 1e-4
    assert s["plugin_vs_stock"]["top1_differing"] == 0
    assert set(s["results"]) == {"dense", "dense_finetuned", "oneshot_calibrated", "pruned_finetuned"}
    for res in s["results"].values():
        lo, hi = res["interval95"]
        assert res["images"] == 60 and lo <= res["accuracy"] <= hi
    assert s["goal"]["max_drop_points"] == 0.5 and s["machine"]["cpu_model"]
    assert s["training"]["pruned_finetuned"]["steps"] == s["training"]["dense_finetuned"]["steps"] == 4
    # the written file: 13 layers with whole G-groups zero, and the accuracy the json says
    weights = fbedit.FB(tagged.read_bytes()).conv_weights()
    fb = fbedit.FB(tagged.read_bytes())
    assert len(fb.sparse_convs()) == 13
    x, y = zoo.fashion_mnist_inputs("mobilenet-v1-fmnist", "test", 60)
    assert _module_api_correct(tagged, x, y).sum() == s["results"]["pruned_finetuned"]["correct"]
    assert _module_api_correct(reduced_user_model / "mobilenet-v1-fmnist.mnn", x, y).sum() == \
        s["results"]["dense"]["correct"]
    sparsities = [float(_zero_kernels(w).mean()) for w in weights.values()]
    assert sum(0.3 < v < 0.9 for v in sparsities) == 13
    # a second run refuses to overwrite, and --force replaces
    r = _cli(*args)
    assert r.returncode == 1 and "already exists" in r.stderr


def test_plugin_check_refuses_a_run_where_the_plugin_ran_no_conv(monkeypatch, tmp_path):
    # a bridge that failed to load makes "plugin vs stock" compare stock MNN with itself
    # (max difference 0): the run must say so, not record it as a pass
    from types import SimpleNamespace

    from sparsebytenn.errors import SparseByteNNError
    from sparsebytenn.finetune import pipeline

    run = pipeline.Run.__new__(pipeline.Run)
    run.o, run.images, run.seconds = SimpleNamespace(plugin_check=3, model="m"), np.zeros((5, 28, 28)), {}
    seen = {"plugin_convs": 0}
    monkeypatch.setattr(pipeline, "plugin_vs_stock", lambda *a: {"images": 3, "max_rel_diff": 0.0,
                                                                 "top1_differing": 0, **seen})
    with pytest.raises(SparseByteNNError, match="ran 0 of the 13 tagged convs"):
        run.plugin_check(tmp_path / "x.mnn", 13)
    seen["plugin_convs"] = 13
    assert run.plugin_check(tmp_path / "x.mnn", 13)["plugin_convs"] == 13
