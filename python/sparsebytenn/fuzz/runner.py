"""The fuzz driver: worker processes with per-input limits, crash capture, resume.

Each input runs in a worker process that limits itself (address space via
RLIMIT_AS, CPU time per input via ITIMER_PROF), so a hostile file can neither
exhaust the machine nor stall the run; the parent also kills a worker that is
silent past a wall-clock backstop and treats a worker that dies (a segfault in a
native library) as a crash of the input it was running. Inputs are numbered and
drawn deterministically from (base seed, number), so a run resumes where it
stopped and any input can be rebuilt from its number alone.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import re
import resource
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from . import mutate, seeds as seedmod
from .targets import FAILURES, TARGETS, InputTimeout


@dataclass
class Config:
    workdir: str
    base_seed: int = 0
    cpu_limit: float = 2.0          # CPU seconds per input (a hang)
    wall_limit: float = 30.0        # backstop for a worker stuck outside Python
    memory_mb: int = 3072           # address-space limit per worker
    p_convert: float = 0.02         # share of inputs through `convert`
    p_run: float = 0.5              # share through `run` and `run-plugin` (half each): MNN itself
    seeds: tuple = tuple(seedmod.WEIGHTS)

    @property
    def path(self) -> Path:
        return Path(self.workdir)


def make_input(cfg: Config, idx: int, seeds: dict) -> dict:
    """Input number `idx` as a recipe (deterministic)."""
    rng = random.Random(f"{cfg.base_seed}:{idx}")
    names = [n for n in cfg.seeds if n in seeds]
    name = rng.choices(names, [seedmod.WEIGHTS.get(n, 0.1) for n in names])[0]
    seed = seeds[name]
    ops = mutate.generate_raw(rng) if seed.layout is None else mutate.generate(rng, seed.layout, len(seed.data))
    r = rng.random()
    target = ("run" if r < cfg.p_run / 2 else "run-plugin" if r < cfg.p_run else
              "convert" if r < cfg.p_run + cfg.p_convert else "inspect")
    return {"id": idx, "seed": name, "seed_sha256": seed.sha256, "target": target, "ops": ops,
            "rng": rng.randrange(1 << 30)}


def execute(recipe: dict, seeds: dict, tmp: Path) -> tuple[str, str]:
    seed = seeds[recipe["seed"]]
    data = mutate.apply(seed.data, recipe["ops"])
    label = str(tmp / f"fuzz-{recipe.get('id', 0)}.mnn")
    return TARGETS[recipe["target"]](data, label, tmp, random.Random(recipe.get("rng", 0)), recipe["seed"])


# --------------------------------------------------------------------------- #
# worker side

def _on_cpu_limit(signum, frame):
    raise InputTimeout()


def _worker(conn, cfg: Config) -> None:
    mb = cfg.memory_mb << 20
    # the soft limit only: `run`'s preflight child sets its own (larger) limit, which
    # a lowered hard limit would forbid
    resource.setrlimit(resource.RLIMIT_AS, (mb, resource.getrlimit(resource.RLIMIT_AS)[1]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # MNN prints to the C stdout/stderr; keep the progress bar readable
    os.dup2(null, 2)
    os.environ.setdefault("SPARSEBYTENN_PROBE_SUBPROCESS", "1")
    seeds = seedmod.load_all(cfg.path, cfg.seeds)
    shm = Path("/dev/shm")
    tmp = Path(tempfile.mkdtemp(prefix="sbnn-fuzz-", dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    signal.signal(signal.SIGPROF, _on_cpu_limit)
    conn.send(("ready", None))
    try:
        while True:
            recipe = conn.recv()
            if recipe is None:
                break
            t0 = time.perf_counter()
            try:
                signal.setitimer(signal.ITIMER_PROF, cfg.cpu_limit)
                try:
                    kind, detail = execute(recipe, seeds, tmp)
                finally:
                    signal.setitimer(signal.ITIMER_PROF, 0)
            except InputTimeout:  # fired between the target's return and the disarm
                kind, detail = "timeout", "more than the per-input CPU limit"
            conn.send(("done", (recipe["id"], kind, detail[:6000], time.perf_counter() - t0)))
            if kind in ("timeout", "memory"):
                break  # state may be half-updated: start afresh
    finally:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


class _Slot:
    def __init__(self, ctx, cfg: Config):
        self.parent, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, cfg), daemon=True)
        self.proc.start()
        child.close()
        self.recipe: dict | None = None
        self.since = time.monotonic()
        self.ready = False

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.parent.close()


class Pool:
    """`jobs` workers; `run(recipes, on_result)` calls on_result(recipe, kind, detail, seconds)."""

    def __init__(self, cfg: Config, jobs: int):
        self.cfg, self.jobs = cfg, max(1, jobs)
        self.ctx = mp.get_context("spawn")
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")  # one core per worker: --jobs means what it says

    def run(self, recipes, on_result) -> None:
        it = iter(recipes)
        slots = [_Slot(self.ctx, self.cfg) for _ in range(self.jobs)]
        exhausted = False
        retry: list[dict] = []   # CPU-limit timeouts, run once more in a fresh worker
        retried: set = set()
        try:
            while True:
                for i, s in enumerate(slots):
                    if s.ready and s.recipe is None and (retry or not exhausted):
                        nxt = retry.pop() if retry else next(it, None)
                        if nxt is None:
                            exhausted = True
                        else:
                            s.recipe, s.since = nxt, time.monotonic()
                            s.parent.send(nxt)
                if exhausted and not retry and all(s.recipe is None for s in slots):
                    return
                ready = wait([s.parent for s in slots], timeout=0.5)
                for i, s in enumerate(slots):
                    if s.parent in ready:
                        try:
                            tag, payload = s.parent.recv()
                        except (EOFError, OSError):
                            slots[i] = self._died(s, on_result)
                            continue
                        if tag == "ready":
                            s.ready = True
                            continue
                        _, kind, detail, secs = payload
                        rec, s.recipe = s.recipe, None
                        # A hang must reproduce: the CPU timer counts every thread of the
                        # worker, and a one-off stall (a page-fault storm, another thread)
                        # is not the input's fault. A real hang times out again.
                        if kind == "timeout" and rec["id"] not in retried:
                            retried.add(rec["id"])
                            retry.append(rec)
                        else:
                            if rec["id"] in retried and kind != "timeout":
                                detail += " [after one CPU-limit timeout that did not reproduce]"
                            on_result(rec, kind, detail, secs)
                        if kind in ("timeout", "memory"):
                            s.proc.join(10)
                            s.kill()
                            slots[i] = _Slot(self.ctx, self.cfg)
                    elif s.recipe is not None and time.monotonic() - s.since > self.cfg.wall_limit:
                        s.kill()
                        rec, s.recipe = s.recipe, None
                        on_result(rec, "timeout", f"no answer within {self.cfg.wall_limit:.0f} s (wall clock)",
                                  self.cfg.wall_limit)
                        slots[i] = _Slot(self.ctx, self.cfg)
                    elif not s.ready and time.monotonic() - s.since > 300:
                        raise RuntimeError("a fuzz worker did not start within 300 s")
        finally:
            for s in slots:
                try:
                    s.parent.send(None)
                except (OSError, BrokenPipeError):
                    pass
            for s in slots:
                s.proc.join(10)
                s.kill()

    def _died(self, s: _Slot, on_result) -> _Slot:
        s.proc.join(5)
        code = s.proc.exitcode
        why = f"worker died with signal {signal.Signals(-code).name}" if code and code < 0 else \
            f"worker exited with status {code}"
        if s.recipe is None:
            raise RuntimeError(f"a fuzz worker failed before taking an input ({why}); "
                               "run one input with --replay to see why")
        rec, s.recipe = s.recipe, None
        s.kill()
        on_result(rec, "crash", why, 0.0)
        return _Slot(self.ctx, self.cfg)


# --------------------------------------------------------------------------- #
# a whole campaign: state, failures, summary

_NORMALIZE = [(re.compile(r"^\S*?: "), ""), (re.compile(r"'[^']*'"), "'…'"), (re.compile(r"\d+"), "N")]


def message_kind(msg: str) -> str:
    for rx, rep in _NORMALIZE:
        msg = rx.sub(rep, msg, count=1 if rep == "" else 0)
    return msg[:110]


@dataclass
class State:
    base_seed: int
    watermark: int = 0                      # every input below this one is done
    done_above: list = field(default_factory=list)
    outcomes: dict = field(default_factory=dict)     # outcome -> count
    by_target: dict = field(default_factory=dict)    # "target outcome" -> count
    messages: dict = field(default_factory=dict)     # normalized rejection -> count
    failures: list = field(default_factory=list)     # file names under failures/
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return self.watermark + len(self.done_above)

    def record(self, idx: int, target: str, kind: str, detail: str) -> None:
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
        key = f"{target} {kind}"
        self.by_target[key] = self.by_target.get(key, 0) + 1
        if kind == "rejected":
            m = message_kind(detail)
            if m in self.messages or len(self.messages) < 400:
                self.messages[m] = self.messages.get(m, 0) + 1
        above = set(self.done_above)
        above.add(idx)
        while self.watermark in above:
            above.discard(self.watermark)
            self.watermark += 1
        self.done_above = sorted(above)


def load_state(path: Path, base_seed: int) -> State:
    if path.is_file():
        raw = json.loads(path.read_text())
        if raw.get("base_seed") == base_seed:
            return State(**raw)
    return State(base_seed=base_seed)


def save_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def campaign(cfg: Config, inputs: int, jobs: int, fresh: bool = False, progress: bool = True,
             seconds: float | None = None) -> State:
    """Run inputs [state.done, inputs) and return the state (saved to workdir/state.json).

    seconds: stop handing out inputs after this much wall-clock time (the inputs
    under way still finish); a later run with the same seed resumes."""
    wd = cfg.path
    wd.mkdir(parents=True, exist_ok=True)
    (wd / "failures").mkdir(exist_ok=True)
    state_path = wd / "state.json"
    state = State(base_seed=cfg.base_seed) if fresh else load_state(state_path, cfg.base_seed)
    seeds = seedmod.load_all(wd, cfg.seeds)   # also creates the converted seed before workers start
    skip = set(state.done_above)
    t0, last = time.monotonic(), [time.monotonic()]

    def todo():
        for i in range(state.watermark, inputs):
            if seconds is not None and time.monotonic() - t0 > seconds:
                return
            if i not in skip:
                yield make_input(cfg, i, seeds)

    bar = None
    if progress:
        import sys

        from tqdm import tqdm

        tty = sys.stderr.isatty()  # in a log, a line every 30 s instead of a redrawn bar
        bar = tqdm(total=inputs, initial=min(state.done, inputs), unit="input", smoothing=0.05,
                   dynamic_ncols=True, mininterval=0.1 if tty else 30, file=sys.stderr)
    base_seconds = state.seconds

    def on_result(recipe, kind, detail, secs):
        state.record(recipe["id"], recipe["target"], kind, detail)
        if kind in FAILURES:
            name = f"{recipe['id']:08d}-{recipe['target']}-{kind}.json"
            save_json(wd / "failures" / name, {**recipe, "outcome": kind, "detail": detail,
                                               "replay": f"python -m sparsebytenn.fuzz --workdir {wd} "
                                                         f"--replay {wd / 'failures' / name}"})
            state.failures.append(name)
        if bar is not None:
            bar.update(1)
            if kind in FAILURES or bar.n % 200 == 0:
                bar.set_postfix(failures=sum(state.outcomes.get(k, 0) for k in FAILURES),
                                rejected=state.outcomes.get("rejected", 0), refresh=False)
        now = time.monotonic()
        if now - last[0] > 5:
            state.seconds = base_seconds + now - t0
            save_json(state_path, asdict(state))
            last[0] = now

    try:
        Pool(cfg, jobs).run(todo(), on_result)
    finally:
        state.seconds = base_seconds + time.monotonic() - t0
        save_json(state_path, asdict(state))
        if bar is not None:
            bar.close()
    return state


def replay(cfg: Config, recipes: list[dict], jobs: int = 1) -> list[tuple[str, str]]:
    """Run recipes (e.g. the regression corpus) under the same limits; results in order."""
    results: dict[int, tuple[str, str]] = {}
    keyed = [{**r, "id": i} for i, r in enumerate(recipes)]
    Pool(cfg, jobs).run(keyed, lambda rec, kind, detail, secs: results.__setitem__(rec["id"], (kind, detail)))
    return [results[i] for i in range(len(keyed))]


def reached_mnn(state: State) -> dict[str, int]:
    """Inputs of each run target that got past the reader into MNN."""
    return {t: sum(state.by_target.get(f"{t} {k}", 0) for k in ("accepted", "mnn-rejected"))
            for t in ("run", "run-plugin")}


def summary_text(state: State, inputs: int) -> str:
    fails = sum(state.outcomes.get(k, 0) for k in FAILURES)
    rate = state.done / state.seconds if state.seconds else 0
    lines = [f"fuzz: {state.done:,} of {inputs:,} inputs in {state.seconds:,.0f} s ({rate:,.0f}/s), "
             f"{fails} failure(s)"]
    for k in ("accepted", "rejected", "mnn-rejected", *FAILURES):
        if state.outcomes.get(k):
            lines.append(f"  {k:<12} {state.outcomes[k]:>9,}")
    lines.append("  by target: " + ", ".join(f"{k}={v:,}" for k, v in sorted(state.by_target.items())))
    reach = reached_mnn(state)
    lines.append("  reached MNN (the reader accepted the file, MNN ran or refused it): "
                 + ", ".join(f"{k} {n:,} ({n / max(state.done, 1):.1%} of all inputs)" for k, n in reach.items()))
    top = sorted(state.messages.items(), key=lambda kv: -kv[1])[:8]
    if top:
        lines.append("  most common rejections:")
        lines += [f"    {v:>8,}  {m}" for m, v in top]
    if state.failures:
        lines.append(f"  failing inputs saved under failures/ ({len(state.failures)}), e.g. {state.failures[0]}")
    return "\n".join(lines)
