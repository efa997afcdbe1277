"""Build the run's LLM from settings alone: a hosted API, a local server, or in-process.

Usage::

    tracker = UsageTracker(PriceBook(settings.llm.prices), settings.budget)
    with open_llm(settings, tracker) as llm:
        completions = await llm.complete(messages, n=2, component="formalizer")

* ``llm.local_model`` unset: the OpenAI-compatible endpoint at ``llm.base_url``.
* ``llm.local_model`` set, backend ``auto``/``llama_cpp``/``vllm``: a local server is started
  on 127.0.0.1, used for the run, and stopped when the block exits.
* backend ``transformers``: the model runs in this process.
* ``llm.replay`` set: every call is answered from recorded conversations (``ReplayLLM``);
  no model, endpoint or response cache is used.
* ``[llm.roles.ROLE]`` set: that role's calls go to its own model (``RoleRouter``); roles
  with the same endpoint, model and parameters share one client (and its concurrency).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from lego_prover.config import LLMSettings, Settings
from lego_prover.errors import ConfigError
from lego_prover.llm.base import LLM
from lego_prover.llm.cache import ResponseCache
from lego_prover.llm.local_server import LocalModelServer, choose_backend
from lego_prover.llm.openai_chat import OpenAIChat
from lego_prover.llm.replay import ReplayLLM, load_replay_source
from lego_prover.llm.roles import RoleRouter, role_settings
from lego_prover.llm.usage import UsageTracker

log = logging.getLogger(__name__)


@contextmanager
def open_llm(settings: Settings, tracker: UsageTracker) -> Iterator[LLM]:
    llm_settings = settings.llm
    if llm_settings.replay is not None:
        yield ReplayLLM(load_replay_source(llm_settings.replay), tracker)
        return
    with ExitStack() as stack:
        cache = ResponseCache(llm_settings.cache_path) if llm_settings.cache else None
        if cache is not None:
            stack.callback(cache.close)
        local = llm_settings.local_model
        if local and llm_settings.local_backend == "transformers":
            from lego_prover.llm.transformers_chat import TransformersChat

            yield with_roles(TransformersChat(local, tracker=tracker, cache=cache), llm_settings, tracker, cache,
                             in_process=True)
            return
        server_gone = None
        if local:
            backend = choose_backend(local, llm_settings.local_backend)
            settings.cache_dir.mkdir(parents=True, exist_ok=True)
            server = LocalModelServer.for_model(
                local, backend=backend, port=llm_settings.local_port,
                log_path=settings.cache_dir / "model-server.log")
            log.warning("starting a local %s server for %s (log: %s)", backend, local, server.log_path)
            stack.enter_context(server)
            server_gone = server.exit_reason
            # llama.cpp's server answers one sample per request whatever n says.
            llm_settings = llm_settings.model_copy(update={
                "base_url": server.base_url, "model": server.served_name,
                "supports_n": False if backend == "llama_cpp" else llm_settings.supports_n})
        main = OpenAIChat(llm_settings, tracker=tracker, cache=cache, server_gone=server_gone)
        yield with_roles(main, llm_settings, tracker, cache)


def with_roles(main: LLM, settings: LLMSettings, tracker: UsageTracker, cache: ResponseCache | None, *,
               in_process: bool = False) -> LLM:
    """``main`` alone, or a ``RoleRouter`` when roles have models of their own."""
    own = {str(role): entry for role, entry in settings.roles.items() if entry.overrides()}
    if not own:
        return main
    clients: dict[str, OpenAIChat] = {}
    by_role: dict[str, LLM] = {}
    for role, entry in own.items():
        if in_process and "base_url" not in entry.overrides():
            raise ConfigError(f"llm.roles.{role} needs a base_url of its own: the main model runs in this process "
                              "(llm.local_backend = \"transformers\")")
        resolved = role_settings(settings, role)
        key = resolved.model_dump_json(exclude={"roles", "prices"})
        if key not in clients:
            clients[key] = OpenAIChat(resolved, tracker=tracker, cache=cache, role=role,
                                      role_keys=frozenset(entry.overrides()))
        by_role[role] = clients[key]
    return RoleRouter(main, by_role)
