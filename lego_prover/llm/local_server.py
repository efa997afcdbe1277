"""Start a local OpenAI-compatible model server, wait until it answers, stop it cleanly.

Usage::

    with LocalModelServer.for_model("model.gguf") as server:   # llama.cpp for GGUF files
        settings.llm.base_url = server.base_url
        ...                                                  # any OpenAI-compatible client

Backends: ``llama_cpp`` (``llama-cpp-python[server]``, GGUF files) and ``vllm`` (a GPU
machine). Both are optional extras; a missing one is a one-line error naming the
``pip install`` to run. The server binds 127.0.0.1 only and is stopped with its whole
process group, SIGTERM first and SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from lego_prover.errors import LLMError, MissingExtraError

Backend = Literal["llama_cpp", "vllm"]

BACKEND_EXTRAS: dict[Backend, tuple[str, str]] = {
    # backend: (module that must import, pip install line)
    "llama_cpp": ("llama_cpp.server", "pip install 'lego-prover[local]'  (llama-cpp-python[server]; compiles ~20 min)"),
    "vllm": ("vllm", "pip install 'lego-prover[vllm]'  (needs an NVIDIA GPU)"),
}


def require_module(module: str, install: str) -> None:
    """Raise a one-line MissingExtraError unless ``module`` can be imported."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise MissingExtraError(f"{module} is not installed; run: {install}")


def choose_backend(model: str, backend: str = "auto") -> Backend:
    """GGUF files go to llama.cpp; anything else (an HF id or folder) to vLLM."""
    if backend in ("llama_cpp", "vllm"):
        return backend  # type: ignore[return-value]
    if backend != "auto":
        raise LLMError(f"backend {backend!r} does not run a server; use llama_cpp or vllm")
    return "llama_cpp" if model.lower().endswith(".gguf") else "vllm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(backend: Backend, model: str, port: int, *, served_name: str,
                   context_size: int = 4096) -> list[str]:
    if backend == "llama_cpp":
        return [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1",
                "--port", str(port), "--model_alias", served_name, "--n_ctx", str(context_size)]
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
            "--host", "127.0.0.1", "--port", str(port), "--served-model-name", served_name]


@dataclass
class LocalModelServer:
    """A model server subprocess on 127.0.0.1; a context manager that always stops it."""

    command: Sequence[str]
    port: int
    served_name: str
    start_timeout_s: float = 600.0
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = None

    @classmethod
    def for_model(cls, model: str, *, backend: str = "auto", port: int = 0,
                  served_name: str | None = None, start_timeout_s: float = 600.0,
                  log_path: Path | None = None, check_extra: bool = True) -> LocalModelServer:
        chosen = choose_backend(model, backend)
        if chosen == "llama_cpp" and not Path(model).is_file():
            what = "is a folder, not a GGUF file" if Path(model).is_dir() else "does not exist"
            raise LLMError(f"the GGUF model file {model} {what}; give the path of a .gguf file")
        if check_extra:
            require_module(*BACKEND_EXTRAS[chosen])
        port = port or free_port()
        name = served_name or Path(model).name
        return cls(server_command(chosen, model, port, served_name=name), port, name,
                   start_timeout_s=start_timeout_s, log_path=log_path)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            # Own process group, so stop() reaches worker processes the server forks.
            self._process = subprocess.Popen(list(self.command), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise LLMError(f"could not start the model server: {exc}") from exc
        finally:
            if self.log_path and log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        self._wait_until_answering()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        assert self._process is not None
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                where = f"; see {self.log_path}" if self.log_path else ""
                raise LLMError(f"the model server exited with code {code} before answering{where}")
            if self.answering():
                return
            time.sleep(0.25)
        self.stop()
        raise LLMError(f"the model server did not answer within {self.start_timeout_s:.0f} s")

    def answering(self) -> bool:
        """Does ``GET /v1/models`` answer with JSON?"""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                json.loads(response.read() or b"{}")
                return True
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def stop(self, grace_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def exit_reason(self) -> str | None:
        """Why the server is gone (its process exited on its own), or None while it runs."""
        code = self._process.poll() if self._process is not None else None
        if code is None:
            return None
        where = f"; see {self.log_path}" if self.log_path else ""
        return f"the local model server exited with code {code} during the run{where}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
