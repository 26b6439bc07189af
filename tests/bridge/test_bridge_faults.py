"""Safety: a wrong MNN, a failing probe or corrupted metadata never breaks the
user's results. Each scenario runs in a fresh Python process, since the bridge
registers with MNN once per process."""
from __future__ import annotations

import json

import numpy as np

from bridge_helpers import TOL, models, rel_err, run_python
# stock CPU, print one JSON line with what happened.
CHILD = """
import json, sys, warnings
import numpy as np
{setup}
import MNN
from sparsebytenn import plugin
from sparsebytenn.session import Session
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    backend = plugin.enable()
runs0 = plugin.thread_conv_runs()  # the probe itself may have run convs
x = np.random.default_rng(0).standard_normal({shape}).astype(np.float32)
out = Session({model!r}, plugin=True).run(x)["output"]
ref = Session({model!r}, plugin=False).run(x)["output"]
lib = plugin.library()
print("RESULT " + json.dumps(dict(
    backend=backend, warnings=[str(w.message) for w in caught], err=float(np.abs(out - ref).max()),
    loaded=lib is not None, armed=(lib.sbnn_mnn_armed() if lib is not None else 0),
    runs=plugin.thread_conv_runs() - runs0)))
"""


def _child(model, setup="", env=None):
    code = CHILD.format(setup=setup, shape=models.INPUT_SHAPE, model=str(model))
    proc = run_python(code, env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_version_mismatch_leaves_bridge_unloaded_with_a_warning(bridge, small_models):
    _, sparse, _, _ = small_models
    r = _child(sparse, setup="import MNN; MNN.version = lambda: '3.6.2'")
    assert r["backend"] == 0 and not r["loaded"] and r["runs"] == 0 and r["err"] == 0.0
    assert len(r["warnings"]) == 1 and "MNN 3.6.2 is installed" in r["warnings"][0]


def test_checksum_mismatch_leaves_bridge_unloaded_with_a_warning(bridge, small_models):
    _, sparse, _, _ = small_models
    r = _child(sparse, setup="from sparsebytenn import plugin; plugin.KNOWN_ENGINES.clear()")
    assert r["backend"] == 0 and not r["loaded"] and r["runs"] == 0 and r["err"] == 0.0
    assert len(r["warnings"]) == 1 and "sha256" in r["warnings"][0]


def test_failing_probe_leaves_bridge_disarmed_with_a_warning(bridge, small_models):
    # Only P=4 is tried: on this x86 wheel (P=8) the probe's results are wrong.
    _, sparse, _, _ = small_models
    r = _child(sparse, setup="from sparsebytenn import plugin; plugin._PACK_CANDIDATES = (4,)",
               env={"SPARSEBYTENN_PROBE_SUBPROCESS": "0"})
    assert r["backend"] == 0 and r["loaded"] and r["armed"] == 0 and r["runs"] == 0 and r["err"] == 0.0
    assert len(r["warnings"]) == 1 and "different from stock MNN" in r["warnings"][0]


def test_failing_probe_in_the_child_process_registers_nothing(bridge, small_models, tmp_path):
    # A probe child that dies without a result (as an ABI crash would) must stop
    # the parent from loading anything; /bin/false stands in for the crashing child.
    _, sparse, _, _ = small_models
    setup = "import sys; sys.executable = '/bin/false'"
    r = _child(sparse, setup=setup, env={"SPARSEBYTENN_HOME": str(tmp_path)})
    assert r["backend"] == 0 and not r["loaded"] and r["runs"] == 0 and r["err"] == 0.0
    assert len(r["warnings"]) == 1 and "child process" in r["warnings"][0]


def _with_invalid_group(sparse, victim, tmp_path):
    """The model with sbnnGroup=3 (not a valid group size) on conv `victim`."""
    net = models.to_json(sparse, tmp_path / "net.json")
    for op in net["oplists"]:
        if op.get("name") == victim:
            args = op["main"]["sparseParameter"]["args"]
            args.append({"key": "sbnnGroup", "i": 3})  # G=3 is not a valid group size
            args.sort(key=lambda a: a["key"].encode())
    corrupted = tmp_path / "corrupted.mnn"
    models.from_json(net, tmp_path / "corrupted.json", corrupted)
    return corrupted


def test_corrupted_metadata_in_one_conv_falls_back_for_that_conv_only(bridge, small_models, tmp_path, capfd):
    from sparsebytenn import Session

    _, sparse, tagged, _ = small_models
    victim = tagged[1]
    corrupted = _with_invalid_group(sparse, victim, tmp_path)
    assert models.tagged_convs(models.to_json(corrupted, tmp_path / "check.json")) == tagged

    x = np.random.default_rng(3).standard_normal(models.INPUT_SHAPE).astype(np.float32)
    sess = Session(corrupted, plugin=True)
    out = sess.run(x)["output"]
    st = sess.stats()
    assert st["plugin_convs"] == len(tagged) - 1
    assert len(st["fallbacks"]) == 1 and victim in st["fallbacks"][0] and "G=3" in st["fallbacks"][0]
    assert rel_err(out, Session(corrupted, plugin=False).run(x)["output"]) <= TOL
    assert victim in capfd.readouterr().err  # the warning reaches stderr


def test_fallback_notes_belong_to_the_session_and_the_thread_that_made_them(bridge, small_models, tmp_path):
    # another thread's fallback never shows in this thread's notes, so a session
    # created here cannot pick it up; each session keeps its own
    import threading

    from sparsebytenn import Session, plugin

    _, sparse, tagged, _ = small_models
    corrupted = _with_invalid_group(sparse, tagged[1], tmp_path)
    mine_before = plugin.thread_note_count()
    made = {}
    worker = threading.Thread(target=lambda: made.update(session=Session(corrupted, plugin=True)))
    worker.start()
    worker.join()
    assert len(made["session"].fallbacks) == 1 and "G=3" in made["session"].fallbacks[0]
    assert plugin.thread_note_count() == mine_before
    clean = Session(sparse, plugin=True)
    assert clean.fallbacks == [] and clean.stats()["fallbacks"] == []
    assert len(made["session"].fallbacks) == 1
