"""The OpenAI-compatible backend (hosted APIs, vLLM, llama.cpp server, ...)."""

from __future__ import annotations

import os

from lego_prover.config import LLMSettings


def probe_endpoint(settings: LLMSettings, *, timeout_s: float = 5.0) -> tuple[bool, str]:
    """Is the endpoint reachable, and does it serve ``settings.model``?"""
    from openai import APIConnectionError, APIStatusError, OpenAI

    key = os.environ.get(settings.api_key_env) or "not-needed-for-local-servers"
    client = OpenAI(base_url=settings.base_url, api_key=key, timeout=timeout_s, max_retries=0)
    try:
        models = [m.id for m in client.models.list()]
    except APIConnectionError as exc:
        return False, f"unreachable ({exc.__class__.__name__})"
    except APIStatusError as exc:
        return False, f"answered HTTP {exc.status_code}"
    if settings.model in models or not models:
        return True, f"reachable; model {settings.model!r} {'listed' if models else '(server lists no models)'}"
    return False, f"reachable, but model {settings.model!r} is not among {models[:5]}"
