"""The comparison pruners (unstructured, MNN 4x1) against masks computed in plain numpy."""
from __future__ import annotations

import numpy as np
import pytest

from sparsebytenn.errors import SparseByteNNError
from sparsebytenn.fidelity.prune import prune_masks


def _layers(seed=0):
    rng = np.random.default_rng(seed)
    return {"a": rng.standard_normal((16, 12, 1, 1)).astype(np.float32),
            "b": (0.2 * rng.standard_normal((8, 6, 3, 3))).astype(np.float32),
            "c": (5 * rng.standard_normal((24, 16, 1, 1))).astype(np.float32)}


@pytest.mark.parametrize("s", [0.3, 0.5, 0.7])
def test_unstructured_per_layer_is_smallest_magnitudes(s):
    W = _layers()
    masks = prune_masks(W, "unstructured", s, per_layer=True)
    for n, w in W.items():
        k = int(round(s * w.size))
        exp = np.zeros(w.size, bool)
        exp[np.argsort(np.abs(w).ravel(), kind="stable")[:k]] = True
        assert np.array_equal(masks[n].ravel(), exp), n


@pytest.mark.parametrize("s", [0.3, 0.5])
def test_unstructured_global_ranks_relative_to_each_layer(s):
    W = _layers(1)
    masks = prune_masks(W, "unstructured", s)
    # independent: every weight scored by w^2 / (mean w^2 of its layer), one pooled ranking
    scores = np.concatenate([(w.astype(np.float64).ravel() ** 2) / np.mean(w.astype(np.float64) ** 2)
                             for w in W.values()])
    pruned = np.concatenate([masks[n].ravel() for n in W])
    total = sum(w.size for w in W.values())
    assert abs(int(pruned.sum()) - s * total) <= 1
    k = int(pruned.sum())
    exp = np.zeros(total, bool)
    exp[np.argsort(scores, kind="stable")[:k]] = True
    assert np.array_equal(pruned, exp)
    # scale-invariant: layer c (5x larger weights) is not spared for its scale
    assert masks["c"].mean() == pytest.approx(s, abs=0.15)


def _oc4_blocks(w):
    a = np.abs(w.astype(np.float64).reshape(w.shape[0], -1))
    O, K = a.shape
    full = O // 4 * 4
    return a[:full].reshape(O // 4, 4, K).mean(axis=1), a[full:]


@pytest.mark.parametrize("s", [0.3, 0.6])
def test_mnn_oc4_per_layer_prunes_lowest_l1_blocks(s):
    W = {"a": _layers()["a"], "b": _layers()["b"]}   # O = 16 and 8: no tail rows
    masks = prune_masks(W, "mnn-simd-oc", s, per_layer=True)
    for n, w in W.items():
        blocks, _ = _oc4_blocks(w)
        k = int(round(s * blocks.size))
        pruned_blocks = np.zeros(blocks.size, bool)
        pruned_blocks[np.argsort(blocks.ravel(), kind="stable")[:k]] = True
        exp = np.repeat(pruned_blocks.reshape(blocks.shape), 4, axis=0).reshape(w.shape)
        assert np.array_equal(masks[n], exp), n


def test_mnn_oc4_tail_rows_are_pruned_weight_by_weight():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((10, 7, 1, 1)).astype(np.float32)   # 2 full blocks + 2 tail rows
    m = prune_masks({"t": w}, "mnn-simd-oc", 0.5, per_layer=True)["t"].reshape(10, 7)
    main = m[:8].reshape(2, 4, 7)
    assert np.all(main.all(axis=1) | ~main.any(axis=1))          # blocks are whole
    assert abs(int(m.sum()) - 35) <= 3                           # closest to 50 % (blocks are 4)
    blocks, tail = _oc4_blocks(w)
    scale = np.abs(w).mean()
    scores = np.concatenate([blocks.ravel(), tail.ravel()]) / scale
    pruned = np.concatenate([main.all(axis=1).ravel(), m[8:].ravel()])
    assert scores[pruned].max() <= scores[~pruned].min()        # a prefix of the L1 ranking


def test_min_keep_guard_holds_in_global_mode():
    rng = np.random.default_rng(5)
    W = {"big": rng.standard_normal((32, 32, 1, 1)).astype(np.float32),
         "weak": rng.standard_normal((32, 32, 1, 1)).astype(np.float32)}
    W["weak"][:, :16] *= 1e-3          # half of this layer is far weaker than anything else
    for pattern in ("unstructured", "mnn-simd-oc"):
        free = prune_masks(W, pattern, 0.25, min_keep=0.0)
        assert free["weak"].mean() > 0.4              # unguarded, the weak half goes first
        masks = prune_masks(W, pattern, 0.25, min_keep=0.6)
        assert masks["weak"].mean() <= 0.4 + 1e-9 and masks["big"].mean() > 0.05
        assert (masks["weak"].sum() + masks["big"].sum()) / 2048 == pytest.approx(0.25, abs=0.01)


def test_unknown_pattern_is_a_clear_error():
    with pytest.raises(SparseByteNNError, match="pattern 'diagonal'"):
        prune_masks(_layers(), "diagonal", 0.5)
