"""A local HTTP server speaking the OpenAI chat-completions API, for tests only.

Replies are scripted per request (status, headers, body, delay); with no script left it
answers successfully, in the ``shape`` of a model family (``SHAPES``), with the text
``answer(request_body)`` gives (default ``answer K.I``). ``ignore_n`` mimics llama.cpp's
server, which returns one choice. No setting of lego-prover can select it.

The shapes follow the providers' published references (cited in tests/test_llm_reasoning.py):

* ``plain``: a chat model; ``usage`` has prompt and completion tokens only.
* ``openai_reasoning`` (o-series, GPT-5): refuses ``max_tokens`` and any ``temperature``
  but its default 1 with OpenAI's documented 400 body (``invalid_request_error``, ``param``,
  ``code`` ``unsupported_parameter`` / ``unsupported_value``); its reasoning is hidden;
  ``usage`` reports ``completion_tokens_details.reasoning_tokens`` and
  ``prompt_tokens_details.cached_tokens``.
* ``deepseek``: the reasoning in ``message.reasoning_content``; ``usage`` reports
  ``completion_tokens_details.reasoning_tokens`` and DeepSeek's ``prompt_cache_hit_tokens``
  / ``prompt_cache_miss_tokens``.
* ``vllm``: vLLM's reasoning parser (v0.11 on): the reasoning in ``message.reasoning``;
  ``usage`` plain.
* ``qwen3_inline``: no reasoning parser: ``<think>...</think>`` before the answer in
  ``content``; ``usage`` plain.

Every shape with reasoning is cut off when the request's output limit is below
``NEEDS`` tokens: then the reply is all reasoning (an unclosed ``<think>`` inline), with
``finish_reason`` ``length`` and the limit's worth of completion tokens.

Token counts are fixed so that tests can compute costs by hand: ``PROMPT`` prompt tokens
(``CACHED`` of them cached, where the shape reports caching) and ``COMPLETION`` completion
tokens (``REASONING`` of them reasoning) per choice.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROMPT, CACHED, COMPLETION, REASONING = 200, 150, 100, 60
NEEDS = COMPLETION          # an output limit below this cuts a reasoning model off mid-reasoning
REASONING_TEXT = "Let me think. The statement follows from a short computation; I will write it in Isabelle."


@dataclass
class Reply:
    status: int = 200
    body: str | None = None           # raw body; None = a normal completion
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Shape:
    name: str
    refuses_max_tokens: bool = False       # OpenAI's reasoning models: only max_completion_tokens
    default_temperature_only: bool = False  # ... and only temperature 1
    reasoning: str = ""                    # "hidden" | "reasoning_content" | "reasoning" | "inline" | ""
    reports_reasoning_tokens: bool = False
    caching: str = ""                      # "openai" (prompt_tokens_details) | "deepseek" | ""


SHAPES = {
    "plain": Shape("plain"),
    "openai_reasoning": Shape("openai_reasoning", refuses_max_tokens=True, default_temperature_only=True,
                              reasoning="hidden", reports_reasoning_tokens=True, caching="openai"),
    "deepseek": Shape("deepseek", reasoning="reasoning_content", reports_reasoning_tokens=True, caching="deepseek"),
    "vllm": Shape("vllm", reasoning="reasoning"),
    "qwen3_inline": Shape("qwen3_inline", reasoning="inline"),
}


def refusal(param: str, message: str, code: str) -> str:
    """OpenAI's 400 body for a parameter the model does not take."""
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}})


MAX_TOKENS_REFUSED = refusal("max_tokens", "Unsupported parameter: 'max_tokens' is not supported with this model. "
                             "Use 'max_completion_tokens' instead.", "unsupported_parameter")


def temperature_refused(value: object) -> str:
    return refusal("temperature", f"Unsupported value: 'temperature' does not support {value} with this model. "
                   "Only the default (1) value is supported.", "unsupported_value")


class FakeOpenAIServer:
    def __init__(self, *, ignore_n: bool = False, shape: str = "plain",
                 answer: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.ignore_n = ignore_n
        self.shape = SHAPES[shape]
        self.answer = answer
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, json.dumps({"object": "list", "data": [{"id": "test-model", "object": "model"}]}))

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(body)
                reply = outer.script.popleft() if outer.script else Reply()
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.body is not None:
                    self._send(reply.status, reply.body, reply.headers)
                    return
                refused = outer.refused(body)
                if refused is not None:
                    self._send(400, refused)
                    return
                self._send(reply.status, outer.completion(body), reply.headers)

            def _send(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
                data = text.encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def refused(self, body: dict[str, Any]) -> str | None:
        """The documented 400 for a parameter this shape's model does not take, or None."""
        if self.shape.refuses_max_tokens and "max_tokens" in body:
            return MAX_TOKENS_REFUSED
        if self.shape.default_temperature_only and "temperature" in body and body["temperature"] != 1:
            return temperature_refused(body["temperature"])
        return None

    def _text(self, body: dict[str, Any], k: int, i: int) -> str:
        return self.answer(body) if self.answer is not None else f"answer {k}.{i}"

    def completion(self, body: dict[str, Any]) -> str:
        n = 1 if self.ignore_n else int(body.get("n") or 1)
        k = len(self.requests)
        shape = self.shape
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or 1 << 20
        cut = bool(shape.reasoning) and limit < NEEDS
        completion = limit if cut else COMPLETION
        reasoning_tokens = completion if cut else REASONING
        choices = []
        for i in range(n):
            answer = "" if cut else self._text(body, k, i)
            message: dict[str, Any] = {"role": "assistant", "content": answer}
            if shape.reasoning in ("reasoning_content", "reasoning"):
                message[shape.reasoning] = REASONING_TEXT
            elif shape.reasoning == "inline":
                message["content"] = (f"<think>\n{REASONING_TEXT}" if cut
                                      else f"<think>\n{REASONING_TEXT}\n</think>\n\n{answer}")
            choices.append({"index": i, "finish_reason": "length" if cut else "stop", "message": message})
        usage: dict[str, Any] = {"prompt_tokens": PROMPT, "completion_tokens": completion * n,
                                 "total_tokens": PROMPT + completion * n}
        if shape.reports_reasoning_tokens:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens * n}
        if shape.caching == "openai":
            usage["prompt_tokens_details"] = {"cached_tokens": CACHED}
        elif shape.caching == "deepseek":
            usage |= {"prompt_cache_hit_tokens": CACHED, "prompt_cache_miss_tokens": PROMPT - CACHED}
        return json.dumps({"id": f"c{k}", "object": "chat.completion", "created": 0, "model": body.get("model"),
                           "choices": choices, "usage": usage})

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


if __name__ == "__main__":  # a stand-in "model server" process for LocalModelServer tests
    import os
    import sys

    port = int(sys.argv[1])
    server = FakeOpenAIServer()
    if "--die-on-chat" in sys.argv:  # a model server that crashes on its first chat request
        server.completion = lambda body: os._exit(3)  # type: ignore[method-assign]
    server._httpd.server_close()
    server._httpd = ThreadingHTTPServer(("127.0.0.1", port), server._httpd.RequestHandlerClass)
    server._httpd.serve_forever()
