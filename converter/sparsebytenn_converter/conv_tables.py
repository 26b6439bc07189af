"""New Convolution2D parameter tables: dense, or tagged group-sparse (docs/FORMAT.md)."""
from __future__ import annotations

import numpy as np

from . import fbwriter as fw
from .model import ConvInfo
from .schema import AttrF, CommonF, Conv2DF, QuanF, SparseAlgo, SparseF

FORMAT_VERSION = 1


class Unsupported(Exception):
    """This convolution's tables hold something we do not know how to carry over."""


def common_node(c: ConvInfo) -> fw.Table:
    """A copy of the conv's Convolution2DCommon with exactly the fields it had."""
    t = c.common
    known = {fid for fid, _, _ in CommonF.SCALARS.values()} | {CommonF.pads, CommonF.outPads}
    extra = [f for f in t.present_fields() if f not in known]
    if extra:
        raise Unsupported(f"Convolution2DCommon has fields {extra} this converter does not know")
    fields = {}
    for fid, kind, _ in CommonF.SCALARS.values():
        if t.field_offset(fid):
            fields[fid] = (kind, t.scalar(fid, kind))
    for fid in (CommonF.pads, CommonF.outPads):
        arr = t.array(fid, "i32")
        if arr is not None:
            fields[fid] = ("ref", fw.Vector("i32", np.array(arr)))
    return fw.Table(fields)


def check_carry_over(c: ConvInfo) -> None:
    """Refuse convs whose Convolution2D has parts a rebuilt table would lose."""
    if c.unknown_fields:
        raise Unsupported(f"Convolution2D has unknown fields {c.unknown_fields}")
    if c.conv2d.field_offset(Conv2DF.symmetricQuan):
        raise Unsupported("int8 (symmetricQuan) weights")
    ext = c.conv2d.vector(Conv2DF.external, 8)
    if ext is not None and ext[1]:
        raise Unsupported("weights stored in an external file")
    if c.storage not in ("dense", "sparse-float"):
        raise Unsupported(f"{c.storage} weights")
    common_node(c)


def mnn_block_counts(stored: np.ndarray, G: int) -> tuple[int, int]:
    """(NNZElement, blockNumber) exactly as MNN counts them on an OC x (I*kh*kw) mask.

    `stored` marks the positions present in the index list (MNN packs by index
    presence, not by value). A block is G consecutive output channels at one column;
    kept blocks count G elements each; the O mod G tail rows count one by one.
    """
    O, L = stored.shape
    full = O // G * G
    nz = stored
    blocks = int(nz[:full].reshape(-1, G, L).any(axis=1).sum()) if full else 0
    tail = int(nz[full:].sum())
    return blocks * G + tail, blocks + tail


def sparse_args(stored: np.ndarray, G: int, pattern: str, target: str) -> list[tuple[str, object]]:
    nnz, blocks = mnn_block_counts(stored.reshape(stored.shape[0], -1), G)
    args = [("NNZElement", nnz), ("blockNumber", blocks), ("sparseBlockKernel", 1),
            ("sparseBlockOC", G), ("sbnnFormat", FORMAT_VERSION), ("sbnnGroup", G),
            ("sbnnPattern", pattern), ("sbnnTarget", target)]
    return sorted(args, key=lambda kv: kv[0].encode())  # MNN binary-searches args by key bytes


def _attr(key: str, value) -> fw.Shared:
    # Shared: every tagged layer repeats most of these (and all the key strings), so
    # the file holds one copy of each distinct attribute (see fbwriter.Emitter)
    f = {AttrF.key: ("ref", fw.Shared(fw.String(key)))}
    if isinstance(value, str):
        f[AttrF.s] = ("ref", fw.Shared(fw.String(value)))
    else:
        f[AttrF.i] = ("i32", int(value))
    return fw.Shared(fw.Table(f))


def _positions(mask: np.ndarray, step: int = 1 << 22) -> np.ndarray:
    """np.flatnonzero(mask) as uint32, a block at a time (not int64 positions of a whole big
    layer first: for a 100 M weight FC at 50 % that was 400 MB more)."""
    out = np.empty(int(np.count_nonzero(mask)), np.uint32)
    k = 0
    for a in range(0, mask.size, step):
        nz = np.flatnonzero(mask[a:a + step])
        out[k:k + len(nz)] = nz + a
        k += len(nz)
    return out


def conv2d_node(c: ConvInfo, weights: np.ndarray, bias: np.ndarray, *, sparse: dict | None) -> fw.Table:
    """A Convolution2D table for `c` with new weights.

    sparse=None: dense weights. sparse={"G", "pattern", "target"}: MNN's float-sparse
    coding (alpha = nonzero weights, index = their flat OIHW positions, ascending)
    plus SparseCommon with sorted args.
    """
    weights = np.ascontiguousarray(weights, np.float32)
    O = weights.shape[0]
    if bias is None or len(bias) == 0:
        bias = np.zeros(O, np.float32)  # MNN's sparse path takes O from the bias length
    fields = {Conv2DF.common: ("ref", common_node(c)), Conv2DF.bias: ("ref", fw.Vector("f32", bias))}
    if sparse is None:
        fields[Conv2DF.weight] = ("ref", fw.Vector("f32", weights.ravel()))
        return fw.Table(fields)
    flat = weights.ravel()
    stored = flat != 0
    index = _positions(stored)
    alpha = flat[stored]
    if len(index) == 0:  # all pruned: one explicit zero keeps every reader's vectors non-empty
        index, alpha = np.zeros(1, np.uint32), np.zeros(1, np.float32)
        stored[0] = True
    fields[Conv2DF.quanParameter] = ("ref", fw.Table({
        QuanF.alpha: ("ref", fw.Vector("f32", alpha)),
        QuanF.type: ("i32", 0),
        QuanF.weightSize: ("u32", flat.size),
        QuanF.index: ("ref", fw.Vector("u32", index)),
    }))
    G = sparse["G"]
    args = sparse_args(stored.reshape(weights.shape), G, sparse["pattern"], sparse["target"])
    fields[Conv2DF.sparseParameter] = ("ref", fw.Table({
        SparseF.method: ("i8", SparseAlgo.SIMD_OC if G > 1 else SparseAlgo.RANDOM),
        SparseF.args: ("ref", fw.TableVector([_attr(k, v) for k, v in args])),
    }))
    return fw.Table(fields)
