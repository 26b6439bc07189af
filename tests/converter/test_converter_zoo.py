"""The converter on the real zoo models (done-when of issue 3), against stock MNN."""
from __future__ import annotations

import numpy as np
import pytest

from sbnn_testing import require
from helpers import mnn_run, rel_err

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
        r = convert(src, sp, sparsity=S, rearrange=rearrange, progress=False)
        convert(src, de, sparsity=S, rearrange=rearrange, format="dense", progress=False)
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
