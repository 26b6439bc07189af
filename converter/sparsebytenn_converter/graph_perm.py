"""Which tensors can have their channels permuted, and what must change with them.

A *component* is a set of tensors that must share one channel permutation: the
output of a convolution, everything channel-wise downstream of it (activations,
depthwise convs, pooling, elementwise ops with scalar or per-channel constants,
residual adds, which join both operands into one component), up to the
convolutions that consume it (their input channels absorb the permutation).
Anything not understood (concat, reshape of a spatial tensor, graph outputs,
unknown ops) blocks the whole component, which then stays unpermuted.

After a global pooling the tensor is a plain vector of C values per image, so
reshapes/flattens of it keep channel order and the 1x1 classifier that reads it
can absorb the permutation too.

Where the channel axis is depends on the tensor's layout, which MNN decides op by
op: an Input's `dformat`, a constant's `dataFormat`, a ConvertTensor's `dest`, and
most other ops copy their (first) input's. Graphs from TF keep batch norm as
BinaryOps on NHWC tensors (channels last) with [C] constants, between
ConvertTensor ops that move the convs' tensors to and from NC4HW4 (channels
second, like NCHW). A constant is permuted only when it broadcasts along the
channel axis of its operand's layout, as traced here; anything else blocks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .model import ConvInfo, Model, OpInfo
from .schema import BlobF, DataFormat, OpType, Param, PReluF

ELEMENTWISE_UNARY = {OpType.ReLU, OpType.ReLU6, OpType.Sigmoid, OpType.TanH, OpType.UnaryOp,
                     OpType.Dropout, OpType.ELU, OpType.Selu, OpType.ConvertTensor}
ELEMENTWISE_MULTI = {OpType.BinaryOp, OpType.Eltwise}
SHAPE_ONLY = {80, 66, 82}                 # Shape, Rank, Size: read the shape, not the values
POOL_2D, POOL_3D, REDUCTION = OpType.Pooling, 112, 68
VECTOR_RESHAPES = {73, 28, 90, 107, OpType.ConvertTensor}  # Reshape, Flatten, Squeeze, Unsqueeze
POOL_ISGLOBAL = {POOL_2D: 2, POOL_3D: 5}  # Pool.isGlobal / Pool3D.isGlobal slots
POOL_PARAM = {POOL_2D: 31, POOL_3D: 79}   # their OpParameter union types
REDUCTION_PARAM, CONVERT_PARAM = 50, 66
REDUCTION_DIM, REDUCTION_KEEPDIMS = 1, 3


@dataclass
class Component:
    tensors: set = field(default_factory=set)
    producers: list = field(default_factory=list)     # ConvInfo: permute output channels (rows, bias)
    consumers: list = field(default_factory=list)     # ConvInfo: permute input channels
    depthwise: list = field(default_factory=list)     # ConvInfo: permute channels (rows, bias)
    constants: list = field(default_factory=list)     # (Const OpInfo, float32s view) to permute
    blocked: str | None = None

    @property
    def channels(self) -> int | None:
        return self.producers[0].out_channels if self.producers else None


def _dense_ok(c: ConvInfo) -> bool:
    return c.storage == "dense" and c.weights is not None and not c.unknown_fields


def components(model: Model, permutable: set[str]) -> list[Component]:
    """Components seeded at the outputs of convs in `permutable` (by name)."""
    if model.has_subgraphs:
        return []
    producer = model.producers()
    consumers = model.consumers()
    outputs = model.output_tensors()
    conv_of = {c.op_index: c for c in model.convs}
    ops = model.ops
    seen_seed: set[int] = set()
    result = []
    for c in model.convs:
        if c.name not in permutable or not ops[c.op_index].outputs:
            continue
        seed = ops[c.op_index].outputs[0]
        if seed in seen_seed:
            continue
        comp = _grow(seed, ops, producer, consumers, outputs, conv_of)
        seen_seed |= comp.tensors
        if comp.blocked is None:
            C = comp.channels
            if C is None:
                comp.blocked = "no convolution produces these channels"
            elif any(p.out_channels != C for p in comp.producers) or \
                    any(d.out_channels != C for d in comp.depthwise) or \
                    any(k.in_channels != C for k in comp.consumers):
                comp.blocked = "channel counts disagree"
            else:
                for op, vals in comp.constants:
                    if vals.size not in (1, C):
                        comp.blocked = (f"constant {op.name!r} holds {vals.size} values for {C} channels "
                                        "(not one per channel)")
        result.append(comp)
    return result


def _grow(seed, ops, producer, consumers, outputs, conv_of) -> Component:
    comp = Component()
    vector: dict[int, bool] = {seed: False}   # tensor -> is it a post-global-pool vector
    todo = [seed]
    done_ops: set[int] = set()
    layouts: dict[int, int | None] = {}

    def add(t, vec):
        if t in vector:
            if vector[t] != vec:
                block(f"tensor #{t} is used both spatially and as a vector")
            return
        vector[t] = vec
        todo.append(t)

    def block(why):
        if comp.blocked is None:
            comp.blocked = why

    while todo and comp.blocked is None:
        t = todo.pop()
        comp.tensors.add(t)
        if t in outputs:
            block("reaches a graph output")
            break
        vec = vector[t]
        p = producer.get(t)
        if p is None:
            block("reaches a graph input")
            break
        if p not in done_ops:
            _visit(ops[p], t, "producer", vec, comp, add, block, conv_of, ops, producer, consumers, done_ops,
                   layouts)
        for q in consumers.get(t, []):
            if ops[q].type in SHAPE_ONLY:
                continue
            if q not in done_ops:
                _visit(ops[q], t, "consumer", vec, comp, add, block, conv_of, ops, producer, consumers, done_ops,
                       layouts)
    return comp


NCHW_LIKE = (DataFormat.NCHW, DataFormat.NC4HW4)   # channels on axis 1 of 4
FORMAT_NAMES = {DataFormat.NCHW: "NCHW", DataFormat.NHWC: "NHWC", DataFormat.NC4HW4: "NC4HW4"}
INPUT_DFORMAT, CONVERT_DEST = 2, 1          # Input.dformat (default NC4HW4), TensorConvertInfo.dest
CONCAT, PADDING = 10, 45
# ops whose output has their first input's format (for tracing layouts only)
LAYOUT_KEEPING = ELEMENTWISE_UNARY - {OpType.ConvertTensor} | {POOL_2D, OpType.PReLU, CONCAT, PADDING}


def _family(fmt) -> str | None:
    """'NHWC' (channels last) or 'NCHW' (channels second: NCHW and NC4HW4 share the logical order)."""
    return "NHWC" if fmt == DataFormat.NHWC else "NCHW" if fmt in NCHW_LIKE else None


def tensor_layout(t: int, ops, producer, conv_of, memo: dict) -> int | None:
    """The dimension format MNN gives tensor t, traced back through the ops that decide it
    (Input, Const, ConvertTensor) and those that copy their input's; None when unknown.
    (An explicit stack: a deep graph must not exhaust Python's recursion limit.)"""
    active: set[int] = set()
    stack = [t]
    while stack:
        u = stack[-1]
        if u in memo:
            stack.pop()
            continue
        active.add(u)
        deps, combine = _layout_rule(u, ops, producer, conv_of)
        todo = [d for d in deps if d not in memo]
        if any(d in active for d in todo):     # a cycle (a malformed file): unknown
            memo[u] = None
        elif todo:
            stack.extend(todo)
        else:
            memo[u] = combine([memo[d] for d in deps])
    return memo[t]


def _layout_rule(t: int, ops, producer, conv_of):
    """(tensors t's format depends on, how it follows from theirs)."""
    p = producer.get(t)
    op = ops[p] if p is not None else None
    if op is None:
        return [], lambda _: None
    if op.type == OpType.Input:
        fmt = DataFormat.NC4HW4 if op.main is None or op.main_type != Param.Input else \
            op.main.scalar(INPUT_DFORMAT, "i8", DataFormat.NC4HW4)
        return [], lambda _: fmt
    if op.main_type == Param.Blob and op.main is not None:
        fmt = op.main.scalar(BlobF.dataFormat, "i8", DataFormat.NCHW)
        return [], lambda _: fmt
    if op.type == OpType.ConvertTensor:
        fmt = op.main.scalar(CONVERT_DEST, "i8", -1) if op.main is not None and op.main_type == CONVERT_PARAM \
            else None
        return [], lambda _: fmt
    if (op.index in conv_of or op.type in LAYOUT_KEEPING) and op.inputs:
        return [op.inputs[0]], lambda f: f[0]
    if op.type in ELEMENTWISE_MULTI and op.inputs:
        # the output takes the higher-rank operand's format (the first on a tie): known
        # when all agree, leaving out constants of fewer than 4 dims (the others are 4-D here)
        deps = [i for i in op.inputs if not _low_rank_const(ops, producer.get(i))]
        return deps, lambda fs: fs[0] if fs and len(set(fs)) == 1 else None
    return [], lambda _: None


def _low_rank_const(ops, p) -> bool:
    if p is None or ops[p].type != OpType.Const or ops[p].main is None or ops[p].main_type != Param.Blob:
        return False
    dims = ops[p].main.array(BlobF.dims, "i32")
    return dims is None or len(dims) < 4


def _const_values(op: OpInfo, layout, vec: bool) -> tuple[np.ndarray | None, str | None]:
    """(values, None) when the constant is a scalar or holds one value per channel along the
    channel axis of a 4-D operand in `layout`; else (None, why)."""
    if op.type != OpType.Const or op.main_type != Param.Blob or op.main is None:
        return None, "is not a float constant"
    fmt = op.main.scalar(BlobF.dataFormat, "i8", DataFormat.NCHW)
    vals = op.main.array(BlobF.float32s, "f32")
    dims = op.main.array(BlobF.dims, "i32")
    if vals is None:
        return None, "is not a float constant"
    dims = [] if dims is None else [int(d) for d in dims]
    if vals.size == 1:
        return vals, None
    shape = f"{dims} ({FORMAT_NAMES.get(fmt, f'format {fmt}')})"
    if vec:
        # (a pooled vector: the NCHW rule it always had)
        if fmt in NCHW_LIKE and len(dims) >= 3 and dims[-3] == vals.size and \
                all(d == 1 for i, d in enumerate(dims) if i != len(dims) - 3):
            return vals, None
        return None, f"of shape {shape} is not per-channel on a pooled vector"
    fam = _family(layout)
    if fam is None:
        return None, f"of shape {shape} meets a tensor whose layout is not known here"
    if _family(fmt) != fam:
        return None, f"of shape {shape} meets a {FORMAT_NAMES[layout]} tensor (another layout)"
    axis = -1 if fam == "NHWC" else -3           # the channel axis, right-aligned in 4-D
    if not len(dims) <= 4 or len(dims) < -axis or dims[axis] != vals.size or \
            any(d != 1 for i, d in enumerate(dims) if i != len(dims) + axis):
        return None, (f"of shape {shape} does not broadcast along the channel axis of its "
                      f"{FORMAT_NAMES[layout]} tensor")
    return vals, None


def _visit(op: OpInfo, t, role, vec, comp, add, block, conv_of, ops, producer, consumers, done_ops, layouts):
    """Handle `op`, which produces (role=producer) or reads (role=consumer) tensor t."""
    typ = op.type
    conv = conv_of.get(op.index)
    done_ops.add(op.index)
    if conv is not None:
        if len(op.inputs) != 1:
            return block(f"conv {op.name!r} takes its weights as inputs")
        if not _dense_ok(conv):
            return block(f"conv {op.name!r} has {conv.storage} weights")
        if conv.is_depthwise and not vec:
            comp.depthwise.append(conv)
            add(op.inputs[0], False)
            add(op.outputs[0], False)
            return
        if typ != OpType.Convolution or conv.conv_groups != 1:
            return block(f"the channels reach {conv.type} {op.name!r}, which cannot take a new channel order")
        if role == "producer":
            if vec:
                return block(f"conv {op.name!r} writes a vector")
            comp.producers.append(conv)  # may also be a consumer: W[perm][:, perm] is fine
        else:
            if vec and conv.kernel != (1, 1):
                return block(f"conv {op.name!r} reads a vector with a {conv.kernel} kernel")
            comp.consumers.append(conv)
            done_ops.discard(op.index)  # it may also be a producer of another component
        return
    if typ in ELEMENTWISE_UNARY or (typ == OpType.PReLU and _prelu_scalar(op)):
        if len(op.inputs) < 1 or len(op.outputs) != 1:
            return block(f"{op.type_name} {op.name!r} has an unexpected arity")
        add(op.inputs[0], vec)
        add(op.outputs[0], vec)
        return
    if typ in ELEMENTWISE_MULTI:
        for i in op.inputs:
            src = producer.get(i)
            if src is not None and ops[src].type == OpType.Const:
                if len(consumers.get(i, [])) != 1:
                    return block(f"constant input of {op.name!r} is shared")
                operands = [j for j in op.inputs if j != i]
                layout = tensor_layout(operands[0], ops, producer, conv_of, layouts) if len(operands) == 1 else None
                vals, why = _const_values(ops[src], layout, vec)
                if vals is None:
                    return block(f"constant {ops[src].name!r} of {op.name!r} {why}")
                if vals.size > 1:
                    comp.constants.append((ops[src], vals))
            else:
                add(i, vec)
        for o in op.outputs:
            add(o, vec)
        return
    if typ in POOL_ISGLOBAL and not vec and op.main_type == POOL_PARAM[typ] and op.main is not None:
        glob = op.main.scalar(POOL_ISGLOBAL[typ], "bool", False)
        add(op.inputs[0], False)
        add(op.outputs[0], bool(glob))
        return
    if typ == REDUCTION and not vec and op.main is not None and op.main_type == REDUCTION_PARAM:
        dims = op.main.array(REDUCTION_DIM, "i32")
        keep = op.main.scalar(REDUCTION_KEEPDIMS, "bool", False)
        src = producer.get(op.inputs[0]) if op.inputs else None
        nchw = src is not None and (ops[src].type == OpType.ConvertTensor and ops[src].main is not None
                                    and ops[src].main_type == CONVERT_PARAM
                                    and ops[src].main.scalar(1, "i8", -1) == DataFormat.NCHW)
        if dims is not None and set(int(d) for d in dims) <= {2, 3, -1, -2} and keep and nchw:
            add(op.inputs[0], False)
            add(op.outputs[0], True)
            return
        return block(f"reduction {op.name!r} is not a spatial mean/max")
    if typ in VECTOR_RESHAPES and vec:
        add(op.inputs[0], True)
        add(op.outputs[0], True)
        return
    block(f"the channels reach {op.type_name} {op.name!r}, which cannot take a new channel order")


def _prelu_scalar(op: OpInfo) -> bool:
    return op.main_type == Param.PRelu and op.main is not None and op.main.scalar(PReluF.slopeCount, "i32", 0) == 1
