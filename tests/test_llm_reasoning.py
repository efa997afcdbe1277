"""The models people use now, against the local chat-completions fake answering in each
provider's documented shape: which parameters we send, where the reasoning goes, what the
usage and the cost are, and what a refused parameter does.

The shapes are taken from the providers' published references, not from memory:

* OpenAI's chat completions reference, ``max_completion_tokens`` (an upper bound including
  reasoning tokens; ``max_tokens`` deprecated and "not compatible with o-series models"),
  ``reasoning_effort``, ``usage.completion_tokens_details.reasoning_tokens`` and
  ``usage.prompt_tokens_details.cached_tokens``:
  https://platform.openai.com/docs/api-reference/chat/create, as generated into the openai
  SDK: https://github.com/openai/openai-python/blob/main/src/openai/types/chat/completion_create_params.py
  and https://github.com/openai/openai-python/blob/main/src/openai/types/completion_usage.py
* OpenAI's 400 for a refused parameter (``invalid_request_error``, ``param``, ``code``
  ``unsupported_parameter`` / ``unsupported_value``), as reported for gpt-5, o1 and gpt-5.4:
  https://github.com/griptape-ai/ComfyUI-Griptape/issues/312,
  https://github.com/ITSpecialist111/ai_automation_suggester/issues/38,
  https://github.com/OpenHands/OpenHands/issues/4131, https://github.com/johny-b/llmcomp/issues/69
* DeepSeek's reasoning model: ``reasoning_content`` beside ``content``, and a 400 when it is
  sent back: https://api-docs.deepseek.com/guides/reasoning_model (mirrored at
  https://deepseek.apidog.io/reasoning-model-deepseek-reasoner-835841m0); its cache usage in
  ``prompt_cache_hit_tokens`` / ``prompt_cache_miss_tokens`` (https://api-docs.deepseek.com/guides/kv_cache,
  as described at https://docs.stigg.io/documentation/ai-agents/providers/deepseek)
* vLLM's reasoning parsers: ``reasoning_content`` (https://docs.vllm.ai/en/v0.8.3/features/reasoning_outputs.html),
  renamed ``reasoning`` from v0.11 (https://docs.vllm.ai/en/v0.11.2/features/reasoning_outputs/)
* Qwen3's inline ``<think>...</think>`` (https://qwen.readthedocs.io/en/v3.0/getting_started/quickstart.html);
  from Qwen3.5 the template puts ``<think>`` in the prompt, so only ``</think>`` is generated
  (https://docs.vllm.ai/en/v0.20.1/api/vllm/reasoning/qwen3_reasoning_parser/); DeepSeek-R1
  likewise starts without the opening tag (https://docs.sglang.io/advanced_features/separate_reasoning.html)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from lego_prover.config import BudgetSettings, LLMSettings, Price, RoleLLMSettings, Settings
from lego_prover.errors import LLMRequestRefusedError, LLMUnavailableError
from lego_prover.llm.base import Completion, Usage
from lego_prover.llm.cache import ResponseCache
from lego_prover.llm.factory import with_roles
from lego_prover.llm.openai_chat import OpenAIChat, choose_token_parameter, sends_temperature
from lego_prover.llm.prices import BUILT_IN, CHECKED, PriceBook, call_cost
from lego_prover.llm.probe import describe, probe_models
from lego_prover.llm.reasoning import split_reasoning
from lego_prover.llm.roles import RoleRouter, role_of
from lego_prover.llm.usage import UsageTracker, usage_table
from lego_prover.problems import Problem
from lego_prover.prover.attempt import AttemptRecord, LLMCallRecord
from lego_prover.run.scheduler import Scheduler
from lego_prover.run.store import RunStore
from tests.fakes.openai_server import (
    CACHED,
    COMPLETION,
    PROMPT,
    REASONING,
    REASONING_TEXT,
    FakeOpenAIServer,
    Reply,
    refusal,
)

MESSAGES = [{"role": "user", "content": "Prove that 1 + 1 = 2."}]
PRICE = Price(input_per_mtok=1.0, cached_input_per_mtok=0.1, output_per_mtok=4.0)


def make(server: FakeOpenAIServer, model: str = "test-model", *, tracker: UsageTracker | None = None,
         **llm: object) -> tuple[OpenAIChat, UsageTracker]:
    settings = LLMSettings(base_url=server.base_url, model=model, cache=False, retry_initial_s=0.01,  # type: ignore[arg-type]
                           retry_max_s=0.02, request_timeout_s=5, **llm)
    tracker = tracker or UsageTracker({model: PRICE}, BudgetSettings())
    return OpenAIChat(settings, tracker=tracker), tracker


@pytest.fixture
def reasoning_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(shape="openai_reasoning") as s:
        yield s


# ----------------------------------------------------------------------------- reasoning text


@pytest.mark.parametrize("content,field,answer,reasoning", [
    ("```isabelle\nlemma x\n```", "", "```isabelle\nlemma x\n```", ""),
    ("<think>\nso 2\n</think>\n\nThe answer.", "", "The answer.", "so 2"),
    ("<think>\nstill thinking when the limit came", "", "", "still thinking when the limit came"),
    ("opened in the prompt\n</think>\nThe answer.", "", "The answer.", "opened in the prompt"),
    ("The answer.", "from the reasoning field", "The answer.", "from the reasoning field"),
], ids=["no-reasoning", "closed-think", "unclosed-think", "close-only", "field"])
def test_reasoning_is_taken_out_of_the_answer(content: str, field: str, answer: str, reasoning: str) -> None:
    assert split_reasoning(content, field=field) == (answer, reasoning)


def test_code_inside_reasoning_never_reaches_the_answer() -> None:
    text = "<think>\nmaybe ```isabelle\nlemma bad: False sorry\n```\n</think>\n```isabelle\nlemma ok: True by simp\n```"
    answer, reasoning = split_reasoning(text)
    assert "sorry" not in answer and "sorry" in reasoning and answer.startswith("```isabelle\nlemma ok")


@pytest.mark.parametrize("shape,field", [("deepseek", "reasoning_content"), ("vllm", "reasoning"),
                                         ("qwen3_inline", "<think>")])
async def test_each_shape_gives_the_answer_and_the_reasoning_apart(shape: str, field: str) -> None:
    with FakeOpenAIServer(shape=shape, answer=lambda body: "```isabelle\nlemma t: True by simp\n```") as server:
        llm, tracker = make(server)
        (c,) = await llm.complete(MESSAGES)
    assert c.text == "```isabelle\nlemma t: True by simp\n```" and c.reasoning == REASONING_TEXT
    assert c.finish_reason == "stop" and not c.ran_out_while_reasoning
    assert tracker.total.reasoning_calls == 1


@pytest.mark.parametrize("shape", ["openai_reasoning", "deepseek", "vllm", "qwen3_inline"])
async def test_a_limit_reached_while_reasoning_is_an_answer_with_no_text(shape: str) -> None:
    with FakeOpenAIServer(shape=shape) as server:
        llm, _ = make(server, "gpt-5-mini" if shape == "openai_reasoning" else "test-model")
        (c,) = await llm.complete(MESSAGES, max_tokens=50)
    assert c.text == "" and c.finish_reason == "length" and c.ran_out_while_reasoning
    assert c.usage.completion_tokens == 50


async def test_a_plain_model_that_reaches_the_limit_did_not_run_out_while_reasoning() -> None:
    c = Completion("half an answ", "length", Usage(10, 5))
    assert not c.ran_out_while_reasoning


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("model,base_url,expected", [
    ("gpt-5-mini", "http://127.0.0.1:9/v1", "max_completion_tokens"),
    ("o4-mini", "http://127.0.0.1:9/v1", "max_completion_tokens"),
    ("openai/gpt-5.1", "https://openrouter.ai/api/v1", "max_completion_tokens"),
    ("gpt-4o-mini", None, "max_completion_tokens"),          # OpenAI's API deprecated max_tokens for all
    ("Qwen/Qwen3-8B", "http://127.0.0.1:9/v1", "max_tokens"),
    ("deepseek-reasoner", "https://api.deepseek.com", "max_tokens"),
    ("gpt-4o-mini", "http://127.0.0.1:9/v1", "max_tokens"),
])
def test_the_output_limit_name_by_default(model: str, base_url: str | None, expected: str) -> None:
    assert choose_token_parameter(LLMSettings(model=model, base_url=base_url)) == expected


def test_temperature_is_sent_only_where_the_model_takes_one() -> None:
    assert not sends_temperature(LLMSettings(model="gpt-5"))
    assert not sends_temperature(LLMSettings(model="o3-mini"))
    assert sends_temperature(LLMSettings(model="gpt-4.1"))
    assert sends_temperature(LLMSettings(model="deepseek-reasoner"))   # accepted there, and ignored
    assert sends_temperature(LLMSettings(model="gpt-5", send_temperature=True))
    assert not sends_temperature(LLMSettings(model="gpt-4.1", send_temperature=False))


async def test_an_openai_reasoning_model_gets_what_it_takes_and_reports_true_usage(
        reasoning_server: FakeOpenAIServer) -> None:
    llm, tracker = make(reasoning_server, "gpt-5-mini", reasoning_effort="low")
    (c,) = await llm.complete(MESSAGES, temperature=0.7, max_tokens=2048, component="formalizer")
    (sent,) = reasoning_server.requests
    assert sent["max_completion_tokens"] == 2048 and sent["reasoning_effort"] == "low"
    assert "max_tokens" not in sent and "temperature" not in sent
    assert c.usage == Usage(PROMPT, COMPLETION, REASONING, CACHED) and c.reasoning == "" and c.reasoned
    # 50 fresh prompt tokens at 1.0, 150 cached at 0.1, 100 completion (60 of them reasoning) at 4.0
    assert tracker.total.cost_usd == pytest.approx((50 * 1.0 + 150 * 0.1 + 100 * 4.0) / 1e6)
    assert tracker.by_role["formalizer"].reasoning_tokens == REASONING
    assert tracker.by_model["gpt-5-mini"].cached_tokens == CACHED


async def test_deepseek_cache_hits_are_read_from_its_own_fields() -> None:
    with FakeOpenAIServer(shape="deepseek") as server:
        llm, _ = make(server, "deepseek-v4-flash")
        (c,) = await llm.complete(MESSAGES)
    assert c.usage.cached_tokens == CACHED and c.usage.reasoning_tokens == REASONING


async def test_a_refused_max_tokens_switches_to_max_completion_tokens_once_and_says_so(
        reasoning_server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    llm, tracker = make(reasoning_server, "gpt-5-mini", token_parameter="max_tokens")
    with caplog.at_level(logging.WARNING):
        first = await llm.complete(MESSAGES, max_tokens=512)
        second = await llm.complete([{"role": "user", "content": "again"}], max_tokens=512)
    assert first[0].text and second[0].text
    assert [("max_tokens" in r, "max_completion_tokens" in r) for r in reasoning_server.requests] == [
        (True, False), (False, True), (False, True)], "one refusal, then the other name for the rest"
    switched = [r.message for r in caplog.records if "refused 'max_tokens'" in r.message]
    assert len(switched) == 1 and 'llm.token_parameter = "max_completion_tokens"' in switched[0]
    assert tracker.total.calls == 2, "the refused request is no call: nothing was generated"


async def test_a_refused_temperature_is_one_line_naming_the_setting_and_is_not_retried(
        reasoning_server: FakeOpenAIServer) -> None:
    llm, _ = make(reasoning_server, "gpt-5", send_temperature=True)
    with pytest.raises(LLMRequestRefusedError) as refused:
        await llm.complete(MESSAGES, temperature=0.7)
    message = str(refused.value)
    assert "refused the parameter 'temperature' for model 'gpt-5'" in message and "unsupported_value" in message
    assert "set llm.send_temperature = false" in message and "\n" not in message
    assert refused.value.exit_code == 2 and len(reasoning_server.requests) == 1


async def test_a_refused_reasoning_effort_names_the_setting_of_the_role_that_set_it() -> None:
    with FakeOpenAIServer() as server:
        server.script.append(Reply(400, refusal("reasoning_effort", "Unrecognized request argument supplied: "
                                                "reasoning_effort", "unknown_parameter")))
        main = LLMSettings(base_url=server.base_url, model="cheap", cache=False,
                           roles={"formalizer": RoleLLMSettings(reasoning_effort="high")})
        llm = with_roles(OpenAIChat(main, tracker=UsageTracker()), main, UsageTracker(), None)
        with pytest.raises(LLMRequestRefusedError, match=r"unset llm\.roles\.formalizer\.reasoning_effort"):
            await llm.complete(MESSAGES, component="formalizer")


async def test_a_400_that_names_no_parameter_we_sent_stays_a_bad_request() -> None:
    with FakeOpenAIServer() as server:
        server.script.append(Reply(400, refusal("messages", "This model's maximum context length is 8192 tokens.",
                                                "context_length_exceeded")))
        llm, _ = make(server)
        with pytest.raises(LLMUnavailableError, match="rejected the request"):
            await llm.complete(MESSAGES)


# ----------------------------------------------------------------------------- prices and usage


def test_prices_come_from_your_settings_then_the_dated_table_else_none() -> None:
    book = PriceBook({"gpt-5": Price(input_per_mtok=9.0, output_per_mtok=9.0)})
    assert book.price("gpt-5").input_per_mtok == 9.0                        # type: ignore[union-attr]
    assert book.price("gpt-5-mini-2025-08-07") == BUILT_IN["gpt-5-mini"].price  # a dated snapshot
    assert book.cost("my-own-finetune", Usage(100, 100)) is None
    assert CHECKED in book.source("gpt-5-mini") and "llm.prices" in book.source("gpt-5")
    assert book.source("my-own-finetune") == "no price known"


def test_every_built_in_price_names_where_it_came_from() -> None:
    for model, entry in BUILT_IN.items():
        assert entry.source and entry.price.output_per_mtok > 0, model


def test_cached_tokens_without_a_cached_rate_cost_the_input_rate() -> None:
    assert call_cost(Price(input_per_mtok=2.0, output_per_mtok=0.0), Usage(100, 0, 0, 80)) == pytest.approx(200e-6)


def test_an_unpriced_model_is_counted_in_tokens_and_never_as_free() -> None:
    tracker = UsageTracker(PriceBook({}, built_in={}))
    assert tracker.record("mystery", Usage(100, 50), component="decomposer") is None
    assert tracker.total.unpriced_calls == 1 and tracker.total.tokens == 150 and tracker.total.cost_usd == 0


def test_the_usage_table_of_stored_calls_by_role_and_model() -> None:
    calls = [LLMCallRecord("decomposer", "decomposer", 200, 100, "stop", False, "a", model="cheap", cost_usd=0.5),
             LLMCallRecord("sketch", "dsp/sketch", 200, 100, "stop", False, "b", model="strong", reasoning="hm",
                           reasoning_tokens=60, cached_tokens=150, cost_usd=1.0),
             LLMCallRecord("evolver:parameterize", "x", 10, 10, "stop", False, "c", model="mystery", cost_usd=None),
             LLMCallRecord("formalizer", "formalizer", 5, 5, "stop", False, "old record")]   # no model: legacy
    table = usage_table(calls)
    assert table["by_role"]["formalizer"]["calls"] == 2 and table["by_role"]["formalizer"]["reasoning_tokens"] == 60
    assert table["by_model"]["strong"]["cached_tokens"] == 150 and table["by_model"]["strong"]["cost_usd"] == 1.0
    assert table["unpriced_models"] == ["mystery"], "a legacy call without a model is not 'unpriced'"
    assert table["models_by_role"]["evolver"] == ["mystery"] and role_of("draft") == "informal_solver"


async def test_the_cache_keeps_the_reasoning_and_the_usage_details(tmp_path: Path) -> None:
    with FakeOpenAIServer(shape="deepseek") as server:
        settings = LLMSettings(base_url=server.base_url, model="m", cache_path=tmp_path / "c.sqlite")
        cache = ResponseCache(settings.cache_path)
        llm = OpenAIChat(settings, tracker=UsageTracker(), cache=cache)
        (first,) = await llm.complete(MESSAGES)
        (again,) = await llm.complete(MESSAGES)
        cache.close()
    assert again.cached and again.reasoning == first.reasoning == REASONING_TEXT
    assert again.usage == first.usage and len(server.requests) == 1


# ----------------------------------------------------------------------------- a model per role


async def test_each_role_goes_to_its_own_model_and_endpoint() -> None:
    with FakeOpenAIServer() as cheap, FakeOpenAIServer(shape="deepseek") as strong:
        main = LLMSettings(base_url=cheap.base_url, model="cheap", cache=False, roles={
            "formalizer": RoleLLMSettings(base_url=strong.base_url, model="strong", api_key_env="STRONG_KEY"),
            "feedback": RoleLLMSettings(base_url=strong.base_url, model="strong", api_key_env="STRONG_KEY")})
        tracker = UsageTracker({"cheap": PRICE, "strong": PRICE})
        llm = with_roles(OpenAIChat(main, tracker=tracker), main, tracker, None)
        assert isinstance(llm, RoleRouter)
        await llm.complete(MESSAGES, component="decomposer")
        await llm.complete(MESSAGES, component="formalizer")
        await llm.complete(MESSAGES, component="feedback")
        await llm.complete(MESSAGES, component="sketch")           # the dsp formalizer
    assert [r["model"] for r in cheap.requests] == ["cheap"]
    assert [r["model"] for r in strong.requests] == ["strong"] * 3
    assert llm.models()["formalizer"] == "strong" and llm.models()["evolver"] == "cheap"
    assert llm.for_component("formalizer") is llm.for_component("feedback"), "one client per endpoint and model"
    assert tracker.by_model["strong"].calls == 3 and tracker.by_role["decomposer"].calls == 1


def test_no_roles_means_the_main_model_alone() -> None:
    main = LLMSettings(base_url="http://127.0.0.1:9/v1", roles={"evolver": RoleLLMSettings()})
    plain = OpenAIChat(main, tracker=UsageTracker())
    assert with_roles(plain, main, UsageTracker(), None) is plain


# ----------------------------------------------------------------------------- doctor --llm


def test_the_probe_shows_what_a_reasoning_model_takes_and_reports(reasoning_server: FakeOpenAIServer) -> None:
    settings = Settings(llm=LLMSettings(base_url=reasoning_server.base_url, model="gpt-5-mini",
                                        reasoning_effort="minimal"))
    (report,) = probe_models(settings)
    assert report.ok and report.sent == {"max_completion_tokens": 64, "reasoning_effort": "minimal"}
    # the fake needs 100 tokens: all 64 of the probe went to (hidden) reasoning
    assert report.reasoning_seen == "yes, hidden: 64 reasoning tokens reported, no reasoning text"
    assert report.usage_report["completion_tokens_details"]["reasoning_tokens"] == 64
    assert report.usage_report["prompt_tokens_details"]["cached_tokens"] == CACHED
    request, reasoning, usage, note = describe(report)
    # gpt-5-mini from the built-in table: 50 x 0.25 + 150 x 0.025 + 64 x 2.0 per million
    assert "one real request sent (billed: $0.000144; at most 64 completion tokens)" in request[2]
    assert "no temperature: the model takes only its default" in request[2]
    assert "no answer, finish length (the 64-token probe went to reasoning" in request[2]
    assert reasoning[2] == report.reasoning_seen and '"reasoning_tokens": 64' in usage[2]
    assert "takes only its default temperature" in note[2] and len(reasoning_server.requests) == 1


def test_the_probe_of_a_plain_model_shows_its_answer_and_plain_usage() -> None:
    with FakeOpenAIServer(answer=lambda body: "ok") as server:
        (report,) = probe_models(Settings(llm=LLMSettings(base_url=server.base_url, model="local")))
    assert report.sent == {"max_tokens": 64, "temperature": 0.0} and report.answer == "ok"
    assert report.reasoning_seen.startswith("none seen") and "no price known" in describe(report)[0][2]
    assert report.usage_report == {"prompt_tokens": PROMPT, "completion_tokens": COMPLETION,
                                   "total_tokens": PROMPT + COMPLETION}


def test_the_probe_names_a_refused_parameter_with_its_fix(reasoning_server: FakeOpenAIServer) -> None:
    settings = Settings(llm=LLMSettings(base_url=reasoning_server.base_url, model="gpt-5", send_temperature=True))
    (report,) = probe_models(settings)
    assert not report.ok and report.refused and "set llm.send_temperature = false" in report.error


def test_the_probe_asks_each_distinct_model_once() -> None:
    with FakeOpenAIServer(shape="vllm") as local, FakeOpenAIServer() as hosted:
        settings = Settings(llm=LLMSettings(base_url=hosted.base_url, model="cheap", roles={
            "formalizer": RoleLLMSettings(base_url=local.base_url, model="qwen3"),
            "feedback": RoleLLMSettings(base_url=local.base_url, model="qwen3")}))
        reports = probe_models(settings)
    assert [(r.model, r.roles) for r in reports] == [("cheap", ("main",)), ("qwen3", ("formalizer", "feedback"))]
    assert reports[1].reasoning_seen.startswith("yes: ") and len(local.requests) == 1


# ----------------------------------------------------------------------------- a refusal stops the scheduler


def _record(problem: str, attempt: int) -> AttemptRecord:
    return AttemptRecord(problem, attempt, False, "human", "tactic", "", "", "", [], [], [], [], [], 0, 0, [], [],
                         0, 0, 0.0, 0.0, 0.0, 0.0, "", "", "t", "t")


REFUSED = LLMRequestRefusedError("the LLM endpoint refused the parameter 'temperature'; set llm.send_temperature = "
                                 "false", parameter="temperature", setting="llm.send_temperature = false")


async def test_a_refusal_in_an_attempt_stops_the_scheduler_and_records_nothing_for_it(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path / "run", {"kind": "eval"}, {}, resume=False)
    started: list[tuple[str, int]] = []

    async def attempt(problem: Problem, index: int) -> AttemptRecord:
        started.append((problem.name, index))
        if problem.name == "b":
            raise REFUSED
        await asyncio.sleep(0.05)
        return _record(problem.name, index)

    problems = [Problem("a", "x"), Problem("b", "y"), Problem("c", "z")]
    with pytest.raises(LLMRequestRefusedError, match=r"llm\.send_temperature"):
        await Scheduler(attempt, store, attempts=5, concurrency=2).run(problems)
    assert len(started) <= 3 and ("b", 0) in started, "no attempt after the refusal but those in flight"
    assert all(r.problem != "b" for r in store.records)


async def test_a_refusal_in_an_evolver_beside_the_provers_stops_new_attempts(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path / "run", {"kind": "eval"}, {}, resume=False)
    started: list[int] = []

    async def attempt(problem: Problem, index: int) -> AttemptRecord:
        started.append(index)
        await asyncio.sleep(0.02)
        return _record(problem.name, index)

    async def evolver() -> None:
        await asyncio.sleep(0.03)
        raise REFUSED

    with pytest.raises(LLMRequestRefusedError):
        await Scheduler(attempt, store, attempts=100, concurrency=1).run([Problem("a", "x")], extra=[evolver])
    assert len(started) < 10, "the provers stopped soon after the evolver's refusal"
