"""One attempt on one problem, end to end.

Usage::

    prover = Prover(llm, checker, library, prompts, settings)
    record = await prover.attempt(problem, index=0)
    record.solved, record.proof, record.errors

informal proof -> decomposition (structured proof + requests) -> retrieval -> formalizer
(re-prompted while the statement was changed) -> checker (guard, tactic repair, Isabelle)
-> up to R rounds of error feedback -> harvest. Everything the attempt did is in the
returned ``AttemptRecord``; a failure of the LLM or of Isabelle is recorded, not raised,
except a spent budget, which stops the run.

Outcomes (``AttemptRecord.failure``): ``None`` (solved); a proof failure (a ``FailureKind``
value, ``"llm"`` for an unusable answer, ``"no_proof"``, ``"out_of_tokens_reasoning"`` when
an answer was all reasoning because the token limit came first, ``"crash"``);
``"no_recorded_answer"`` (a replay whose source has no answer for a call: neither a proof
nor a service failure, a finished attempt that is not redone); or one of
``UNFINISHED``: ``"budget"`` and ``"infrastructure"`` (the LLM endpoint or Isabelle failed,
``service`` says which). Unfinished attempts are not proof outcomes: pass@k and the
summary leave them out, and a resumed run redoes them. A parameter the endpoint refuses
(``LLMRequestRefusedError``) is not recorded: it stops the run.

Each call's record keeps the answer, and the model's reasoning apart from it (unless
``llm.keep_reasoning = false``); only the answer is read for code and reaches the guard.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

from lego_prover.config import Settings
from lego_prover.errors import (
    BudgetExhausted,
    IsabelleUnavailableError,
    LLMError,
    LLMRequestRefusedError,
    ServiceError,
)
from lego_prover.isabelle.context import CheckerProtocol, TheoryContext
from lego_prover.isabelle.guard import RejectionCode, SoundnessGuard
from lego_prover.isabelle.verdict import FailureKind, Verdict
from lego_prover.isabelle.versions import Release, syntax_hint
from lego_prover.llm.base import LLM, ChatMessage, Completion
from lego_prover.llm.replay import NO_RECORDED_ANSWER, NoRecordedAnswer
from lego_prover.problems import Problem
from lego_prover.prover.harvest import Harvester
from lego_prover.prover.parsing import extract_isabelle, parse_decomposition
from lego_prover.prover.prompts import PromptLibrary, WorkedExample
from lego_prover.prover.retrieval import Retrieved, retrieve
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import Origin, now_iso


@dataclass(frozen=True)
class LLMCallRecord:
    component: str
    prompt: str               # prompt file name
    prompt_tokens: int        # cached_tokens included
    completion_tokens: int    # reasoning_tokens included
    finish_reason: str
    cached: bool              # answered from the response cache: nothing spent
    completion: str           # the answer, reasoning removed
    model: str = ""           # "" in records written before calls named their model
    reasoning: str = ""       # the model's reasoning, when shown and llm.keep_reasoning
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float | None = None   # None: no price known for the model (or a record from before per-call costs)
    replayed: bool = False          # answered from a recorded conversation (``llm.replay``), not a model
    usage_estimated: bool = False   # the recorded source had no usage: tokens counted with the tokenizer

    @classmethod
    def of(cls, completion: Completion, component: str, prompt: str, *, cost: float | None,
           keep_reasoning: bool) -> LLMCallRecord:
        u = completion.usage
        return cls(component, prompt, u.prompt_tokens, u.completion_tokens, completion.finish_reason,
                   completion.cached, completion.text, model=completion.model,
                   reasoning=completion.reasoning if keep_reasoning else "", reasoning_tokens=u.reasoning_tokens,
                   cached_tokens=u.cached_tokens, cost_usd=0.0 if completion.cached else cost,
                   replayed=completion.replayed, usage_estimated=completion.usage_estimated)


BUDGET = "budget"                  # a budget ran out during the attempt
INFRASTRUCTURE = "infrastructure"  # the LLM endpoint or Isabelle failed; ``service`` says which
UNFINISHED = frozenset({BUDGET, INFRASTRUCTURE})  # not a proof outcome: redone on resume, never counted
OUT_OF_TOKENS_REASONING = "out_of_tokens_reasoning"  # the answer was all reasoning: the token limit came first
OUTCOME_NAMES = {OUT_OF_TOKENS_REASONING: "ran out of tokens while reasoning",
                 NO_RECORDED_ANSWER: "no recorded answer"}


class OutOfTokensWhileReasoning(LLMError):
    """A call's answer was all reasoning: the model reached the token limit before answering."""

    def __init__(self, component: str, limit: int, setting: str) -> None:
        super().__init__(f"the {component} ran out of tokens while reasoning (all {limit} tokens of the limit went "
                         f"to reasoning, no answer); raise {setting} (now {limit})")
        self.setting = setting


def out_of_tokens(completions: list[Completion], component: str, limit: int, setting: str) -> None:
    """Raise ``OutOfTokensWhileReasoning`` when every completion ran out of tokens while reasoning."""
    if completions and all(c.ran_out_while_reasoning for c in completions):
        raise OutOfTokensWhileReasoning(component, limit, setting)


@dataclass(frozen=True)
class AttemptRecord:
    problem: str
    attempt: int
    solved: bool
    informal: str                        # human | generated
    failure: str | None                  # None, FailureKind value, "llm", "no_proof", "crash", or UNFINISHED
    reason: str
    proof: str                           # the last body sent to the checker
    theory: str                          # the exact theory Isabelle checked last
    errors: list[dict[str, Any]]
    requests: list[str]
    retrieved: list[str]
    skills_used: list[dict[str, str]]
    skills_added: list[str]
    feedback_rounds: int
    statement_reprompts: int
    repairs: list[str]
    calls: list[LLMCallRecord]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    llm_s: float
    check_s: float
    total_s: float
    isabelle: str
    session: str
    started_at: str
    finished_at: str
    crash: str = ""                      # a bug of ours, with its traceback: recorded, never lost
    trusted_oracles: list[str] = field(default_factory=list)  # oracles the user trusts that the proof relied on
    method: str = "lego"                 # lego | dsp | hammer (records written before methods existed: lego)
    service: str = ""                    # with failure "infrastructure": "llm" or "isabelle"
    service_fatal: bool = False          # ... and every further call will fail the same way
    reasoning_tokens: int = 0            # of completion_tokens
    cached_tokens: int = 0               # of prompt_tokens
    unpriced_calls: int = 0              # calls to a model with no known price: not in cost_usd
    replayed_from: str = ""              # the answers came from this recorded source (``llm.replay``), not a model
    skills_duplicates: list[str] = field(default_factory=list)  # verified lemmas refused: the existing skill they duplicate

    @property
    def finished(self) -> bool:
        """A proof outcome (solved or not), as opposed to a budget or service interruption."""
        return self.failure not in UNFINISHED

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AttemptRecord:
        calls = [LLMCallRecord(**c) for c in data.get("calls", [])]
        return cls(**{**data, "calls": calls})


@dataclass
class _Trace:
    """What an attempt has done so far; becomes its AttemptRecord however it ends."""

    calls: list[LLMCallRecord] = field(default_factory=list)
    llm_s: float = 0.0
    check_s: float = 0.0
    cost: float = 0.0
    requests: list[str] = field(default_factory=list)
    retrieved: Retrieved = field(default_factory=lambda: Retrieved((), 0))
    verdict: Verdict | None = None
    proof: str = ""
    rounds: int = 0
    reprompts: int = 0
    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    used: list[dict[str, str]] = field(default_factory=list)


class Prover:
    """The ``lego`` method; ``prover.dsp.DraftSketchProver`` reuses its steps with other prompts."""

    method = "lego"
    informal_prompt = "informal_solver"
    formalizer_prompt = "formalizer"
    formalizer_component = "formalizer"

    def __init__(self, llm: LLM, checker: CheckerProtocol, library: SkillLibrary | None,
                 prompts: PromptLibrary, settings: Settings, *, price: Any = None) -> None:
        self._llm = llm
        self._checker = checker
        self._library = library
        self._prompts = prompts
        self._settings = settings
        self._prover = settings.prover
        self._price = price               # callable(Completion) -> USD or None (no price), from the tracker
        self._examples = prompts.examples("prover")
        self._harvester = Harvester(library, tuple(settings.isabelle.imports))

    # ------------------------------------------------------------------ public

    async def attempt(self, problem: Problem, index: int) -> AttemptRecord:
        started, started_at = time.monotonic(), now_iso()
        trace = _Trace()
        mode = self._informal_mode(problem, index)
        failure: str | None = None
        reason = ""
        crash = ""
        service, fatal = "", False
        try:
            failure, reason = await self._run(problem, index, mode, trace)
        except BudgetExhausted as exc:  # recorded, and not counted as done: a resumed run redoes it
            failure, reason = BUDGET, str(exc)
        except ServiceError as exc:  # not the proof's fault: recorded as such and redone on resume
            failure, reason, service, fatal = INFRASTRUCTURE, str(exc), exc.service, exc.fatal
        except LLMRequestRefusedError:  # a setting to change: the run stops at once, nothing is recorded
            raise
        except OutOfTokensWhileReasoning as exc:
            failure, reason = OUT_OF_TOKENS_REASONING, str(exc)
        except NoRecordedAnswer as exc:  # a replay's source ends here: neither a proof nor a service failure
            failure, reason = NO_RECORDED_ANSWER, _after_check(str(exc), trace.verdict)
        except LLMError as exc:
            failure, reason = "llm", str(exc)
        except Exception as exc:  # a bug of ours must not lose the run: record it with its traceback
            failure, reason, crash = "crash", f"{type(exc).__name__}: {exc}", traceback.format_exc()
        verdict = trace.verdict
        return AttemptRecord(
            problem=problem.name, attempt=index, solved=failure is None, informal=mode, failure=failure,
            reason=reason, proof=trace.proof, theory=verdict.theory_text if verdict else "",
            errors=[error_json(e) for e in (verdict.root_errors if verdict else ())],
            requests=list(trace.requests), retrieved=trace.retrieved.names, skills_used=trace.used,
            skills_added=trace.added, feedback_rounds=trace.rounds,
            statement_reprompts=trace.reprompts, repairs=list(verdict.repairs) if verdict else [],
            calls=trace.calls, prompt_tokens=sum(c.prompt_tokens for c in trace.calls),
            completion_tokens=sum(c.completion_tokens for c in trace.calls), cost_usd=round(trace.cost, 6),
            llm_s=round(trace.llm_s, 3), check_s=round(trace.check_s, 3),
            total_s=round(time.monotonic() - started, 3), isabelle=verdict.isabelle if verdict else "",
            session=verdict.session if verdict else "", started_at=started_at, finished_at=now_iso(), crash=crash,
            trusted_oracles=list(verdict.trusted_oracles) if verdict and verdict.verified else [],
            method=self.method, service=service, service_fatal=fatal,
            reasoning_tokens=sum(c.reasoning_tokens for c in trace.calls),
            cached_tokens=sum(c.cached_tokens for c in trace.calls if not c.cached),
            unpriced_calls=sum(1 for c in trace.calls if c.cost_usd is None), skills_duplicates=trace.duplicates)

    # ------------------------------------------------------------------ steps

    async def _run(self, problem: Problem, index: int, mode: str, trace: _Trace) -> tuple[str | None, str]:
        p = self._prover
        informal_proof = (problem.informal_proof or "") if mode == "human" else await self._informal(problem, index, trace)
        messages = await self._first_prompt(problem, informal_proof, index, trace)
        retrieved = trace.retrieved
        context = TheoryContext.for_problem(problem, self._settings.isabelle)
        proof, messages = await self._formalize(messages, context, index, trace, problem.name,
                                                component=self.formalizer_component)
        if not proof:
            return "no_proof", "the formalizer's answer held no Isabelle code"
        origin = Origin("problem", problem=problem.name, attempt=index)
        while True:
            trace.proof = proof
            t0 = time.monotonic()
            verdict = await self._checker.check(proof, context)
            trace.check_s += time.monotonic() - t0
            trace.verdict = verdict
            harvest = await self._harvester.harvest(verdict, target=context.target, origin=origin,
                                                    preamble=problem.preamble, retrieved=retrieved.skills,
                                                    solved=verdict.verified)
            trace.added += harvest.added
            trace.duplicates += harvest.duplicates
            if verdict.verified:
                trace.used = harvest.used
                if self._library is not None:
                    await asyncio.to_thread(self._library.mark_problem_solved, problem.name)
                return None, "verified"
            if verdict.failure is FailureKind.SERVER:
                raise IsabelleUnavailableError(verdict.reason)
            if trace.rounds >= p.feedback_rounds:
                return (verdict.failure.value if verdict.failure else "unverified"), verdict.reason
            trace.rounds += 1
            feedback = self._prompts.render("feedback", proof=proof, errors=_errors_text(verdict))
            messages = [*messages, {"role": "assistant", "content": f"```isabelle\n{proof}\n```"}, *feedback]
            proof, messages = await self._formalize(messages, context, index, trace, problem.name,
                                                    component="feedback")
            if not proof:
                return "no_proof", "the corrected answer held no Isabelle code"

    async def _first_prompt(self, problem: Problem, informal_proof: str, index: int,
                            trace: _Trace) -> list[ChatMessage]:
        """Decompose, store the requests, retrieve skills: the formalizer's prompt."""
        plan, requests = await self._decompose(problem, informal_proof, index, trace)
        trace.requests = list(requests)
        if self._library is not None and requests:
            await asyncio.to_thread(self._library.add_requests, list(requests), problem.name)
        trace.retrieved = await retrieve(self._library, problem.formal_statement, requests, self._prover)
        return self._prompts.render(
            "formalizer", skills=trace.retrieved.render(), examples=self._formalizer_examples(index),
            informal_statement=problem.informal_statement or "(none given)",
            structured_proof=plan or "(none)", formal_statement=problem.formal_statement.strip())

    async def _informal(self, problem: Problem, index: int, trace: _Trace) -> str:
        messages = self._prompts.render(self.informal_prompt, informal_statement=problem.informal_statement
                                        or problem.formal_statement)
        component = self.informal_prompt.rsplit("/", 1)[-1]
        (c,) = await self._call(component, self.informal_prompt, messages, self._prover.informal_temperature,
                                problem.name, index, trace)
        return c.text.strip()

    async def _decompose(self, problem: Problem, informal_proof: str, index: int,
                         trace: _Trace) -> tuple[str, tuple[str, ...]]:
        p = self._prover
        messages = self._prompts.render(
            "decomposer", max_requests=p.max_requests, examples=self._decomposer_examples(index),
            informal_statement=problem.informal_statement or "(none given)",
            informal_proof=informal_proof or "(none given)", formal_statement=problem.formal_statement.strip())
        (c,) = await self._call("decomposer", "decomposer", messages, p.decomposer_temperature, problem.name,
                                index, trace)
        parsed = parse_decomposition(c.text, max_requests=p.max_requests)
        return parsed.structured_proof, parsed.requests

    async def _formalize(self, messages: list[ChatMessage], context: TheoryContext, index: int, trace: _Trace,
                         problem: str, component: str = "formalizer"
                         ) -> tuple[str, list[ChatMessage]]:
        """Ask for a proof; re-prompt (up to the limit) while it changes the statement."""
        guard = SoundnessGuard(context.guard_context())
        prompt = self.formalizer_prompt if component == self.formalizer_component else component
        for _ in range(self._prover.statement_reprompts + 1):
            (c,) = await self._call(component, prompt, messages, self._prover.formalizer_temperature, problem,
                                    index, trace)
            proof = extract_isabelle(c.text)
            if not proof:
                return "", messages
            codes = {r.code for r in guard.check(proof).rejections}
            if not codes & {RejectionCode.STATEMENT_CHANGED, RejectionCode.MISSING_TARGET}:
                return proof, messages
            if trace.reprompts >= self._prover.statement_reprompts:
                return proof, messages
            trace.reprompts += 1
            messages = [*messages, {"role": "assistant", "content": c.text},
                        *self._prompts.render("statement_reprompt", formal_statement=context.statement or "")]
        return proof, messages

    async def _call(self, component: str, prompt: str, messages: list[ChatMessage], temperature: float,
                    problem: str, index: int, trace: _Trace) -> list[Completion]:
        t0 = time.monotonic()
        completions = await self._llm.complete(messages, n=1, temperature=temperature,
                                               max_tokens=self._prover.max_tokens, component=component,
                                               problem=problem, attempt=index)
        trace.llm_s += time.monotonic() - t0
        keep = self._settings.llm.keep_reasoning
        for c in completions:
            cost = self._price(c) if self._price is not None and not c.cached else None
            trace.calls.append(LLMCallRecord.of(c, component, prompt, cost=cost, keep_reasoning=keep))
            trace.cost += cost or 0.0
        if not completions:
            raise LLMError("the LLM returned no completion")
        out_of_tokens(completions, component, self._prover.max_tokens, "prover.max_tokens")
        return completions

    # ------------------------------------------------------------------ examples

    def _informal_mode(self, problem: Problem, index: int) -> str:
        choice = self._prover.informal
        if choice == "both":
            choice = "human" if index % 2 == 0 else "generated"
        if choice == "human" and not problem.has_informal_proof:
            return "generated"
        return choice

    def _rotated(self, count: int, index: int) -> list[WorkedExample]:
        if not self._examples or count <= 0:
            return []
        start = index % len(self._examples)
        ring = self._examples[start:] + self._examples[:start]
        return ring[:count]

    def _decomposer_examples(self, index: int) -> str:
        parts = []
        for ex in self._rotated(self._prover.decomposer_examples, index):
            requests = "\n\n".join(ex.requests) or "N/A"
            parts.append(f"####################\n\n## Problem\n{ex['informal_statement']}\n\n## Informal proof\n"
                         f"{ex['informal_proof']}\n\n## Formal statement\n```isabelle\n{ex['formal_statement']}\n```"
                         f"\n\n## Structured proof\n{ex['structured_proof']}\n\n## Requests\n```isabelle\n"
                         f"{requests}\n```")
        return "\n\n".join(parts)

    def _formalizer_examples(self, index: int) -> str:
        parts = []
        for ex in self._rotated(self._prover.formalizer_examples, index):
            parts.append(f"####################\n\n## Problem\n{ex['informal_statement']}\n\n## Structured proof\n"
                         f"{ex['structured_proof']}\n\n## Formal statement\n```isabelle\n{ex['formal_statement']}\n"
                         f"```\n\n## Proof\n```isabelle\n{ex['isabelle_proof']}\n```")
        return "\n\n".join(parts)


def _after_check(reason: str, verdict: Verdict | None) -> str:
    """A replay that ran out of answers after a check says how that check ended."""
    if verdict is None:
        return reason
    ended = verdict.failure.value if verdict.failure else "unverified"
    return f"{reason}; the check before it: {ended}: {verdict.reason}"


def error_json(err: Any) -> dict[str, Any]:
    """An Isabelle error as an attempt record stores it."""
    return {"message": err.message, "line": err.line, "block": err.block, "step": err.step, "goal": err.goal,
            "kind": err.kind.value, "theory_line": err.theory_line}


def _errors_text(verdict: Verdict) -> str:
    if verdict.failure is FailureKind.GUARD:
        return f"The proof was rejected before checking: {verdict.reason}"
    lines = []
    for err in verdict.root_errors[:5]:
        where = f"line {err.line}" if err.line else "no position"
        block = f" in {err.block}" if err.block else ""
        lines.append(f"- Error{block} at {where}: {err.message.strip()[:600]}")
        if err.step:
            lines.append(f"  failing step: {err.step.strip()[:300]}")
            hint = syntax_hint(err.step, Release.parse(verdict.isabelle))
            if hint:
                lines.append(f"  note: {hint}")
        if err.goal:
            lines.append(f"  goal: {err.goal.strip()[:600]}")
    return "\n".join(lines) or f"The check failed: {verdict.reason}"
