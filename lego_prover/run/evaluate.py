"""``lego-prover eval``: build everything from settings, run the scheduler, keep the summary fresh.

Usage::

    summary = asyncio.run(run_eval(settings, problems, run_dir=Path("runs/valid"), resume=False,
                                   meta={"benchmark": "minif2f", "split": "valid"}))

Collaborators are made here from settings (LLM, checker, library, prompts); the prover,
scheduler and store take them in their constructors, so tests can run every piece with
doubles.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lego_prover import __version__
from lego_prover.config import Settings, settings_to_toml_dict
from lego_prover.isabelle.checker import Checker, CheckerProtocol
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.llm.base import LLM
from lego_prover.llm.factory import open_llm
from lego_prover.llm.usage import UsageTracker
from lego_prover.problems import Problem
from lego_prover.prover.attempt import INFRASTRUCTURE, UNFINISHED, AttemptRecord, Prover
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.run.health import ServiceDown, ServiceHealth
from lego_prover.run.scheduler import Scheduler, auto_concurrency
from lego_prover.run.store import RunStore
from lego_prover.run.summary import summarize
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import now_iso


class Progress(Protocol):
    def start(self, total: int, done: int, solved: int) -> None: ...
    def attempt(self, record: AttemptRecord, solved: int, tracker: UsageTracker) -> None: ...
    def note(self, message: str) -> None: ...


@dataclass
class Services:
    """What a run talks to; ``open_services`` builds them from settings."""

    llm: LLM
    checker: CheckerProtocol
    library: SkillLibrary | None
    prompts: PromptLibrary
    tracker: UsageTracker


def order_problems(problems: Sequence[Problem], order: str) -> list[Problem]:
    if order == "informal_length":  # short informal proofs first, as the reference does
        return sorted(problems, key=lambda p: (len(p.informal_proof or ""), p.name))
    return sorted(problems, key=lambda p: p.name)


def seed_tracker(tracker: UsageTracker, store: RunStore) -> None:
    """A resumed run's budget covers the whole run (attempts and evolver steps), not just this invocation."""
    calls = [c for r in store.records for c in r.calls]
    steps = store.evolver_steps
    tracker.carry_over(
        calls=len(calls) + sum(int(s.get("calls", 0)) for s in steps),
        cached_calls=sum(int(c.cached) for c in calls),
        prompt_tokens=sum(c.prompt_tokens for c in calls) + sum(int(s.get("prompt_tokens", 0)) for s in steps),
        completion_tokens=(sum(c.completion_tokens for c in calls)
                           + sum(int(s.get("completion_tokens", 0)) for s in steps)),
        cost_usd=sum(r.cost_usd for r in store.records) + sum(float(s.get("cost_usd", 0.0)) for s in steps))


@contextlib.asynccontextmanager
async def open_services(settings: Settings, *, note: Callable[[str], None] = lambda m: None,
                        with_library: bool = True) -> AsyncIterator[Services]:
    tracker = UsageTracker(settings.llm.prices, settings.budget)
    prompts = PromptLibrary.load(settings.prompts_dir)
    library = None
    if with_library:
        note("opening the skill library")
        library = await asyncio.to_thread(SkillLibrary.open, settings.skills, None, lock_dir=settings.cache_dir)
    try:
        with open_llm(settings, tracker) as llm:
            async with SessionPool(settings.isabelle, on_progress=note) as pool:
                yield Services(llm, Checker(pool, settings.isabelle), library, prompts, tracker)
                await pool.drain()
    finally:
        if library is not None:
            library.close()


async def run_eval(settings: Settings, problems: Sequence[Problem], *, run_dir: Path, resume: bool,
                   meta: dict[str, Any], progress: Progress | None = None, evolvers: int = 0,
                   services: Services | None = None) -> dict[str, Any]:
    ordered = order_problems(problems, settings.prover.order)
    meta = {"kind": "eval", "version": __version__, "started": now_iso(), "problems": [p.name for p in ordered],
            "attempts": settings.prover.attempts, "evolvers": evolvers,
            # what verify-results needs to re-check a stored proof without the original data files
            "statements": {p.name: p.formal_statement for p in ordered},
            "preambles": {p.name: p.preamble for p in ordered if p.preamble.strip()}, **meta}
    RunStore.check(run_dir, resume=resume)  # fail before anything starts, and leave no empty run behind

    async def go(services: Services) -> dict[str, Any]:
        store = RunStore.open(run_dir, meta, settings_to_toml_dict(settings), resume=resume)
        if progress:  # said once it exists: a run that cannot start names no directory
            progress.note(f"run directory: {run_dir}")
        chosen = ordered
        if resume:  # the problem set of the run being resumed wins
            names = set(store.meta().get("problems", [])) or {p.name for p in ordered}
            chosen = [p for p in ordered if p.name in names]
        return await _run(settings, chosen, store, services, progress, evolvers)

    if services is not None:
        return await go(services)
    async with open_services(settings, note=progress.note if progress else (lambda m: None)) as made:
        return await go(made)


async def _run(settings: Settings, problems: list[Problem], store: RunStore, services: Services,
               progress: Progress | None, evolvers: int) -> dict[str, Any]:
    tracker = services.tracker
    seed_tracker(tracker, store)
    model = getattr(services.llm, "model", settings.llm.model)
    prover = Prover(services.llm, services.checker, services.library, services.prompts, settings,
                    price=lambda c: tracker.cost(model, c.usage))
    if services.library is not None:
        await asyncio.to_thread(services.library.add_problems, [(p.name, p.formal_statement) for p in problems])
    sources = {p.name: p.source for p in problems}

    def write_summary() -> dict[str, Any]:
        summary = summarize(store.records, [p.name for p in problems], max_attempts=settings.prover.attempts,
                            sources=sources, evolver_steps=store.evolver_steps, usage=tracker.summary())
        store.write_summary(summary)
        return summary

    def on_record(record: AttemptRecord) -> None:
        if progress:
            progress.attempt(record, len(store.solved()), tracker)
        if len(store.records) % 10 == 0 or record.solved:
            write_summary()

    in_flight = settings.prover.concurrency or auto_concurrency(
        settings.llm.concurrency, settings.isabelle.workers * settings.isabelle.checks_per_worker)
    health = ServiceHealth()
    scheduler = Scheduler(prover.attempt, store, attempts=settings.prover.attempts, concurrency=in_flight,
                          budget=tracker.exhausted, on_record=on_record, health=health)
    total = sum(1 for _ in scheduler.plan(problems))
    if progress:
        progress.start(total + len(store.done()), len(store.done()), len(store.solved()))
    extra = []
    if evolvers:
        from lego_prover.evolver.loop import Evolver

        evolver = Evolver(services.llm, services.checker, services.library, services.prompts, settings,
                          store=store, price=lambda c: tracker.cost(model, c.usage), health=health)
        extra = [evolver.run_forever for _ in range(evolvers)]
    outcome = await scheduler.run(problems, extra=extra)
    summary = write_summary()
    if services.library is not None:
        summary["library"] = await asyncio.to_thread(services.library.stats)
    summary["stopped_by_budget"] = outcome.stopped_by
    summary["stopped_by_service"] = service_stop(outcome.service_down, store)
    store.write_summary(summary)
    return summary


def service_stop(down: ServiceDown | None, store: RunStore) -> str | None:
    """Why the run is incomplete because of a service, or None: a tripped breaker, or attempts
    a service failed that were not redone (a run too short to trip it still says so)."""
    if down is not None:
        return down.describe()
    solved, done = store.solved(), store.done()
    left = [r for r in store.records if r.failure == INFRASTRUCTURE and r.problem not in solved
            and (r.problem, r.attempt) not in done]
    if not left:
        return None
    last = left[-1]
    return ServiceDown(last.service, last.reason, len(left), last.service_fatal, in_a_row=False).describe()


async def run_evolve(settings: Settings, problems: Sequence[Problem], *, run_dir: Path, resume: bool, steps: int,
                     meta: dict[str, Any], progress: Any = None, services: Services | None = None) -> dict[str, Any]:
    """``lego-prover evolve``: grow the library offline against target problems."""
    meta = {"kind": "evolve", "version": __version__, "started": now_iso(), "steps": steps,
            "problems": [p.name for p in problems], **meta}
    RunStore.check(run_dir, resume=resume)
    def open_store() -> RunStore:
        store = RunStore.open(run_dir, meta, settings_to_toml_dict(settings), resume=resume)
        if progress:
            progress.note(f"run directory: {run_dir}")
        return store

    if services is not None:
        return await _evolve(settings, problems, open_store(), services, steps, progress)
    async with open_services(settings, note=progress.note if progress else (lambda m: None)) as made:
        return await _evolve(settings, problems, open_store(), made, steps, progress)


async def _evolve(settings: Settings, problems: Sequence[Problem], store: RunStore, services: Services,
                  steps: int, progress: Any) -> dict[str, Any]:
    from lego_prover.evolver.loop import Evolver

    tracker = services.tracker
    seed_tracker(tracker, store)
    assert services.library is not None
    await asyncio.to_thread(services.library.add_problems, [(p.name, p.formal_statement) for p in problems])
    model = getattr(services.llm, "model", settings.llm.model)
    evolver = Evolver(services.llm, services.checker, services.library, services.prompts, settings, store=store,
                      price=lambda c: tracker.cost(model, c.usage))
    done = len([s for s in store.evolver_steps if s.get("failure") not in UNFINISHED])
    if progress:
        progress.start(steps, min(done, steps), 0)

    def on_step(step: Any) -> None:
        if progress:
            progress.advance(f"added {sum(len(s.get('added', [])) for s in store.evolver_steps)} · "
                             f"tokens {tracker.total.prompt_tokens + tracker.total.completion_tokens:,} · "
                             f"${tracker.total.cost_usd:.2f}")

    await evolver.run(steps, concurrency=settings.evolver.concurrency, on_step=on_step)
    summary = evolve_summary(store.evolver_steps)
    summary["usage"] = tracker.summary()
    summary["library"] = await asyncio.to_thread(services.library.stats)
    summary["stopped_by_budget"] = evolver.stopped_by
    summary["stopped_by_service"] = evolver.service_down.describe() if evolver.service_down else None
    store.write_summary(summary)
    return summary


def evolve_summary(steps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    by_direction: dict[str, dict[str, int]] = {}
    for s in steps:
        key = s.get("direction") or s.get("kind", "?")
        row = by_direction.setdefault(key, {"steps": 0, "added": 0, "verified_candidates": 0})
        row["steps"] += 1
        row["added"] += len(s.get("added", []))
        row["verified_candidates"] += int(s.get("verified", 0))
    return {"steps": len(steps), "added": sum(len(s.get("added", [])) for s in steps),
            "requests_closed": sum(1 for s in steps if s.get("closed_request")),
            "failures": {k: sum(1 for s in steps if (s.get("failure") or "ok") == k)
                         for k in {s.get("failure") or "ok" for s in steps}},
            "by_direction": by_direction}
