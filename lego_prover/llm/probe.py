"""``lego-prover doctor --llm``: one tiny real request per configured model, to see what it takes.

Usage::

    for report in probe_models(settings):        # the main model, and each role's own model
        print(report.headline(), report.sent, report.reasoning_seen, report.usage_report)

Each probe is one real chat request (billed, like any other) with at most
``PROBE_MAX_TOKENS`` completion tokens, sent exactly as a run sends its requests: it shows
whether the model accepts the parameters we send (a refused output-limit name is switched
as in a run, and said), whether it reasons (and where its reasoning comes back), and what
its usage report looks like (reasoning and cached tokens).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from lego_prover.config import LLMSettings, Settings
from lego_prover.errors import LegoProverError, LLMRequestRefusedError
from lego_prover.llm.base import ChatMessage, Completion
from lego_prover.llm.openai_chat import OpenAIChat
from lego_prover.llm.prices import PriceBook
from lego_prover.llm.roles import role_settings
from lego_prover.llm.usage import UsageTracker

PROBE_MAX_TOKENS = 64
PROBE_MESSAGES: list[ChatMessage] = [{"role": "user", "content": "Reply with the single word: ok"}]


@dataclass(frozen=True)
class ProbeReport:
    model: str
    where: str
    roles: tuple[str, ...]             # "main" and the roles this model serves
    ok: bool
    sent: dict[str, Any] = field(default_factory=dict)   # the parameters besides model and messages
    answer: str = ""
    finish_reason: str = ""
    reasoning_seen: str = ""           # where the reasoning came back, or that none was seen
    usage_report: dict[str, Any] = field(default_factory=dict)
    cost: str = ""
    notes: tuple[str, ...] = ()
    error: str = ""
    refused: bool = False              # a parameter was refused: the error names the setting

    def headline(self) -> str:
        return f"{self.model} at {self.where} ({', '.join(self.roles)})"


def _where(settings: LLMSettings) -> str:
    return settings.base_url or "api.openai.com"


def _reasoning_seen(c: Completion) -> str:
    if c.reasoning.strip():
        return f"yes: {len(c.reasoning)} characters of reasoning came back apart from the answer"
    if c.usage.reasoning_tokens:
        return f"yes, hidden: {c.usage.reasoning_tokens} reasoning tokens reported, no reasoning text"
    return "none seen (no reasoning field, no <think> block, no reasoning tokens reported)"


def probe_one(settings: LLMSettings, roles: tuple[str, ...], *, prices: PriceBook, role: str | None = None,
              role_keys: frozenset[str] = frozenset(), max_tokens: int = PROBE_MAX_TOKENS) -> ProbeReport:
    tiny = settings.model_copy(update={"cache": False, "max_retries": 1})
    try:
        client = OpenAIChat(tiny, tracker=UsageTracker(prices), role=role, role_keys=role_keys)
        (c,) = asyncio.run(client.complete(PROBE_MESSAGES, max_tokens=max_tokens))
    except LLMRequestRefusedError as exc:
        return ProbeReport(settings.model, _where(settings), roles, False, error=str(exc), refused=True)
    except LegoProverError as exc:
        return ProbeReport(settings.model, _where(settings), roles, False, error=str(exc))
    cost = prices.cost(settings.model, c.usage)
    return ProbeReport(
        settings.model, _where(settings), roles, True, sent=client.request_parameters(1, 0.0, max_tokens, None),
        answer=c.text.strip()[:80], finish_reason=c.finish_reason, reasoning_seen=_reasoning_seen(c),
        usage_report=client.last_usage_report, cost="no price known" if cost is None else f"${cost:.6f}",
        notes=tuple(client.notes))


def probe_models(settings: Settings, *, max_tokens: int = PROBE_MAX_TOKENS) -> list[ProbeReport]:
    """The main model and every role's own model, each probed once (roles that share one, once);
    with ``llm.local_model``, only roles with an endpoint of their own."""
    llm = settings.llm
    prices = PriceBook(llm.prices)
    groups: dict[str, tuple[LLMSettings, list[str], str | None, frozenset[str]]] = {}
    for role, entry in [("main", None), *llm.roles.items()]:
        own = entry.overrides() if entry is not None else {}
        if entry is not None and not own:
            continue
        if llm.local_model and "base_url" not in own:   # the run starts that model itself: nothing to ask
            continue
        resolved = role_settings(llm, str(role)) if entry is not None else llm
        key = resolved.model_dump_json(exclude={"roles", "prices"})
        if key not in groups:
            groups[key] = (resolved, [], str(role) if entry is not None else None, frozenset(own))
        groups[key][1].append(str(role))
    return [probe_one(resolved, tuple(roles), prices=prices, role=role, role_keys=keys, max_tokens=max_tokens)
            for resolved, roles, role, keys in groups.values()]


def describe(report: ProbeReport) -> list[tuple[str, bool, str, str]]:
    """(name, ok, detail, fix) lines for ``doctor``."""
    name = f"LLM request: {report.headline()}"
    if not report.ok:
        fix = "" if report.refused else "run 'lego-prover doctor' for the endpoint and key checks"
        return [(name, False, f"one real request sent (at most {PROBE_MAX_TOKENS} completion tokens): {report.error}",
                 fix)]
    sent = ", ".join(f"{k}={v}" for k, v in report.sent.items())
    temperature = "" if "temperature" in report.sent else " (no temperature: the model takes only its default)"
    answer = (f"answer {report.answer!r}" if report.answer else "no answer") + f", finish {report.finish_reason}"
    if not report.answer and report.finish_reason == "length":
        answer += (f" (the {PROBE_MAX_TOKENS}-token probe went to reasoning; runs use prover.max_tokens and "
                   "evolver.max_tokens)")
    lines = [(name, True, f"one real request sent (billed: {report.cost}; at most {PROBE_MAX_TOKENS} completion "
                          f"tokens); accepted {sent}{temperature}; {answer}", ""),
             (f"LLM reasoning: {report.model}", True, report.reasoning_seen, ""),
             (f"LLM usage report: {report.model}", True, json.dumps(report.usage_report, sort_keys=True), "")]
    lines += [(f"LLM note: {report.model}", True, note, "") for note in report.notes]
    return lines
