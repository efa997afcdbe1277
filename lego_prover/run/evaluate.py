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
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lego_prover import __version__
from lego_prover.config import Settings, settings_to_toml_dict
from lego_prover.errors import LLMRequestRefusedError
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import CheckerProtocol
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.llm.base import LLM
from lego_prover.llm.factory import open_llm
from lego_prover.llm.prices import PriceBook
from lego_prover.llm.replay import ReplayLLM, replay_note
from lego_prover.llm.roles import RoleRouter
from lego_prover.llm.usage import UsageTracker, usage_table
from lego_prover.problems import Problem
from lego_prover.prover.attempt import INFRASTRUCTURE, UNFINISHED, AttemptRecord
from lego_prover.prover.methods import (
    check_method_settings,
    make_first_pass,
    make_method,
    runs_first_pass,
    uses_library,
    uses_llm,
)
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.run.cpu import process_tree_cpu_s
from lego_prover.run.health import ServiceDown, ServiceHealth
from lego_prover.run.scheduler import Scheduler, auto_concurrency
from lego_prover.run.store import RunDirError, RunStore
from lego_prover.run.summary import replay_summary, step_calls, summarize
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import now_iso


class Progress(Protocol):
    def start(self, total: int, done: int, solved: int) -> None: ...
    def attempt(self, record: AttemptRecord, solved: int, tracker: UsageTracker) -> None: ...
    def note(self, message: str) -> None: ...


@dataclass
class Services:
    """What a run talks to; ``open_services`` builds them from settings."""

    llm: LLM | None                      # None: the hammer method uses no LLM
    checker: CheckerProtocol
    library: SkillLibrary | None
    prompts: PromptLibrary
    tracker: UsageTracker
    isabelle_cpu_s: Callable[[], float | None] = lambda: None   # the server's CPU time, if we started it
    check_slots: int | None = None      # None: isabelle.workers x checks_per_worker of this machine


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
                        with_library: bool = True, with_llm: bool = True) -> AsyncIterator[Services]:
    tracker = UsageTracker(PriceBook(settings.llm.prices), settings.budget)
    prompts = PromptLibrary.load(settings.prompts_dir)
    library = None
    if with_library:
        note("opening the skill library")
        library = await asyncio.to_thread(SkillLibrary.open, settings.skills, None, lock_dir=settings.cache_dir)
    try:
        with open_llm(settings, tracker) if with_llm else contextlib.nullcontext() as llm:
            async with open_checker(settings, note) as (checker, slots, cpu_s):
                yield Services(llm, checker, library, prompts, tracker, isabelle_cpu_s=cpu_s, check_slots=slots)
    finally:
        if library is not None:
            library.close()


def replay_meta(settings: Settings) -> dict[str, Any]:
    """A replayed run says so in run.json (``replay``: source and the line every report carries)."""
    if settings.llm.replay is None:
        return {}
    source = str(settings.llm.replay)
    return {"replay": {"source": source, "note": replay_note(source)}}


AttemptFn = Callable[[Problem, int], Awaitable[AttemptRecord]]


def _labelled(fn: AttemptFn, source: str) -> AttemptFn:
    """An attempt function whose records say that their answers were replayed from ``source``."""
    if not source:
        return fn

    async def attempt(problem: Problem, index: int) -> AttemptRecord:
        return dataclasses.replace(await fn(problem, index), replayed_from=source)
    return attempt


def method_meta(settings: Settings) -> dict[str, Any]:
    """What makes a run the method it is; a resumed run must keep every one of these."""
    return {"method": settings.prover.method, "hammer_first": runs_first_pass(settings),
            "library": uses_library(settings)}


def _check_resume_keeps_method(run_dir: Path, meta: dict[str, Any]) -> None:
    old = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    if old.get("kind") != "eval":
        return   # RunStore.open says what is wrong
    # a run from before methods existed was a lego run with its library and no hammer pass
    legacy = {"method": "lego", "hammer_first": False, "library": True}
    how = {"method": "--method {}", "hammer_first": "prover.hammer_first = {}", "library": "prover.library = {}"}
    for key, flag in how.items():
        was = old.get(key, legacy[key])
        if was != meta[key]:
            raise RunDirError(f"{run_dir} was run with {flag.format(_flag_value(was))}, not "
                              f"{flag.format(_flag_value(meta[key]))}; resume it with the settings it was started with")


def _flag_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@contextlib.asynccontextmanager
async def open_checker(settings: Settings, note: Callable[[str], None]
                       ) -> AsyncIterator[tuple[CheckerProtocol, int, Callable[[], float | None]]]:
    """This machine's session pool, or checker actors on a Ray cluster (``run.ray_address``);
    with its check slots and a reader of the Isabelle CPU time (``None`` where we cannot see it)."""
    if settings.run.ray_address:
        from lego_prover.run.cluster import open_cluster_checker

        async with open_cluster_checker(settings, note=note) as remote:
            yield remote, remote.capacity, lambda: None
        return
    async with SessionPool(settings.isabelle, on_progress=note) as pool:
        pid = pool.server.pid if pool.server is not None else None
        yield (Checker(pool, settings.isabelle), settings.isabelle.workers * settings.isabelle.checks_per_worker,
               lambda: process_tree_cpu_s(pid) if pid is not None else None)
        await pool.drain()


async def run_eval(settings: Settings, problems: Sequence[Problem], *, run_dir: Path, resume: bool,
                   meta: dict[str, Any], progress: Progress | None = None, evolvers: int = 0,
                   services: Services | None = None) -> dict[str, Any]:
    check_method_settings(settings, evolvers=evolvers)
    if settings.prover.method == "hammer" and settings.prover.attempts != 1:
        # no sampling: a second try of the same tactics on the same statement is the same try
        settings = settings.model_copy(update={"prover": settings.prover.model_copy(update={"attempts": 1})})
        if progress:
            progress.note("the hammer method makes one pass per problem (prover.attempts is not used)")
    ordered = order_problems(problems, settings.prover.order)
    meta = {"kind": "eval", "version": __version__, "started": now_iso(), "problems": [p.name for p in ordered],
            "attempts": settings.prover.attempts, "evolvers": evolvers, **method_meta(settings),
            # what verify-results needs to re-check a stored proof without the original data files
            "statements": {p.name: p.formal_statement for p in ordered},
            "preambles": {p.name: p.preamble for p in ordered if p.preamble.strip()}, **replay_meta(settings), **meta}
    RunStore.check(run_dir, resume=resume)  # fail before anything starts, and leave no empty run behind
    if resume:
        _check_resume_keeps_method(run_dir, meta)

    async def go(services: Services) -> dict[str, Any]:
        run_settings = _capped_to_the_recording(settings, services.llm, ordered, progress)
        model = getattr(services.llm, "model", settings.llm.model) if services.llm is not None else None
        models = services.llm.models() if isinstance(services.llm, RoleRouter) else None   # role -> model
        # a library that already holds skills (an earlier run's) is part of what a comparison must show
        start = await asyncio.to_thread(services.library.count) if services.library and uses_library(settings) else None
        store = RunStore.open(run_dir, {**meta, "attempts": run_settings.prover.attempts, "model": model,
                                         **({"models": models} if models else {}), "library_skills_at_start": start},
                              settings_to_toml_dict(run_settings), resume=resume)
        if progress:  # said once it exists: a run that cannot start names no directory
            progress.note(f"run directory: {run_dir}")
        chosen = ordered
        if resume:  # the problem set of the run being resumed wins
            names = set(store.meta().get("problems", [])) or {p.name for p in ordered}
            chosen = [p for p in ordered if p.name in names]
        return await _run(run_settings, chosen, store, services, progress, evolvers)

    if services is not None:  # the caller chose the checker, and with it the installation
        return await go(services)
    settings = await _fit_to_this_isabelle(settings, progress)   # `go` reads the fitted settings
    async with open_services(settings, note=progress.note if progress else (lambda m: None),
                             with_library=uses_library(settings), with_llm=uses_llm(settings)) as made:
        return await go(made)


def _capped_to_the_recording(settings: Settings, llm: object, problems: Sequence[Problem],
                             progress: Progress | None) -> Settings:
    """A replay makes only the attempts its source recorded: ``prover.attempts`` becomes the
    most any chosen problem has, so the header and pass@k do not claim attempts never made."""
    if not isinstance(llm, ReplayLLM):
        return settings
    most = max((max(1, llm.source.attempts(p.name)) for p in problems), default=1)
    if most >= settings.prover.attempts:
        return settings
    if progress:
        progress.note(f"a replay makes the attempts its source recorded: at most {most} per problem "
                      f"(not prover.attempts = {settings.prover.attempts})")
    return settings.model_copy(update={"prover": settings.prover.model_copy(update={"attempts": most})})


async def _fit_to_this_isabelle(settings: Settings, progress: Any) -> Settings:
    """The tactic lists without what this machine's Isabelle cannot run, read once per run and
    said in one line: a tactic whose program is missing would fail on every step."""
    from lego_prover.isabelle.tools import fit_to_installation

    fitted, warning = await asyncio.to_thread(fit_to_installation, settings)
    if warning and progress:
        progress.note(warning)
    return fitted


async def _run(settings: Settings, problems: list[Problem], store: RunStore, services: Services,
               progress: Progress | None, evolvers: int) -> dict[str, Any]:
    tracker = services.tracker
    seed_tracker(tracker, store)
    library = services.library if uses_library(settings) else None
    method = make_method(settings, llm=services.llm, checker=services.checker, library=library,
                         prompts=services.prompts, price=lambda c: tracker.cost(c.model, c.usage))
    first_pass = make_first_pass(settings, services.checker, library)
    if library is not None:
        await asyncio.to_thread(library.add_problems, [(p.name, p.formal_statement) for p in problems])
    sources = {p.name: p.source for p in problems}
    cpu = _CpuClock(services.isabelle_cpu_s, store)
    replayer = services.llm if isinstance(services.llm, ReplayLLM) else None
    replay = str(settings.llm.replay) if settings.llm.replay is not None else ""

    def write_summary() -> dict[str, Any]:
        summary = summarize(store.records, [p.name for p in problems], max_attempts=settings.prover.attempts,
                            sources=sources, evolver_steps=store.evolver_steps)
        summary["method"] = settings.prover.method
        if replay:
            summary["replay"] = replay_summary(replay, store.records)
        summary["isabelle_cpu_s"] = cpu.spent()
        # what the LLM client adapted (a refused output-limit name switched, no temperature sent)
        summary["llm_notes"] = list(getattr(services.llm, "notes", []))
        store.write_summary(summary)
        return summary

    def on_record(record: AttemptRecord) -> None:
        if progress:
            progress.attempt(record, len(store.solved()), tracker)
        if len(store.records) % 10 == 0 or record.solved:
            write_summary()

    slots = services.check_slots or settings.isabelle.workers * settings.isabelle.checks_per_worker
    if settings.prover.method == "hammer":  # a wave fills the slots: no queueing, so seconds per problem are real
        in_flight = settings.prover.concurrency or max(1, slots // settings.hammer.parallel)  # parallel 1: one problem per slot
    else:
        in_flight = settings.prover.concurrency or auto_concurrency(settings.llm.concurrency, slots)
    health = ServiceHealth()
    scheduler = Scheduler(_labelled(method.attempt, replay), store, attempts=settings.prover.attempts,
                          concurrency=in_flight, budget=tracker.exhausted, on_record=on_record,
                          first_pass=_labelled(first_pass.attempt, replay) if first_pass else None, health=health,
                          attempts_of=(lambda name: max(1, replayer.source.attempts(name))) if replayer else None,
                          stop_when_solved=settings.prover.stop_when_solved)
    total = sum(1 for _ in scheduler.plan(problems))
    if first_pass is not None:
        total += len({p.name for p in problems} - {name for name, i in store.done() if i < 0} - set(store.solved()))
    if progress:
        progress.start(total + len(store.done()), len(store.done()), len(store.solved()))
    extra = []
    if evolvers:
        from lego_prover.evolver.loop import Evolver

        assert services.llm is not None
        evolver = Evolver(services.llm, services.checker, library, services.prompts, settings,
                          store=store, price=lambda c: tracker.cost(c.model, c.usage), health=health)
        extra = [evolver.run_forever for _ in range(evolvers)]
    try:
        outcome = await scheduler.run(problems, extra=extra)
    except LLMRequestRefusedError:   # what finished is summarised; the one line is the CLI's
        write_summary()
        raise
    summary = write_summary()
    if library is not None:
        summary["library"] = await asyncio.to_thread(library.stats)
    summary["stopped_by_budget"] = outcome.stopped_by
    summary["stopped_by_service"] = service_stop(outcome.service_down, store)
    store.write_summary(summary)
    return summary


class _CpuClock:
    """The Isabelle server's CPU time spent by this run, earlier invocations of a resumed run included."""

    def __init__(self, read: Callable[[], float | None], store: RunStore) -> None:
        self._read = read
        self._start = read()
        earlier = None
        path = store.path / "summary.json"
        if path.is_file():
            try:
                earlier = json.loads(path.read_text(encoding="utf-8")).get("isabelle_cpu_s")
            except (OSError, json.JSONDecodeError):
                earlier = None
        self._earlier = float(earlier) if isinstance(earlier, int | float) else 0.0

    def spent(self) -> float | None:
        now = self._read()
        if now is None or self._start is None:
            return None    # not measured: the server was not started by this lego-prover
        return round(self._earlier + now - self._start, 2)


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
            "problems": [p.name for p in problems], **replay_meta(settings), **meta}
    RunStore.check(run_dir, resume=resume)
    def open_store() -> RunStore:
        store = RunStore.open(run_dir, meta, settings_to_toml_dict(settings), resume=resume)
        if progress:
            progress.note(f"run directory: {run_dir}")
        return store

    if services is not None:
        return await _evolve(settings, problems, open_store(), services, steps, progress)
    settings = await _fit_to_this_isabelle(settings, progress)   # `open_store` reads the fitted settings
    async with open_services(settings, note=progress.note if progress else (lambda m: None)) as made:
        return await _evolve(settings, problems, open_store(), made, steps, progress)


async def _evolve(settings: Settings, problems: Sequence[Problem], store: RunStore, services: Services,
                  steps: int, progress: Any) -> dict[str, Any]:
    from lego_prover.evolver.loop import Evolver

    tracker = services.tracker
    seed_tracker(tracker, store)
    assert services.library is not None and services.llm is not None
    await asyncio.to_thread(services.library.add_problems, [(p.name, p.formal_statement) for p in problems])
    evolver = Evolver(services.llm, services.checker, services.library, services.prompts, settings, store=store,
                      price=lambda c: tracker.cost(c.model, c.usage))
    done = len([s for s in store.evolver_steps if s.get("failure") not in UNFINISHED])
    if progress:
        progress.start(steps, min(done, steps), 0)

    def on_step(step: Any) -> None:
        if progress:
            progress.advance(f"added {sum(len(s.get('added', [])) for s in store.evolver_steps)} · "
                             f"tokens {tracker.total.prompt_tokens + tracker.total.completion_tokens:,} · "
                             f"${tracker.total.cost_usd:.2f}")

    try:
        await evolver.run(steps, concurrency=settings.evolver.concurrency, on_step=on_step)
    except LLMRequestRefusedError:   # what finished is summarised; the one line is the CLI's
        store.write_summary({**evolve_summary(store.evolver_steps),
                             "usage": usage_table(step_calls(store.evolver_steps))})
        raise
    summary = evolve_summary(store.evolver_steps)
    summary["usage"] = usage_table(step_calls(store.evolver_steps))
    if settings.llm.replay is not None:
        summary["replay"] = {"source": str(settings.llm.replay), "note": replay_note(str(settings.llm.replay))}
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
