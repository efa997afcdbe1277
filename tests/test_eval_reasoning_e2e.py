"""`lego-prover eval` end to end against each model family's answer shape: our real OpenAI
client talks to the local chat-completions fake (tests/fakes/openai_server.py, whose shapes
and references are in tests/test_llm_reasoning.py), Isabelle is the protocol-level fake
scripted per proof marker. The token and cost figures of summary.json and report.md are
checked against figures computed by hand from the fake's fixed counts.

Every run: two problems of our own, one attempt each, no hammer pass, no feedback round:
a decomposer call and a formalizer call per attempt, so 4 calls of PROMPT (200) prompt and
COMPLETION (100) completion tokens; where the shape reports them, CACHED (150) of the
prompt tokens are cached and REASONING (60) of the completion tokens are reasoning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script
from tests.fakes.openai_server import REASONING_TEXT, FakeOpenAIServer

runner = CliRunner()
STATEMENTS = {"p_solved": 'theorem p_solved:\n  fixes x :: nat\n  shows "x + 0 = x"',
              "p_failed": 'theorem p_failed:\n  fixes y :: nat\n  shows "y * 1 = y"'}
PRICE = "input_per_mtok = 1.0\ncached_input_per_mtok = 0.1\noutput_per_mtok = 4.0\n"
# one call, by hand: (fresh prompt x 1.0 + cached prompt x 0.1 + completion x 4.0) / 1e6
CALL_CACHED = (50 * 1.0 + 150 * 0.1 + 100 * 4.0) / 1e6      # 0.000465
CALL_UNCACHED = (200 * 1.0 + 100 * 4.0) / 1e6               # 0.000600


def answer(body: dict[str, Any]) -> str:
    """A plan for the decomposer; for the formalizer a proof marked with its problem's name."""
    system, user = body["messages"][0]["content"], body["messages"][-1]["content"]
    if "step-by-step plans" in system:
        return "## Structured proof\nStep 1. Simplify.\n\n## Requests\nN/A"
    name = re.findall(r"theorem (p_\w+)", user)[-1]
    return f"```isabelle\n{STATEMENTS[name]}\n  (* MARK_{name} *)\n  by simp\n```"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server: FakeIsabelleServer,
              script: Script) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    problems = [{"name": name, "formal_statement": statement, "informal_statement": f"Show {name}.",
                 "informal_proof": "Simplify."} for name, statement in STATEMENTS.items()]
    (tmp_path / "problems.jsonl").write_text("".join(json.dumps(p) + "\n" for p in problems))
    script.by_marker["MARK_p_solved"] = replies.verified()
    script.by_marker["MARK_p_failed"] = replies.error_at("by simp", "Failed to finish proof")
    return tmp_path


def configure(workspace: Path, fake: FakeIsabelleServer, llm: str, *, prices: dict[str, str] | None = None,
              prover: str = "") -> None:
    tables = "".join(f'[llm.prices."{model}"]\n{price}' for model, price in (prices or {}).items())
    (workspace / "lego-prover.toml").write_text(
        f'[isabelle]\nserver = "127.0.0.1:{fake.port}:{fake.password}"\n'
        f'work_dir = "{workspace / "isa"}"\nworkers = 1\nchecks_per_worker = 2\nsledgehammer = false\n'
        f'[skills]\ndb_path = "{workspace / "skills_db"}"\n'
        f'[prover]\nconcurrency = 2\nfeedback_rounds = 0\nhammer_first = false\n{prover}\n'
        f'[llm]\ncache = false\nmax_retries = 1\nretry_initial_s = 0.01\nretry_max_s = 0.02\n{llm}\n{tables}')


def run_eval(*extra: str, run_dir: str = "run") -> Any:
    return runner.invoke(app, ["eval", "--problems-file", "problems.jsonl", "--attempts", "1",
                               "--run-dir", run_dir, *extra])


def records(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "attempts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture
def llm_server() -> Iterator[Callable[..., FakeOpenAIServer]]:
    servers: list[FakeOpenAIServer] = []

    def start(shape: str = "plain") -> FakeOpenAIServer:
        server = FakeOpenAIServer(shape=shape, answer=answer).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


# shape, model, cached and reasoning tokens per call as reported, the report's reasoning cell, cost per call
SHAPES = [
    ("openai_reasoning", "gpt-5-mini", 150, 60, "240", CALL_CACHED),
    ("deepseek", "deepseek-v4-flash", 150, 60, "240", CALL_CACHED),
    ("vllm", "Qwen/QwQ-32B", 0, 0, "not reported", CALL_UNCACHED),
    ("qwen3_inline", "qwen3-8b", 0, 0, "not reported", CALL_UNCACHED),
    ("plain", "gpt-4.1-mini", 0, 0, "0", CALL_UNCACHED),
]


@pytest.mark.parametrize("shape,model,cached,reasoning,reasoning_cell,per_call", SHAPES, ids=[s[0] for s in SHAPES])
def test_eval_against_each_shape_counts_true_usage_and_keeps_reasoning_out_of_the_proof(
        workspace: Path, fake_server: FakeIsabelleServer, llm_server: Callable[..., FakeOpenAIServer],
        shape: str, model: str, cached: int, reasoning: int, reasoning_cell: str, per_call: float) -> None:
    server = llm_server(shape)
    configure(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "{model}"', prices={model: PRICE})
    result = run_eval()
    assert result.exit_code == 0, result.output
    assert "1/2 solved (50.0%) in 2 attempts" in result.output

    stored = records(workspace / "run")
    assert {r["problem"]: r["failure"] for r in stored} == {"p_solved": None, "p_failed": "tactic"}
    for record in stored:
        assert REASONING_TEXT not in record["proof"] and REASONING_TEXT not in record["theory"]
        for call in record["calls"]:
            assert REASONING_TEXT not in call["completion"] and call["model"] == model
            assert call["reasoning"] == ("" if shape in ("plain", "openai_reasoning") else REASONING_TEXT)
    if shape == "openai_reasoning":   # o-series / GPT-5: only max_completion_tokens, no temperature
        assert all("max_completion_tokens" in r and "temperature" not in r for r in server.requests)
    else:
        assert all(r["max_tokens"] == 2048 and "temperature" in r for r in server.requests)

    usage = summary(workspace / "run")["usage"]["total"]
    assert (usage["calls"], usage["prompt_tokens"], usage["completion_tokens"]) == (4, 800, 400)
    assert (usage["cached_tokens"], usage["reasoning_tokens"]) == (4 * cached, 4 * reasoning)
    assert usage["cost_usd"] == pytest.approx(4 * per_call) and usage["unpriced_calls"] == 0
    assert summary(workspace / "run")["cost_usd"] == pytest.approx(4 * per_call)

    assert runner.invoke(app, ["report", "run"]).exit_code == 0
    report = (workspace / "run" / "report.md").read_text()
    assert f"| {model} | 4 | 800 | {4 * cached} | 400 | {reasoning_cell} | ${4 * per_call:.4f} |" in report
    assert f"| formalizer | {model} | 2 | 400 | {2 * cached} | 200 |" in report


def test_answers_cut_off_while_reasoning_are_their_own_outcome_naming_the_setting(
        workspace: Path, fake_server: FakeIsabelleServer, llm_server: Callable[..., FakeOpenAIServer]) -> None:
    server = llm_server("qwen3_inline")
    configure(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "qwen3-8b"',
              prices={"qwen3-8b": PRICE}, prover="max_tokens = 50")
    result = run_eval()
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if "ran out of tokens while reasoning" in line]
    assert len(said) == 1 and "raise prover.max_tokens (now 50)" in said[0], "said once, with its fix"
    stored = records(workspace / "run")
    assert [r["failure"] for r in stored] == ["out_of_tokens_reasoning"] * 2
    assert all(len(r["calls"]) == 1 and r["calls"][0]["reasoning"] == REASONING_TEXT for r in stored), \
        "the decomposer's answer was all reasoning: the attempt stops there, the reasoning is kept"
    s = summary(workspace / "run")
    assert s["failures"] == {"out_of_tokens_reasoning": 2} and s["tokens"] == 2 * (200 + 50)
    assert runner.invoke(app, ["report", "run"]).exit_code == 0
    report = (workspace / "run" / "report.md").read_text()
    assert "| ran out of tokens while reasoning | 2 |" in report
    assert "To give the model room: raise prover.max_tokens (now 50)." in report


def test_a_refused_parameter_stops_eval_at_once_with_one_line_and_exit_2(
        workspace: Path, fake_server: FakeIsabelleServer, llm_server: Callable[..., FakeOpenAIServer]) -> None:
    server = llm_server("openai_reasoning")
    configure(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "gpt-5"\nsend_temperature = true')
    result = run_eval()
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert "refused the parameter 'temperature' for model 'gpt-5'" in errors[0]
    assert "set llm.send_temperature = false" in errors[0]
    assert len(server.requests) <= 2, "no retries, no further attempts (2 were in flight)"
    assert records(workspace / "run") == [], "nothing recorded as a proof outcome or a service failure"

    # the fix the line names, as written (a resumed run keeps its settings under the ones given now)
    configure(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "gpt-5"\nsend_temperature = false')
    again = run_eval("--resume")
    assert again.exit_code == 0, again.output
    assert sorted(r["problem"] for r in records(workspace / "run")) == ["p_failed", "p_solved"]


def test_a_refused_max_tokens_is_switched_once_and_the_run_goes_on(
        workspace: Path, fake_server: FakeIsabelleServer, llm_server: Callable[..., FakeOpenAIServer],
        caplog: pytest.LogCaptureFixture) -> None:
    server = llm_server("openai_reasoning")
    configure(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "gpt-5-mini"\n'
                                      'token_parameter = "max_tokens"', prices={"gpt-5-mini": PRICE})
    result = run_eval()
    assert result.exit_code == 0, result.output
    said = "model 'gpt-5-mini' refused 'max_tokens': sending 'max_completion_tokens' from now on"
    assert [r.levelname for r in caplog.records if said in r.message] == ["WARNING"], "said once"
    refused = [r for r in server.requests if "max_tokens" in r]
    assert 1 <= len(refused) <= 2 and all("max_completion_tokens" in r for r in server.requests[len(refused):])
    s = summary(workspace / "run")
    assert s["usage"]["total"]["calls"] == 4 and any(said in note for note in s["llm_notes"])
    assert runner.invoke(app, ["report", "run"]).exit_code == 0
    assert said in (workspace / "run" / "report.md").read_text()


def test_each_role_on_its_own_model_and_endpoint_is_reported_per_role_and_per_model(
        workspace: Path, fake_server: FakeIsabelleServer, llm_server: Callable[..., FakeOpenAIServer]) -> None:
    cheap, strong = llm_server("plain"), llm_server("deepseek")
    configure(workspace, fake_server,
              f'base_url = "{cheap.base_url}"\nmodel = "cheap"\n'
              f'[llm.roles.formalizer]\nbase_url = "{strong.base_url}"\nmodel = "strong"\n'
              'api_key_env = "STRONG_KEY"\n',
              prices={"cheap": PRICE, "strong": PRICE})
    result = run_eval()
    assert result.exit_code == 0, result.output
    assert [r["model"] for r in cheap.requests] == ["cheap"] * 2       # the decomposer's calls
    assert [r["model"] for r in strong.requests] == ["strong"] * 2     # the formalizer's
    meta = json.loads((workspace / "run" / "run.json").read_text())
    assert meta["models"]["formalizer"] == "strong" and meta["models"]["decomposer"] == "cheap"
    s = summary(workspace / "run")
    assert s["usage"]["by_model"]["cheap"]["cost_usd"] == pytest.approx(2 * CALL_UNCACHED)
    assert s["usage"]["by_model"]["strong"]["cost_usd"] == pytest.approx(2 * CALL_CACHED)
    assert s["cost_usd"] == pytest.approx(2 * CALL_UNCACHED + 2 * CALL_CACHED)
    assert runner.invoke(app, ["report", "run"]).exit_code == 0
    report = (workspace / "run" / "report.md").read_text()
    assert "| decomposer | cheap | 2 | 400 | 0 | 200 | 0 | $0.0012 |" in report
    assert "| formalizer | strong | 2 | 400 | 300 | 200 | 120 | $0.0009 |" in report
    assert "- models: cheap (informal_solver, decomposer, feedback, evolver, request_solver); strong (formalizer)" in report


def test_a_model_without_a_price_is_named_not_counted_free_and_refused_under_a_cost_budget(
        workspace: Path, fake_server: FakeIsabelleServer, llm_server: Callable[..., FakeOpenAIServer]) -> None:
    server = llm_server("plain")
    configure(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "mystery"')
    budgeted = run_eval("--max-cost", "1", run_dir="budgeted")
    assert budgeted.exit_code == 2 and "no price is known for model 'mystery'" in budgeted.output
    assert not (workspace / "budgeted").exists() and server.requests == []

    assert run_eval(run_dir="mystery").exit_code == 0
    s = summary(workspace / "mystery")
    assert s["unpriced_models"] == ["mystery"] and s["usage"]["total"]["unpriced_calls"] == 4
    assert runner.invoke(app, ["report", "mystery"]).exit_code == 0
    report = (workspace / "mystery" / "report.md").read_text()
    assert "No price is known for mystery (4 calls, 1,200 tokens)" in report
    assert "| mystery | 4 | 800 | 0 | 400 | 0 | no price |" in report

    configure(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "priced"', prices={"priced": PRICE})
    assert run_eval(run_dir="priced").exit_code == 0
    compared = runner.invoke(app, ["compare", "mystery", "priced", "--out", "cmp"])
    assert compared.exit_code == 0, compared.output
    md = (workspace / "cmp" / "compare.md").read_text()
    assert "no price is known for mystery (in mystery)" in md and "matched by tokens only" in md
    assert "At the spend of **" in md and "($" not in md.split("## Cost-matched pass rates")[1].split("##")[0]


def test_evolve_stops_at_once_on_a_refused_parameter_too(
        workspace: Path, fake_server: FakeIsabelleServer, llm_server: Callable[..., FakeOpenAIServer]) -> None:
    from lego_prover.config import SkillSettings
    from lego_prover.skills.library import SkillLibrary

    with SkillLibrary.open(SkillSettings(db_path=workspace / "skills_db")) as library:
        library.add_requests(['lemma wanted: "(2::nat) + 2 = 4"'], "p_solved")
    server = llm_server("openai_reasoning")
    configure(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "o4-mini"\n'
                                      '[llm.roles.request_solver]\nsend_temperature = true\n')
    result = runner.invoke(app, ["evolve", "--steps", "10", "--problems-file", "problems.jsonl", "--run-dir", "evo"])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "set llm.roles.request_solver.send_temperature = false" in errors[0]
    assert len(server.requests) <= 2, "evolver.concurrency steps in flight, no retries, no further steps"


def test_doctor_sends_a_chat_request_only_when_asked_with_llm(workspace: Path, fake_server: FakeIsabelleServer) -> None:
    with FakeOpenAIServer(shape="deepseek") as server:
        configure(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "deepseek-reasoner"')
        plain = runner.invoke(app, ["doctor"])
        assert "LLM request" not in plain.output and server.requests == []
        probed = runner.invoke(app, ["doctor", "--llm"])
    assert len(server.requests) == 1, probed.output
    assert "one real request sent" in probed.output and "reasoning" in probed.output
