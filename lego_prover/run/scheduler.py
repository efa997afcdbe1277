"""Interleaving attempts across problems under bounded concurrency.

Usage::

    scheduler = Scheduler(prover.attempt, store, attempts=100, concurrency=8, budget=tracker.exhausted)
    outcome = await scheduler.run(problems, extra=[evolver.run_forever])

Attempt k of every unsolved problem is started before attempt k+1 of any (the order of
problems within a round is given), a problem stops when solved, and at most
``concurrency`` attempts are in flight. Finished attempts are in the store before they are
counted. A spent budget starts no new attempt; those in flight finish. A broken service
(``ServiceHealth`` tripped: the LLM endpoint or Isabelle failing every call) starts no
new attempt and cancels those in flight, which are then redone on resume. A parameter the
LLM endpoint refuses (``LLMRequestRefusedError``) does the same and is raised from ``run``.
``extra`` tasks
(evolvers) run beside the attempts and are cancelled when the attempts are done.

``attempts_of`` caps a problem's attempts below ``attempts`` (a replay makes only the
attempts its source recorded); ``stop_when_solved=False`` makes every planned attempt even
after one solved the problem (``prover.stop_when_solved``: each attempt of a replayed run
re-checked).

A ``first_pass`` (the hammer pass of ``prover.hammer_first``) runs once per problem, as
attempt ``FIRST_PASS`` (-1), before the problem's first attempt; every attempt on the
problem waits for it, and none is made when it solved the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lego_prover.errors import LLMRequestRefusedError, first_in_group
from lego_prover.problems import Problem
from lego_prover.prover.attempt import INFRASTRUCTURE, AttemptRecord
from lego_prover.run.health import ServiceDown, ServiceHealth
from lego_prover.run.store import RunStore

AttemptFn = Callable[[Problem, int], Awaitable[AttemptRecord]]
FIRST_PASS = -1     # the attempt index of a first pass in the store


def auto_concurrency(llm_slots: int, check_slots: int) -> int:
    """Attempts in flight when ``prover.concurrency`` is unset.

    An attempt alternates between the LLM and Isabelle, and latencies vary a lot, so both
    must always find work waiting: keep about twice their combined capacity in flight
    (measured with benchmarks/bench_scheduler.py).
    """
    return 2 * (llm_slots + check_slots)


@dataclass
class RunOutcome:
    started: int = 0
    finished: int = 0
    stopped_by: str | None = None       # the budget that stopped the run, if one did
    service_down: ServiceDown | None = None  # the broken service that stopped it, if one did
    elapsed_s: float = 0.0
    solved: set[str] = field(default_factory=set)


class Scheduler:
    def __init__(self, attempt: AttemptFn, store: RunStore, *, attempts: int, concurrency: int,
                 budget: Callable[[], str | None] = lambda: None,
                 on_record: Callable[[AttemptRecord], None] | None = None,
                 first_pass: AttemptFn | None = None, health: ServiceHealth | None = None,
                 attempts_of: Callable[[str], int] | None = None, stop_when_solved: bool = True) -> None:
        self._attempt = attempt
        self._store = store
        self._attempts = attempts
        self._concurrency = concurrency
        self._budget = budget
        self._on_record = on_record
        self._first_pass = first_pass
        self._health = health or ServiceHealth()
        self._attempts_of = attempts_of          # a problem's own limit (a replay: what its source holds)
        self._stop_when_solved = stop_when_solved

    def plan(self, problems: Sequence[Problem]) -> Iterator[tuple[Problem, int]]:
        """Round-robin by attempt index, skipping what the store already holds."""
        done = self._store.done()
        limit = {p.name: min(self._attempts, self._attempts_of(p.name)) if self._attempts_of else self._attempts
                 for p in problems}
        for index in range(self._attempts):
            for problem in problems:
                if index < limit[problem.name] and (problem.name, index) not in done:
                    yield problem, index

    async def run(self, problems: Sequence[Problem],
                  extra: Sequence[Callable[[], Coroutine[Any, Any, None]]] = ()) -> RunOutcome:
        outcome = RunOutcome(solved=set(self._store.solved()))
        started = time.monotonic()
        plan = self.plan(problems)
        lock = asyncio.Lock()

        refused: list[LLMRequestRefusedError] = []   # a parameter the endpoint refused: the run stops

        async def next_item() -> tuple[Problem, int] | None:
            async with lock:
                if outcome.stopped_by or self._health.down or refused:
                    return None
                spent = self._budget()
                if spent:
                    outcome.stopped_by = spent
                    return None
                for problem, index in plan:
                    if not self._stop_when_solved or problem.name not in outcome.solved:
                        outcome.started += 1
                        return problem, index
                return None

        def finish(record: AttemptRecord) -> None:
            self._store.append(record)
            outcome.finished += 1
            if record.solved:
                outcome.solved.add(record.problem)
            if record.failure == "budget" and not outcome.stopped_by:
                outcome.stopped_by = record.reason
            if self._on_record:
                self._on_record(record)
            if self._health.observe(record.failure == INFRASTRUCTURE, record.service, record.reason,
                                    record.service_fatal):
                raise _ServiceDownStop  # cancels the attempts in flight: they would fail the same way

        passed = {name for name, index in self._store.done() if index == FIRST_PASS}
        passing: dict[str, asyncio.Lock] = {}

        async def first_pass(problem: Problem) -> bool:
            """Run the problem's first pass once (its other attempts wait); False when it solved it."""
            if self._first_pass is not None and problem.name not in passed:
                async with passing.setdefault(problem.name, asyncio.Lock()):
                    if problem.name not in passed:
                        finish(await self._first_pass(problem, FIRST_PASS))
                        passed.add(problem.name)
            return not self._stop_when_solved or problem.name not in outcome.solved

        async def worker() -> None:
            while (item := await next_item()) is not None:
                problem, index = item
                if not await first_pass(problem):
                    outcome.started -= 1       # solved by the first pass: this attempt is never made
                    continue
                finish(await self._attempt(problem, index))

        async def helper(fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
            try:
                await fn()
            except LLMRequestRefusedError as exc:   # no new attempt starts; the run then stops with it
                refused.append(exc)

        helpers = [asyncio.create_task(helper(fn)) for fn in extra]
        try:
            async with asyncio.TaskGroup() as group:  # a failing worker cancels its siblings
                for _ in range(self._concurrency):
                    group.create_task(worker())
        except ExceptionGroup as failed:
            found = first_in_group(failed, LLMRequestRefusedError)
            if found is not None:
                refused.insert(0, found)
            elif failed.split(_ServiceDownStop)[1] is not None:   # anything but the breaker: a bug
                raise
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if refused:
            raise refused[0]
        outcome.elapsed_s = time.monotonic() - started
        outcome.service_down = self._health.down
        return outcome


class _ServiceDownStop(Exception):
    """Raised by a worker to stop its siblings once a service is found broken."""
