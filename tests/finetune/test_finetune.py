"""The fine-tuning helper: masks from a converted file, training that keeps the
pruned groups at zero, and the round trip back through MNN's converter and
`convert --detect`. References: the file's bytes read with fbedit, torch itself,
stock MNN."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from sbnn_testing import require

G = 4


def _net():
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
            s.pw2 = nn.Conv2d(32, 24, 1)
            s.k3 = nn.Conv2d(24, 20, 3, 1, 1)
            s.fc = nn.Linear(20, 10)

        def forward(s, x):
            x = torch.relu(s.bn0(s.stem(x)))
            x = torch.clamp(s.bn1(s.pw1(x)), 0, 6)
            x = torch.relu(s.pw2(torch.relu(s.dw(x))))
            x = torch.relu(s.k3(x))
            return s.fc(x.mean((2, 3)))

    net = Net()
    with torch.no_grad():  # batch norm that is not the identity, so folding matters
        for bn in (net.bn0, net.bn1):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
    return net.eval()


def _to_mnn(net, folder, name):
    from sparsebytenn.zoo import export
    onnx_path, mnn_path = folder / f"{name}.onnx", folder / f"{name}.mnn"
    export.torch_to_onnx(net, (1, 3, 16, 16), onnx_path, "input", "logits")
    export.onnx_to_mnn(onnx_path, mnn_path)
    return mnn_path


def _zero_pairs(w):
    return (w == 0).all(axis=(2, 3))


@pytest.fixture
def setup(tmp_path):
    require(importlib.util.find_spec("torch") is not None and importlib.util.find_spec("onnx") is not None,
            "torch and onnx (pip install -e '.[zoo]')")
    from sparsebytenn_converter import convert
    net = _net()
    dense = _to_mnn(net, tmp_path, "dense")
    pruned = tmp_path / "pruned.mnn"
    rep = convert(dense, pruned, sparsity=0.5, group=G, rearrange=False, skip=["first"], progress=False)
    return net, pruned, {ly.name for ly in rep.layers if ly.tagged}


def test_masks_are_the_files_zero_groups(setup):
    import fbedit

    from sparsebytenn.finetune import conv_modules, group_masks
    net, pruned, tagged = setup
    masks = group_masks(pruned, net)
    assert set(masks) == {"pw1", "pw2", "k3", "fc"} and len(tagged) == 4
    file_w = fbedit.FB(pruned.read_bytes()).conv_weights()          # bit-exact, without our reader
    mods = dict(conv_modules(net))
    for (name, mask), mnn_name in zip(masks.items(), [n for n in file_w if n in tagged]):
        w = file_w[mnn_name]
        keep = ~_zero_pairs(w)
        m = mask.numpy().reshape(w.shape)
        assert m.shape[:2] == keep.shape and np.array_equal(m.all(axis=(2, 3)), keep), name
        assert np.array_equal(m.any(axis=(2, 3)), keep), name           # whole kernels only
        assert tuple(mods[name].weight.shape) == tuple(mask.shape)
        assert 0.4 < 1 - keep.mean() < 0.6


def test_training_keeps_pruned_groups_zero_and_detect_finds_them(setup, tmp_path):
    import fbedit
    import torch

    from sparsebytenn.finetune import MaskedTraining, conv_modules, group_masks, train
    from sparsebytenn_converter import convert
    from sparsebytenn.zoo.export import run_mnn

    net, pruned, tagged = setup
    masks = group_masks(pruned, net)
    before = {n: m.weight.detach().clone() for n, m in conv_modules(net)}
    keep = MaskedTraining(net, masks)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3, 16, 16)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    losses = train(net, x, y, steps=30, batch=16, lr=1e-2, keep=keep)
    assert np.mean(losses[-5:]) < np.mean(losses[:5])                 # it learned something
    for name, module in conv_modules(net):
        w = module.weight.detach()
        if name in masks:
            assert torch.all(w[~masks[name]] == 0), name                # pruned groups: exactly zero
            assert not torch.equal(w[masks[name]], before[name][masks[name]]), name
        else:
            assert not torch.equal(w, before[name]), name

    # back through MNN's converter: --detect tags exactly the masked layers
    tuned = _to_mnn(net, tmp_path, "tuned")
    tagged_out = tmp_path / "tuned.sparse.mnn"
    rep = convert(tuned, tagged_out, detect=True, group=G, progress=False)
    assert {ly.name for ly in rep.layers if ly.tagged} == tagged
    w_file = fbedit.FB(tagged_out.read_bytes()).conv_weights()
    w_pruned = fbedit.FB(pruned.read_bytes()).conv_weights()
    for n in tagged:
        assert np.array_equal(_zero_pairs(w_file[n]), _zero_pairs(w_pruned[n])), n
    xt = rng.standard_normal((1, 3, 16, 16)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(xt)).numpy()
    got = run_mnn(tagged_out, xt)
    assert np.abs(got.reshape(ref.shape) - ref).max() <= 1e-4 * np.abs(ref).max()


def test_masks_refuse_a_different_network(setup):
    import torch.nn as nn

    from sparsebytenn.errors import SparseByteNNError
    from sparsebytenn.finetune import group_masks
    _, pruned, _ = setup
    with pytest.raises(SparseByteNNError, match="Conv2d/Linear modules"):
        group_masks(pruned, nn.Sequential(nn.Conv2d(3, 8, 1)))


@pytest.mark.slow
def test_finetune_demo_on_the_real_backbone(tmp_path):
    from sparsebytenn import zoo
    require(not zoo.missing_requirements("efficientnet-lite0"), "the efficientnet-lite0 zoo packages")
    from sparsebytenn.zoo import fashion_mnist_data as fm
    require((fm.FOLDER / "t10k-images-idx3-ubyte.gz").is_file(), "apt-get install dataset-fashion-mnist")
    r = subprocess.run([sys.executable, "-m", "sparsebytenn.finetune", "--steps", "4", "--train", "64",
                        "--test", "24", "--out", str(tmp_path), "-q"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    s = json.loads((tmp_path / "finetune.json").read_text())
    assert s["masked_layers"] == s["detected_layers"] == s["mnn"]["plugin_convs"] > 20
    assert s["mnn"]["plugin_vs_stock_rel_err"] <= 1e-4
    assert abs(s["mnn"]["stock_accuracy"] - s["mnn"]["plugin_accuracy"]) <= 1 / 24 + 1e-9
    assert set(s["runs"]) == {"dense, head only", "pruned, head only", "pruned, masked fine-tune"}
