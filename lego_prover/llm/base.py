"""The one LLM interface every prover and evolver step talks to.

Usage::

    completions = await llm.complete([{"role": "user", "content": "Prove ..."}],
                                     n=4, temperature=0.7, max_tokens=1024, component="formalizer")
    for c in completions:
        print(c.text, c.finish_reason, c.usage.completion_tokens)

``component`` and ``problem`` label the call in the usage accounting; ``attempt`` keeps
the response cache from handing two attempts with the same prompt the same samples.
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
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens)


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    usage: Usage
    model: str = ""
    cached: bool = False


class LLM(Protocol):
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
