"""The ``hammer`` method: no LLM, only the statement against the tactic list and Sledgehammer.

Usage::

    hammer = HammerProver(checker, settings)
    record = await hammer.attempt(problem, index=0)      # zero tokens; record.method == "hammer"

It is both a method of its own (``prover.method = "hammer"``, the baseline DSP reports) and
the pass that ``prover.hammer_first`` runs before a problem's first LLM attempt.

The candidates are ``THEOREM TACTIC`` for each tactic of ``hammer.tactics`` (default
``isabelle.repair_tactics``), and, with ``hammer.with_assms``, also ``using assms TACTIC``
when the statement has assumptions: Isar's ``assumes`` are local facts, which a method
uses only when they are given to it. The candidates are checked ``hammer.parallel`` at a
time, each under ``hammer.tactic_timeout_s``; the first wave in which Isabelle verifies a
candidate ends the pass (the first verified one in list order wins), so later candidates
never start. A wave is waited for as a whole because an in-flight Isabelle check cannot be
withdrawn: abandoned checks would keep running on the server and crowd out the next ones.
When no candidate closes the goal, Sledgehammer runs on a ``sledgehammer`` placeholder
through the repair machinery (``isabelle.repair.Repairer`` with no tactics; its time limit
and provers are ``isabelle.sledgehammer_timeout_s`` and ``isabelle.sledgehammer_provers``),
and the proof it suggests is checked like any other.

Every candidate is a complete check: the soundness guard, the theory exactly as a run
builds it, the oracle report. A solved record holds the theory Isabelle verified.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass, field

from lego_prover.config import Settings
from lego_prover.isabelle.context import CheckerProtocol, CheckOptions, TheoryContext
from lego_prover.isabelle.lexer import LexError, TokenKind, tokenize
from lego_prover.isabelle.theory import checked_blocks
from lego_prover.isabelle.verdict import FailureKind, Verdict
from lego_prover.problems import Problem
from lego_prover.prover.attempt import INFRASTRUCTURE, AttemptRecord
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import now_iso

SLEDGEHAMMER = "sledgehammer"


def has_assumptions(statement: str) -> bool:
    """Whether the statement has an ``assumes`` part (a keyword, not a word inside a term)."""
    try:
        return any(t.kind is TokenKind.WORD and t.text == "assumes" for t in tokenize(statement))
    except LexError:
        return "assumes" in statement


def hammer_candidates(statement: str, settings: Settings) -> list[str]:
    """The proofs tried on ``statement``, in order (``using assms`` first where there are assumptions)."""
    tactics = settings.hammer.tactics if settings.hammer.tactics is not None else settings.isabelle.repair_tactics
    with_assms = settings.hammer.with_assms and has_assumptions(statement)
    out: list[str] = []
    for tactic in tactics:
        if with_assms:
            out.append(f"using assms {tactic}")
        out.append(tactic)
    return list(dict.fromkeys(out))


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
        candidates = hammer_candidates(statement, self._settings)
        width = self._hammer.parallel
        for start in range(0, len(candidates), width):
            wave = candidates[start:start + width]
            verdicts = await asyncio.gather(*(self._check(f"{statement}\n  {tactic}", context,
                                                          self._hammer.tactic_timeout_s) for tactic in wave))
            for tactic, verdict in zip(wave, verdicts, strict=True):
                state.check_s += verdict.elapsed_s
                state.log.append(f"{tactic}: {'verified' if verdict.verified else _outcome(verdict)}")
            won = next((i for i, v in enumerate(verdicts) if v.verified), None)
            if won is not None:
                state.verdict, state.proof = verdicts[won], f"{statement}\n  {wave[won]}"
                return None, f"verified by {wave[won]!r}"
            server = next((v for v in verdicts if v.failure is FailureKind.SERVER), None)
            if server is not None:  # an infrastructure failure, not a result: stop and say so
                state.verdict = server
                return FailureKind.SERVER.value, server.reason
        tried = f"none of the {len(candidates)} tactic candidates closed the goal"
        if not self._settings.isabelle.sledgehammer:
            return FailureKind.TACTIC.value, tried
        return await self._sledgehammer(statement, context, state, tried)

    async def _sledgehammer(self, statement: str, context: TheoryContext, state: _Pass,
                            tried: str) -> tuple[str | None, str]:
        # a placeholder repaired with no tactic list is Sledgehammer alone; the checker then
        # checks the proof it found like any other
        t0 = time.monotonic()
        verdict = await self._checker.check(f"{statement}\n  {SLEDGEHAMMER}", context, repair=True,
                                            options=CheckOptions(repair_tactics=()))
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


def _body_text(verdict: Verdict) -> str:
    """The proof as checked: the theory's own blocks without our header, preamble and checks."""
    blocks = checked_blocks(verdict.theory_text) if verdict.theory_text else ()
    mine = [b for b, v in zip(blocks, (v for v in verdict.blocks if v.origin != "check"), strict=False)
            if v.origin == "body"]
    return "\n\n".join(b.text for b in mine)


def _outcome(verdict: Verdict) -> str:
    return verdict.failure.value if verdict.failure else "not verified"
