"""The converter on the real zoo models (done-when of issue 3), against stock MNN."""
from __future__ import annotations

import numpy as np
import pytest

from sbnn_testing import require
from helpers import mnn_run, rel_err, zero_groups

from sparsebytenn_converter import convert, read_model


def zoo_path(name):
    from sparsebytenn import zoo
    require(zoo.is_cached(name) or not zoo.missing_requirements(name), f"zoo model {name}")
    return zoo.get(name, progress=False)


X = np.random.default_rng(7).standard_normal((1, 3, 224, 224)).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet-v1", "efficientnet-lite0"])
@pytest.mark.parametrize("S", [0.3, 0.5, 0.7, 0.9])
def test_zoo_sparse_equals_pruned_dense(name, S, tmp_path):
    src = zoo_path(name)
    for rearrange in (False, True):
        sp, de = tmp_path / f"sp{rearrange}.mnn", tmp_path / f"de{rearrange}.mnn"
        r = convert(src, sp, sparsity=S, rearrange=rearrange, plain=True, progress=False)
        convert(src, de, sparsity=S, rearrange=rearrange, format="dense", plain=True, progress=False)
        assert rel_err(mnn_run(sp, X), mnn_run(de, X)) < 1e-5
        m = read_model(sp)
        tagged = [c for c in m.convs if c.sparse]
        assert len(tagged) == len(r.layers) > 0
        zeros = sum(int((c.weights == 0).sum()) for c in tagged)
        assert zeros / sum(c.weights.size for c in tagged) == pytest.approx(S, abs=0.01)
        if rearrange:
            assert r.totals()["retained"] > r.totals()["retained_identity"]
            assert all(x.retained >= x.retained_identity * (1 - 1e-9) for x in r.layers)


@pytest.mark.parametrize("name", ["mobilenet-v1", "efficientnet-lite0"])
def test_zoo_rearranged_dense_equals_original(name, tmp_path):
    src = zoo_path(name)
    out = tmp_path / "perm.mnn"
    r = convert(src, out, sparsity=0.7, rearrange_only=True, format="dense", progress=False)
    assert sum(x.permuted for x in r.layers) >= 10
    assert rel_err(mnn_run(out, X), mnn_run(src, X)) < 1e-5


def _group_energy(w: np.ndarray, G: int) -> np.ndarray:
    """(O//G, I) sums of squares of G output channels x 1 input channel x all taps."""
    O, I = w.shape[:2]
    e = (w.astype(np.float64) ** 2).sum(axis=(2, 3))
    return e[: O // G * G].reshape(-1, G, I).sum(axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("per_layer", [True, False])
def test_pruned_groups_are_the_weakest_by_numpy(per_layer, tmp_path):
    """Which groups go, checked on MNN's own JSON dump of the input and output: per
    layer (--per-layer) the zeroed groups are exactly the ones with the smallest L2
    norm and their share is S; with global ranking one threshold on the group's mean
    square relative to its layer's separates pruned from kept groups in every layer
    the collapse guard did not stop."""
    from helpers import exact_conv_weights

    src, S, G = zoo_path("mobilenet-v1"), 0.5, 8
    out = tmp_path / "pruned.mnn"
    convert(src, out, sparsity=S, group=G, rearrange=False, per_layer=per_layer, format="dense",
            plain=True, progress=False)
    before = exact_conv_weights(src, tmp_path)
    after = exact_conv_weights(out, tmp_path)
    changed = [n for n in before if not np.array_equal(before[n], after[n])]
    assert len(changed) >= 12  # MobileNet-V1: 13 pointwise layers, the classifier skipped
    pruned_scores, kept_scores = [], []
    for name in changed:
        w0, w1 = before[name], after[name]
        assert w0.shape[1] > 1, f"{name}: a depthwise conv was pruned"
        zero = zero_groups(w1, G)
        stray = int((w1 == 0).sum()) - zero.sum() * G * w1.shape[2] * w1.shape[3]
        assert 0 <= stray <= int((w0 == 0).sum()), f"{name}: zeros not in whole groups"
        np.testing.assert_array_equal(w1[w1 != 0], w0[w1 != 0])  # kept weights untouched
        e = _group_energy(w0, G)
        if per_layer:
            assert zero.mean() == pytest.approx(S, abs=1.0 / zero.size + 1e-9), name
            assert e[zero].max() <= e[~zero].min(), f"{name}: a kept group is weaker than a pruned one"
        else:
            score = e / (G * w0.shape[2] * w0.shape[3]) / ((w0.astype(np.float64) ** 2).mean())
            if zero.mean() < 0.9 - 1e-9:  # not held back by the collapse guard (min-keep 0.1)
                pruned_scores.append(score[zero].max() if zero.any() else -np.inf)
                kept_scores.append(score[~zero].min())
    if not per_layer:
        assert max(pruned_scores) <= min(kept_scores)
        total = sum(before[n].size for n in changed)
        assert sum(int((after[n] == 0).sum()) for n in changed) / total == pytest.approx(S, abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet-v1", "efficientnet-lite0"])
def test_inspect_and_mnn_agree_on_groups_and_rearrangement_keeps_more_energy(name, tmp_path):
    """`inspect --json` of a converted zoo model against MNN's own JSON dump: per layer
    zero fraction and G; zeros in whole G groups; and the retained weight energy,
    computed with numpy from the dumps, is higher with rearrangement."""
    import json
    import subprocess
    import sys

    from helpers import exact_conv_weights

    src, S, G = zoo_path(name), 0.5, 8
    w_src = exact_conv_weights(src, tmp_path)
    kept = {}
    for rearrange in (False, True):
        out = tmp_path / f"r{int(rearrange)}.mnn"
        convert(src, out, sparsity=S, group=G, rearrange=rearrange, plain=True, progress=False)
        r = subprocess.run([sys.executable, "-m", "sparsebytenn", "inspect", str(out), "--json"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        ops = {op["name"]: op for op in json.loads(r.stdout)["ops"]}
        w_out = exact_conv_weights(out, tmp_path)
        tagged = [n for n, op in ops.items() if op["sparse"] and op["sparse"].get("sbnn")]
        assert len(tagged) >= 12
        for n in tagged:
            w = w_out[n]
            assert ops[n]["zero_fraction"] == pytest.approx(float((w == 0).mean()), abs=1e-6)
            assert ops[n]["sparse"]["sbnn"]["group"] == G
            zero = zero_groups(w, G)
            tail = w[w.shape[0] // G * G:]
            tail_zeros = int((~(tail != 0).any(axis=(2, 3))).sum()) * w.shape[2] * w.shape[3]
            stray = int((w == 0).sum()) - zero.sum() * G * w.shape[2] * w.shape[3] - tail_zeros
            # zeros outside whole groups can only be the source's own exact zeros (the
            # count is invariant under the channel permutation)
            assert 0 <= stray <= int((w_src[n] == 0).sum()), n
        zeros = sum(int((w_out[n] == 0).sum()) for n in tagged)
        assert zeros / sum(w_out[n].size for n in tagged) == pytest.approx(S, abs=0.01)
        # energy is invariant under the channel permutation: compare whole layers
        kept[rearrange] = sum(float((w_out[n].astype(np.float64) ** 2).sum()) for n in tagged) / \
            sum(float((w_src[n].astype(np.float64) ** 2).sum()) for n in tagged)
    print(f"{name}: retained energy at {S:.0%}, G={G}: {kept[False]:.4f} -> {kept[True]:.4f} with rearrangement")
    assert kept[True] >= kept[False] * 1.005, kept  # measurably (>= 0.5 % relative) more


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet-v1", "efficientnet-lite0"])
def test_zoo_rewrite_is_lossless_outside_the_pruned_layers(name, tmp_path):
    """MNN's own JSON dump of the input and of the output (no rearrangement, so only
    the tagged layers may change): every other op, tensor name, attribute and the
    graph's inputs/outputs are the same; a tagged op keeps its name, type, inputs,
    outputs and conv geometry."""
    from helpers import mnn_json

    src = zoo_path(name)
    out = tmp_path / "o.mnn"
    r = convert(src, out, sparsity=0.5, rearrange=False, plain=True, progress=False)
    tagged = {x.name for x in r.layers if x.tagged}
    assert len(tagged) >= 12
    a, b = mnn_json(src, tmp_path), mnn_json(out, tmp_path / "..")
    assert set(a) == set(b)
    for k in a:
        if k != "oplists":
            assert a[k] == b[k], k
    assert [op["name"] for op in a["oplists"]] == [op["name"] for op in b["oplists"]]
    seen = 0
    for x, y in zip(a["oplists"], b["oplists"], strict=True):
        if x["name"] in tagged:
            seen += 1
            assert x["main"]["common"] == y["main"]["common"], x["name"]
            x, y = dict(x), dict(y)
            x.pop("main"), y.pop("main")
        assert x == y, x["name"]
    assert seen == len(tagged)
