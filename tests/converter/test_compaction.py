"""Compaction: sparse output without the dead dense weights, and nothing else changed.

References: MNN's own converter (its JSON dump of both files, and its own
--detectSparseSpeedUp output for the size comparison), stock MNN's runtime (outputs,
session memory), numpy arithmetic on the coding, and the project's reader for
bit-exact floats (the JSON dump prints floats rounded).
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

from sbnn_testing import require
from helpers import mnn_json, mnn_run, rel_err
from sparsebytenn_converter.mnn_wheel import MNNSession, mnn_sparse_tag

from sparsebytenn_converter import convert, read_model
from sparsebytenn_converter.compact import Refused, compact, walk
from sparsebytenn_converter.schema import BlobF, OpType

X_SMALL = np.random.default_rng(1).standard_normal((1, 3, 32, 32)).astype(np.float32)
X_224 = np.random.default_rng(7).standard_normal((1, 3, 224, 224)).astype(np.float32)

# Bytes a tagged layer's new tables may add beyond its alpha/index payload (docs/FORMAT.md
# coding): Convolution2D (soffset + 4 refs) 20, IDSTQuan (soffset, alpha, index, type,
# weightSize) 20, SparseCommon (soffset, args, method) 12, args vector (length + 8 refs) 36,
# alpha and index lengths 8, two per-layer Attributes (soffset, key, i) 24, alignment 24.
PER_LAYER = 144
ONCE = 1024  # vtables and attributes written once for all layers



def zoo_path(name):
    from sparsebytenn import zoo
    require(zoo.is_cached(name) or not zoo.missing_requirements(name), f"zoo model {name}")
    return zoo.get(name, progress=False)


def session_memory_mb(path) -> float:
    """MNN's own account of a session's memory: its sparse path packs only kept weights."""
    return MNNSession(path).memory_mb()


def bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def assert_same_model_bitwise(a_path, b_path):
    """Ops, tensors, outputs, every conv's weights/bias/metadata and every constant,
    bit for bit, through the project's reader."""
    a, b = read_model(a_path), read_model(b_path)
    assert a.tensor_names == b.tensor_names and a.output_names == b.output_names
    assert [(o.name, o.type, o.inputs, o.outputs, o.main_type) for o in a.ops] == \
           [(o.name, o.type, o.inputs, o.outputs, o.main_type) for o in b.ops]
    for x, y in zip(a.convs, b.convs, strict=True):
        assert x.name == y.name and x.storage == y.storage and x.sparse == y.sparse
        assert np.array_equal(bits(x.weights), bits(y.weights)), x.name
        assert (x.bias is None) == (y.bias is None) and (x.bias is None or np.array_equal(bits(x.bias), bits(y.bias)))
    for x, y in zip(a.ops, b.ops):
        if x.type == OpType.Const:
            fx, fy = x.main.array(BlobF.float32s, "f32"), y.main.array(BlobF.float32s, "f32")
            assert (fx is None) == (fy is None) and (fx is None or np.array_equal(bits(fx), bits(fy))), x.name


def assert_same_for_mnn(a_path, b_path, x, tmp_path):
    """MNN's JSON dump (every field of the Net and of every op) and MNN's outputs agree."""
    ja, jb = mnn_json(a_path, tmp_path / "a"), mnn_json(b_path, tmp_path / "b")
    assert ja == jb
    assert np.array_equal(bits(mnn_run(a_path, x)), bits(mnn_run(b_path, x)))


# ---------------------------------------------------------------- small model
@pytest.mark.parametrize("G,rearrange", [(1, False), (4, True), (8, True)])
def test_compacted_file_is_the_same_model(small_model, tmp_path, G, rearrange):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    full, small = tmp_path / "full.mnn", tmp_path / "small.mnn"
    rf = convert(small_model, full, sparsity=0.6, group=G, rearrange=rearrange, compact=False, plain=True, progress=False)
    rs = convert(small_model, small, sparsity=0.6, group=G, rearrange=rearrange, plain=True, progress=False)
    assert not rf.compacted and rs.compacted
    assert rs.output_bytes == small.stat().st_size == full.stat().st_size - rs.reclaimed_bytes
    assert rs.output_bytes < rf.output_bytes
    assert_same_for_mnn(full, small, X_SMALL, tmp_path)
    assert_same_model_bitwise(full, small)
    de = tmp_path / "de.mnn"
    convert(small_model, de, sparsity=0.6, group=G, rearrange=rearrange, format="dense", plain=True, progress=False)
    assert rel_err(mnn_run(small, X_SMALL), mnn_run(de, X_SMALL)) < 1e-5


def test_untouched_parts_stay_bit_exact(small_model, tmp_path):
    out = tmp_path / "o.mnn"
    r = convert(small_model, out, sparsity=0.5, group=4, rearrange=False, plain=True, progress=False)
    assert r.compacted
    a, b = read_model(small_model), read_model(out)
    tagged = {x.name for x in r.layers if x.tagged}
    assert tagged and a.tensor_names == b.tensor_names and a.output_names == b.output_names
    for x, y in zip(a.convs, b.convs, strict=True):
        if x.name not in tagged:
            assert np.array_equal(bits(x.weights), bits(y.weights)) and np.array_equal(bits(x.bias), bits(y.bias))
            assert y.sparse is None
        else:
            assert np.array_equal(bits(x.bias), bits(y.bias))
            kept = y.weights != 0
            assert np.array_equal(bits(x.weights[kept]), bits(y.weights[kept]))  # pruning only zeroes
    ja, jb = mnn_json(small_model, tmp_path), mnn_json(out, tmp_path / "..")
    assert {k: v for k, v in ja.items() if k != "oplists"} == {k: v for k, v in jb.items() if k != "oplists"}
    for x, y in zip(ja["oplists"], jb["oplists"], strict=True):
        if x["name"] in tagged:
            assert x["main"]["common"] == y["main"]["common"]
            x, y = {k: v for k, v in x.items() if k != "main"}, {k: v for k, v in y.items() if k != "main"}
        assert x == y


def test_refuses_a_field_it_does_not_know(small_model, tmp_path):
    """A Net with one field slot more than MNN 3.6.1 declares (what a newer MNN could
    write): it could be a reference, so nothing is removed."""
    data = bytearray(small_model.read_bytes())
    net = struct.unpack_from("<I", data, 0)[0]
    vt = net - struct.unpack_from("<i", data, net)[0]
    vt_size, inline = struct.unpack_from("<HH", data, vt)
    while len(data) % 4:
        data.append(0)
    new_vt = len(data)  # a copy of the vtable with one more slot, at the end of the file
    data += struct.pack("<HH", vt_size + 2, inline) + data[vt + 4:vt + vt_size] + struct.pack("<H", 4)
    struct.pack_into("<i", data, net, net - new_vt)
    odd = tmp_path / "odd.mnn"
    odd.write_bytes(bytes(data))
    assert np.array_equal(mnn_run(odd, X_SMALL), mnn_run(small_model, X_SMALL))  # MNN reads it
    r = convert(odd, tmp_path / "o.mnn", sparsity=0.6, group=4, plain=True, progress=False)
    f = convert(odd, tmp_path / "f.mnn", sparsity=0.6, group=4, compact=False, plain=True, progress=False)
    assert not r.compacted and "slot 12" in r.compaction_note
    assert (tmp_path / "o.mnn").read_bytes() == (tmp_path / "f.mnn").read_bytes()
    assert f.output_bytes > len(data)


def test_refuses_an_input_with_unreachable_data(small_model, tmp_path):
    """Dead bytes in IN (here: a --no-compact output) could hide references: nothing is removed."""
    full = tmp_path / "full.mnn"
    convert(small_model, full, sparsity=0.5, group=4, compact=False, plain=True, progress=False)
    r = convert(full, tmp_path / "again.mnn", sparsity=0.6, group=4, plain=True, progress=False)
    assert not r.compacted and "not reachable" in r.compaction_note
    assert np.isfinite(mnn_run(tmp_path / "again.mnn", X_SMALL)).all()  # a valid model all the same


def test_corrupted_buffers_are_refused_or_compacted_consistently(small_model, tmp_path):
    full = tmp_path / "full.mnn"
    convert(small_model, full, sparsity=0.5, group=4, compact=False, plain=True, progress=False)
    data = full.read_bytes()
    rng = np.random.default_rng(5)
    outcomes = {"refused": 0, "compacted": 0}
    for _ in range(150):
        b = bytearray(data)
        for p in rng.integers(0, len(b) // 4, size=3):  # the front: tables and references
            b[p] = int(rng.integers(0, 256))
        try:
            c = compact(bytes(b))
        except Refused:
            outcomes["refused"] += 1
            continue
        outcomes["compacted"] += 1
        assert len(walk(c.data).objects) == len(walk(bytes(b)).objects)
    assert outcomes["refused"] and outcomes["compacted"]


# ---------------------------------------------------------------- zoo models
@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet-v1", "efficientnet-lite0"])
def test_zoo_compaction_is_lossless(name, tmp_path):
    src = zoo_path(name)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    full, small, de = tmp_path / "full.mnn", tmp_path / "small.mnn", tmp_path / "de.mnn"
    convert(src, full, sparsity=0.5, compact=False, plain=True, progress=False)
    r = convert(src, small, sparsity=0.5, plain=True, progress=False)
    convert(src, de, sparsity=0.5, format="dense", plain=True, progress=False)
    assert r.compacted and r.seconds < 30
    assert_same_for_mnn(full, small, X_224, tmp_path)
    assert_same_model_bitwise(full, small)
    assert rel_err(mnn_run(small, X_224), mnn_run(de, X_224)) < 1e-5
    # MNN still builds its sparse executions: the dense path keeps 4 B per weight of the
    # tagged layers, the sparse one about 4 B per kept weight plus 4 B per kept block of
    # G -- at S=0.5 well over a quarter of those bytes must be gone
    mem = session_memory_mb(small)
    tagged_mb = 4 * sum(c.weights.size for c in read_model(small).convs if c.sparse) / 2**20
    assert mem == session_memory_mb(full)
    assert session_memory_mb(de) - mem > tagged_mb / 4


def _tagged_counts(j: dict) -> dict[str, tuple[int, int]]:
    """name -> (weights, stored nonzeros) of every conv carrying MNN's float-sparse coding."""
    out = {}
    for op in j["oplists"]:
        q = (op.get("main") or {}).get("quanParameter") if op.get("main_type") == "Convolution2D" else None
        if q and q.get("index") is not None and op["main"].get("sparseParameter"):
            out[op["name"]] = (q["weightSize"], len(q["index"]))
    return out


def _dense_counts(path, names) -> dict[str, tuple[int, int]]:
    # the reader, not the JSON dump: the dump prints floats rounded, tiny weights as 0
    return {c.name: (c.weights.size, int(np.count_nonzero(c.weights)))
            for c in read_model(path).convs if c.name in names and c.storage == "dense"}


@pytest.mark.slow
def test_zoo_sizes_follow_the_coding(tmp_path):
    """MobileNet-V1: output size = input - 4 B per replaced weight + 8 B per kept weight
    + metadata, and at S=0.3 within 1.25x of MNN's own --detectSparseSpeedUp."""
    src = zoo_path("mobilenet-v1")
    base = src.stat().st_size
    for S in (0.5, 0.3):
        out, de = tmp_path / f"sp{S}.mnn", tmp_path / f"de{S}.mnn"
        r = convert(src, out, sparsity=S, plain=True, progress=False)
        convert(src, de, sparsity=S, format="dense", plain=True, progress=False)
        ours = out.stat().st_size
        counts = _tagged_counts(mnn_json(out, tmp_path))
        assert len(counts) == sum(x.tagged for x in r.layers) == 13
        payload = sum(8 * nnz - 4 * n for n, nnz in counts.values())
        assert base + payload - 64 * len(counts) <= ours <= base + payload + PER_LAYER * len(counts) + ONCE, S
        if S == 0.5:
            # 50% nonzeros cost exactly the dense bytes (8 B x n/2 = 4 B x n): only metadata remains
            assert payload == 0 and ours <= base + PER_LAYER * len(counts) + ONCE
            continue
        # MNN's own converter on the same pruned weights (our dense-format file)
        theirs_path = tmp_path / "mnn.mnn"
        mnn_sparse_tag(de, theirs_path, oc_block=r.G)
        assert theirs_path.is_file(), "MNN's converter wrote nothing"
        theirs = theirs_path.stat().st_size
        theirs_tagged = _tagged_counts(mnn_json(theirs_path, tmp_path))
        assert set(theirs_tagged) <= set(counts)
        for k, v in theirs_tagged.items():
            assert v == counts[k]                       # same weights, same coding
        # layers MNN left dense (its threshold is strictly > 0.3) cost us 8 B/kept - 4 B/weight more
        left_dense = _dense_counts(theirs_path, set(counts) - set(theirs_tagged))
        assert set(left_dense) == set(counts) - set(theirs_tagged)
        assert all(left_dense[k] == counts[k] for k in left_dense)
        extra = sum(8 * nnz - 4 * n for n, nnz in left_dense.values())
        assert ours <= theirs + extra + PER_LAYER * len(counts) + ONCE
        assert ours <= 1.25 * theirs
