"""What a call costs: the built-in price table (dated, with sources) and the cost of one call.

Usage::

    prices = PriceBook(settings.llm.prices)      # your [llm.prices.*] over the built-in table
    cost = prices.cost("gpt-5-mini", usage)      # USD, or None: no price is known for the model

A model with no known price costs ``None``, never 0: the usage records, the report and
``compare`` name it as unpriced instead of counting it as free, and a cost budget
(``budget.max_cost_usd``) refuses to start with such a model.

Prices are USD per million tokens, standard tier, for prompts within the model's base
context pricing (OpenAI's GPT-5.4 and later charge more past 272k prompt tokens: our
prompts are far shorter). Reasoning tokens are part of ``completion_tokens`` and billed at
the output rate; cached prompt tokens are part of ``prompt_tokens`` and billed at the
cached rate where the model has one.

Where each price came from, and when it was checked (``CHECKED``): this machine has no
live web, so each entry names the stored copy of the source it was read from. Models
whose sources disagreed, or that no stored source prices, are left out (and so reported
as unpriced): OpenAI's o3 (USD 10/40 in simonw/llm-prices, 2/8 in other listings),
gpt-5.6-sol (5/30 against 4/20), DeepSeek's deepseek-v4-pro (a time-limited discount whose
end is not in any stored source) and the retired aliases deepseek-chat and
deepseek-reasoner.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from lego_prover.config import Price
from lego_prover.llm.base import Usage

CHECKED = "2026-12-05"

LLM_PRICES = ("simonw/llm-prices data/openai.json at commit 723ef0b (2026-08-05), which follows "
              "OpenAI's pricing page (developers.openai.com/api/docs/pricing)")
DEEPSEEK = ("DeepSeek's Models & Pricing page (api-docs.deepseek.com/quick_start/pricing) as quoted by "
            "chat-deep.ai/pricing (verified 2026-04-26), tokenmix.ai/blog/deepseek-api-pricing (checked "
            "2026-04-30) and deepseekv4pro.com (updated 2026-06-28); the cache-hit rate is the one cut to a "
            "tenth on 2026-04-26")


@dataclass(frozen=True)
class PriceEntry:
    price: Price
    source: str


def _entry(input_: float, cached: float | None, output: float, source: str) -> PriceEntry:
    return PriceEntry(Price(input_per_mtok=input_, cached_input_per_mtok=cached, output_per_mtok=output), source)


# model: (input, cached input, output) in USD per million tokens
BUILT_IN: dict[str, PriceEntry] = {
    "gpt-5.5": _entry(5.0, 0.5, 30.0, LLM_PRICES),
    "gpt-5.5-pro": _entry(30.0, None, 180.0, LLM_PRICES),
    "gpt-5.4": _entry(2.5, 0.25, 15.0, LLM_PRICES),
    "gpt-5.4-pro": _entry(30.0, None, 180.0, LLM_PRICES),
    "gpt-5.4-mini": _entry(0.75, 0.075, 4.5, LLM_PRICES),
    "gpt-5.4-nano": _entry(0.2, 0.02, 1.25, LLM_PRICES),
    "gpt-5.6-terra": _entry(2.0, 0.2, 12.0, LLM_PRICES + "; price from 2026-07-30"),
    "gpt-5.6-luna": _entry(0.2, 0.02, 1.2, LLM_PRICES + "; price from 2026-07-30"),
    "gpt-5.2": _entry(1.75, 0.175, 14.0, LLM_PRICES),
    "gpt-5.1": _entry(1.25, 0.125, 10.0, LLM_PRICES),
    "gpt-5": _entry(1.25, 0.125, 10.0, LLM_PRICES),
    "gpt-5-mini": _entry(0.25, 0.025, 2.0, LLM_PRICES),
    "gpt-5-nano": _entry(0.05, 0.005, 0.4, LLM_PRICES),
    "o4-mini": _entry(1.1, 0.275, 4.4, LLM_PRICES),
    "o3-mini": _entry(1.1, 0.55, 4.4, LLM_PRICES),
    "gpt-4.1": _entry(2.0, 0.5, 8.0, LLM_PRICES),
    "gpt-4.1-mini": _entry(0.4, 0.1, 1.6, LLM_PRICES),
    "gpt-4.1-nano": _entry(0.1, 0.025, 0.4, LLM_PRICES),
    "gpt-4o": _entry(2.5, 1.25, 10.0, LLM_PRICES),
    "gpt-4o-mini": _entry(0.15, 0.075, 0.6, LLM_PRICES),
    "deepseek-v4-flash": _entry(0.14, 0.0028, 0.28, DEEPSEEK),
}

_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")   # a dated snapshot, gpt-5-2025-08-07, costs what gpt-5 costs


def call_cost(price: Price, usage: Usage) -> float:
    cached = min(max(usage.cached_tokens, 0), usage.prompt_tokens)
    cached_rate = price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    return ((usage.prompt_tokens - cached) * price.input_per_mtok + cached * cached_rate
            + usage.completion_tokens * price.output_per_mtok) / 1e6


class PriceBook:
    """Your prices (``llm.prices``) over the built-in table."""

    def __init__(self, own: Mapping[str, Price] | None = None, built_in: Mapping[str, PriceEntry] | None = None) -> None:
        self._own = dict(own or {})
        self._built_in = dict(BUILT_IN if built_in is None else built_in)

    def price(self, model: str) -> Price | None:
        for name in (model, _DATED.sub("", model)):
            if name in self._own:
                return self._own[name]
            if name in self._built_in:
                return self._built_in[name].price
        return None

    def source(self, model: str) -> str:
        """Where the price used for ``model`` comes from."""
        for name in (model, _DATED.sub("", model)):
            if name in self._own:
                return "llm.prices (your settings)"
            if name in self._built_in:
                return f"built-in table, checked {CHECKED} against {self._built_in[name].source}"
        return "no price known"

    def cost(self, model: str, usage: Usage) -> float | None:
        price = self.price(model)
        return None if price is None else call_cost(price, usage)

    def unpriced(self, models: list[str]) -> list[str]:
        return [m for m in dict.fromkeys(models) if self.price(m) is None]
