"""The OpenAI-compatible backend: hosted APIs, vLLM, llama.cpp server, any compatible server.

Usage::

    llm = OpenAIChat(settings.llm, tracker=UsageTracker(settings.llm.prices, settings.budget),
                     cache=ResponseCache(settings.llm.cache_path))
    completions = await llm.complete(messages, n=4, temperature=0.7, component="formalizer")

Rate limits, 5xx, timeouts, dropped connections and malformed replies are retried with
exponential backoff and jitter, honouring ``Retry-After``; authentication and bad-request
errors stop at once with a clear message. The API key is read from the environment
variable named by ``llm.api_key_env`` and never logged.

What is the endpoint's fault raises ``LLMUnavailableError`` (an infrastructure failure, not
a proof failure): retries used up, a bad request, and, ``fatal`` (the run stops at once),
a refused key, an unknown model, or a local model server process that exited
(``server_gone`` tells, and then no retry is tried).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import openai
from openai import AsyncOpenAI
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from lego_prover.config import LLMSettings
from lego_prover.errors import LLMError, LLMUnavailableError
from lego_prover.llm.base import ChatMessage, Completion, Usage
from lego_prover.llm.cache import ResponseCache, cache_key
from lego_prover.llm.usage import UsageTracker

log = logging.getLogger(__name__)

# A 200 with a body that is not JSON (a proxy hiccup) surfaces as JSONDecodeError.
_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
              openai.APIConnectionError, openai.APIResponseValidationError, json.JSONDecodeError)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, _RETRYABLE):
        return True
    return (isinstance(exc, openai.APIStatusError) and exc.status_code in (408, 409, 429)) or (
        isinstance(exc, openai.APIStatusError) and exc.status_code >= 500)


def _retry_after(exc: BaseException | None) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class OpenAIChat:
    def __init__(self, settings: LLMSettings, *, tracker: UsageTracker, cache: ResponseCache | None = None,
                 server_gone: Callable[[], str | None] | None = None) -> None:
        self._settings = settings
        self._server_gone = server_gone  # for a local server: why its process is gone, or None
        self._tracker = tracker
        self._cache = cache if settings.cache else None
        key = os.environ.get(settings.api_key_env)
        if not key and settings.base_url is None:
            raise LLMError(f"no API key: set the environment variable {settings.api_key_env} "
                           "(or point llm.base_url at a local OpenAI-compatible server).")
        self._client = AsyncOpenAI(base_url=settings.base_url, api_key=key or "local-server",
                                   timeout=settings.request_timeout_s, max_retries=0)
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._supports_n = settings.supports_n
        self.requests = 0

    @property
    def model(self) -> str:
        return self._settings.model

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
        keys = [cache_key(self.model, messages, temperature=temperature, max_tokens=max_tokens, stop=stop, index=i, attempt=attempt)
                for i in range(n)]
        results: list[Completion | None] = [self._cache.get(k) if self._cache else None for k in keys]
        for hit in (r for r in results if r is not None):
            self._tracker.record(self.model, hit.usage, component=component, problem=problem, cached=True)
        missing = [i for i, r in enumerate(results) if r is None]
        while missing:
            batch = len(missing) if self._supports_n is not False else 1
            got = await self._request(messages, batch, temperature, max_tokens, stop, component, problem)
            if batch > 1 and len(got) < batch and self._supports_n is None:
                log.warning("the LLM server returned %d of %d samples (it ignores n>1); "
                            "requesting the rest one by one", len(got), batch)
                self._supports_n = False
            if not got:
                raise LLMError("the LLM server returned no completion")
            for completion in got[: len(missing)]:
                i = missing.pop(0)
                results[i] = completion
                if self._cache:
                    self._cache.put(keys[i], completion)
        return [r for r in results if r is not None]

    async def _request(self, messages: Sequence[ChatMessage], n: int, temperature: float, max_tokens: int,
                       stop: Sequence[str] | None, component: str, problem: str) -> list[Completion]:
        self._tracker.reserve()
        settings = self._settings

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            after = _retry_after(exc)
            if after is not None:
                return min(after, settings.retry_max_s)
            base = settings.retry_initial_s * 2 ** (state.attempt_number - 1)
            return float(min(settings.retry_max_s, base * (0.5 + random.random())))

        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable), wait=wait,
            stop=stop_after_attempt(settings.max_retries + 1), reraise=True,
            before_sleep=lambda s: log.info("LLM request failed (%s); retry %d",
                                            type(s.outcome.exception()).__name__ if s.outcome else "?", s.attempt_number))
        kwargs: dict[str, Any] = {"model": settings.model, "messages": list(messages), "temperature": temperature,
                                  "max_tokens": max_tokens}
        if n > 1:
            kwargs["n"] = n
        if stop:
            kwargs["stop"] = list(stop)
        try:
            async with self._semaphore:
                async for attempt in retrying:
                    with attempt:
                        self.requests += 1
                        try:
                            response = await self._client.chat.completions.create(**kwargs)
                        except openai.APIConnectionError:
                            gone = self._server_gone() if self._server_gone else None
                            if gone:  # retrying a process that exited only wastes minutes
                                raise LLMUnavailableError(gone, fatal=True) from None
                            raise
        except openai.AuthenticationError as exc:
            raise LLMUnavailableError(f"the LLM endpoint refused the API key in ${settings.api_key_env} (HTTP 401); "
                                      "set a valid key", fatal=True) from exc
        except openai.PermissionDeniedError as exc:
            raise LLMUnavailableError(f"the API key has no access to model {settings.model!r} (HTTP 403); "
                                      "check llm.model and the key's permissions", fatal=True) from exc
        except openai.NotFoundError as exc:
            raise LLMUnavailableError(f"model {settings.model!r} or endpoint not found (HTTP 404); check llm.model "
                                      "and llm.base_url", fatal=True) from exc
        except openai.BadRequestError as exc:
            raise LLMUnavailableError(f"the LLM endpoint rejected the request (HTTP 400): {exc.message[:200]}") from exc
        except _RETRYABLE as exc:
            where = settings.base_url or "api.openai.com"
            raise LLMUnavailableError(f"the LLM endpoint {where} kept failing after {settings.max_retries} retries: "
                                      f"{type(exc).__name__}") from exc
        return self._completions(response, component, problem)

    def _completions(self, response: Any, component: str, problem: str) -> list[Completion]:
        usage = Usage(getattr(response.usage, "prompt_tokens", 0) or 0, getattr(response.usage, "completion_tokens", 0) or 0)
        self._tracker.record(self.model, usage, component=component, problem=problem)
        choices = list(response.choices or [])
        out = []
        for i, choice in enumerate(choices):
            share = Usage(usage.prompt_tokens if i == 0 else 0, usage.completion_tokens // max(1, len(choices)))
            out.append(Completion(choice.message.content or "", choice.finish_reason or "", share,
                                  getattr(response, "model", "") or self.model))
        return out


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
