"""Token and cost accounting, aggregated per component, per problem and per run, with budgets.

Budgets stop *new* work: ``reserve()`` raises ``BudgetExhausted`` once a limit is reached,
while calls already in flight finish and are still counted.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from lego_prover.config import BudgetSettings, Price
from lego_prover.errors import BudgetExhausted
from lego_prover.llm.base import Usage


@dataclass
class Tally:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached_calls: int = 0

    def add(self, usage: Usage, cost: float, *, cached: bool) -> None:
        self.calls += 1
        self.cached_calls += int(cached)
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.cost_usd += cost

    def as_dict(self) -> dict[str, float | int]:
        return {"calls": self.calls, "cached_calls": self.cached_calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost_usd": round(self.cost_usd, 6)}


@dataclass
class UsageTracker:
    prices: dict[str, Price] = field(default_factory=dict)
    budget: BudgetSettings = field(default_factory=BudgetSettings)  # type: ignore[arg-type]
    total: Tally = field(default_factory=Tally)
    by_component: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_problem: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cost(self, model: str, usage: Usage) -> float:
        price = self.prices.get(model)
        if price is None:
            return 0.0
        return (usage.prompt_tokens * price.input_per_mtok + usage.completion_tokens * price.output_per_mtok) / 1e6

    def record(self, model: str, usage: Usage, *, component: str = "", problem: str = "", cached: bool = False) -> float:
        """Count one call; a cached answer costs nothing but is still counted as a call."""
        cost = 0.0 if cached else self.cost(model, usage)
        counted = Usage() if cached else usage
        with self._lock:
            self.total.add(counted, cost, cached=cached)
            self.by_component[component or "other"].add(counted, cost, cached=cached)
            if problem:
                self.by_problem[problem].add(counted, cost, cached=cached)
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
                    "by_problem": {k: v.as_dict() for k, v in sorted(self.by_problem.items())}}
