"""The OpenAI-compatible backend against a local HTTP server speaking the chat API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lego_prover.config import BudgetSettings, LLMSettings, Price
from lego_prover.errors import BudgetExhausted, LLMError
from lego_prover.llm.cache import ResponseCache
from lego_prover.llm.openai_chat import OpenAIChat, probe_endpoint
from lego_prover.llm.usage import UsageTracker
from tests.fakes.openai_server import COMPLETION, PROMPT, FakeOpenAIServer, Reply

MESSAGES = [{"role": "user", "content": "Prove that 1 + 1 = 2."}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as s:
        yield s


def make(server: FakeOpenAIServer, tmp_path: Path, *, budget: BudgetSettings | None = None,
         cache: bool = False, **llm: object) -> tuple[OpenAIChat, UsageTracker]:
    options: dict[str, object] = {"retry_initial_s": 0.01, "retry_max_s": 0.05, "request_timeout_s": 2, **llm}
    settings = LLMSettings(base_url=server.base_url, model="test-model", api_key_env="LEGO_TEST_KEY", cache=cache,
                           cache_path=tmp_path / "cache.sqlite",
                           prices={"test-model": Price(input_per_mtok=1.0, output_per_mtok=2.0)}, **options)  # type: ignore[arg-type]
    tracker = UsageTracker(settings.prices, budget or BudgetSettings())
    return OpenAIChat(settings, tracker=tracker, cache=ResponseCache(settings.cache_path) if cache else None), tracker


async def test_completions_carry_text_reason_and_usage(server: FakeOpenAIServer, tmp_path: Path) -> None:
    llm, tracker = make(server, tmp_path)
    (c,) = await llm.complete(MESSAGES, component="formalizer", problem="p1")
    assert c.text == "answer 1.0" and c.finish_reason == "stop"
    assert tracker.total.prompt_tokens == PROMPT and tracker.total.completion_tokens == COMPLETION
    assert tracker.by_component["formalizer"].calls == 1 and tracker.by_problem["p1"].calls == 1
    assert tracker.total.cost_usd == pytest.approx((PROMPT * 1.0 + COMPLETION * 2.0) / 1e6)


@pytest.mark.parametrize("reply", [
    Reply(429, '{"error": {"message": "slow down"}}', {"retry-after": "0"}),
    Reply(500, '{"error": {"message": "boom"}}'),
    Reply(503, '{"error": {"message": "overloaded"}}'),
    Reply(200, "{not json"),
], ids=["429-retry-after", "500", "503", "malformed-json"])
async def test_transient_failures_are_retried(server: FakeOpenAIServer, tmp_path: Path, reply: Reply) -> None:
    server.script.append(reply)
    llm, _ = make(server, tmp_path)
    (c,) = await llm.complete(MESSAGES)
    assert c.text.startswith("answer") and len(server.requests) == 2


async def test_a_timeout_is_retried(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.script.append(Reply(delay_s=3))
    llm, _ = make(server, tmp_path, request_timeout_s=0.5)
    (c,) = await llm.complete(MESSAGES)
    assert c.text.startswith("answer")


@pytest.mark.parametrize("status,needle", [(401, "API key"), (400, "rejected the request"), (404, "not found")])
async def test_auth_and_bad_requests_stop_without_retrying(server: FakeOpenAIServer, tmp_path: Path,
                                                           status: int, needle: str) -> None:
    server.script.append(Reply(status, '{"error": {"message": "no"}}'))
    llm, _ = make(server, tmp_path)
    with pytest.raises(LLMError, match=needle):
        await llm.complete(MESSAGES)
    assert len(server.requests) == 1


async def test_retries_give_up_with_a_clear_error(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.script.extend([Reply(500, "{}")] * 3)
    llm, _ = make(server, tmp_path, max_retries=2)
    with pytest.raises(LLMError, match="kept failing after 2 retries"):
        await llm.complete(MESSAGES)
    assert len(server.requests) == 3


async def test_a_server_that_ignores_n_is_asked_once_per_sample(tmp_path: Path) -> None:
    with FakeOpenAIServer(ignore_n=True) as server:
        llm, tracker = make(server, tmp_path)
        completions = await llm.complete(MESSAGES, n=3, temperature=0.7)
        assert len(completions) == 3 and len({c.text for c in completions}) == 3
        assert len(server.requests) == 3 and server.requests[0].get("n") == 3 and "n" not in server.requests[1]
        assert tracker.total.calls == 3


async def test_the_cache_answers_identical_requests_without_a_call(server: FakeOpenAIServer, tmp_path: Path) -> None:
    llm, tracker = make(server, tmp_path, cache=True)
    first = await llm.complete(MESSAGES, n=2, temperature=0.7)
    again = await llm.complete(MESSAGES, n=2, temperature=0.7)
    assert [c.text for c in again] == [c.text for c in first] and all(c.cached for c in again)
    assert len(server.requests) == 1
    assert tracker.total.cached_calls == 2 and tracker.total.prompt_tokens == PROMPT


async def test_two_attempts_with_the_same_prompt_get_independent_samples(server: FakeOpenAIServer,
                                                                        tmp_path: Path) -> None:
    llm, _ = make(server, tmp_path, cache=True)
    (first,) = await llm.complete(MESSAGES, temperature=0.7, attempt=0)
    (second,) = await llm.complete(MESSAGES, temperature=0.7, attempt=1)
    assert not second.cached and second.text != first.text and len(server.requests) == 2


async def test_budgets_stop_new_calls(server: FakeOpenAIServer, tmp_path: Path) -> None:
    llm, _ = make(server, tmp_path, budget=BudgetSettings(max_calls=1))
    await llm.complete(MESSAGES)
    with pytest.raises(BudgetExhausted, match="max_calls=1"):
        await llm.complete([{"role": "user", "content": "another"}])
    assert len(server.requests) == 1


def test_probe_reports_reachability_and_model(server: FakeOpenAIServer) -> None:
    ok, detail = probe_endpoint(LLMSettings(base_url=server.base_url, model="test-model"))
    assert ok and "listed" in detail
    ok, detail = probe_endpoint(LLMSettings(base_url=server.base_url, model="other"))
    assert not ok and "not among" in detail
    ok, _ = probe_endpoint(LLMSettings(base_url="http://127.0.0.1:9/v1", model="x"), timeout_s=1)
    assert not ok


def test_a_missing_api_key_for_a_hosted_api_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEGO_TEST_KEY", raising=False)
    with pytest.raises(LLMError, match="LEGO_TEST_KEY"):
        OpenAIChat(LLMSettings(api_key_env="LEGO_TEST_KEY"), tracker=UsageTracker())
