"""A hang is reported even though timeouts are retried once (a real hang reproduces)."""
from __future__ import annotations


def test_inputs_that_always_exceed_the_cpu_limit_are_reported_as_timeouts(tiny, tmp_path):
    from sparsebytenn.fuzz import runner

    seed = "file:" + str(tiny[0])
    cfg = runner.Config(workdir=str(tmp_path), cpu_limit=1e-3, seeds=(seed,))  # convert takes longer: it "hangs"
    recipes = [{"seed": seed, "target": "convert", "ops": [], "rng": 0}] * 2
    results = runner.replay(cfg, recipes)
    assert [k for k, _ in results] == ["timeout", "timeout"], results


def test_the_same_inputs_pass_with_the_normal_limit(tiny, tmp_path):
    from sparsebytenn.fuzz import runner

    seed = "file:" + str(tiny[0])
    cfg = runner.Config(workdir=str(tmp_path), seeds=(seed,))
    recipes = [{"seed": seed, "target": "convert", "ops": [], "rng": 0}]
    assert [k for k, _ in runner.replay(cfg, recipes)] == ["accepted"]
