"""The OpenAI-compatible backend: hosted APIs, vLLM, llama.cpp server, any compatible server.

Usage::

    llm = OpenAIChat(settings.llm, tracker=UsageTracker(PriceBook(settings.llm.prices), settings.budget),
                     cache=ResponseCache(settings.llm.cache_path))
    completions = await llm.complete(messages, n=4, temperature=0.7, component="formalizer")

Rate limits, 5xx, timeouts, dropped connections and malformed replies are retried with
exponential backoff and jitter, honouring ``Retry-After``; authentication and bad-request
errors stop at once with a clear message. The API key is read from the environment
variable named by ``llm.api_key_env`` and never logged.

What is sent, for the models people use now (OpenAI's chat completions reference; the
SDK's ``completion_create_params``):

* the output limit as ``max_completion_tokens`` (OpenAI's API, and o-series / GPT-5 names
  anywhere: they refuse ``max_tokens``) or ``max_tokens`` (other servers), per
  ``llm.token_parameter``; a 400 refusing the one sent switches to the other for the rest
  of the run, said once;
* ``temperature`` only where the model takes one (``llm.send_temperature``; unset: not for
  the o-series and GPT-5, which accept only their default);
* ``reasoning_effort`` when ``llm.reasoning_effort`` is set.

Any other 400 that names a parameter we sent raises ``LLMRequestRefusedError``: one line
naming the parameter and the setting that fixes it, exit code 2, no retry.

What comes back: the answer in ``Completion.text``, the reasoning (``reasoning_content``,
``reasoning``, or inline ``<think>``) in ``Completion.reasoning``, and the usage with
``completion_tokens_details.reasoning_tokens`` and ``prompt_tokens_details.cached_tokens``
(DeepSeek: ``prompt_cache_hit_tokens``).

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
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

import openai
from openai import AsyncOpenAI
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from lego_prover.config import LLMSettings
from lego_prover.errors import (
    LegoProverError,
    LLMError,
    LLMRequestRefusedError,
    LLMUnavailableError,
)
from lego_prover.llm.base import ChatMessage, Completion, Usage
from lego_prover.llm.cache import ResponseCache, cache_key
from lego_prover.llm.reasoning import message_reasoning_field, split_reasoning
from lego_prover.llm.usage import UsageTracker

log = logging.getLogger(__name__)

# A 200 with a body that is not JSON (a proxy hiccup) surfaces as JSONDecodeError.
_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
              openai.APIConnectionError, openai.APIResponseValidationError, json.JSONDecodeError)

TOKEN_PARAMETERS = ("max_tokens", "max_completion_tokens")
# OpenAI's reasoning models, also behind other endpoints (Azure, OpenRouter's "openai/gpt-5"):
# o1, o3-mini, o4-mini, gpt-5, gpt-5.1, gpt-5-mini, ...
_OPENAI_REASONING = re.compile(r"(^|/)(o[1-9]([-.]|$)|gpt-5)", re.IGNORECASE)
_NAMED_IN_MESSAGE = re.compile(r"Unsupported (?:parameter|value): '([A-Za-z_]+)'")


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


def is_openai_api(base_url: str | None) -> bool:
    return base_url is None or (urlparse(base_url).hostname or "").endswith("api.openai.com")


def is_openai_reasoning_model(model: str) -> bool:
    return bool(_OPENAI_REASONING.search(model))


def choose_token_parameter(settings: LLMSettings) -> str:
    """``llm.token_parameter``, or by default: OpenAI's API (which deprecated ``max_tokens``) and its
    reasoning models anywhere take ``max_completion_tokens``; every other server ``max_tokens``."""
    if settings.token_parameter != "auto":
        return settings.token_parameter
    if is_openai_api(settings.base_url) or is_openai_reasoning_model(settings.model):
        return "max_completion_tokens"
    return "max_tokens"


def sends_temperature(settings: LLMSettings) -> bool:
    if settings.send_temperature is not None:
        return settings.send_temperature
    return not is_openai_reasoning_model(settings.model)


def refused_parameter(exc: openai.BadRequestError) -> tuple[str, str]:
    """(parameter, code) a 400 names, or ("", "")."""
    body = exc.body if isinstance(exc.body, dict) else {}
    param = exc.param or body.get("param")
    code = str(exc.code or body.get("code") or "")
    found = _NAMED_IN_MESSAGE.search(exc.message or "")
    if not param and found:
        param = found.group(1)
    if found and not code:   # a server that says "Unsupported parameter" without OpenAI's code
        code = "unsupported_parameter" if found.group(0).startswith("Unsupported parameter") else "unsupported_value"
    return str(param or ""), code


def _count(obj: Any, name: str) -> int:
    if obj is None:
        return 0
    value = getattr(obj, name, None)
    if value is None:
        value = (getattr(obj, "model_extra", None) or {}).get(name)
    return int(value) if isinstance(value, int | float) else 0


def read_usage(raw: Any) -> Usage:
    """The usage object of a chat completion, with its reasoning and cached tokens."""
    cached = _count(getattr(raw, "prompt_tokens_details", None), "cached_tokens") or _count(raw, "prompt_cache_hit_tokens")
    return Usage(_count(raw, "prompt_tokens"), _count(raw, "completion_tokens"),
                 _count(getattr(raw, "completion_tokens_details", None), "reasoning_tokens"), cached)


def _shares(total: int, parts: int) -> list[int]:
    """``total`` split over ``parts``, the remainder on the first: the shares add up exactly."""
    base, rest = divmod(total, max(1, parts))
    return [base + (rest if i == 0 else 0) for i in range(max(1, parts))]


class OpenAIChat:
    def __init__(self, settings: LLMSettings, *, tracker: UsageTracker, cache: ResponseCache | None = None,
                 server_gone: Callable[[], str | None] | None = None, role: str | None = None,
                 role_keys: frozenset[str] = frozenset()) -> None:
        self._settings = settings
        self._server_gone = server_gone  # for a local server: why its process is gone, or None
        self._tracker = tracker
        self._cache = cache if settings.cache else None
        self._role = role                # a role's own model: its keys (role_keys) live in llm.roles.ROLE
        self._role_keys = role_keys
        key = os.environ.get(settings.api_key_env)
        if not key and settings.base_url is None:
            raise LLMError(f"no API key: set the environment variable {settings.api_key_env} "
                           "(or point llm.base_url at a local OpenAI-compatible server).")
        self._client = AsyncOpenAI(base_url=settings.base_url, api_key=key or "local-server",
                                   timeout=settings.request_timeout_s, max_retries=0)
        self._semaphore = asyncio.Semaphore(settings.concurrency)
        self._supports_n = settings.supports_n
        self._token_parameter = choose_token_parameter(settings)
        self._switched = False
        self._temperature = sends_temperature(settings)
        self.requests = 0
        self.last_usage_report: dict[str, Any] = {}   # the endpoint's usage object of the last reply, as sent
        self.notes: list[str] = []        # what was adapted during the run, each said once
        if not self._temperature and settings.send_temperature is None:
            self._note(f"model {settings.model!r} takes only its default temperature: lego-prover sends none "
                       f"(set {self._setting('send_temperature')} = true to send it)", level=logging.INFO)

    @property
    def model(self) -> str:
        return self._settings.model

    def _setting(self, key: str) -> str:
        """Where the setting ``key`` of this model is set: ``llm.KEY`` or ``llm.roles.ROLE.KEY``."""
        return f"llm.roles.{self._role}.{key}" if self._role and key in self._role_keys else f"llm.{key}"

    @property
    def token_parameter(self) -> str:
        return self._token_parameter

    def _note(self, message: str, *, level: int = logging.WARNING) -> None:
        if message not in self.notes:
            self.notes.append(message)
            log.log(level, message)

    def request_parameters(self, n: int, temperature: float, max_tokens: int,
                           stop: Sequence[str] | None) -> dict[str, Any]:
        """Everything sent besides the model and the messages."""
        params: dict[str, Any] = {self._token_parameter: max_tokens}
        if self._temperature:
            params["temperature"] = temperature
        if self._settings.reasoning_effort:
            params["reasoning_effort"] = self._settings.reasoning_effort
        if n > 1:
            params["n"] = n
        if stop:
            params["stop"] = list(stop)
        return params

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
        extra = {"reasoning_effort": self._settings.reasoning_effort} if self._settings.reasoning_effort else None
        keys = [cache_key(self.model, messages, temperature=temperature, max_tokens=max_tokens, stop=stop, index=i,
                          attempt=attempt, extra=extra) for i in range(n)]
        results: list[Completion | None] = [self._cache.get(k) if self._cache else None for k in keys]
        for hit in (r for r in results if r is not None):
            self._tracker.record(self.model, hit.usage, component=component, problem=problem, cached=True,
                                 reasoned=hit.reasoned)
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
        for resend in range(3):
            try:
                response = await self._send(messages, self.request_parameters(n, temperature, max_tokens, stop))
            except openai.BadRequestError as exc:
                param, code = refused_parameter(exc)
                if (param in TOKEN_PARAMETERS and code == "unsupported_parameter" and param != self._token_parameter
                        and resend < 2):
                    continue   # a request sent before another one switched the name: send it again
                if param == self._token_parameter and code == "unsupported_parameter" and not self._switched:
                    # same meaning, other name: switch for the rest of the run
                    self._switched = True
                    other = next(p for p in TOKEN_PARAMETERS if p != param)
                    self._token_parameter = other
                    self._note(f"model {self.model!r} refused {param!r}: sending {other!r} from now on "
                               f"(set {self._setting('token_parameter')} = \"{other}\" to start with it)")
                    continue
                raise self._refusal(exc, param, code) from exc
            return self._completions(response, component, problem)
        raise AssertionError("unreachable: the last resend returns or raises")

    def _refusal(self, exc: openai.BadRequestError, param: str, code: str) -> LegoProverError:
        """A 400: a parameter we sent that the model refuses (a setting to change), or a bad request."""
        settings = self._settings
        body = exc.body if isinstance(exc.body, dict) else {}
        detail = " ".join(str(body.get("message") or exc.message or "").split())[:200]
        fixes = {
            "temperature": f"set {self._setting('send_temperature')} = false (the model takes only its default)",
            "reasoning_effort": f"unset {self._setting('reasoning_effort')}, or give a value this model accepts",
            "n": "set llm.supports_n = false (one request per sample)",
        }
        if param in TOKEN_PARAMETERS:
            fixes[param] = (f"set {self._setting('token_parameter')} to the parameter this model takes"
                            if code == "unsupported_parameter" else
                            "lower prover.max_tokens or evolver.max_tokens to what this model allows")
        sent = self.request_parameters(1, 0.0, 1, None).keys() | {"n", "stop"}
        if param in fixes and param in sent:
            return LLMRequestRefusedError(
                f"the LLM endpoint refused the parameter {param!r} for model {settings.model!r} "
                f"(HTTP 400{' ' + code if code else ''}: {detail}); {fixes[param]}", parameter=param,
                setting=fixes[param])
        return LLMUnavailableError(f"the LLM endpoint rejected the request (HTTP 400): {detail}")

    async def _send(self, messages: Sequence[ChatMessage], params: dict[str, Any]) -> Any:
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
        kwargs: dict[str, Any] = {"model": settings.model, "messages": list(messages), **params}
        try:
            async with self._semaphore:
                async for attempt in retrying:
                    with attempt:
                        self.requests += 1
                        try:
                            return await self._client.chat.completions.create(**kwargs)
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
        except _RETRYABLE as exc:
            where = settings.base_url or "api.openai.com"
            raise LLMUnavailableError(f"the LLM endpoint {where} kept failing after {settings.max_retries} retries: "
                                      f"{type(exc).__name__}") from exc
        raise AssertionError("unreachable: tenacity re-raises the last failure")

    def _completions(self, response: Any, component: str, problem: str) -> list[Completion]:
        raw = response.usage
        self.last_usage_report = raw.model_dump(exclude_none=True) if hasattr(raw, "model_dump") else {}
        usage = read_usage(raw)
        choices = list(response.choices or [])
        parts = max(1, len(choices))
        completion_shares = _shares(usage.completion_tokens, parts)
        reasoning_shares = _shares(usage.reasoning_tokens, parts)
        out = []
        for i, choice in enumerate(choices):
            share = Usage(usage.prompt_tokens if i == 0 else 0, completion_shares[i], reasoning_shares[i],
                          usage.cached_tokens if i == 0 else 0)
            message = choice.message
            text, reasoning = split_reasoning(getattr(message, "content", None),
                                              field=message_reasoning_field(message))
            out.append(Completion(text, choice.finish_reason or "", share, self.model, reasoning=reasoning))
        self._tracker.record(self.model, usage, component=component, problem=problem,
                             reasoned=any(c.reasoned for c in out))
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
