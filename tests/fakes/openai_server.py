"""A local HTTP server speaking the OpenAI chat-completions API, for tests only.

Replies are scripted per request (status, headers, body, delay); with no script left it
answers successfully. ``ignore_n`` mimics llama.cpp's server, which returns one choice.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: str | None = None           # raw body; None = a normal completion
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class FakeOpenAIServer:
    def __init__(self, *, ignore_n: bool = False) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.ignore_n = ignore_n
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
                text = reply.body if reply.body is not None else outer.completion(body)
                self._send(reply.status, text, reply.headers)

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

    def completion(self, body: dict[str, Any]) -> str:
        n = 1 if self.ignore_n else int(body.get("n") or 1)
        k = len(self.requests)
        choices = [{"index": i, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"answer {k}.{i}"}} for i in range(n)]
        return json.dumps({"id": f"c{k}", "object": "chat.completion", "created": 0, "model": body.get("model"),
                           "choices": choices, "usage": {"prompt_tokens": 10, "completion_tokens": 5 * n,
                                                         "total_tokens": 10 + 5 * n}})

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
