"""The one LLM interface every prover and evolver step talks to.

Usage::

    completions = await llm.complete([{"role": "user", "content": "Prove ..."}],
                                     n=4, temperature=0.7, max_tokens=1024, component="formalizer")
    for c in completions:
        print(c.text, c.finish_reason, c.usage.completion_tokens, c.usage.reasoning_tokens)

``component`` and ``problem`` label the call in the usage accounting; ``attempt`` keeps
the response cache from handing two attempts with the same prompt the same samples.

``Completion.text`` is the model's *answer* only: whatever the model reasoned (a
``reasoning_content`` or ``reasoning`` field, or inline ``<think>`` blocks) is in
``Completion.reasoning`` and never in ``text``, so extraction and the soundness guard see
the answer alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict


class ChatMessage(TypedDict):
    role: str
    content: str


@dataclass(frozen=True)
class Usage:
    """Tokens of one call as the endpoint reported them.

    ``completion_tokens`` includes ``reasoning_tokens`` (they are billed as output);
    ``prompt_tokens`` includes ``cached_tokens`` (billed at the cached rate where the
    model has one).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     self.reasoning_tokens + other.reasoning_tokens, self.cached_tokens + other.cached_tokens)


@dataclass(frozen=True)
class Completion:
    text: str                  # the answer, reasoning removed
    finish_reason: str
    usage: Usage
    model: str = ""            # the model name as configured (what prices are keyed on)
    cached: bool = False
    reasoning: str = ""        # what the model reasoned before answering, when the endpoint shows it
    replayed: bool = False     # taken from a recorded conversation (``llm.replay``): no model was called
    usage_estimated: bool = False   # the source had no usage: counted with the tokenizer

    @property
    def reasoned(self) -> bool:
        return bool(self.reasoning.strip()) or self.usage.reasoning_tokens > 0

    @property
    def ran_out_while_reasoning(self) -> bool:
        """The token limit was reached before the model wrote any answer."""
        return self.finish_reason == "length" and not self.text.strip() and self.reasoned


class LLM(Protocol):
    @property
    def model(self) -> str: ...

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        stop: Sequence[str] | None = None,
        component: str = "",
        problem: str = "",
        attempt: int = 0,
    ) -> list[Completion]: ...
