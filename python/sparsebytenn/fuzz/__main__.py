"""`python -m sparsebytenn.fuzz`: run the fuzz campaign (resumable) or replay inputs."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DESCRIPTION = """\
Feed mutated real models (and non-models) to the code of every subcommand that
reads a model -- inspect, convert (--convert-share) and the model run in stock MNN
without and with the bridge (--run-share; in the worker itself, so a crash of MNN on a
file the reader accepted is a crash) -- in --jobs worker processes, each input
limited to --cpu-limit seconds of CPU and --memory-mb of address space. Half the
inputs stay well-formed (weights, conv parameters, sparse metadata, input dims) so
that they reach MNN. Any crash, hang, unexpected exception type, multi-line or
file-less error message, or half-written output is a failure. Outcomes: accepted,
rejected (by the reader), mnn-rejected (the reader accepted, MNN refused cleanly).

inputs:  the zoo's mobilenet-v1 and efficientnet-lite0 (downloaded/built on first
         use) and mobilenet-v1 converted to group-sparse (made in WORKDIR/seeds)
outputs: WORKDIR/state.json (progress; a rerun with the same --seed resumes),
         WORKDIR/failures/*.json (one replayable recipe per failing input), and a
         summary on stdout. Exit status 1 when any input failed.
"""

EXAMPLES = """\
examples:
  python -m sparsebytenn.fuzz --inputs 100000 --jobs 2        # the full campaign (resumable)
  python -m sparsebytenn.fuzz --inputs 2000 --seed 7 --fresh  # a short, different campaign
  python -m sparsebytenn.fuzz --inputs 1000000 --seconds 60 --fresh --workdir /tmp/fz  # one minute (CI)
  python -m sparsebytenn.fuzz --replay WORKDIR/failures/00001234-inspect-exception.json
  python -m sparsebytenn.fuzz --replay tests/hardening/corpus/     # every recipe in a folder
"""


def main(argv=None) -> int:
    from sparsebytenn.paths import home

    p = argparse.ArgumentParser(prog="python -m sparsebytenn.fuzz", description=DESCRIPTION, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", type=int, default=100_000, help="inputs in the campaign (default 100000)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--seed", type=int, default=0, help="campaign seed: input N is the same for the same seed")
    p.add_argument("--workdir", type=Path, default=None, help="state, seeds and failures (default "
                   "$SPARSEBYTENN_HOME/fuzz)")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (a bounded run, "
                   "e.g. in CI; rerun to resume)")
    p.add_argument("--fresh", action="store_true", help="start over instead of resuming")
    p.add_argument("--cpu-limit", type=float, default=2.0, help="CPU seconds per input (default 2)")
    p.add_argument("--memory-mb", type=int, default=3072, help="address space per worker (default 3072)")
    p.add_argument("--convert-share", type=float, default=0.02, help="share of inputs run through convert")
    p.add_argument("--run-share", type=float, default=0.5,
                   help="share of inputs run in MNN, half without and half with the bridge (default 0.5)")
    p.add_argument("--replay", type=Path, metavar="FILE|DIR", help="run saved recipe(s) and print outcomes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    a = p.parse_args(argv)

    from .runner import Config, campaign, replay, summary_text

    cfg = Config(workdir=str(a.workdir or home() / "fuzz"), base_seed=a.seed, cpu_limit=a.cpu_limit,
                 memory_mb=a.memory_mb, p_convert=a.convert_share, p_run=a.run_share)
    if a.replay:
        files = sorted(a.replay.glob("*.json")) if a.replay.is_dir() else [a.replay]
        if not files:
            print(f"{a.replay}: no recipes", file=sys.stderr)
            return 1
        from .targets import FAILURES, TARGETS

        labels, recipes = [], []
        for f in files:  # a recipe without a target (the corpus) goes through every target
            r = _resolve_seed_file(json.loads(f.read_text()), f.parent)
            for target in [r["target"]] if "target" in r else list(TARGETS):
                labels.append(f"{f.name} [{target}]")
                recipes.append({**r, "target": target})
        cfg.seeds = tuple(dict.fromkeys(r["seed"] for r in recipes))
        bad = 0
        for label, (kind, detail) in zip(labels, replay(cfg, recipes, jobs=a.jobs)):
            bad += kind in FAILURES
            print(f"{label}: {kind}" + (f"\n{detail}" if kind in FAILURES else f" ({detail[:160]})" if detail else ""))
        return 1 if bad else 0
    state = campaign(cfg, a.inputs, a.jobs, fresh=a.fresh, progress=not a.quiet, seconds=a.seconds)
    print(summary_text(state, a.inputs))
    from .targets import FAILURES

    return 1 if any(state.outcomes.get(k) for k in FAILURES) else 0


def _resolve_seed_file(recipe: dict, folder: Path) -> dict:
    """A corpus recipe may name its seed as a file next to it ("seed_file")."""
    if "seed_file" in recipe:
        recipe = {**recipe, "seed": "file:" + str((folder / recipe["seed_file"]).resolve())}
    return recipe


if __name__ == "__main__":
    raise SystemExit(main())
