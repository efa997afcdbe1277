"""Token and cost accounting, per component, role, model and problem, with budgets.

Usage::

    tracker = UsageTracker(PriceBook(settings.llm.prices), settings.budget)
    tracker.record("gpt-5", usage, component="formalizer", problem="p1")   # cost in USD, or None: unpriced
    tracker.reserve()                                                     # BudgetExhausted once spent

    table = usage_table(calls)          # the same figures from stored call records (report, compare)

Budgets stop *new* work: ``reserve()`` raises ``BudgetExhausted`` once a limit is reached,
while calls already in flight finish and are still counted. Reasoning tokens are part of
the completion tokens and cached prompt tokens part of the prompt tokens (as the endpoint
reports them), so the token budget counts both; the cost budget prices cached prompt
tokens at the cached rate. A call to a model with no known price is counted in tokens and
in ``unpriced_calls``, never as free.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lego_prover.config import BudgetSettings, Price
from lego_prover.errors import BudgetExhausted
from lego_prover.llm.base import Usage
from lego_prover.llm.prices import PriceBook
from lego_prover.llm.roles import role_of


@dataclass
class Tally:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached_calls: int = 0          # answered from the response cache: no tokens spent
    reasoning_tokens: int = 0      # of completion_tokens
    cached_tokens: int = 0         # of prompt_tokens, at the cached rate
    unpriced_calls: int = 0        # calls to a model with no known price: tokens counted, cost not
    reasoning_calls: int = 0       # calls whose answer came with reasoning (text or reasoning tokens)

    def add(self, usage: Usage, cost: float | None, *, cached: bool, reasoned: bool = False) -> None:
        self.calls += 1
        self.cached_calls += int(cached)
        self.reasoning_calls += int(reasoned)
        if cached:
            return
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        self.cached_tokens += usage.cached_tokens
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += cost

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, float | int]:
        return {"calls": self.calls, "cached_calls": self.cached_calls, "prompt_tokens": self.prompt_tokens,
                "cached_tokens": self.cached_tokens, "completion_tokens": self.completion_tokens,
                "reasoning_tokens": self.reasoning_tokens, "reasoning_calls": self.reasoning_calls,
                "cost_usd": round(self.cost_usd, 6), "unpriced_calls": self.unpriced_calls}


class UsageTracker:
    def __init__(self, prices: PriceBook | Mapping[str, Price] | None = None,
                 budget: BudgetSettings | None = None) -> None:
        self.prices = prices if isinstance(prices, PriceBook) else PriceBook(prices)
        self.budget = budget or BudgetSettings()  # type: ignore[call-arg]
        self.total = Tally()
        self.by_component: dict[str, Tally] = defaultdict(Tally)
        self.by_role: dict[str, Tally] = defaultdict(Tally)
        self.by_model: dict[str, Tally] = defaultdict(Tally)
        self.by_problem: dict[str, Tally] = defaultdict(Tally)
        self.started = time.monotonic()
        self._lock = threading.Lock()

    def cost(self, model: str, usage: Usage) -> float | None:
        """USD for one call, or None when no price is known for ``model``."""
        return self.prices.cost(model, usage)

    def record(self, model: str, usage: Usage, *, component: str = "", problem: str = "", cached: bool = False,
               reasoned: bool = False) -> float | None:
        """Count one call; a cached answer costs nothing but is still counted as a call."""
        cost = 0.0 if cached else self.cost(model, usage)
        with self._lock:
            tallies = [self.total, self.by_component[component or "other"], self.by_role[role_of(component)],
                       self.by_model[model]]
            if problem:
                tallies.append(self.by_problem[problem])
            for tally in tallies:
                tally.add(usage, cost, cached=cached, reasoned=reasoned)
        return cost

    def carry_over(self, *, calls: int, cached_calls: int, prompt_tokens: int, completion_tokens: int,
                   cost_usd: float) -> None:
        """Count what earlier invocations of a resumed run spent, so budgets cover the whole run."""
        with self._lock:
            self.total.calls += calls
            self.total.cached_calls += cached_calls
            self.total.prompt_tokens += prompt_tokens
            self.total.completion_tokens += completion_tokens
            self.total.cost_usd += cost_usd

    def exhausted(self) -> str | None:
        """Which budget is spent, if any."""
        b = self.budget
        t = self.total
        if b.max_calls is not None and t.calls - t.cached_calls >= b.max_calls:
            return f"max_calls={b.max_calls}"
        if b.max_tokens is not None and t.prompt_tokens + t.completion_tokens >= b.max_tokens:
            return f"max_tokens={b.max_tokens}"
        if b.max_cost_usd is not None and t.cost_usd >= b.max_cost_usd:
            return f"max_cost_usd={b.max_cost_usd}"
        if b.max_wall_s is not None and time.monotonic() - self.started >= b.max_wall_s:
            return f"max_wall_s={b.max_wall_s}"
        return None

    def reserve(self) -> None:
        """Call before starting new work; raises when a budget is spent."""
        spent = self.exhausted()
        if spent:
            raise BudgetExhausted(f"budget reached ({spent}); no new work is started")

    def summary(self) -> dict[str, object]:
        with self._lock:
            return {"total": self.total.as_dict(),
                    "by_component": {k: v.as_dict() for k, v in sorted(self.by_component.items())},
                    "by_role": {k: v.as_dict() for k, v in sorted(self.by_role.items())},
                    "by_model": {k: v.as_dict() for k, v in sorted(self.by_model.items())},
                    "by_problem": {k: v.as_dict() for k, v in sorted(self.by_problem.items())}}


class CallUsage(Protocol):
    """What a stored call record tells about its usage (``LLMCallRecord``)."""

    @property
    def component(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...

    @property
    def reasoning_tokens(self) -> int: ...

    @property
    def cached_tokens(self) -> int: ...

    @property
    def cached(self) -> bool: ...

    @property
    def cost_usd(self) -> float | None: ...

    @property
    def reasoning(self) -> str: ...


UNRECORDED = "(not recorded)"   # calls stored before records named their model


def usage_table(calls: Iterable[CallUsage]) -> dict[str, Any]:
    """Totals by component, role and model of stored calls; ``unpriced_models`` names each model
    whose calls had no price (their tokens are counted, their cost is not)."""
    total = Tally()
    by: dict[str, dict[str, Tally]] = {"by_component": defaultdict(Tally), "by_role": defaultdict(Tally),
                                       "by_model": defaultdict(Tally)}
    models_by_role: dict[str, set[str]] = defaultdict(set)
    for c in calls:
        models_by_role[role_of(c.component)].add(c.model or UNRECORDED)
        usage = Usage(c.prompt_tokens, c.completion_tokens, c.reasoning_tokens, c.cached_tokens)
        # a call stored before records named their model has no cost of its own (its attempt has
        # the cost): it is not unpriced, and the report shows no cost for UNRECORDED
        cost = c.cost_usd if c.model else 0.0
        for tally in (total, by["by_component"][c.component or "other"], by["by_role"][role_of(c.component)],
                      by["by_model"][c.model or UNRECORDED]):
            tally.add(usage, cost, cached=c.cached, reasoned=bool(c.reasoning.strip()) or c.reasoning_tokens > 0)
    table: dict[str, Any] = {"total": total.as_dict()}
    for name, tallies in by.items():
        table[name] = {k: v.as_dict() for k, v in sorted(tallies.items())}
    table["unpriced_models"] = sorted(m for m, t in by["by_model"].items() if t.unpriced_calls)
    table["models_by_role"] = {role: sorted(models) for role, models in sorted(models_by_role.items())}
    return table
