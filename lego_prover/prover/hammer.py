"""The ``hammer`` method: no LLM, only the statement against the tactic list and Sledgehammer.

Usage::

    hammer = HammerProver(checker, settings)
    record = await hammer.attempt(problem, index=0)      # zero tokens; record.method == "hammer"

It is both a method of its own (``prover.method = "hammer"``, the baseline DSP reports) and
the pass that ``prover.hammer_first`` runs before a problem's first LLM attempt.

The candidates are ``THEOREM TACTIC`` for each tactic of ``hammer.tactics`` (default
``isabelle.repair_tactics``). When the statement has assumptions they are ``THEOREM using
assms TACTIC`` (Isar's ``assumes`` are local facts, which a method uses only when they are
given to it), and the bare ones too with ``hammer.bare_with_assms``. They are checked
``hammer.parallel`` at a time, each under its own limit (``hammer.tactic_timeouts_s``, else
``hammer.tactic_timeout_s``); the first wave in which Isabelle verifies a candidate ends the
pass (the first verified one in list order wins), so later candidates never start. A wave is
waited for as a whole because an in-flight Isabelle check cannot be withdrawn: abandoned
checks would keep running on the server and crowd out the next ones. With ``parallel = 1``
nothing is ever waited for in vain, and the run keeps the check slots busy with other
problems instead (``eval`` runs ``slots / parallel`` problems at a time).

When no candidate closes the goal, Sledgehammer runs on a ``sledgehammer`` placeholder
through the repair machinery (``isabelle.repair.Repairer`` with no tactics; its provers are
``isabelle.sledgehammer_provers``) and the proof it suggests is checked like any other. Each
call runs several prover processes, so ``hammer.sledgehammer_parallel`` bounds how many run
at once across the run. ``hammer.problem_budget_s`` bounds a problem's pass: each check's
limit is capped by what is left, no candidate starts with under a second left, and
Sledgehammer gets what is left, up to ``isabelle.sledgehammer_timeout_s`` (none under 5 s).

Every candidate is a complete check: the soundness guard, the theory exactly as a run
builds it, the oracle report. A solved record holds the theory Isabelle verified.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from lego_prover.config import Settings
from lego_prover.isabelle.context import CheckerProtocol, CheckOptions, TheoryContext
from lego_prover.isabelle.lexer import LexError, TokenKind, tokenize
from lego_prover.isabelle.theory import checked_blocks
from lego_prover.isabelle.verdict import FailureKind, Verdict
from lego_prover.isabelle.versions import sledgehammer_timeouts
from lego_prover.problems import Problem
from lego_prover.prover.attempt import INFRASTRUCTURE, AttemptRecord
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import now_iso

SLEDGEHAMMER = "sledgehammer"
_MIN_CHECK_S = 1.0           # less than this left of a problem's budget: start no more candidates
_MIN_SLEDGEHAMMER_S = 5.0    # ... and no Sledgehammer call (its provers need a few seconds to start)
# a Sledgehammer call takes its provers' timeout plus the theory's check, prover start-up and
# preplay: 38.8 s a call at 30 s here (benchmarks/bench_hammer.py); a budget leaves room for it
_SLEDGEHAMMER_OVERHEAD_S = 8.0


def has_assumptions(statement: str) -> bool:
    """Whether the statement has an ``assumes`` part (a keyword, not a word inside a term)."""
    try:
        return any(t.kind is TokenKind.WORD and t.text == "assumes" for t in tokenize(statement))
    except LexError:
        return "assumes" in statement


@dataclass(frozen=True)
class Candidate:
    """One proof tried on the whole statement: ``prefix`` (``using assms``) and a tactic of the list."""

    tactic: str
    prefix: str = ""

    @property
    def text(self) -> str:
        return f"{self.prefix} {self.tactic}" if self.prefix else self.tactic


def hammer_candidates(statement: str, settings: Settings) -> list[str]:
    """The proofs tried on ``statement``, in order (``using assms`` first where there are assumptions)."""
    return [c.text for c in candidates_of(statement, settings)]


def candidates_of(statement: str, settings: Settings) -> list[Candidate]:
    tactics = settings.hammer.tactics if settings.hammer.tactics is not None else settings.isabelle.repair_tactics
    assms = has_assumptions(statement)
    with_assms = settings.hammer.with_assms and assms
    bare = not assms or not with_assms or settings.hammer.bare_with_assms
    out: list[Candidate] = []
    for tactic in dict.fromkeys(tactics):
        if with_assms:
            out.append(Candidate(tactic, "using assms"))
        if bare:
            out.append(Candidate(tactic))
    return out


@dataclass
class _Pass:
    """What the pass has done so far; becomes its AttemptRecord however it ends."""

    log: list[str] = field(default_factory=list)
    check_s: float = 0.0
    verdict: Verdict | None = None
    proof: str = ""


class HammerProver:
    method = "hammer"

    def __init__(self, checker: CheckerProtocol, settings: Settings, *, library: SkillLibrary | None = None) -> None:
        self._checker = checker
        self._settings = settings
        self._hammer = settings.hammer
        self._library = library          # told when a problem is solved (the evolver aims at unsolved ones)
        # Sledgehammer runs several prover processes at once: a few calls saturate the cores
        self._sledgehammer_gate: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Semaphore(self._hammer.sledgehammer_parallel) if self._hammer.sledgehammer_parallel
            else contextlib.nullcontext())

    async def attempt(self, problem: Problem, index: int) -> AttemptRecord:
        started, started_at = time.monotonic(), now_iso()
        state = _Pass()
        failure: str | None
        crash = ""
        try:
            failure, reason = await self._run(problem, state)
        except Exception as exc:  # a bug of ours must not lose the run: record it with its traceback
            failure, reason, crash = "crash", f"{type(exc).__name__}: {exc}", traceback.format_exc()
        verdict = state.verdict
        service = ""
        if failure == FailureKind.SERVER.value:  # Isabelle failed, not the statement: redone on resume
            failure, service = INFRASTRUCTURE, "isabelle"
        if failure is None and self._library is not None:
            await asyncio.to_thread(self._library.mark_problem_solved, problem.name)
        return AttemptRecord(
            problem=problem.name, attempt=index, solved=failure is None, informal="none", failure=failure,
            reason=reason, proof=state.proof, theory=verdict.theory_text if verdict and failure is None else "",
            errors=[], requests=[], retrieved=[], skills_used=[], skills_added=[], feedback_rounds=0,
            statement_reprompts=0, repairs=state.log, calls=[], prompt_tokens=0, completion_tokens=0, cost_usd=0.0,
            llm_s=0.0, check_s=round(state.check_s, 3), total_s=round(time.monotonic() - started, 3),
            isabelle=(verdict.isabelle if verdict else "") or getattr(self._checker, "isabelle", ""),
            session=(verdict.session if verdict else "") or getattr(self._checker, "session", ""),
            started_at=started_at,
            finished_at=now_iso(), crash=crash, method=self.method,
            trusted_oracles=list(verdict.trusted_oracles) if verdict and failure is None else [], service=service)

    async def _run(self, problem: Problem, state: _Pass) -> tuple[str | None, str]:
        context = TheoryContext.for_problem(problem, self._settings.isabelle)
        statement = problem.formal_statement.strip()
        candidates = candidates_of(statement, self._settings)
        budget = _Budget(self._hammer.problem_budget_s)
        width = self._hammer.parallel
        tried = 0
        for start in range(0, len(candidates), width):
            if budget.spent():
                break
            wave = candidates[start:start + width]
            tried += len(wave)
            verdicts = await asyncio.gather(*(self._check(f"{statement}\n  {c.text}", context,
                                                          budget.cap(self._limit(c))) for c in wave))
            for candidate, verdict in zip(wave, verdicts, strict=True):
                state.check_s += verdict.elapsed_s
                state.log.append(f"{candidate.text}: {'verified' if verdict.verified else _outcome(verdict)}")
            won = next((i for i, v in enumerate(verdicts) if v.verified), None)
            if won is not None:
                state.verdict, state.proof = verdicts[won], f"{statement}\n  {wave[won].text}"
                return None, f"verified by {wave[won].text!r}"
            server = next((v for v in verdicts if v.failure is FailureKind.SERVER), None)
            if server is not None:  # an infrastructure failure, not a result: stop and say so
                state.verdict = server
                return FailureKind.SERVER.value, server.reason
        if tried < len(candidates):
            return FailureKind.TIMEOUT.value, (f"the problem's time budget ({budget.total:g} s) ran out after "
                                               f"{tried} of the {len(candidates)} tactic candidates")
        tried_all = f"none of the {len(candidates)} tactic candidates closed the goal"
        if not self._settings.isabelle.sledgehammer:
            return FailureKind.TACTIC.value, tried_all
        left = self._sledgehammer_timeout_s(budget)
        if left < _MIN_SLEDGEHAMMER_S:
            return FailureKind.TACTIC.value, (f"{tried_all}; the problem's time budget ({budget.total:g} s) "
                                              "left no time for Sledgehammer")
        async with self._sledgehammer_gate:   # waiting for the gate counts against the budget
            left = self._sledgehammer_timeout_s(budget)
            if left < _MIN_SLEDGEHAMMER_S:
                return FailureKind.TACTIC.value, (f"{tried_all}; the problem's time budget ({budget.total:g} s) "
                                                  "ran out while waiting for Sledgehammer")
            return await self._sledgehammer(statement, context, state, tried_all, left)

    def _sledgehammer_timeout_s(self, budget: _Budget) -> float:
        """The call's ``timeout``: what is left of the budget, shared by the times it spends it."""
        isabelle = self._settings.isabelle
        times = sledgehammer_timeouts(minimize=isabelle.sledgehammer_minimize)
        return budget.cap(isabelle.sledgehammer_timeout_s * times, reserve=_SLEDGEHAMMER_OVERHEAD_S) / times

    def _limit(self, candidate: Candidate) -> float:
        return self._hammer.tactic_timeouts_s.get(candidate.tactic, self._hammer.tactic_timeout_s)

    async def _sledgehammer(self, statement: str, context: TheoryContext, state: _Pass,
                            tried: str, limit_s: float) -> tuple[str | None, str]:
        # a placeholder repaired with no tactic list is Sledgehammer alone; the checker then
        # checks the proof it found like any other
        t0 = time.monotonic()
        verdict = await self._checker.check(f"{statement}\n  {SLEDGEHAMMER}", context, repair=True,
                                            options=CheckOptions(repair_tactics=(), sledgehammer_timeout_s=limit_s))
        state.check_s += time.monotonic() - t0
        if verdict.failure is FailureKind.GUARD:
            return FailureKind.GUARD.value, verdict.reason
        if not any("(sledgehammer)" in r for r in verdict.repairs):
            state.log.append(f"{SLEDGEHAMMER}: no proof found")
            if verdict.failure is FailureKind.SERVER:
                state.verdict = verdict
                return FailureKind.SERVER.value, verdict.reason
            return FailureKind.TACTIC.value, f"{tried}, and Sledgehammer found no proof"
        proof = _body_text(verdict)
        found = proof[len(statement):].strip() if proof.startswith(statement) else proof
        state.log.append(f"{SLEDGEHAMMER}: {found}: {'verified' if verdict.verified else _outcome(verdict)}")
        state.verdict, state.proof = verdict, proof
        if verdict.verified:
            return None, f"verified by Sledgehammer's {found!r}"
        return (verdict.failure or FailureKind.TACTIC).value, f"{tried}; Sledgehammer's {found!r}: {verdict.reason}"

    async def _check(self, text: str, context: TheoryContext, limit_s: float) -> Verdict:
        """One complete check of ``text`` under ``limit_s``: guard, our theory, Isabelle's verdict."""
        return await self._checker.check(text, context, repair=False, options=CheckOptions(check_limit_s=limit_s))


class _Budget:
    """A problem's wall-time budget: what is left of it caps each check's limit."""

    def __init__(self, total_s: float | None) -> None:
        self.total = total_s
        self._end = None if total_s is None else time.monotonic() + total_s

    def left(self) -> float | None:
        return None if self._end is None else self._end - time.monotonic()

    def spent(self) -> bool:
        left = self.left()
        return left is not None and left < _MIN_CHECK_S

    def cap(self, limit_s: float, *, reserve: float = 0.0) -> float:
        """``limit_s``, or what is left after ``reserve`` seconds of work around the limited part."""
        left = self.left()
        return limit_s if left is None else max(0.0, min(limit_s, left - reserve))


def _body_text(verdict: Verdict) -> str:
    """The proof as checked: the theory's own blocks without our header, preamble and checks."""
    blocks = checked_blocks(verdict.theory_text) if verdict.theory_text else ()
    mine = [b for b, v in zip(blocks, (v for v in verdict.blocks if v.origin != "check"), strict=False)
            if v.origin == "body"]
    return "\n\n".join(b.text for b in mine)


def _outcome(verdict: Verdict) -> str:
    return verdict.failure.value if verdict.failure else "not verified"
