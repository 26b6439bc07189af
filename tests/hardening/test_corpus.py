"""The regression corpus (tests/hardening/corpus/, written by make_corpus.py): inputs
that crashed, hung or fooled an earlier reader or MNN itself, replayed through the
code of inspect, convert and run under the fuzz runner's limits (a crash, a hang or
an unexpected exception fails). Files the corpus marks as valid must also give the
same results with the plugin as stock MNN, before and after convert."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CORPUS = Path(__file__).resolve().parent / "corpus"
RECIPES = {p.stem: json.loads(p.read_text()) for p in sorted(CORPUS.glob("*.json"))}
TARGETS = ("inspect", "convert", "run", "run-plugin")   # sparsebytenn.fuzz.targets.TARGETS


def test_corpus_is_small_and_complete():
    assert len(RECIPES) >= 25
    for name, r in RECIPES.items():
        assert r["why"] and r["expect"] in ("rejected", "accepted"), name
        assert (CORPUS / r["seed_file"]).is_file(), name
    assert all(p.stat().st_size < 200_000 for p in CORPUS.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def outcomes(tiny, tmp_path_factory):
    """(recipe name, target) -> (outcome, detail), all replayed in one worker pool."""
    from sparsebytenn.fuzz.runner import Config, replay

    keys, recipes = [], []
    for name, r in RECIPES.items():
        for target in TARGETS:
            keys.append((name, target))
            recipes.append({**r, "seed": "file:" + str(CORPUS / r["seed_file"]), "target": target})
    cfg = Config(workdir=str(tmp_path_factory.mktemp("corpus-replay")),
                 seeds=tuple(dict.fromkeys(r["seed"] for r in recipes)))
    return dict(zip(keys, replay(cfg, recipes, jobs=1)))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_corpus_input_is_handled_cleanly(outcomes, name, target):
    from sparsebytenn.fuzz.targets import FAILURES

    r = RECIPES[name]
    kind, detail = outcomes[(name, target)]
    assert kind not in FAILURES, f"{name} [{target}]: {kind}\n{detail}\n(why it is in the corpus: {r['why']})"
    if r["expect"] == "rejected":
        assert kind == "rejected" and r["message"] in detail, f"{name} [{target}]: {kind}: {detail}"
    elif target == "inspect":
        assert kind == "accepted", f"{name}: a valid file was rejected: {detail}"


def _materialize(name: str, folder: Path) -> Path:
    from sparsebytenn.fuzz.mutate import apply

    r = RECIPES[name]
    path = folder / f"{name}.mnn"
    path.write_bytes(apply((CORPUS / r["seed_file"]).read_bytes(), r["ops"]))
    return path


def _run(model: Path, plugin: bool, out: Path, must_run_all: bool = False) -> tuple[np.ndarray | None, str]:
    proc = subprocess.run([sys.executable, "-m", "sparsebytenn", "run", str(model), "--repeats", "1", "--json",
                           "--save-output", str(out), *([] if plugin else ["--no-plugin"])],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    if proc.returncode:
        assert len(proc.stderr.strip().splitlines()) == 1 and model.name in proc.stderr, proc.stderr
        return None, proc.stderr.strip()
    if plugin:   # every tagged conv ran in the plugin or fell back saying why (the tests' own reader counts them)
        import fbedit

        tagged = len(fbedit.FB(model.read_bytes()).sparse_convs())
        summary = json.loads(proc.stdout)
        ran, said = summary["plugin_convs"], len(summary["fallbacks"])
        assert ran + said == tagged and (said == 0 or not must_run_all), \
            f"{model.name}: {tagged} tagged convs, the plugin ran {ran}, {said} fell back: {summary['fallbacks']}"
    return np.load(out), ""


def _same_as_stock_mnn(model: Path, tmp: Path, infinite: bool = False, ours: bool = False) -> bool:
    """Plugin vs stock MNN on one file; False when MNN itself cannot run it (a clean error).

    infinite: the model has infinite activations, where 0 * inf (a skipped or a
    multiplied zero weight) makes finiteness depend on the kernel; compare the
    positions both engines compute finite. ours: the converter wrote it, so the plugin
    must run every tagged conv (no fallback)."""
    stock, why = _run(model, False, tmp / f"{model.stem}.stock.npy")
    mine, why_plugin = _run(model, True, tmp / f"{model.stem}.plugin.npy", must_run_all=ours)
    assert (stock is None) == (mine is None), (why, why_plugin)
    if stock is None:
        return False
    # with infinite weights, inf - inf = NaN depends on the summation order: any
    # non-finite value matches any other, finite values must agree
    finite = np.isfinite(stock)
    if infinite:
        finite &= np.isfinite(mine)
        assert finite.any(), "no finite output to compare"
    else:
        np.testing.assert_array_equal(np.isfinite(mine), finite)
    np.testing.assert_allclose(mine[finite], stock[finite], rtol=1e-4, atol=1e-5)
    return True


@pytest.mark.parametrize("name", sorted(n for n, r in RECIPES.items() if r["expect"] == "accepted"))
def test_valid_corpus_file_gives_correct_results(tiny, tmp_path, name):
    model = _materialize(name, tmp_path)
    # inf weights in conv_b after a first conv the bridge runs (the direct conv kernels):
    # last-bit differences before them decide where 0 x inf = NaN, as after conversion
    ran = _same_as_stock_mnn(model, tmp_path, infinite=name == "inf-weights")
    out = tmp_path / "converted.mnn"
    proc = subprocess.run([sys.executable, "-m", "sparsebytenn", "convert", str(model), str(out),
                           "--sparsity", "0.5", "--plain", "--skip", "none", "-q"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    if proc.returncode == 0:
        assert _same_as_stock_mnn(out, tmp_path, infinite=name == "inf-weights", ours=True) or not ran
    else:
        assert not out.exists() and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    if name == "nan-weights":  # the NaN layer is left dense, and the report says why
        assert proc.returncode == 0, proc.stderr
        from sparsebytenn_converter import read_model

        conv_b = read_model(out).conv("conv_b_out")
        assert conv_b.storage == "dense" and conv_b.sparse is None


def test_replay_command_on_the_corpus(tmp_path):
    """`python -m sparsebytenn.fuzz --replay tests/hardening/corpus/` (what a developer runs) is green."""
    proc = subprocess.run([sys.executable, "-m", "sparsebytenn.fuzz", "--replay", str(CORPUS), "--jobs", "1",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert sum(proc.stdout.count(f": {k}") for k in ("rejected", "accepted", "mnn-rejected")) == \
        len(RECIPES) * len(TARGETS)
