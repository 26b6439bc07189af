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
