"""Where the structure of a valid .mnn lies: the byte positions a fuzzer should hit.

Walking a *valid* seed once gives every uoffset, vtable, vector length, union type
and interesting scalar with its position, so mutations can corrupt exactly the
bytes a reader trusts (random bit flips mostly land in weights, which are data).
The walk uses the project's bounds-checked reader only to navigate a file that is
known to be good; it is never the oracle of a fuzz run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sparsebytenn_converter.flatbuf import FlatBuffer, Table
from sparsebytenn_converter.schema import (REQUIRED_PARAM, AttrF, CommonF, Conv2DF, NetF, OpF, OpType, Param,
                                          QuanF, SparseF)

INPUT_DIMS = 0   # table Input { dims: [int]; ... } in MNN's schema


@dataclass
class Layout:
    size: int
    uoffsets: list[int] = field(default_factory=list)    # positions of uoffset fields (incl. vector elements)
    tables: list[tuple[int, str]] = field(default_factory=list)   # (table position, kind)
    vtables: list[int] = field(default_factory=list)     # vtable positions (vt_size at +0, table size at +2)
    veclens: list[tuple[int, int, int]] = field(default_factory=list)  # (length position, length, element size)
    strings: list[int] = field(default_factory=list)     # string positions (length field)
    unions: list[int] = field(default_factory=list)      # union type bytes
    optypes: list[int] = field(default_factory=list)     # Op.type i32 positions
    scalars: list[tuple[int, str]] = field(default_factory=list)  # (position, kind) of shape-defining scalars
    ref_vectors: list[tuple[int, int]] = field(default_factory=list)  # (length position, length) of [table]/[string]
    # for mutations that keep the file well-formed (so the input reaches MNN):
    floats: list[tuple[int, int]] = field(default_factory=list)       # (first element, count) of weight/bias/alpha
    conv_scalars: list[tuple[int, str, str]] = field(default_factory=list)  # (position, kind, Common field name)
    sparse_ints: list[int] = field(default_factory=list)               # positions of sparse Attribute.i values
    input_dims: list[tuple[int, int]] = field(default_factory=list)    # (first element, count) of Input dims

    def to_dict(self) -> dict:
        return {k: len(v) for k, v in self.__dict__.items() if isinstance(v, list)}


class _Walker:
    def __init__(self, data: bytes):
        self.fb = FlatBuffer(data, "<seed>")
        self.out = Layout(len(data))
        self.seen_vt: set[int] = set()

    def table(self, t: Table, kind: str) -> None:
        self.out.tables.append((t.pos, kind))
        if t.vt not in self.seen_vt:
            self.seen_vt.add(t.vt)
            self.out.vtables.append(t.vt)

    def ref_field(self, t: Table, fid: int) -> int | None:
        p = t.field_pos(fid)
        if p is not None:
            self.out.uoffsets.append(p)
        return p

    def vector(self, t: Table, fid: int, elem: int, refs: bool = False) -> tuple[int, int] | None:
        if self.ref_field(t, fid) is None:
            return None
        start, n = t.vector(fid, elem)
        self.out.veclens.append((start - 4, n, elem))
        if refs:
            self.out.ref_vectors.append((start - 4, n))
            self.out.uoffsets.extend(start + 4 * i for i in range(n))
        return start, n

    def string(self, t: Table, fid: int) -> None:
        if self.ref_field(t, fid) is not None:
            p = t.ref(fid)
            self.out.strings.append(p)
            self.out.veclens.append((p, t.buf.scalar(p, "u32", ""), 1))

    def strings(self, t: Table, fid: int) -> None:
        v = self.vector(t, fid, 4, refs=True)
        if v:
            start, n = v
            for i in range(n):
                p = self.fb.deref(start + 4 * i, "")
                self.out.strings.append(p)
                self.out.veclens.append((p, self.fb.scalar(p, "u32", ""), 1))

    def sub(self, t: Table, fid: int, kind: str) -> Table | None:
        if self.ref_field(t, fid) is None:
            return None
        s = t.table(fid, kind)
        self.table(s, kind)
        return s

    def walk(self) -> Layout:
        self.out.uoffsets.append(0)
        net = self.fb.root()
        self.table(net, "Net")
        self.strings(net, NetF.tensorName)
        self.strings(net, NetF.outputName)
        v = self.vector(net, NetF.oplists, 4, refs=True)
        for i in range(v[1] if v else 0):
            op = Table(self.fb, self.fb.deref(v[0] + 4 * i, ""), "Op")
            self.op(op)
        return self.out

    def op(self, op: Table) -> None:
        self.table(op, "Op")
        self.vector(op, OpF.inputIndexes, 4)
        self.vector(op, OpF.outputIndexes, 4)
        self.string(op, OpF.name)
        for fid, lst in ((OpF.main_type, self.out.unions), (OpF.type, self.out.optypes)):
            p = op.field_pos(fid, 1)
            if p is not None:
                lst.append(p)
        main_type = op.scalar(OpF.main_type, "u8", 0)
        main = self.sub(op, OpF.main, f"param{main_type}")
        if main is not None and main_type == Param.Convolution2D:
            self.conv(main)
        elif main is not None and main_type == REQUIRED_PARAM[OpType.Input]:
            v = self.vector(main, INPUT_DIMS, 4)
            if v:
                self.out.input_dims.append(v)

    def conv(self, conv: Table) -> None:
        common = self.sub(conv, Conv2DF.common, "Common")
        if common is not None:
            for key in ("kernelX", "kernelY", "group", "outputCount", "inputCount", "strideX", "padX", "padMode"):
                fid, kind, _ = CommonF.SCALARS[key]
                p = common.field_pos(fid, 4 if kind == "i32" else 1)
                if p is not None:
                    self.out.scalars.append((p, kind))
            for key, (fid, kind, _) in CommonF.SCALARS.items():
                p = common.field_pos(fid, 4 if kind == "i32" else 1)
                if p is not None:
                    self.out.conv_scalars.append((p, kind, key))
            self.vector(common, CommonF.pads, 4)
        for fid in (Conv2DF.weight, Conv2DF.bias):
            v = self.vector(conv, fid, 4)
            if v and v[1]:
                self.out.floats.append(v)
        quan = self.sub(conv, Conv2DF.quanParameter, "IDSTQuan")
        if quan is not None:
            v = self.vector(quan, QuanF.alpha, 4)
            if v and v[1]:
                self.out.floats.append(v)
            self.vector(quan, QuanF.index, 4)
            p = quan.field_pos(QuanF.weightSize)
            if p is not None:
                self.out.scalars.append((p, "u32"))
        sparse = self.sub(conv, Conv2DF.sparseParameter, "SparseCommon")
        if sparse is not None:
            p = sparse.field_pos(SparseF.method, 1)
            if p is not None:
                self.out.scalars.append((p, "i8"))
            v = self.vector(sparse, SparseF.args, 4, refs=True)
            for i in range(v[1] if v else 0):
                a = Table(self.fb, self.fb.deref(v[0] + 4 * i, ""), "Attribute")
                self.table(a, "Attribute")
                self.string(a, AttrF.key)
                self.string(a, AttrF.s)
                p = a.field_pos(AttrF.i)
                if p is not None:
                    self.out.scalars.append((p, "i32"))
                    self.out.sparse_ints.append(p)


def layout_of(data: bytes) -> Layout:
    """The structural positions of a valid model (raises ModelError on an invalid one)."""
    return _Walker(data).walk()
