"""A scripted LLM for tests: answers from a table or a callable and records every call.

Lives in tests/ only; no setting can select it.

    llm = ScriptedLLM({"decomposer": DECOMPOSITION, "formalizer": [bad_proof, good_proof]})
    ...
    assert llm.calls[0].component == "decomposer"

A table maps a component to one answer (always given) or a list (given in order; the
last one repeats). A callable gets the ``LLMCall`` and returns one answer; it is called
once per sample.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lego_prover.llm.base import ChatMessage, Completion, Usage
from lego_prover.llm.usage import UsageTracker

Answer = str | Sequence[str]


@dataclass(frozen=True)
class LLMCall:
    messages: tuple[ChatMessage, ...]
    n: int
    temperature: float
    max_tokens: int
    component: str
    problem: str
    attempt: int

    @property
    def prompt(self) -> str:
        return "\n".join(m["content"] for m in self.messages)


@dataclass
class ScriptedLLM:
    script: Mapping[str, Answer] | Callable[[LLMCall], str]
    tracker: UsageTracker = field(default_factory=UsageTracker)
    delay_s: float | Callable[[LLMCall], float] = 0.0
    model: str = "scripted"
    calls: list[LLMCall] = field(default_factory=list)
    concurrency: int | None = None     # like a server's limit: calls beyond it wait
    _served: dict[str, int] = field(default_factory=dict)
    _slots: asyncio.Semaphore | None = None

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
    ) -> list[Completion]:
        self.tracker.reserve()
        call = LLMCall(tuple(messages), n, temperature, max_tokens, component, problem, attempt)
        self.calls.append(call)
        delay = self.delay_s(call) if callable(self.delay_s) else self.delay_s
        if self.concurrency and self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        if self._slots is not None:
            async with self._slots:
                await asyncio.sleep(delay)
        elif delay:
            await asyncio.sleep(delay)
        texts = [self._answer(call) for _ in range(n)]
        prompt_tokens = len(call.prompt.split())
        out = []
        for i, text in enumerate(texts):
            usage = Usage(prompt_tokens if i == 0 else 0, len(text.split()))
            self.tracker.record(self.model, usage, component=component, problem=problem)
            out.append(Completion(text, "stop", usage, self.model))
        return out

    def _answer(self, call: LLMCall) -> str:
        if callable(self.script):
            return self.script(call)
        if call.component not in self.script:
            raise AssertionError(f"the scripted LLM has no answer for component {call.component!r}")
        answer = self.script[call.component]
        if isinstance(answer, str):
            return answer
        i = self._served.get(call.component, 0)
        self._served[call.component] = i + 1
        return answer[min(i, len(answer) - 1)]

    def components(self) -> list[str]:
        return [c.component for c in self.calls]
