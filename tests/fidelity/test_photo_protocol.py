"""The held-out photo protocol: folds, ten-crop views and augmented crops against PIL and
zoo.preprocess; pooled agreement against numpy on stock MNN outputs."""
from __future__ import annotations

import numpy as np
import pytest

from sbnn_testing import require, stock_mnn_logits


def photos():
    from sparsebytenn.fidelity import photo_protocol as pp
    from sparsebytenn import zoo

    require(len(zoo.sample_photos()) == 14, "the 14 installed photos (scikit-image, darknet, scikit-learn, "
                                            "matplotlib)")
    return pp.installed_photos()


def test_two_fixed_disjoint_folds_cover_every_photo():
    from sparsebytenn.fidelity import photo_protocol as pp

    ph = photos()
    a, b = pp.folds(ph)
    names = [p.name for p in ph]
    assert len(a) == len(b) == 7
    assert not {p.name for p in a} & {p.name for p in b}
    assert sorted(p.name for p in a + b) == sorted(names)
    assert [p.name for p in pp.folds(pp.installed_photos())[0]] == [p.name for p in a]


def test_ten_crop_views_are_corners_centre_and_mirrors():
    from PIL import Image

    from sparsebytenn import zoo
    from sparsebytenn.fidelity import photo_protocol as pp

    p = photos()[0]
    v = pp.ten_crop("mobilenet-v1", p)
    assert v.shape == (10, 3, 224, 224) and v.dtype == np.float32
    np.testing.assert_array_equal(v[4], zoo.preprocess("mobilenet-v1", p.path)[0])     # the centre
    np.testing.assert_array_equal(v[5:], v[:5][..., ::-1])                              # mirrors
    im = Image.open(p.path).convert("RGB")
    w, h = im.size
    s = 256 / min(w, h)
    big = np.asarray(im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BILINEAR), np.float32)
    ref = (big[-224:, -224:] - 127.5) / 127.5                                           # bottom right
    np.testing.assert_allclose(v[3], ref.transpose(2, 0, 1), atol=1e-6)


def test_augmented_crops_are_seeded_and_normalised():
    from sparsebytenn.fidelity import photo_protocol as pp

    fold = pp.folds(photos())[0]
    a = pp.augmented_crops("mobilenet-v1", fold, 12, seed=3)
    assert a.shape == (12, 3, 224, 224)
    np.testing.assert_array_equal(a, pp.augmented_crops("mobilenet-v1", fold, 12, seed=3))
    assert not np.array_equal(a, pp.augmented_crops("mobilenet-v1", fold, 12, seed=4))
    assert a.min() >= -1.0 - 1e-6 and a.max() <= 1.0 + 1e-6


def test_held_out_agreement_calibrates_on_the_other_fold(tmp_path):
    from sparsebytenn import zoo
    from sparsebytenn.fidelity import photo_protocol as pp

    ph = photos()
    require(zoo.is_cached("mobilenet-v1") or not zoo.missing_requirements("mobilenet-v1"), "mobilenet-v1")
    dense = zoo.get("mobilenet-v1", progress=False)
    from sparsebytenn_converter import convert

    seen = []

    def build(calibration, out):
        seen.append(calibration)
        convert(dense, out, layers={"/features/features.26/features.26.0/Conv_output_0": 0.3},
                plain=True, progress=False, fidelity=False)

    res = pp.held_out_agreement("mobilenet-v1", dense, build, tmp_path, calibrated=True, crops=7)
    folds = pp.folds(ph)
    np.testing.assert_array_equal(seen[0], pp.augmented_crops("mobilenet-v1", folds[1], 7, 0))
    np.testing.assert_array_equal(seen[1], pp.augmented_crops("mobilenet-v1", folds[0], 7, 1))
    assert res["views"] == 140
    # recompute from stock MNN, view by view
    pruned = tmp_path / "fold1.mnn"     # both folds built the same model here
    views = np.concatenate([pp.ten_crop("mobilenet-v1", photo) for photo in folds[0] + folds[1]])
    d = stock_mnn_logits(dense, views).astype(np.float64)
    p = stock_mnn_logits(pruned, views).astype(np.float64)
    assert res["top1_agreement"] == pytest.approx(np.mean(d.argmax(1) == p.argmax(1)))
    cos = np.mean(np.sum(d * p, 1) / np.linalg.norm(d, axis=1) / np.linalg.norm(p, axis=1))
    assert res["logit_cosine"] == pytest.approx(cos, abs=1e-6)
    # where the answers changed, from the same stock MNN logits: per photo, and by the
    # dense model's softmax top-1 probability
    kept = d.argmax(1) == p.argmax(1)
    order = [photo.name for photo in folds[0] + folds[1]]
    assert [r["photo"] for r in res["per_photo"]] == order
    for i, r in enumerate(res["per_photo"]):
        assert r["views"] == 10 and r["agreed"] == int(kept[10 * i:10 * i + 10].sum())
        assert r["fold"] == (0 if i < len(folds[0]) else 1)
    prob = np.exp(d - d.max(1, keepdims=True))
    prob = prob.max(1) / prob.sum(1)
    for i, r in enumerate(res["per_photo"]):
        assert r["dense_top1_prob"] == pytest.approx(prob[10 * i:10 * i + 10].mean(), abs=1e-3)
    split = res["by_dense_confidence"]
    sure = prob >= split["threshold"]
    assert split["sure"] == {"views": int(sure.sum()), "agreed": int(kept[sure].sum())}
    assert split["unsure"] == {"views": int((~sure).sum()), "agreed": int(kept[~sure].sum())}
    assert 0 < split["sure"]["views"] < 140      # the photos give both kinds of view


def test_task_row_against_numpy():
    from sparsebytenn.fidelity.evaluate import task_row

    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    dense = rng.standard_normal((500, 10))
    dense[np.arange(500), y] += 2.0
    pruned = dense + 0.8 * rng.standard_normal((500, 10))
    r = task_row(y, pruned, dense, seed=0)
    acc_d, acc_p = np.mean(dense.argmax(1) == y), np.mean(pruned.argmax(1) == y)
    assert r["accuracy"] == pytest.approx(acc_p)
    assert r["drop_pt"] == pytest.approx((acc_d - acc_p) * 100)
    lo, hi = r["accuracy_ci95"]
    assert lo < acc_p < hi and hi - lo == pytest.approx(2 * 1.96 * np.sqrt(acc_p * (1 - acc_p) / 500), rel=0.05)
    assert r["drop_ci95_pt"][0] < r["drop_pt"] < r["drop_ci95_pt"][1]
    assert r["top1_agreement"] == pytest.approx(np.mean(dense.argmax(1) == pruned.argmax(1)))
