"""The eval table sets the measured speed-up against the allocator's model and warns
when the machine runs the model clearly slower than promised."""
from __future__ import annotations

from sparsebytenn.fidelity.report import table


def _result(measured: float, modelled: float | None, ci=None) -> dict:
    row = {"label": "calibrated G=auto 30%", "achieved_sparsity": 0.3, "top1_agreement": 0.6,
           "top1_agreement_ci95": [0.5, 0.7], "top5_overlap": 0.7, "logit_cosine": 0.9,
           "speedup_vs_mnn_dense": measured, "modelled_speedup": modelled}
    if ci is not None:
        row["speedup_vs_mnn_dense_ci95"] = ci
    return {"task": "imagenet", "model": "m",
            "protocol": {"dataset": "photos", "caveat": "direction only", "machine": {"cpu_model": "X"}},
            "results": [{"label": "dense", "top1_agreement": 1.0, "top5_overlap": 1.0, "logit_cosine": 1.0,
                         "speedup_vs_mnn_dense": 1.0}, row]}


def test_measured_below_the_model_is_flagged_with_what_to_do():
    text = table(_result(1.24, 1.30))           # 4.6 % short: within noise
    assert "1.30x" in text and "warning" not in text
    text = table(_result(1.20, 1.30))           # 7.7 % short
    warning = [ln for ln in text.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and "calibrated G=auto 30%" in warning[0] and "speed-table" in warning[0]
    assert "1.20x vs modelled 1.30x" in warning[0]


def test_only_a_shortfall_beyond_the_noise_is_flagged():
    # 7.7 % short, but the rounds reach 1.25x (more than 95 % of 1.30): the noise may explain it
    assert "warning" not in table(_result(1.20, 1.30, ci=[1.10, 1.25]))
    # the whole interval below: flagged, with the interval
    text = table(_result(1.20, 1.30, ci=[1.15, 1.22]))
    (warning,) = [ln for ln in text.splitlines() if ln.startswith("warning:")]
    assert "1.20x [1.15-1.22] vs modelled 1.30x" in warning


def test_rows_without_a_model_show_no_modelled_value():
    text = table(_result(1.8, None))
    assert "warning" not in text and text.count("x") >= 2


def test_photo_rows_say_where_the_answers_changed():
    result = _result(1.4, 1.4)
    result["results"][1].update(
        by_dense_confidence={"threshold": 0.5, "sure": {"views": 93, "agreed": 81},
                             "unsure": {"views": 47, "agreed": 24}},
        per_photo=[{"photo": "coffee", "fold": 1, "views": 10, "agreed": 10, "dense_top1_prob": 0.98},
                   {"photo": "china", "fold": 0, "views": 10, "agreed": 3, "dense_top1_prob": 0.48},
                   {"photo": "astronaut", "fold": 0, "views": 10, "agreed": 2, "dense_top1_prob": 0.24},
                   {"photo": "kite", "fold": 0, "views": 10, "agreed": 6, "dense_top1_prob": 0.53},
                   {"photo": "person", "fold": 0, "views": 10, "agreed": 5, "dense_top1_prob": 0.57}])
    lines = [ln for ln in table(result).splitlines() if "most changed" in ln]
    assert len(lines) == 1                       # the dense row has no breakdown
    line = lines[0]
    assert "81/93 (87 %)" in line and "24/47 (51 %)" in line and ">= 50 %" in line
    # the three photos that lost the most views, worst first; unchanged photos never listed
    assert line.index("astronaut 2/10") < line.index("china 3/10") < line.index("person 5/10")
    assert "kite" not in line and "coffee" not in line


def test_rows_are_set_against_the_dense_model_through_the_plugin():
    # the plugin alone (dense kernels) speeds the dense model up; pruning that adds nothing to it is flagged
    result = _result(1.70, 1.65)
    result["results"][0]["plugin_speedup_vs_mnn_dense"] = 1.69
    text = table(result)
    assert "dense model through the plugin (nothing pruned, same answers): 1.69x" in text
    warning = [ln for ln in text.splitlines() if ln.startswith("warning: less than 5 % faster")]
    assert len(warning) == 1 and "calibrated G=auto 30%" in warning[0] and "--group 8" in warning[0]
    result["results"][1]["speedup_vs_mnn_dense"] = 1.80      # 6.5 % beyond it
    assert "warning: less than 5 %" not in table(result)
    del result["results"][0]["plugin_speedup_vs_mnn_dense"]  # not measured: nothing said
    assert "through the plugin" not in table(result)
