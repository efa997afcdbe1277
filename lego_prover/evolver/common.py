"""What both evolver halves share: the step record, sampling, checking and adding candidates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lego_prover.config import Settings
from lego_prover.errors import IsabelleUnavailableError
from lego_prover.isabelle.context import CheckerProtocol, TheoryContext
from lego_prover.isabelle.verdict import FailureKind
from lego_prover.llm.base import LLM, ChatMessage
from lego_prover.prover.attempt import LLMCallRecord, out_of_tokens
from lego_prover.prover.harvest import Harvester
from lego_prover.prover.parsing import extract_isabelle
from lego_prover.prover.prompts import PromptLibrary, WorkedExample
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import Origin


@dataclass
class EvolverStep:
    """One evolver step, as stored in ``evolver.jsonl``."""

    step: int
    kind: str                                   # directional | request | idle
    direction: str = ""
    parent: str = ""
    request: str = ""
    targets: list[str] = field(default_factory=list)
    candidates: int = 0
    verified: int = 0
    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    closed_request: str = ""                    # the skill that proved the request
    failure: str | None = None                  # None, "llm", "out_of_tokens_reasoning", "crash", or UNFINISHED
    reason: str = ""
    service: str = ""                           # with failure "infrastructure": "llm" or "isabelle"
    service_fatal: bool = False
    errors: list[str] = field(default_factory=list)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    reasoning_tokens: int = 0                   # of completion_tokens
    cached_tokens: int = 0                      # of prompt_tokens
    unpriced_calls: int = 0                     # calls to a model with no known price: not in cost_usd
    llm_calls: list[dict[str, Any]] = field(default_factory=list)   # each call, as an LLMCallRecord
    started_at: str = ""
    finished_at: str = ""
    elapsed_s: float = 0.0
    replayed_from: str = ""                     # the answers came from this recorded source, not a model

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class EvolverBase:
    def __init__(self, llm: LLM, checker: CheckerProtocol, library: SkillLibrary, prompts: PromptLibrary,
                 settings: Settings, *, price: Any = None) -> None:
        self._llm = llm
        self._checker = checker
        self._library = library
        self._prompts = prompts
        self._settings = settings
        self._evolver = settings.evolver
        self._imports = tuple(settings.isabelle.imports)
        self._harvester = Harvester(library, self._imports)
        self._price = price

    def _examples(self, direction: str) -> list[WorkedExample]:
        return [e for e in self._prompts.examples("evolver") if e["direction"] == direction][: self._evolver.examples]

    async def _sample(self, messages: list[ChatMessage], component: str, step: int,
                      record: EvolverStep) -> list[str]:
        completions = await self._llm.complete(messages, n=self._evolver.samples,
                                               temperature=self._evolver.temperature,
                                               max_tokens=self._evolver.max_tokens, component=component,
                                               problem="", attempt=step)
        keep = self._settings.llm.keep_reasoning
        for c in completions:
            cost = self._price(c) if self._price is not None and not c.cached else None
            call = LLMCallRecord.of(c, component, component, cost=cost, keep_reasoning=keep)
            record.llm_calls.append(asdict(call))
            record.calls += 1
            record.prompt_tokens += c.usage.prompt_tokens
            record.completion_tokens += c.usage.completion_tokens
            record.reasoning_tokens += c.usage.reasoning_tokens
            record.cached_tokens += c.usage.cached_tokens
            record.cost_usd += call.cost_usd or 0.0
            record.unpriced_calls += int(call.cost_usd is None)
        out_of_tokens(completions, component, self._evolver.max_tokens, "evolver.max_tokens")
        codes = [extract_isabelle(c.text) for c in completions]
        record.candidates = sum(1 for c in codes if c)
        return [c for c in codes if c]

    async def _check_and_add(self, code: str, context: TheoryContext, origin: Origin,
                             record: EvolverStep) -> tuple[bool, dict[str, str]]:
        """Check one candidate and add every lemma that verified.

        Returns whether the whole candidate verified, and lemma name -> library name.
        """
        verdict = await self._checker.check(code, context)
        if verdict.failure is FailureKind.SERVER:
            raise IsabelleUnavailableError(verdict.reason)
        names: dict[str, str] = {}
        if verdict.blocks:
            harvest = await self._harvester.harvest(verdict, target=None, origin=origin)
            record.added += harvest.added
            record.duplicates += harvest.duplicates
            names = harvest.names
        if verdict.verified:
            record.verified += 1
        elif verdict.first_error is not None:
            record.errors.append(verdict.first_error.short()[:300])
        else:
            record.errors.append(verdict.reason[:300])
        return verdict.verified, names


def targets_text(problems: list[tuple[str, str, float]], requests: list[Any]) -> str:
    parts = [f"```isabelle\n{statement.strip()}\n```" for _, statement, _ in problems]
    parts += [f"```isabelle\n{r.statement.strip()}\n```" for r, _ in requests]
    return "\n\n".join(parts) or "(none)"
