"""Read an `.mnn` model: its graph (ops, tensors, outputs) and its convolutions.

`read_model(path)` validates everything it touches before returning (offsets,
lengths, union types, weight counts against the declared shapes, sparse indices
against the weight size), so the converter, `inspect` and the rest of the project
can use the result without further checks.
"""
from __future__ import annotations

import mmap
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelError
from .flatbuf import FlatBuffer, Table, vector_at
from .schema import (CONV2D_OP_TYPES, CONV_TYPES, MAX_PARAM, MIN_INPUTS, MNN_MAX_DIMS, REQUIRED_PARAM, AttrF, BlobF,
                     CommonF, Conv2DF, DataType, NetF, OpF, OpType, Param, QuanF, SparseAlgo, SparseF, known_op_type)

# The project's own keys in SparseCommon.args (docs/FORMAT.md).
SBNN_KEYS = ("sbnnFormat", "sbnnGroup", "sbnnPattern", "sbnnTarget")

# Work limits for hostile files: far above any real model, low enough that reading
# stays well under a second (every op costs Python time, every conv more).
MAX_OPS = 1 << 16
MAX_CONVS = 1 << 13
MAX_TENSORS = 1 << 18

# Net fields the project does not use but MNN's loader verifies (slots from MNN's
# schema): a file cut short usually loses exactly these, as builders write them first.
_NET_BIZCODE, _NET_EXTRA_INFO, _NET_EXTRA_TENSORS, _NET_UUID = 0, 2, 1, 11
_EXTRA_INFO_BUFFER, _EXTRA_INFO_NAME, _EXTRA_INFO_VERSION = 0, 1, 2
_OP_EXTERNAL_PATH = 7


@dataclass
class OpInfo:
    index: int
    name: str
    type: int
    inputs: list[int]
    outputs: list[int]
    table: Table
    main_type: int
    main: Table | None

    @property
    def type_name(self) -> str:
        return OpType.name(self.type)


@dataclass
class ConvInfo:
    """One convolution-like op. Weights are OIHW float32 (a read-only view when dense)."""

    name: str
    op_index: int
    op_type: int
    type: str                      # Convolution / ConvolutionDepthwise / FC-as-1x1 / Deconvolution / ...
    kernel: tuple[int, int]        # (kh, kw)
    stride: tuple[int, int]        # (sh, sw)
    dilation: tuple[int, int]
    pad: tuple[int, int, int, int]  # (top, left, bottom, right); padMode decides when not CAFFE
    pad_mode: str
    conv_groups: int               # the convolution's own groups (1: a plain conv; depthwise: = channels)
    in_channels: int
    out_channels: int
    weight_count: int
    weights: np.ndarray | None     # (O, I/conv_groups, kh, kw) float32, None when not decodable
    bias: np.ndarray | None
    sparse: dict | None            # sparse metadata present in the file
    storage: str                   # dense / sparse-float / quantized / external / int8
    relu: bool = False
    relu6: bool = False
    # positions in the buffer, for the rewriter
    conv2d: Table | None = None
    common: Table | None = None
    weight_span: tuple[int, int] | None = None   # (start, count) of the dense weight vector
    bias_span: tuple[int, int] | None = None
    unknown_fields: list[int] = field(default_factory=list)

    @property
    def zero_fraction(self) -> float | None:
        if self.weights is None or self.weights.size == 0:
            return None
        return float(np.count_nonzero(self.weights == 0)) / self.weights.size

    @property
    def is_depthwise(self) -> bool:
        return self.op_type == OpType.ConvolutionDepthwise or (
            self.conv_groups > 1 and self.conv_groups == self.out_channels and self.conv_groups == self.in_channels)


@dataclass
class Model:
    path: Path
    data: bytes
    ops: list[OpInfo]
    tensor_names: list[str]
    output_names: list[str]
    convs: list[ConvInfo]
    has_subgraphs: bool
    fb: FlatBuffer = None

    @property
    def size(self) -> int:
        return len(self.data)

    def conv(self, name: str) -> ConvInfo:
        for c in self.convs:
            if c.name == name:
                return c
        raise KeyError(name)

    def producers(self) -> dict[int, int]:
        """tensor index -> index of the op that writes it."""
        out = {}
        for op in self.ops:
            for t in op.outputs:
                out[t] = op.index
        return out

    def consumers(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for op in self.ops:
            for t in op.inputs:
                out.setdefault(t, []).append(op.index)
        return out

    def output_tensors(self) -> set[int]:
        """Tensors that leave the graph: named outputs, or (no names) tensors nobody reads."""
        by_name = {n: i for i, n in enumerate(self.tensor_names)}
        outs = {by_name[n] for n in self.output_names if n in by_name}
        if not self.output_names:
            read = {t for op in self.ops for t in op.inputs}
            outs = {t for op in self.ops for t in op.outputs if t not in read}
        return outs


def read_model(path, data: bytes | None = None, *, decode_sparse: bool = True, mapped: bool = False) -> Model:
    """Read and validate `path` (or `data`, with `path` used in messages).

    decode_sparse=False leaves the weights of float-sparse layers coded (a SparseWeights,
    decoded on demand, one layer at a time), after the same checks. mapped=True maps the
    file instead of reading it (weights are read from the page cache when used, and
    drop_pages(model.data) gives them back); the file must not change meanwhile."""
    path = Path(path)
    if data is None:
        data = load_bytes(path, mapped=mapped)
    fb = FlatBuffer(data, path)
    if len(data) < 16:
        raise ModelError(f"{path}: not an MNN model (only {len(data)} bytes)")
    net = fb.root("Net")
    for fid, what, limit in ((NetF.oplists, "operators", MAX_OPS), (NetF.tensorName, "tensor names", MAX_TENSORS),
                             (NetF.outputName, "output names", MAX_TENSORS)):
        v = net.vector(fid, 4, what)
        if v is not None and v[1] > limit:
            raise ModelError(f"{path}: has {v[1]:,} {what}; more than {limit:,} is not supported "
                             "(a corrupted or hostile file?)")
    ops_t = net.tables(NetF.oplists, "oplists")
    _no_shared_tables(fb, ops_t, "operator")
    if not ops_t:
        raise ModelError(f"{path}: not an MNN model (no operators found)")
    tensor_names = net.strings(NetF.tensorName, "tensorName")
    output_names = net.strings(NetF.outputName, "outputName")
    has_subgraphs = net.vector(NetF.subgraphs, 4, "subgraphs") not in (None, (0, 0)) and \
        net.vector(NetF.subgraphs, 4, "subgraphs")[1] > 0
    n_tensors = len(tensor_names)
    _check_unused_fields(net)

    ops: list[OpInfo] = []
    for i, t in enumerate(ops_t):
        t.what = f"op #{i}"
        name = t.string(OpF.name) or f"op#{i}"
        t.what = f"op {name!r}"
        typ = t.scalar(OpF.type, "i32", 0)
        ins = _indexes(t, OpF.inputIndexes, n_tensors, name, "input")
        outs = _indexes(t, OpF.outputIndexes, n_tensors, name, "output")
        main_type = t.scalar(OpF.main_type, "u8", 0)
        _check_op_param(t, typ, main_type)
        if not outs:  # MNN indexes an op's outputs without checking
            t.buf.fail(t.what, "has no output tensor")
        if not ins and typ not in (OpType.Input, OpType.Const, _TRAINABLE_PARAM):  # ... and its inputs
            t.buf.fail(t.what, f"{OpType.name(typ)} needs inputs and has no input tensor")
        if len(ins) < MIN_INPUTS.get(typ, 0):   # ... and reads some ops' inputs[k] unchecked
            t.buf.fail(t.what, f"{OpType.name(typ)} needs {MIN_INPUTS[typ]} inputs and has {len(ins)}")
        main = t.table(OpF.main, f"op {name!r} parameter") if main_type else None
        if main_type == Param.Blob and typ not in (OpType.Const, _TRAINABLE_PARAM):
            # MNN takes the output shape of any op with a Blob parameter from it
            t.buf.fail(t.what, f"{OpType.name(typ)} has a constant's (Blob) parameter")
        if main is not None:     # MNN reads parameters it trusts: every field inside its table
            for fid in main.present_fields():
                main.field_pos(fid, 1)
        if main is not None and typ == OpType.Flatten:
            _check_flatten(main, t.what)
        if main is not None and main_type == Param.Blob:
            _check_blob(main, t.what)
        if main is not None and main_type == _POOL3D_PARAM:
            _check_pool3d(main, t.what)
        if main is not None and typ == OpType.Input and main_type == Param.Input:
            _check_rank(main, _INPUT_DIMS, t.what, "input")
        if main is not None and typ == OpType.Reshape and main_type == Param.Reshape and len(ins) == 1:
            _check_reshape(main, t.what)
        if main is not None and typ == OpType.Reduction and main_type == Param.ReductionParam:
            _check_reduction(main, t.what)
        t.string(_OP_EXTERNAL_PATH)
        ops.append(OpInfo(i, name, typ, ins, outs, t, main_type, main))

    conv_ops = [op for op in ops if op.type in CONV_TYPES]
    if len(conv_ops) > MAX_CONVS:
        raise ModelError(f"{path}: has {len(conv_ops):,} convolutions; more than {MAX_CONVS:,} is not supported "
                         "(a corrupted or hostile file?)")
    _no_shared_tables(fb, [op.main for op in conv_ops if op.main is not None], "convolution parameter")
    budget = _Budget(fb)
    convs = [_read_conv(fb, op, budget, decode_sparse) for op in conv_ops]
    budget.check_overlaps()
    _mark_fc(ops, convs)
    return Model(path, data, ops, tensor_names, output_names, convs, has_subgraphs, fb)


def _check_unused_fields(net: Table) -> None:
    """The Net's strings and tables that nothing here reads are still checked: a
    truncated file must never pass for a valid one (convert would copy the damage)."""
    net.string(_NET_BIZCODE, "bizCode")
    net.string(_NET_UUID, "mnn_uuid")
    info = net.table(_NET_EXTRA_INFO, "extraInfo")
    if info is not None:
        info.vector(_EXTRA_INFO_BUFFER, 1)
        info.string(_EXTRA_INFO_NAME)
        info.string(_EXTRA_INFO_VERSION)
    v = net.vector(_NET_EXTRA_TENSORS, 4, "extraTensorDescribe")
    if v is not None and v[1] > MAX_TENSORS:
        net.buf.fail("extraTensorDescribe", f"{v[1]:,} entries; more than {MAX_TENSORS:,} is not supported")
    net.tables(_NET_EXTRA_TENSORS, "extraTensorDescribe")


def _no_shared_tables(fb: FlatBuffer, tables: list, kind: str) -> None:
    """Real models never share an op or a conv parameter: sharing is how a small
    hostile file makes the reader do the same work millions of times."""
    seen: dict[int, int] = {}
    for i, t in enumerate(tables):
        j = seen.setdefault(t.pos, i)
        if j != i:
            fb.fail(f"{kind} #{i}", f"shares its table with {kind} #{j}")


class _Budget:
    """Weights are never shared either: no two weight vectors overlap (the converter
    rewrites one conv's weights, which must not change another's), and decoding
    sparse weights to dense stays proportional to the file size."""

    def __init__(self, fb: FlatBuffer):
        self.fb, self.decoded = fb, 0
        self.spans: dict[int, tuple[int, str]] = {}  # start -> (end, where)

    def store(self, where: str, table: Table, *fids: int) -> None:
        for fid in fids:
            v = table.vector(fid, 4)
            if v is None or v[1] == 0:
                continue
            start, end = v[0] - 4, v[0] + 4 * v[1]  # with the length field
            if start in self.spans:
                self.fb.fail(where, f"shares a weight vector with {self.spans[start][1]}")
            self.spans[start] = (end, where)

    def check_overlaps(self) -> None:
        prev_end, prev_where = -1, ""
        for start in sorted(self.spans):
            end, where = self.spans[start]
            if start < prev_end:
                self.fb.fail(where, f"a weight vector overlaps one of {prev_where}")
            prev_end, prev_where = end, where

    def decode(self, where: str, count: int) -> None:
        self.decoded += count
        if self.decoded > 16 * self.fb.n + (1 << 22):
            self.fb.fail(where, f"sparse weights decode to {self.decoded:,} values, implausible for a "
                                f"{self.fb.n:,}-byte file")


def load_bytes(path: Path, mapped: bool = False):
    """The file's bytes (mapped=True: a read-only mmap, or b"" for an empty file)."""
    try:
        if path.is_dir():
            raise ModelError(f"{path}: is a directory, not an MNN model")
        if not stat.S_ISREG(path.stat().st_mode):  # /dev/zero never ends, a FIFO blocks
            raise ModelError(f"{path}: not a regular file (a device, pipe or socket), not an MNN model")
        if not mapped:
            return path.read_bytes()
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return b""
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except PermissionError:
        raise ModelError(f"{path}: permission denied") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({os.strerror(exc.errno) if exc.errno else exc})") from None


def drop_pages(data) -> None:
    """Give back the resident pages of a mapped file (`data` an mmap; anything else is
    left alone): the next use reads them from the page cache again."""
    if isinstance(data, mmap.mmap) and not data.closed and len(data):
        data.madvise(mmap.MADV_DONTNEED)


def _check_op_param(t: Table, typ: int, main_type: int) -> None:
    """The op type and its parameter's union type agree (MNN trusts that they do)."""
    if not known_op_type(typ):
        t.buf.fail(t.what, f"unknown op type {typ}")
    if main_type > MAX_PARAM:
        t.buf.fail(t.what, f"unknown parameter type {main_type}")
    want = REQUIRED_PARAM.get(typ)
    if want is not None and main_type != want:
        t.buf.fail(t.what, f"{OpType.name(typ)} needs parameter type {want}, not {main_type}")
    if main_type == Param.Convolution2D and typ not in CONV2D_OP_TYPES:
        t.buf.fail(t.what, f"{OpType.name(typ)} has a convolution parameter")


_TRAINABLE_PARAM = 266   # op type: a constant that training updates (its parameter is a Blob)

# Blob.dataType -> (the vector MNN copies a constant's values from, bytes per value);
# only the types whose storage is certain (others are left to MNN)
_BLOB_DATA = {DataType.FLOAT: (BlobF.float32s, 4), DataType.INT32: (BlobF.int32s, 4),
              DataType.UINT8: (BlobF.uint8s, 1), DataType.INT8: (BlobF.int8s, 1),
              DataType.INT64: (BlobF.int64s, 8)}
MAX_BLOB_VALUES = 1 << 30


def _check_blob(blob: Table, where: str) -> None:
    """A constant holds as many values as its dims say: MNN copies prod(dims) of them from
    the data vector without checking (a missing vector crashed it in a memcpy)."""
    _check_rank(blob, BlobF.dims, where, "constant")
    dims = blob.array(BlobF.dims, "i32", f"{where} dims")
    dims = [] if dims is None else dims.tolist()
    if any(d < 0 for d in dims):
        blob.buf.fail(where, f"constant has a negative dimension {dims}")
    n = 1
    for d in dims:
        n = min(n * d, MAX_BLOB_VALUES + 1)
    if n > MAX_BLOB_VALUES:
        blob.buf.fail(where, f"constant of shape {dims} holds more than {MAX_BLOB_VALUES:,} values")
    if n == 0 or blob.field_pos(BlobF.external) is not None:   # empty, or data in an external file
        return
    dtype = blob.scalar(BlobF.dataType, "i32", DataType.FLOAT)
    if not 0 <= dtype <= DataType.LAST:
        blob.buf.fail(where, f"constant has an unknown data type {dtype}")
    if dtype not in _BLOB_DATA:
        return
    fid, size = _BLOB_DATA[dtype]
    v = blob.vector(fid, size, f"{where} values")
    have = 0 if v is None else v[1]
    if have < n:
        blob.buf.fail(where, f"constant of shape {dims} holds {have:,} values, {n:,} expected")


MAX_RANK = 8              # MNN's tensors have at most this many dimensions


def _check_flatten(flatten: Table, where: str) -> None:
    """MNN's Flatten indexes the input's dims with axis and endAxis unchecked."""
    for fid, key in ((0, "axis"), (1, "endAxis")):
        v = flatten.scalar(fid, "i32", 0)
        if not -MAX_RANK <= v <= MAX_RANK:
            flatten.buf.fail(where, f"Flatten {key} = {v} is invalid")


_INPUT_DIMS = 0           # Input { dims: [int]; ... }
_RESHAPE_DIMS = 0         # Reshape { dims: [int]; dimType }
_REDUCTION_DIM = 1        # ReductionParam { operation; dim: [int]; ... }


def _check_rank(table: Table, fid: int, where: str, kind: str) -> None:
    """MNN copies a shape from the file into its tensor's fixed array of MNN_MAX_DIMS
    dimensions without checking its length (an Input's dims pointed at a long vector
    overflowed it)."""
    v = table.vector(fid, 4, f"{where} dims")
    if v is not None and v[1] > MNN_MAX_DIMS:
        table.buf.fail(where, f"{kind} shape has {v[1]:,} dimensions; MNN tensors have at most {MNN_MAX_DIMS}")


def _check_reshape(reshape: Table, where: str) -> None:
    """With one input, MNN's Reshape takes the new shape from its parameter's dims: it
    reads them without checking that they are there or fit its array of MNN_MAX_DIMS."""
    if reshape.vector(_RESHAPE_DIMS, 4, f"{where} dims") is None:
        reshape.buf.fail(where, "Reshape with one input has no shape (dims) in its parameter")
    _check_rank(reshape, _RESHAPE_DIMS, where, "Reshape")


def _check_reduction(reduction: Table, where: str) -> None:
    """MNN's Reduction marks each axis in an array of MNN_MAX_DIMS entries (after adding the
    rank to a negative one) without a range check: an axis outside [-9, 9) writes outside it."""
    dims = reduction.array(_REDUCTION_DIM, "i32", f"{where} dim")
    if dims is not None and len(dims) and not ((dims >= -MNN_MAX_DIMS) & (dims < MNN_MAX_DIMS)).all():
        bad = next(int(d) for d in dims if not -MNN_MAX_DIMS <= d < MNN_MAX_DIMS)
        reduction.buf.fail(where, f"Reduction axis {bad} is out of range (MNN tensors have at most "
                                  f"{MNN_MAX_DIMS} dimensions)")


_POOL3D_PARAM = 79        # Pool3D { strides, kernels, pads: [int]; type; padType; isGlobal: bool }


def _check_pool3d(pool: Table, where: str) -> None:
    """A pooling that is not global needs its kernel and strides (MNN's shape code reads
    them without checking: a Pool3D table without fields crashed it)."""
    if pool.scalar(5, "u8", 0):      # isGlobal
        return
    kernels, strides = pool.array(1, "i32", f"{where} kernels"), pool.array(0, "i32", f"{where} strides")
    if kernels is None or strides is None or len(kernels) == 0 or len(kernels) != len(strides) \
            or (kernels <= 0).any() or (strides <= 0).any():
        pool.buf.fail(where, "a pooling that is not global needs as many positive strides as kernel sizes")


def _indexes(t: Table, fid: int, n_tensors: int, name: str, kind: str) -> list[int]:
    arr = t.array(fid, "i32", f"op {name!r} {kind} indexes")
    if arr is None:
        return []
    vals = arr.tolist()
    for v in vals:
        if v < 0 or (n_tensors and v >= n_tensors):
            t.buf.fail(f"op {name!r}", f"{kind} tensor index {v} is out of range (0..{n_tensors - 1})")
    return vals


def _read_conv(fb: FlatBuffer, op: OpInfo, budget: _Budget, decode_sparse: bool = True) -> ConvInfo:
    where = f"op {op.name!r}"

    def bad(problem):
        fb.fail(where, problem)

    if op.main_type != Param.Convolution2D or op.main is None:
        bad(f"{op.type_name} without a Convolution2D parameter (union type {op.main_type})")
    conv = op.main
    conv.what = where
    common = conv.table(Conv2DF.common, where + " common")
    if common is None:
        bad("convolution without its common parameters")
    c = {k: common.scalar(fid, kind, dflt) for k, (fid, kind, dflt) in CommonF.SCALARS.items()}
    pads = common.array(CommonF.pads, "i32", where + " pads")
    kh, kw, O, g = c["kernelY"], c["kernelX"], c["outputCount"], c["group"]
    for key in ("kernelX", "kernelY", "strideX", "strideY", "dilateX", "dilateY", "group"):
        if not 1 <= c[key] <= 1 << 16:
            bad(f"{key} = {c[key]} is invalid")
    if not 1 <= O <= 1 << 24:
        bad(f"outputCount = {O} is invalid")
    if op.type == OpType.Deconvolution and g != 1:
        # MNN's converter splits grouped deconvolutions; its CPU Deconvolution ignores the group and
        # reads outputCount x input channels x kernel weights, g times what a grouped one stores
        bad(f"Deconvolution with group {g}: MNN's CPU deconvolution ignores groups and would read "
            f"{g}x the weights stored")
    if pads is not None and len(pads) >= 4:
        pad = tuple(int(p) for p in pads[:4])
    elif pads is not None and len(pads) >= 2:
        pad = (int(pads[0]), int(pads[1]), int(pads[0]), int(pads[1]))
    else:
        pad = (c["padY"], c["padX"], c["padY"], c["padX"])
    if not all(0 <= v <= 1 << 16 for v in (*pad, c["padX"], c["padY"])):
        # MNN sizes its matrix tiles from them unchecked (a pads offset pointing at weights gave SIGFPE)
        bad(f"padding {pad} is invalid")
    pad_mode = {0: "CAFFE", 1: "VALID", 2: "SAME"}.get(c["padMode"], f"mode{c['padMode']}")

    weight = conv.array(Conv2DF.weight, "f32", where + " weight")
    bias = conv.array(Conv2DF.bias, "f32", where + " bias")
    quan = conv.table(Conv2DF.quanParameter, where + " quanParameter")
    sparse_t = conv.table(Conv2DF.sparseParameter, where + " sparseParameter")
    external = conv.vector(Conv2DF.external, 8, where + " external")
    symq = conv.ref(Conv2DF.symmetricQuan)
    unknown = [f for f in conv.present_fields() if f >= Conv2DF.NUM_FIELDS]
    budget.store(where, conv, Conv2DF.weight, Conv2DF.bias)

    depthwise = op.type in (OpType.ConvolutionDepthwise, OpType.DeconvolutionDepthwise, OpType.DepthwiseConvInt8)
    I = c["inputCount"]
    if I <= 0 and depthwise:
        I = O
    taps = kh * kw
    per_out = None
    if I > 0:
        if I % g and not depthwise:
            bad(f"inputCount {I} is not a multiple of group {g}")
        per_out = I // g if not depthwise else 1
    transposed = op.type in (OpType.Deconvolution, OpType.DeconvolutionDepthwise)  # bias length differs

    weights = None
    storage = "dense"
    weight_span = None
    if weight is not None and len(weight) > 0:
        if per_out is None:  # old models leave inputCount 0: derive it from the weight count
            if len(weight) % (O * taps):
                bad(f"{len(weight)} weights do not fit {O} output channels x {kh}x{kw}")
            per_out = len(weight) // (O * taps)
            I = per_out * g
        expect = O * per_out * taps
        if len(weight) != expect:
            bad(f"has {len(weight)} weights, expected {expect} (O={O}, I={I}, group={g}, kernel {kh}x{kw})")
        # (Deconvolution stores another order; the shape only matters for Convolution here.)
        weights = weight.reshape(O, per_out, kh, kw)
        weight_span = (conv.vector(Conv2DF.weight, 4)[0], len(weight))
    elif quan is not None:
        storage, weights = _read_quan(fb, quan, where, O, per_out, kh, kw, budget, decode_sparse)
        if weights is not None and per_out is None:
            per_out = weights.shape[1]
            I = per_out * g
    elif external is not None and external[1] > 0:
        storage = "external"
    elif symq is not None:
        storage = "int8"
    else:
        storage = "none"
    # MNN builds the execution from what the op type promises, without checking
    int8_op = op.type in (OpType.ConvInt8, OpType.DepthwiseConvInt8)
    if int8_op and symq is None:
        bad(f"{op.type_name} without int8 weights (symmetricQuan)")
    if not int8_op and storage == "none":
        bad("convolution without weights")
    if len(op.outputs) != 1 or not op.inputs:
        bad(f"a convolution needs inputs and exactly one output, not {len(op.inputs)} and {len(op.outputs)}")
    if per_out is None:
        per_out = max(I // g, 0) if I > 0 else 0
    if bias is not None and len(bias) not in (0, O) and not transposed:
        bad(f"has {len(bias)} bias values for {O} output channels")
    # MNN's float convs read O bias values without checking (its converter always writes
    # them, zeros for a conv without bias); an empty one crashed its sparse executor
    if op.type in (OpType.Convolution, OpType.ConvolutionDepthwise) and (bias is None or len(bias) != O):
        bad(f"has {0 if bias is None else len(bias)} bias values for {O} output channels")

    sparse = _read_sparse(fb, sparse_t, where) if sparse_t else None
    if sparse is not None and storage == "sparse-float":
        _check_mnn_sparse_args(fb, where, sparse_t, quan, weights)

    if depthwise:
        kind = {OpType.ConvolutionDepthwise: "ConvolutionDepthwise"}.get(op.type, op.type_name)
    elif op.type == OpType.Convolution and g > 1 and g == O and g == I:
        kind = "ConvolutionDepthwise"
    else:
        kind = op.type_name
    return ConvInfo(
        name=op.name, op_index=op.index, op_type=op.type, type=kind, kernel=(kh, kw),
        stride=(c["strideY"], c["strideX"]), dilation=(c["dilateY"], c["dilateX"]), pad=pad,
        pad_mode=pad_mode, conv_groups=g, in_channels=I, out_channels=O, weight_count=O * per_out * taps,
        weights=weights, bias=bias, sparse=sparse,
        storage=storage, relu=c["relu"], relu6=c["relu6"], conv2d=conv, common=common,
        weight_span=weight_span,
        bias_span=(conv.vector(Conv2DF.bias, 4)[0], len(bias)) if bias is not None else None,
        unknown_fields=unknown,
    )


def _read_quan(fb, quan: Table, where: str, O: int, per_out, kh: int, kw: int, budget: _Budget,
               decode: bool = True):
    """Decode MNN's float-sparse coding (index/alpha); other quantizations are not decoded."""
    index = quan.array(QuanF.index, "u32", where + " sparse index")
    if index is None:
        return f"quantized(type {quan.scalar(QuanF.type, 'i32', 0)})", None
    alpha = quan.array(QuanF.alpha, "f32", where + " sparse alpha")
    if alpha is None:
        half = quan.array(QuanF.alphaFp16, "u16", where + " sparse alpha")
        alpha = None if half is None else half.view(np.float16).astype(np.float32)
    if alpha is None or len(alpha) != len(index):
        fb.fail(where, f"sparse weights have {len(index)} indices but "
                       f"{'no' if alpha is None else len(alpha)} values")
    size = quan.scalar(QuanF.weightSize, "u32", 0)
    taps = kh * kw
    if per_out is None:
        if size % (O * taps):
            fb.fail(where, f"sparse weightSize {size} does not fit {O} output channels")
        per_out = size // (O * taps)
    expect = O * per_out * taps
    if size != expect:
        fb.fail(where, f"sparse weightSize {size} differs from the shape's {expect}")
    if len(index) and int(index.max()) >= size:
        fb.fail(where, f"sparse index {int(index.max())} is beyond weightSize {size}")
    if len(index) > 1 and not np.all(index[1:] > index[:-1]):  # MNN packs one entry per index
        fb.fail(where, "sparse indices are not strictly increasing")
    budget.store(where, quan, QuanF.index, QuanF.alpha, QuanF.alphaFp16)
    budget.decode(where, size)  # a hostile weightSize must not allocate unbounded memory
    coded = SparseWeights(index, alpha, (O, per_out, kh, kw))
    return "sparse-float", coded.dense() if decode else coded


@dataclass
class SparseWeights:
    """Float-sparse weights as stored (checked): flat OIHW indices and their values."""

    index: np.ndarray
    alpha: np.ndarray
    shape: tuple

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def dense(self) -> np.ndarray:
        out = np.zeros(self.size, np.float32)
        out[self.index] = self.alpha
        return out.reshape(self.shape)

    def rows(self, a: int, b: int) -> np.ndarray:
        """dense()[a:b] without decoding the other rows."""
        per = self.size // self.shape[0] if self.shape[0] else 0
        keys = np.array([a * per, b * per])
        if np.issubdtype(self.index.dtype, np.integer) and keys[1] <= np.iinfo(self.index.dtype).max:
            keys = keys.astype(self.index.dtype)    # else numpy searches an int64 copy of every position
        lo, hi = np.searchsorted(self.index, keys)
        out = np.zeros((b - a) * per, np.float32)
        out[self.index[lo:hi].astype(np.int64) - a * per] = self.alpha[lo:hi]
        return out.reshape(b - a, *self.shape[1:])


def _check_mnn_sparse_args(fb, where: str, sparse_t: Table, quan: Table, weights: np.ndarray) -> None:
    """MNN's sparse execution sizes its buffers from these args (their `i` field) and
    then writes one entry per index, and divides by sparseBlockOC: a missing key is
    a null dereference, a zero block a division by zero, a low count a heap overflow."""
    from .conv_tables import mnn_block_counts  # (conv_tables imports this module)

    tables = sparse_t.tables(SparseF.args, where + " sparse args")
    args = {a.string(AttrF.key): a.scalar(AttrF.i, "i32", 0) for a in tables}
    for key in ("NNZElement", "blockNumber", "sparseBlockOC", "sparseBlockKernel"):
        if key not in args:
            fb.fail(where, f"sparse metadata lacks the {key} MNN needs")
    raw = [_raw_string(a, AttrF.key) for a in tables]
    if None in raw:   # (FlatBuffers' key compare reads it)
        fb.fail(where, "a sparse metadata entry has no key")
    if any(k > j for k, j in zip(raw, raw[1:])):
        # MNN finds them with FlatBuffers' LookupByKey, a binary search: one key out of
        # order hides others from it, and it dereferences the null it then gets
        fb.fail(where, "sparse metadata keys are not sorted (MNN binary-searches them)")
    if args["sparseBlockKernel"] != 1:   # MNN writes 1 and its executor only handles 1 (a renamed key crashed it)
        fb.fail(where, f"sparse metadata sparseBlockKernel = {args['sparseBlockKernel']} is not 1")
    G = args["sparseBlockOC"]
    if not 1 <= G <= 16:
        fb.fail(where, f"sparse metadata sparseBlockOC = {G} is invalid")
    stored = np.zeros(weights.size, bool)
    index = quan.array(QuanF.index, "u32")
    for a in range(0, len(index), 1 << 22):   # (numpy indexes with int64 copies of the positions)
        stored[index[a:a + (1 << 22)]] = True
    nnz, blocks = mnn_block_counts(stored.reshape(weights.shape[0], -1), G)
    if (args["NNZElement"], args["blockNumber"]) != (nnz, blocks):
        fb.fail(where, f"sparse metadata NNZElement={args['NNZElement']}, blockNumber={args['blockNumber']} "
                       f"disagree with the weights ({nnz}, {blocks} for blocks of {G})")


def _raw_string(t: Table, fid: int) -> bytes | None:
    """A string field's bytes as stored (the decoded str replaces invalid UTF-8)."""
    p = t.ref(fid)
    if p is None:
        return None
    start, n = vector_at(t.buf, p, 1, t.what)
    return bytes(t.buf.data[start:start + n])


def _read_sparse(fb, t: Table, where: str) -> dict:
    method = t.scalar(SparseF.method, "i8", 0)
    args = {}
    keys = []
    for a in t.tables(SparseF.args, where + " sparse args"):
        key = a.string(AttrF.key)
        if key is None:
            continue
        s = a.string(AttrF.s)
        i = a.scalar(AttrF.i, "i32", 0)
        # MNN's converter writes i, b and f all at once (zeros in the unused ones)
        if s is not None:
            val = s
        elif i or not (a.field_offset(AttrF.f) or a.field_offset(AttrF.b)):
            val = i
        elif a.field_offset(AttrF.f) and a.scalar(AttrF.f, "f32", 0.0):
            val = a.scalar(AttrF.f, "f32", 0.0)
        elif a.field_offset(AttrF.b) and not a.field_offset(AttrF.i):
            val = a.scalar(AttrF.b, "bool", False)
        else:
            val = i
        args[key] = val
        keys.append(key.encode())
    out = {
        "method": {SparseAlgo.RANDOM: "RANDOM", SparseAlgo.SIMD_OC: "SIMD_OC"}.get(method, f"algo{method}"),
        "args": args,
        "args_sorted": keys == sorted(keys),
    }
    sb = {k[4].lower() + k[5:]: args[k] for k in SBNN_KEYS if k in args}
    out["sbnn"] = sb or None
    return out


def _mark_fc(ops: list[OpInfo], convs: list[ConvInfo]) -> None:
    """Label 1x1 convolutions that implement a fully connected layer.

    MNN stores FC (Gemm / MatMul with constant weights / InnerProduct) as a 1x1
    Convolution whose input was reshaped to N x C x 1 x 1; the reshape is what
    tells them apart from a pointwise convolution.
    """
    producer = {t: op for op in ops for t in op.outputs}
    flatteners = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Raster"}
    for c in convs:
        if c.type != "Convolution" or c.kernel != (1, 1) or c.conv_groups != 1:
            continue
        op = ops[c.op_index]
        seen = 0
        src = producer.get(op.inputs[0]) if op.inputs else None
        while src is not None and seen < 4:
            if src.type_name in flatteners:
                c.type = "FC-as-1x1"
                break
            if src.type != OpType.ConvertTensor or not src.inputs:
                break
            src = producer.get(src.inputs[0])
            seen += 1
