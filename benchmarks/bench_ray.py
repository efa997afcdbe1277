"""Checker throughput on a Ray cluster against the ideal, for 1, 2 and 4 checker actors.

    python benchmarks/bench_ray.py            # about 2 minutes; needs the ray extra

Starts a private local Ray cluster (127.0.0.1 only, no dashboard, 4 logical CPUs) and runs
the real cluster path: ``open_cluster_checker`` places ``CheckerActor``s on the node and
the driver's ``ForwardingChecker`` sends checks to the one with the most free slots. Each
actor's checker is *simulated*: it sleeps 2-10 s (uniform, time-scaled by ``--scale``;
0.1: seconds become 100 ms) behind ``--slots`` concurrent check slots, as an Isabelle
session pool would, and answers a verdict of realistic size. Sleeping checkers cost no
CPU, so on this 2-core machine the scaling measures what Ray and the driver add, not
Isabelle's CPU time.

Prints one JSON line per measurement:

- ``throughput`` (checks per unscaled minute): the driver keeps 2 x (total slots) checks in flight (as
  ``prover.concurrency`` would) until ``--per-slot`` checks per slot are done. Ideal: every
  slot always busy, i.e. elapsed = (sum of the simulated latencies) / slots; ``ratio`` is
  ideal / achieved elapsed time (1.0 = no slot ever idle). The last checks of a run leave
  slots idle whatever the engine (about half a check per slot, 1-2% here): the
  ``in_process`` row runs the same ForwardingChecker over in-process sleeping checkers, so
  the difference between it and the Ray rows is what Ray costs.
- ``overhead``: zero-latency checks, one at a time through one actor: the round trip a
  check pays for crossing to an actor and back (serialising a 2 KB text, context and
  verdict), and ``ceiling``: zero-latency checks from 64 concurrent callers over 4
  actors, the most checks per second the driver can push through Ray here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lego_prover.config import Settings, load_settings
from lego_prover.isabelle.context import CheckerProtocol, CheckOptions, TheoryContext
from lego_prover.isabelle.verdict import BlockVerdict, ErrorReport, FailureKind, Verdict
from lego_prover.run.cluster import NodeChecker, open_cluster_checker
from lego_prover.run.forwarding import ForwardingChecker

CHECK_S = (2.0, 10.0)
TEXT = ("lemma helper:\n  fixes a b :: real\n  assumes \"a > 0\" and \"b > 0\"\n  shows \"a * b > 0\"\n"
        "  using assms by (auto simp: field_simps)\n\n") * 14           # about 2 KB, like a real proof
CONTEXT = TheoryContext(("HOL.HOL", "Complex_Main"), "", "t", 'theorem t:\n  shows "True"')


class SleepingChecker:
    """Sleeps a uniform 2-10 (scaled) seconds behind ``slots`` concurrent checks; every proof fails."""

    def __init__(self, slots: int, scale: float, seed: int) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._scale = scale
        self._rng = random.Random(seed)

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        latency = self._rng.uniform(*CHECK_S) * self._scale if self._scale else 0.0
        async with self._slots:
            if latency:
                await asyncio.sleep(latency)
        error = ErrorReport("Failed to finish proof:\ngoal (1 subgoal):\n 1. a * b > 0", 5, "helper", 0,
                            "by (auto simp: field_simps)", "1. a * b > 0", FailureKind.TACTIC, 180)
        block = BlockVerdict("helper", 0, "lemma", "body", False, (error,), (), ())
        return Verdict(False, FailureKind.TACTIC, "helper: line 5: Failed to finish proof", "T_x", text,
                       context.target, (block,), (error,), "simulated", "HOL", latency)

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        return verdict


class SleepingCheckerFactory:
    """What each actor checks with in this benchmark (seeded per actor process)."""

    def __init__(self, slots: int, scale: float) -> None:
        self.slots = slots
        self.scale = scale

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[NodeChecker]:
        yield NodeChecker(SleepingChecker(self.slots, self.scale, os.getpid()), self.slots, "simulated")


class InProcessRemote:
    """The same sleeping checker without Ray: the baseline."""

    def __init__(self, name: str, slots: int, scale: float, seed: int) -> None:
        self.name = name
        self.capacity = slots
        self._checker = SleepingChecker(slots, scale, seed)

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        return await self._checker.check(text, context, repair=repair)

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        return verdict


async def drive(checker: CheckerProtocol, callers: int, total: int) -> tuple[float, list[float], list[float]]:
    """``callers`` concurrent callers until ``total`` checks are done: elapsed, simulated latencies, round trips."""
    latencies: list[float] = []
    trips: list[float] = []
    issued = 0

    async def caller() -> None:
        nonlocal issued
        while issued < total:
            issued += 1
            sent = time.perf_counter()
            verdict = await checker.check(TEXT, CONTEXT)
            trips.append(time.perf_counter() - sent)
            latencies.append(verdict.elapsed_s)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return time.perf_counter() - started, latencies, trips


def settings_for(actors: int, workdir: Path) -> Settings:
    return load_settings(None, {"run.ray_address": "auto", "run.ray_actor_cpus": 4 // actors},
                         environ={}, cwd=workdir)


def throughput_row(kind: str, actors: int, slots: int, elapsed: float, latencies: list[float],
                   scale: float) -> dict[str, object]:
    """Checks per (unscaled) minute, achieved and ideal; the ideal keeps every slot busy."""
    capacity = actors * slots
    ideal = sum(latencies) / capacity
    return {"measure": "throughput", "kind": kind, "actors": actors, "slots": capacity, "checks": len(latencies),
            "achieved_per_min": round(60 * scale * len(latencies) / elapsed, 1),
            "ideal_per_min": round(60 * scale * len(latencies) / ideal, 1), "ratio": round(ideal / elapsed, 3)}


async def throughput(actors: int, slots: int, scale: float, per_slot: int, workdir: Path) -> dict[str, object]:
    factory = SleepingCheckerFactory(slots, scale)
    async with open_cluster_checker(settings_for(actors, workdir), factory=factory) as checker:
        assert checker.alive == actors, checker.stats()
        await drive(checker, actors, actors)                   # warm: first calls load code in the actors
        elapsed, latencies, _ = await drive(checker, 2 * actors * slots, per_slot * actors * slots)
    return throughput_row("ray", actors, slots, elapsed, latencies, scale)


async def in_process(actors: int, slots: int, scale: float, per_slot: int) -> dict[str, object]:
    remotes = [InProcessRemote(f"local{i}", slots, scale, i) for i in range(actors)]
    elapsed, latencies, _ = await drive(ForwardingChecker(remotes), 2 * actors * slots, per_slot * actors * slots)
    return throughput_row("in_process", actors, slots, elapsed, latencies, scale)


async def overhead(workdir: Path, checks: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    async with open_cluster_checker(settings_for(1, workdir), factory=SleepingCheckerFactory(64, 0.0)) as one:
        await drive(one, 1, 20)
        _, _, trips = await drive(one, 1, checks)
    local = ForwardingChecker([InProcessRemote("local", 64, 0.0, 0)])
    _, _, local_trips = await drive(local, 1, checks)
    ms = sorted(1000 * t for t in trips)
    rows.append({"measure": "overhead", "checks": checks, "ray_round_trip_ms_mean": round(statistics.mean(ms), 2),
                 "p50": round(ms[len(ms) // 2], 2), "p95": round(ms[int(len(ms) * 0.95)], 2),
                 "in_process_ms_mean": round(1000 * statistics.mean(local_trips), 3)})
    async with open_cluster_checker(settings_for(4, workdir), factory=SleepingCheckerFactory(64, 0.0)) as four:
        await drive(four, 4, 40)
        elapsed, done, _ = await drive(four, 64, 8 * checks)
    rows.append({"measure": "ceiling", "actors": 4, "callers": 64, "checks": len(done),
                 "checks_per_s": round(len(done) / elapsed)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--slots", type=int, default=4, help="check slots per actor (workers x checks_per_worker)")
    parser.add_argument("--per-slot", type=int, default=40, help="checks per slot in each throughput run")
    parser.add_argument("--overhead-checks", type=int, default=300)
    args = parser.parse_args()
    # loopback only (Ray's switch for it is named for Windows/macOS), no usage report
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False,
             logging_level=logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        for actors in (1, 2, 4):
            print(json.dumps(asyncio.run(throughput(actors, args.slots, args.scale, args.per_slot, workdir))),
                  flush=True)
        print(json.dumps(asyncio.run(in_process(4, args.slots, args.scale, args.per_slot))), flush=True)
        for row in asyncio.run(overhead(workdir, args.overhead_checks)):
            print(json.dumps(row), flush=True)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
