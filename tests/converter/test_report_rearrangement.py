"""The conversion table says which channel groups were rearranged and, for each that
was not, why (issue 14.5: the reason used to live only in the JSON)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import tiny_models  # noqa: E402  (conv3x3 -> two 1x1 convs -> global pool -> FC, built by MNN's converter)


def test_the_table_names_every_group_left_in_its_order_and_why(tmp_path):
    from sparsebytenn_converter import convert

    model = tiny_models.make_model(tmp_path)
    report = convert(model, tmp_path / "o.mnn", sparsity=0.5, group=4, plain=True, progress=False,
                     fidelity=False, skip=["none"])
    kept = [c for c in report.components if c["decision"] != "permuted"]
    assert kept, "the FC feeding the output must keep its order"
    table, markdown = report.table(), report.markdown()
    done = len(report.components) - len(kept)
    assert f"rearrangement: {done} of {len(report.components)} channel groups permuted" in table
    for c in kept:
        why = c["decision"].removeprefix("identity: ")
        assert f"not rearranged: {c['producers'][0]}: {why}" in table
        assert f"not rearranged: {c['producers'][0]}: {why}" in markdown
