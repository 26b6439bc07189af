"""python -m sparsebytenn.bench.dwconv_layers --kernels: the dense families' kernels alone,
every SIMD ISA of each family's variant table on its shapes, GFLOP/s from each shape's
own multiply-adds."""
import pytest

import sparsebytenn._kernels as K
from sparsebytenn.bench.dwconv_layers import kernel_rows


@pytest.mark.parametrize("kind, table, first_flops", [
    ("depthwise", K.dw_variants, 2 * 9 * 32 * 112 * 112),          # 32 channels, 3x3, 112x112 stride 1
    ("direct_conv", K.dconv_variants, 2 * 32 * 3 * 9 * 112 * 112),  # MobileNet-V1's stem: 224 -> 112
])
def test_kernel_rows_time_every_simd_isa_of_the_family(kind, table, first_flops):
    isas = [i for i in dict.fromkeys(v["isa"] for v in table()) if i != "ref" and K.isa_available(i)]
    assert isas, "this CPU runs no SIMD ISA of the family"
    names = {v["name"] for v in table()}
    rows = kernel_rows(rounds=1, runs=1, kind=kind)
    assert len(rows) >= 2
    for row in rows:
        assert set(row["variant"]) == set(isas) and set(row["variant"].values()) <= names
    first = rows[0]
    for isa in isas:
        assert first[f"{isa}_ms"] > 0
        assert first[f"{isa}_gflops"] == pytest.approx(first_flops / first[f"{isa}_ms"] / 1e6, rel=0.01)


def test_measure_times_only_the_ops_of_its_kind():
    """MobileNet-V1: the direct conv kind is its first conv alone, the pointwise kind its
    13 1x1 convs and the classifier (both kinds are MNN "Convolution" ops: each session
    leaves the other kind to MNN), each with MNN's and both ISAs' times."""
    from sparsebytenn import zoo
    from sparsebytenn.bench.dwconv_layers import measure
    from sbnn_testing import require

    require(zoo.is_cached("mobilenet-v1") or not zoo.missing_requirements("mobilenet-v1"), "mobilenet-v1")
    model = zoo.get("mobilenet-v1", progress=False)
    for kind, layers in (("direct_conv", 1), ("pointwise", 14)):
        r = measure(model, threads=1, rounds=1, runs=1, kind=kind)
        assert len(r["layers"]) == layers, (kind, [x["op"] for x in r["layers"]])
        for row in r["layers"]:
            assert row["mnn_ms"] > 0 and row["avx512_ms"] > 0 and row["avx2_ms"] > 0
