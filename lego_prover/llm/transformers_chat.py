"""In-process Hugging Face ``transformers`` backend, for a GPU machine without a model server.

Usage::

    llm = TransformersChat("Qwen/Qwen2.5-Math-7B-Instruct", tracker=tracker)   # or a local folder
    completions = await llm.complete(messages, n=4, temperature=0.7)

Generation runs in a worker thread, one batch at a time (a single model on one device
gains nothing from interleaving). Needs the ``hf`` extra; without it construction fails
with a one-line error naming the ``pip install``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from lego_prover.llm.base import ChatMessage, Completion, Usage
from lego_prover.llm.cache import ResponseCache, cache_key
from lego_prover.llm.local_server import require_module
from lego_prover.llm.reasoning import split_reasoning
from lego_prover.llm.usage import UsageTracker


def _cut_at_stop(text: str, stop: Sequence[str] | None) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stop or ()) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class TransformersChat:
    def __init__(self, model: str, *, tracker: UsageTracker, cache: ResponseCache | None = None,
                 device: str | None = None, model_obj: Any = None, tokenizer: Any = None) -> None:
        require_module("transformers", "pip install 'lego-prover[hf]'")
        self._model_name = model
        self._tracker = tracker
        self._cache = cache
        if model_obj is None or tokenizer is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(model)
            model_obj = AutoModelForCausalLM.from_pretrained(model, torch_dtype="auto",
                                                             device_map=device or "auto")
        self._tokenizer = tokenizer
        self._model = model_obj
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self._model_name

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
        keys = [cache_key(self.model, messages, temperature=temperature, max_tokens=max_tokens,
                          stop=stop, index=i, attempt=attempt) for i in range(n)]
        cached = [self._cache.get(k) if self._cache else None for k in keys]
        if all(c is not None for c in cached):
            for c in cached:
                assert c is not None
                self._tracker.record(self.model, c.usage, component=component, problem=problem, cached=True,
                                     reasoned=c.reasoned)
            return [c for c in cached if c is not None]
        self._tracker.reserve()
        texts, prompt_tokens, counts = await asyncio.to_thread(
            self._generate, messages, n, temperature, max_tokens)
        usage = Usage(prompt_tokens, sum(counts))
        out = []
        for i, (text, count) in enumerate(zip(texts, counts, strict=True)):
            text, stopped = _cut_at_stop(text, stop)
            finish = "stop" if stopped or count < max_tokens else "length"
            answer, reasoning = split_reasoning(text)   # a thinking model's inline <think> block
            completion = Completion(answer, finish, Usage(prompt_tokens if i == 0 else 0, count), self.model,
                                    reasoning=reasoning)
            if self._cache:
                self._cache.put(keys[i], completion)
            out.append(completion)
        self._tracker.record(self.model, usage, component=component, problem=problem,
                             reasoned=any(c.reasoned for c in out))
        return out

    def _generate(self, messages: Sequence[ChatMessage], n: int, temperature: float,
                  max_tokens: int) -> tuple[list[str], int, list[int]]:
        tok = self._tokenizer
        inputs = tok.apply_chat_template(list(messages), add_generation_prompt=True, return_tensors="pt",
                                         return_dict=True)
        # Only what a causal LM takes; some tokenizers add token_type_ids that generate() rejects.
        inputs = {k: v.to(self._model.device) for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        prompt_len = int(inputs["input_ids"].shape[-1])
        sampling: dict[str, Any] = ({"do_sample": True, "temperature": temperature} if temperature > 0
                                    else {"do_sample": False})
        with self._lock:
            output = self._model.generate(**inputs, max_new_tokens=max_tokens, num_return_sequences=n,
                                          pad_token_id=tok.pad_token_id or tok.eos_token_id, **sampling)
        texts, counts = [], []
        for row in output:
            new = row[prompt_len:]
            ids = [int(t) for t in new]
            if tok.eos_token_id is not None and tok.eos_token_id in ids:
                ids = ids[: ids.index(tok.eos_token_id) + 1]
            counts.append(len(ids))
            texts.append(tok.decode(ids, skip_special_tokens=True))
        return texts, prompt_len, counts
