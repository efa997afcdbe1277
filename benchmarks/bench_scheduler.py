"""Scheduler throughput against the ideal, with simulated LLM and checker latencies.

    python benchmarks/bench_scheduler.py            # about 5 minutes

Runs the real ``Scheduler`` and the real ``Prover`` (prompts, parsing, records, run store)
with a *simulated* LLM (1-3 s per call) and a *simulated* checker (2-10 s per check, every
proof fails so every attempt runs), both time-scaled by ``--scale`` (0.1: seconds become
100 ms) and each behind its own concurrency limit, as the real OpenAI client and Isabelle
pool are. At smaller scales the event loop's own scheduling gaps (about a millisecond per
hand-over) start to count against the simulated seconds: at 0.01 the checker-bound case
measured 0.955 with the checker busy 96.7% of the time; real checks last seconds. Prints one JSON line per configuration with achieved and ideal attempts per
(unscaled) minute and their ratio; target >= 0.95.

Ideal: an attempt makes 2 LLM calls (decomposer, formalizer; feedback rounds off) and one
check, so with L LLM slots and K checker slots throughput <= min(L / (2 E[llm]), K / E[check]).
How many attempts are in flight is the scheduler's choice (``prover.concurrency`` unset:
``auto_concurrency``), so it is not a parameter of the ideal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lego_prover.config import load_settings
from lego_prover.isabelle.context import CheckOptions, TheoryContext
from lego_prover.isabelle.verdict import FailureKind, Verdict
from lego_prover.llm.base import ChatMessage, Completion, Usage
from lego_prover.problems import Problem
from lego_prover.prover.attempt import Prover
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.run.scheduler import Scheduler, auto_concurrency
from lego_prover.run.store import RunStore

LLM_S = (1.0, 3.0)
CHECK_S = (2.0, 10.0)


class SimulatedLLM:
    """Sleeps 1-3 (scaled) seconds behind a concurrency limit; answers by component."""

    model = "simulated"

    def __init__(self, slots: int, scale: float, rng: random.Random) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._scale = scale
        self._rng = rng

    async def complete(self, messages: Sequence[ChatMessage], *, n: int = 1, temperature: float = 0.0,
                       max_tokens: int = 1024, stop: Sequence[str] | None = None, component: str = "",
                       problem: str = "", attempt: int = 0) -> list[Completion]:
        async with self._slots:
            await asyncio.sleep(self._rng.uniform(*LLM_S) * self._scale)
        if component == "decomposer":
            text = "## Structured proof\nStep 1. Simplify.\n\n## Requests\nN/A"
        else:
            text = f'```isabelle\ntheorem {problem}:\n  shows "True"\n  by simp\n```'
        return [Completion(text, "stop", Usage(100, 50), self.model)]


class SimulatedChecker:
    """Sleeps 2-10 (scaled) seconds behind a concurrency limit; every proof fails."""

    def __init__(self, slots: int, scale: float, rng: random.Random) -> None:
        self._slots = asyncio.Semaphore(slots)
        self._scale = scale
        self._rng = rng

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        async with self._slots:
            await asyncio.sleep(self._rng.uniform(*CHECK_S) * self._scale)
        return Verdict(False, FailureKind.TACTIC, "simulated failure", "T", text, context.target)

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        return verdict


async def run_config(in_flight: int, llm_slots: int, check_slots: int, attempts: int, scale: float) -> dict[str, object]:
    rng = random.Random(0)
    workdir = Path(tempfile.mkdtemp(prefix="bench-scheduler-"))
    settings = load_settings(None, {"prover.feedback_rounds": 0, "prover.attempts": attempts,
                                    "prover.informal": "human"}, environ={}, cwd=workdir)
    problems = [Problem(f"p{i}", f'theorem p{i}:\n  shows "True"', informal_statement="True",
                        informal_proof="Trivial.") for i in range(in_flight * 2)]
    prover = Prover(SimulatedLLM(llm_slots, scale, rng), SimulatedChecker(check_slots, scale, rng), None,
                    PromptLibrary.load(), settings)
    store = RunStore.open(workdir / "run", {"kind": "bench"}, {}, resume=False)
    scheduler = Scheduler(prover.attempt, store, attempts=attempts, concurrency=in_flight)
    started = time.monotonic()
    outcome = await scheduler.run(problems)
    elapsed = (time.monotonic() - started) / scale
    mean_llm, mean_check = sum(LLM_S) / 2, sum(CHECK_S) / 2
    ideal = min(llm_slots / (2 * mean_llm), check_slots / mean_check)
    achieved = outcome.finished / elapsed
    return {"in_flight": in_flight, "llm_slots": llm_slots, "check_slots": check_slots,
            "attempts": outcome.finished, "achieved_per_min": round(60 * achieved, 2),
            "ideal_per_min": round(60 * ideal, 2), "ratio": round(achieved / ideal, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--attempts", type=int, default=8, help="attempts per problem")
    args = parser.parse_args()
    for llm_slots, check_slots in ((8, 4), (8, 8), (16, 8), (2, 8), (4, 2)):
        in_flight = auto_concurrency(llm_slots, check_slots)
        print(json.dumps(asyncio.run(run_config(in_flight, llm_slots, check_slots, args.attempts, args.scale))),
              flush=True)


if __name__ == "__main__":
    main()
