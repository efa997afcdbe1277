"""Reasoning text apart from the answer, whichever way the endpoint returns it.

Usage::

    answer, reasoning = split_reasoning(message.content, field=message_reasoning_field(message))

Where reasoning models put their reasoning:

* a separate field of the message: ``reasoning_content`` (DeepSeek's API; vLLM's reasoning
  parsers before v0.11) or ``reasoning`` (vLLM's reasoning parsers from v0.11 on);
* inline, before the answer: ``<think> ... </think>`` (Qwen3, DeepSeek-R1 and their
  distillations served without a reasoning parser); an unclosed ``<think>`` when the
  token limit cut the reasoning off; or only ``</think>`` when the chat template already
  put ``<think>`` into the prompt (Qwen3.5, DeepSeek-R1-0528);
* not at all (OpenAI's o-series and GPT-5: the reasoning stays hidden, only
  ``usage.completion_tokens_details.reasoning_tokens`` tells that there was some).

The answer is what is left. Isabelle text never contains ``<think>``: it writes its
symbols as ``\\<...>``.
"""

from __future__ import annotations

import re
from typing import Any

OPEN, CLOSE = "<think>", "</think>"
_BLOCK = re.compile(re.escape(OPEN) + r"(.*?)" + re.escape(CLOSE), re.DOTALL)
REASONING_FIELDS = ("reasoning_content", "reasoning")


def message_reasoning_field(message: Any) -> str:
    """The reasoning a message carries in a field of its own (``reasoning_content`` or ``reasoning``)."""
    extra = getattr(message, "model_extra", None) or {}
    for name in REASONING_FIELDS:
        value = getattr(message, name, None)
        if value is None:
            value = extra.get(name)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def split_reasoning(content: str | None, *, field: str = "") -> tuple[str, str]:
    """(answer, reasoning): inline ``<think>`` blocks, closed or not, moved out of the answer."""
    text = content or ""
    parts = [field] if field.strip() else []
    close, opening = text.find(CLOSE), text.find(OPEN)
    if close >= 0 and (opening < 0 or opening > close):  # the template opened the block in the prompt
        parts.append(text[:close])
        text = text[close + len(CLOSE):]
    parts += [m.group(1) for m in _BLOCK.finditer(text)]
    text = _BLOCK.sub("", text)
    unclosed = text.find(OPEN)
    if unclosed >= 0:  # cut off at the token limit while still reasoning
        parts.append(text[unclosed + len(OPEN):])
        text = text[:unclosed]
    reasoning = "\n\n".join(p.strip() for p in parts if p.strip())
    return (text.strip() if reasoning else text), reasoning
