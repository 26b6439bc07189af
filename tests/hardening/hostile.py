"""Hostile variants of a valid model: truncations, corrupted offsets, lengths past the
end, wrong union and op types, and files that are not models at all."""
from __future__ import annotations

from fbedit import (CONV_QUAN, CONV_WEIGHT, FB, OP_MAIN, OP_MAIN_TYPE, OPTYPE_POOLING, PARAM_POOL,
                    NET_OPLISTS, QUAN_INDEX)

# files that are not models; the tests make these themselves
SPECIAL = ("empty", "directory", "missing", "text", "fifo", "device")


def model_cases(dense: bytes, sparse: bytes) -> dict[str, bytes]:
    """name -> bytes of a broken model (all must be rejected)."""
    n = len(dense)
    cases = {f"truncated-at-{cut}": dense[:cut] for cut in (4, 12, n // 4, n // 2, 3 * n // 4, n - 8)}

    fb = FB(dense)
    fb.put("<I", 0, n + 100)                          # root offset past the end
    cases["root-offset-past-end"] = fb.bytes()

    fb = FB(dense)
    p = fb.field(fb.root(), NET_OPLISTS)
    fb.put("<I", p, fb.u32(p) ^ 0x80000000)           # one bit flipped in the oplists offset
    cases["oplists-offset-bit-flip"] = fb.bytes()

    fb = FB(dense)
    conv = fb.convs()[1]
    fb.put("<i", conv, 0x7FFFFFF0)                    # an op's vtable far outside the file
    cases["op-vtable-outside"] = fb.bytes()

    fb = FB(dense)
    slot = fb.vtable_slot(conv, OP_MAIN)
    fb.put("<H", slot, 0xFFFC)                        # a field offset outside its table
    cases["field-outside-table"] = fb.bytes()

    fb = FB(dense)
    lp, _ = fb.vector(fb.param(conv), CONV_WEIGHT)
    fb.put("<I", lp, 0x3FFFFFFF)                      # weight vector 4 GB long
    cases["weight-length-past-end"] = fb.bytes()

    fb = FB(sparse)
    lp, _ = fb.vector(fb.ref(fb.param(fb.sparse_convs()[1]), CONV_QUAN), QUAN_INDEX)
    fb.put("<I", lp, (len(sparse) - lp) // 4)         # sparse index vector just past the end
    cases["sparse-index-length-past-end"] = fb.bytes()

    fb = FB(dense)
    fb.put("<B", fb.field(conv, OP_MAIN_TYPE), PARAM_POOL)   # a conv whose parameter says Pool
    cases["conv-with-pool-union-type"] = fb.bytes()

    fb = FB(dense)
    fb.put("<i", fb.field(conv, 5), OPTYPE_POOLING)          # a Pooling op with a conv parameter
    cases["pooling-with-conv-parameter"] = fb.bytes()
    return cases
