"""Write the regression corpus: inputs that crashed, hung or fooled an earlier reader
(or MNN itself), as small replayable recipes over the tiny seeds in corpus/seeds/.

    python tests/hardening/make_corpus.py        # rewrites tests/hardening/corpus/*.json

A recipe is the fuzz runner's format (`python -m sparsebytenn.fuzz --replay corpus/`):
{"seed_file": "seeds/tiny.mnn", "ops": [[kind, ...], ...]} plus "why" (the bug it
caught) and "expect": "rejected" with a fragment of the message, or "accepted" (the
file is valid; then the tools must give correct results on it). Positions are found
with fbedit (independent of the reader) on the committed seeds, so they never move.
"""
from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # fbedit lives in tests/
from fbedit import (ATTR_I, ATTR_KEY, COMMON_GROUP, COMMON_IN, COMMON_KX, COMMON_OUT, CONV_BIAS,  # noqa: E402
                    CONV_QUAN, CONV_SPARSE, CONV_WEIGHT, FB, NET_OPLISTS, NET_TENSOR_NAME, OP_INPUTS,
                    OP_MAIN, OP_MAIN_TYPE, OP_OUTPUTS, OP_TYPE, OPTYPE_POOLING, OPTYPE_RELU, PARAM_CONVOLUTION2D,
                    PARAM_POOL, QUAN_ALPHA, QUAN_INDEX, QUAN_WEIGHT_SIZE, SPARSE_ARGS)

CORPUS = HERE / "corpus"
SEEDS = {"tiny": CORPUS / "seeds" / "tiny.mnn", "sparse": CORPUS / "seeds" / "tiny.sparse.mnn"}
NAN, INF = 0x7FC00000, 0x7F800000


def rel(fb: FB, at: int, target: int) -> int:
    """The uoffset to store at `at` so that it refers to `target`."""
    return target - at


def recipes() -> dict[str, dict]:
    t, s = FB(SEEDS["tiny"].read_bytes()), FB(SEEDS["sparse"].read_bytes())
    n_t = len(t.b)
    ops_t = t.ops()
    conv_a, conv_b, conv_c = t.convs()
    sconv_b = s.convs()[1]
    squan = s.ref(s.param(sconv_b), CONV_QUAN)
    out: dict[str, dict] = {}

    def add(name, seed, ops, why, expect="rejected", message=""):
        out[name] = {"seed_file": f"seeds/{SEEDS[seed].name}", "ops": ops, "why": why, "expect": expect,
                     "message": message}

    # --- amplification: one table doing the work of many
    (e2, op2), (e3, _) = ops_t[2], ops_t[3]
    add("shared-op-table", "tiny", [["u32", e3, rel(t, e3, op2)]],
        "two oplists entries referring to one op table: the old reader did the work once per "
        "reference (hangs with a million references) and MNN runs the op twice", message="shares its table")
    lp, count = t.vector(t.root(), NET_OPLISTS)
    add("oplists-all-one-op", "tiny", [["alias", lp, count, op2]],
        "every operator entry pointing at the same table", message="shares its table")
    pb, pc = t.field(conv_b, OP_MAIN), t.field(conv_c, OP_MAIN)
    add("shared-conv-parameter", "tiny", [["u32", pc, rel(t, pc, pb + t.u32(pb))]],
        "two convolutions sharing one Convolution2D table (amplification; the converter rewrote it twice)",
        message="shares its table")
    wb, wc = t.field(t.param(conv_b), CONV_WEIGHT), t.field(t.param(conv_c), CONV_WEIGHT)
    add("shared-weight-vector", "tiny", [["u32", wc, rel(t, wc, wb + t.u32(wb))]],
        "two convs sharing one weight vector (legal FlatBuffers): convert pruned conv_b and silently "
        "changed conv_c's weights too; the reader now refuses overlapping weight vectors",
        message="shares a weight vector")
    lb, nb = t.vector(t.param(conv_b), CONV_WEIGHT)
    fake = lb + 4 + 4 * (nb // 2)  # a length field planted in the middle of conv_b's weights
    add("overlapping-weight-vectors", "tiny", [["u32", fake, nb], ["u32", wc, rel(t, wc, fake)]],
        "conv_c's weights starting in the middle of conv_b's (same count, so every other check passes)",
        message="overlaps")

    # --- sizes from hostile numbers
    common_b = s.common(sconv_b)
    ws = s.field(squan, QUAN_WEIGHT_SIZE)
    add("huge-weightsize", "sparse",
        [["i32", s.field(common_b, COMMON_OUT), 1 << 24], ["u32", ws, (1 << 24) * 8]],
        "a consistent but huge shape (16M output channels, weightSize 128M): decoding the sparse weights "
        "would allocate 512 MB from a 4 KB file", message="implausible")
    add("weightsize-mismatch", "sparse", [["u32", ws, 0xFFFFFFF0]],
        "weightSize not matching the conv's shape", message="weightSize")
    li, ni = s.vector(squan, QUAN_INDEX)
    add("sparse-index-beyond-weightsize", "sparse", [["u32", li + 4 + 4 * (ni - 1), 0x7FFFFFFF]],
        "an index past weightSize: the old decoder wrote outside its buffer (numpy raised IndexError)",
        message="beyond weightSize")
    la, _ = s.vector(squan, QUAN_ALPHA)
    add("sparse-alpha-index-mismatch", "sparse", [["u32", la, ni - 1]],
        "fewer sparse values than indices", message="indices but")
    add("weight-count-mismatch", "tiny", [["i32", t.field(t.common(conv_b), COMMON_OUT), 15]],
        "outputCount disagreeing with the weight count", message="expected")
    add("group-zero", "tiny", [["i32", t.field(t.common(conv_b), COMMON_GROUP), 0]],
        "group 0: a division by zero computing channels per group", message="group = 0 is invalid")
    add("kernel-zero", "tiny", [["i32", t.field(t.common(conv_a), COMMON_KX), 0]],
        "kernelX 0: a division by zero deriving the input channels from the weight count",
        message="kernelX = 0 is invalid")
    add("input-count-not-multiple-of-group", "tiny", [["i32", t.field(t.common(conv_b), COMMON_GROUP), 3]],
        "group 3 for 8 input channels", message="not a multiple of group")

    # --- what MNN trusts: op and parameter types, outputs, weights
    add("conv-with-pool-parameter", "tiny", [["u8", t.field(conv_b, OP_MAIN_TYPE), PARAM_POOL]],
        "a Convolution whose union says Pool: MNN casts the parameter by op type and crashes",
        message="needs parameter type")
    add("pooling-with-conv-parameter", "tiny", [["i32", t.field(conv_b, OP_TYPE), OPTYPE_POOLING]],
        "a Pooling op carrying a Convolution2D: MNN reads it as Pool and crashes", message="needs parameter type")
    add("relu-with-conv-parameter", "tiny", [["i32", t.field(conv_b, OP_TYPE), OPTYPE_RELU]],
        "a ReLU op carrying a Convolution2D parameter", message="has a convolution parameter")
    add("unknown-op-type", "tiny", [["i32", t.field(conv_b, OP_TYPE), 9999]],
        "an op type MNN does not know", message="unknown op type")
    add("unknown-union-type", "tiny", [["u8", t.field(conv_b, OP_MAIN_TYPE), 250]],
        "a union type past the last OpParameter", message="unknown parameter type")
    add("convint8-without-int8-weights", "tiny", [["i32", t.field(conv_b, OP_TYPE), 513]],
        "ConvInt8 with float weights and no symmetricQuan: MNN dereferences the missing table",
        message="without int8 weights")
    lo, _ = t.vector(conv_b, OP_OUTPUTS)
    add("op-without-outputs", "tiny", [["u32", lo, 0]],
        "an op with an empty output list: MNN indexes outputs[0] unchecked (crash)",
        message="has no output tensor")
    li_, _ = t.vector(conv_b, OP_INPUTS)
    add("conv-without-inputs", "tiny", [["u32", li_, 0]],
        "a conv with no input tensor", message="needs inputs")
    add("tensor-index-out-of-range", "tiny", [["i32", li_ + 4, 100000]],
        "an input tensor index past the tensor list: MNN reads outside its tensor array",
        message="out of range")
    add("conv-without-weights", "tiny", [["u32", lb, 0]],
        "a float conv with an empty weight vector and no other weights: MNN builds an execution with none",
        message="without weights")
    lbias, _ = t.vector(t.param(conv_b), CONV_BIAS)
    add("bias-count-mismatch", "tiny", [["u32", lbias, 3]],
        "3 bias values for 16 output channels: MNN reads past the bias", message="bias values")

    # --- strings and truncation
    add("truncated-in-last-string", "tiny", [["truncate", n_t - 8]],
        "a file cut inside its last string (bizCode): the reader never looked at it and convert "
        "wrote an output MNN refuses to load; the reader now checks the Net's unused strings",
        message="bizCode")
    names = t.ref_vector(t.root(), NET_TENSOR_NAME)
    (e0, s0) = names[0]
    add("unterminated-tensor-name", "tiny", [["u32", s0, 0x100]],
        "a tensor name longer than the file", message="tensorName")
    add("invalid-utf8-name", "tiny", [["bytes", s0 + 4, "ff"]],
        "a name that is not UTF-8 (decoded with replacement, never an exception)", expect="accepted")

    # --- valid files with hostile values: correct results required
    lb, nb = t.vector(t.param(conv_b), CONV_WEIGHT)
    add("nan-weights", "tiny", [["u32", lb + 4 + 4 * i, NAN] for i in range(0, nb, 3)],
        "NaN weights: convert must not prune by NaN norms (it leaves the layer dense and says why); "
        "run must agree with stock MNN", expect="accepted")
    add("inf-weights", "tiny", [["u32", lb + 4 + 4 * i, INF] for i in range(0, nb, 5)],
        "infinite weights", expect="accepted")
    sp = s.ref(s.param(sconv_b), CONV_SPARSE)
    attrs = {s.string(a, ATTR_KEY): a for _, a in s.ref_vector(sp, SPARSE_ARGS)}

    def arg(key, val, why, expect="rejected", message=""):
        add(f"sparse-meta-{key}-{val}", "sparse", [["i32", s.field(attrs[key], ATTR_I), val]], why, expect, message)

    for val in (0, 3, 1 << 30):
        arg("sbnnGroup", val, f"the project's own group size corrupted (sbnnGroup={val}): only the plugin reads "
            "it, and it must refuse the conv and fall back to MNN; results equal stock MNN's", expect="accepted")
    nnz = s.i32(s.field(attrs["NNZElement"], ATTR_I))
    arg("NNZElement", -1, "NNZElement -1: stock MNN sizes its packed weights from it (a 0-byte buffer, then "
        "writes every entry: heap overflow; it returned all zeros)", message="disagree with the weights")
    arg("NNZElement", nnz - 4, "NNZElement one block short: stock MNN writes past its weight buffer",
        message="disagree with the weights")
    arg("sparseBlockOC", 0, "sparseBlockOC 0: stock MNN divides the output channels by it", message="invalid")
    arg("sparseBlockOC", 3, "sparseBlockOC 3 with counts for blocks of 4", message="disagree with the weights")
    key_at = s.ref(attrs["blockNumber"], ATTR_KEY)
    add("sparse-meta-missing-blockNumber", "sparse", [["bytes", key_at + 4, "42"]],
        "the blockNumber key renamed: MNN's LookupByKey returns null and MNN dereferences it",
        message="lacks the blockNumber")
    lidx, nidx = s.vector(squan, QUAN_INDEX)
    i0, i1 = s.u32(lidx + 4), s.u32(lidx + 8)
    add("sparse-index-unsorted", "sparse", [["u32", lidx + 4, i1], ["u32", lidx + 8, i0]],
        "two sparse indices swapped: MNN packs entries in index order, one per index",
        message="not strictly increasing")
    add("sparse-index-duplicate", "sparse", [["u32", lidx + 8, i0]],
        "a repeated sparse index: MNN would pack two entries where the counts allow one",
        message="not strictly increasing")
    return out


def main() -> None:
    from sparsebytenn.fuzz.mutate import apply

    for old in CORPUS.glob("*.json"):
        old.unlink()
    for name, recipe in recipes().items():
        assert recipe["ops"], name
        data = (CORPUS / recipe["seed_file"]).read_bytes()
        assert apply(data, recipe["ops"]) != data, f"{name}: the recipe changes nothing"
        (CORPUS / f"{name}.json").write_text(json.dumps(recipe, indent=1) + "\n")
    print(f"wrote {len(list(CORPUS.glob('*.json')))} recipes to {CORPUS}")


if __name__ == "__main__":
    main()
