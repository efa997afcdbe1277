"""The ``hammer`` method on a real Isabelle: where an unsolved problem's time goes.

    python benchmarks/bench_hammer.py --data-dir ../shared/minif2f --compare        # before and after, one run
    python benchmarks/bench_hammer.py --data-dir ../shared/minif2f --config new --sample 40 --seed 0
    python benchmarks/bench_hammer.py --data-dir ../shared/minif2f --config new --sample 0   # the whole split

The same seeded sample of miniF2F problems goes through ``HammerProver`` under each named
configuration, one after the other, on a fresh session pool each (a real server; without one
it says so and exits). ``baseline`` pins the settings of the method before issue 19 (four
candidates per wave, every tactic with and without ``using assms``, one 10 s limit, two
checks per session); ``new`` is today's defaults. ``--set KEY=VALUE`` changes either.

Every check is timed from outside (``HammerProver`` sees an instrumented checker) and every
session or server restart from inside the pool, so the breakdown adds up what happened:

- failed tactic checks (count, seconds) and those that hit their limit (timeouts);
- reserved slot-seconds left idle: a problem holds ``hammer.parallel`` slots for its whole
  wall time; what its checks did not use is the cost of waiting for a wave's slowest
  candidate (and of the single-check Sledgehammer phase);
- Sledgehammer: calls, seconds, proofs it found, proofs verified;
- restarts of sessions and of the server: count, seconds, causes;
- Isabelle's CPU seconds (the server's process tree, summed over server restarts) against
  wall time, i.e. how many of the cores it kept busy;
- which candidate closed each solved problem, and how long the winning check took.

Prints a table per configuration and one JSON line each (``--json PATH`` writes them all).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lego_prover.config import Settings, load_settings
from lego_prover.errors import LegoProverError
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import CheckOptions, TheoryContext
from lego_prover.isabelle.server import find_isabelle
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.isabelle.verdict import FailureKind, Verdict
from lego_prover.problems import Problem, load_problems
from lego_prover.prover.hammer import HammerProver
from lego_prover.run.cpu import process_tree_cpu_s

# the method as it was before issue 19, pinned so that "before" stays reproducible
BASELINE: dict[str, Any] = {
    "isabelle.checks_per_worker": 2,
    "hammer.parallel": 4,
    "hammer.tactic_timeout_s": 10.0,
    "hammer.with_assms": True,
    "hammer.tactics": ["by auto", "by simp", "by blast", "by fastforce", "by force", "by presburger", "by sos",
                       "by arith", "by linarith", "by (auto simp: field_simps)"],
}
CONFIGS: dict[str, dict[str, Any]] = {"baseline": BASELINE, "new": {}}
# settings that only exist after issue 19; the baseline sets them to the old behaviour
BASELINE_IF_KNOWN: dict[str, Any] = {
    "hammer.bare_with_assms": True,
    "hammer.tactic_timeouts_s": {},
    "hammer.problem_budget_s": None,
    "hammer.sledgehammer_parallel": None,
}


@dataclass
class CheckTiming:
    problem: str
    text: str
    start: float
    end: float
    verified: bool
    failure: str
    sledgehammer: bool


PROBLEM: contextvars.ContextVar[str] = contextvars.ContextVar("problem", default="")


@dataclass
class Timed:
    """Every check HammerProver asks for, timed from outside (the problem comes from the task's context)."""

    inner: Checker
    checks: list[CheckTiming] = field(default_factory=list)

    @property
    def isabelle(self) -> str:
        return self.inner.isabelle

    @property
    def session(self) -> str:
        return self.inner.session

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        start = time.monotonic()
        verdict = await self.inner.check(text, context, repair=repair, options=options)
        self.checks.append(CheckTiming(PROBLEM.get(), text, start, time.monotonic(), verdict.verified,
                                       verdict.failure.value if verdict.failure else "", repair))
        return verdict

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        return await self.inner.confirm(verdict, context, names)


class TimedPool(SessionPool):
    """A pool that adds up the time its restarts take, and Isabelle's CPU over server restarts."""

    restart_s = 0.0
    cpu_of_dead_servers = 0.0
    _depth = 0

    async def _recycle(self, worker: Any) -> None:
        await self._timed(super()._recycle(worker))

    async def recover(self, *, force: bool = False, reason: str = "") -> None:
        server = self.server
        cpu = process_tree_cpu_s(server.pid) if server is not None and server.pid else None
        generation = self.generation
        await self._timed(super().recover(force=force, reason=reason))
        if self.generation != generation and cpu is not None:
            self.cpu_of_dead_servers += cpu

    async def _timed(self, work: Any) -> None:
        start = time.monotonic()
        self._depth += 1
        try:
            await work
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.restart_s += time.monotonic() - start

    def cpu_s(self) -> float | None:
        server = self.server
        now = process_tree_cpu_s(server.pid) if server is not None and server.pid else None
        return None if now is None else self.cpu_of_dead_servers + now


def settings_for(name: str, extra: dict[str, Any], work: Path) -> Settings:
    overrides: dict[str, Any] = {"prover.method": "hammer", "isabelle.work_dir": str(work / "isabelle")}
    overrides.update(CONFIGS[name])
    if name == "baseline":
        known = Settings.model_fields["hammer"].annotation.model_fields  # type: ignore[union-attr]
        overrides.update({k: v for k, v in BASELINE_IF_KNOWN.items() if k.split(".")[1] in known})
    overrides.update(extra)
    return load_settings(None, overrides, environ={}, cwd=work)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))] if ordered else 0.0


async def run_config(name: str, problems: list[Problem], settings: Settings) -> dict[str, Any]:
    slots = settings.isabelle.workers * settings.isabelle.checks_per_worker
    width = settings.hammer.parallel
    in_flight = max(1, slots // width)      # as eval does for the hammer method
    print(f"[{name}] {len(problems)} problems, {settings.isabelle.workers} sessions x "
          f"{settings.isabelle.checks_per_worker} checks, {in_flight} problems at a time", flush=True)
    wall_of: dict[str, float] = {}
    records: dict[str, Any] = {}
    pool = TimedPool(settings.isabelle, on_progress=lambda m: print(f"[{name}]   isabelle: {m}", flush=True))
    async with pool:
        timed = Timed(Checker(pool, settings.isabelle))
        prover = HammerProver(timed, settings)   # one for the run, as eval: Sledgehammer's gate is shared
        gate = asyncio.Semaphore(in_flight)
        cpu0 = pool.cpu_s()
        started = time.monotonic()
        done = 0

        async def one(problem: Problem) -> None:
            nonlocal done
            async with gate:
                t0 = time.monotonic()
                PROBLEM.set(problem.name)
                records[problem.name] = await prover.attempt(problem, 0)
                wall_of[problem.name] = time.monotonic() - t0
                done += 1
                r = records[problem.name]
                print(f"[{name}] {done}/{len(problems)} {problem.name}: "
                      f"{'solved' if r.solved else 'unsolved'} in {wall_of[problem.name]:.1f} s "
                      f"({r.reason[:90]})", flush=True)

        await asyncio.gather(*(one(p) for p in problems))
        wall = time.monotonic() - started
        cpu1 = pool.cpu_s()
        await pool.drain()
        restarts = Counter(_cause(r) for r in pool.restarts)
        restart_s = pool.restart_s
    return figures(name, settings, problems, records, wall_of, timed.checks, wall, width,
                   cpu=None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
                   restarts=restarts, restart_s=restart_s)


def _cause(reason: str) -> str:
    return reason.split(":")[0] if reason.startswith("server restarted") else reason.split(" after ")[0]


def _candidate(text: str) -> str:
    return text.rsplit("\n", 1)[-1].strip()


def figures(name: str, settings: Settings, problems: list[Problem], records: dict[str, Any],
            wall_of: dict[str, float], checks: list[CheckTiming], wall: float, width: int, *,
            cpu: float | None, restarts: Counter[str], restart_s: float) -> dict[str, Any]:
    tactic = [c for c in checks if not c.sledgehammer]
    failed = [c for c in tactic if not c.verified]
    timeouts = [c for c in failed if c.failure == FailureKind.TIMEOUT.value]
    hammer = [c for c in checks if c.sledgehammer]
    solved = [n for n, r in records.items() if r.solved]
    closed_by: Counter[str] = Counter()
    winner_s: list[float] = []
    for n in solved:
        r = records[n]
        closed_by["sledgehammer" if r.reason.startswith("verified by Sledgehammer") else
                  r.reason.removeprefix("verified by ").strip("'\"")] += 1
        wins = [c for c in checks if c.problem == n and c.verified]
        if wins:
            winner_s.append(wins[0].end - wins[0].start)
    seconds = list(wall_of.values())
    reserved = sum(wall_of.values()) * width
    used = sum(c.end - c.start for c in checks)
    return {
        "config": name, "isabelle": records[next(iter(records))].isabelle if records else "",
        "problems": len(problems), "solved": len(solved), "wall_s": round(wall, 1),
        "wall_s_per_problem": round(wall / max(1, len(problems)), 2),
        "seconds_per_problem": {"median": round(statistics.median(seconds), 1) if seconds else 0.0,
                                "p95": round(percentile(seconds, 95), 1), "max": round(max(seconds, default=0.0), 1)},
        "tactic_checks": len(tactic), "failed_tactic_checks": len(failed),
        "failed_tactic_s": round(sum(c.end - c.start for c in failed), 1),
        "timeouts": len(timeouts), "timeout_s": round(sum(c.end - c.start for c in timeouts), 1),
        "reserved_idle_slot_s": round(max(0.0, reserved - used), 1) if width > 1 else 0.0,
        "sledgehammer_calls": len(hammer), "sledgehammer_s": round(sum(c.end - c.start for c in hammer), 1),
        "sledgehammer_proofs_found": sum(1 for n in records if any(
            line.startswith("sledgehammer:") and "no proof found" not in line for line in records[n].repairs)),
        "sledgehammer_verified": closed_by.get("sledgehammer", 0),
        "restarts": sum(restarts.values()), "restart_s": round(restart_s, 1), "restart_causes": dict(restarts),
        "isabelle_cpu_s": None if cpu is None else round(cpu, 1),
        "cores_busy": None if cpu is None else round(cpu / max(wall, 1e-9), 2),
        "closed_by": dict(closed_by.most_common()),
        # every candidate that verified, winner or not (a wave runs its candidates to the end)
        "verified_candidates": dict(Counter(_candidate(c.text) for c in tactic if c.verified).most_common()),
        "winning_check_s": {"median": round(statistics.median(winner_s), 2) if winner_s else None,
                            "max": round(max(winner_s), 2) if winner_s else None},
        "solved_problems": sorted(solved),
        "settings": {"hammer": settings.hammer.model_dump(mode="json"),
                     "checks_per_worker": settings.isabelle.checks_per_worker,
                     "workers": settings.isabelle.workers},
    }


def show(f: dict[str, Any]) -> None:
    s = f["seconds_per_problem"]
    rows = [
        ("solved", f"{f['solved']} / {f['problems']}"),
        ("wall", f"{f['wall_s']} s ({f['wall_s_per_problem']} s per problem; median {s['median']}, "
                 f"p95 {s['p95']}, max {s['max']} s)"),
        ("Isabelle CPU", f"{f['isabelle_cpu_s']} s ({f['cores_busy']} cores busy)"),
        ("failed tactic checks", f"{f['failed_tactic_checks']} of {f['tactic_checks']}, {f['failed_tactic_s']} s"),
        ("  of which timeouts", f"{f['timeouts']}, {f['timeout_s']} s"),
        ("reserved slots idle", f"{f['reserved_idle_slot_s']} slot-s"),
        ("Sledgehammer", f"{f['sledgehammer_calls']} calls, {f['sledgehammer_s']} s, "
                         f"{f['sledgehammer_proofs_found']} proofs found, {f['sledgehammer_verified']} verified"),
        ("restarts", f"{f['restarts']}, {f['restart_s']} s: {f['restart_causes']}"),
        ("closed by", ", ".join(f"{k} {v}" for k, v in f["closed_by"].items()) or "—"),
        ("verified candidates", ", ".join(f"{k} {v}" for k, v in f["verified_candidates"].items()) or "—"),
        ("winning check", f"median {f['winning_check_s']['median']} s, max {f['winning_check_s']['max']} s"),
    ]
    print(f"\n== {f['config']} ({f['isabelle']}) ==")
    for key, value in rows:
        print(f"  {key:<22} {value}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="folder with valid.jsonl and test.jsonl")
    ap.add_argument("--split", default="valid", choices=["valid", "test", "both"])
    ap.add_argument("--sample", type=int, default=40, help="problems drawn (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS), help="repeatable; default new")
    ap.add_argument("--compare", action="store_true", help="baseline, then new, on the same sample")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a setting for every configuration (JSON value, else a string)")
    ap.add_argument("--json", type=Path, help="write every configuration's figures here")
    args = ap.parse_args()
    # the pool's restarts, with their causes, as they happen
    logging.basicConfig(format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("lego_prover.isabelle.sessions").setLevel(logging.INFO)
    try:
        find_isabelle(None)
    except LegoProverError as exc:
        print(f"bench_hammer needs a real Isabelle: {exc}")
        return 0
    splits = ["valid", "test"] if args.split == "both" else [args.split]
    problems = [p for s in splits for p in load_problems(args.data_dir / f"{s}.jsonl")]
    if args.sample:
        problems = sorted(random.Random(args.seed).sample(problems, min(args.sample, len(problems))),
                          key=lambda p: p.name)
    names = ["baseline", "new"] if args.compare else (args.config or ["new"])
    extra: dict[str, Any] = {}
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            extra[key] = json.loads(raw)
        except json.JSONDecodeError:
            extra[key] = raw
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-hammer-") as tmp:
        for name in names:
            settings = settings_for(name, extra, Path(tmp))
            result = asyncio.run(run_config(name, problems, settings))
            show(result)
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
