"""A broken service is never a result: `eval` and `evolve` stop with one line and exit code 4,
keep what finished, record the interrupted attempts as infrastructure failures (never as
proof failures), and `--resume` redoes them.

The LLM side is our real OpenAI client against the local chat-completions fake, scripted
to fail; Isabelle is the protocol-level fake server scripted to fail every check (it never
judges a proof).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.run import evaluate
from tests.conftest import MINIF2F_DIR
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Outcome, Script
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.fakes.scripted_llm import ScriptedLLM
from tests.test_eval_e2e import answer

pytestmark = pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")

PROBLEMS = "mathd_algebra_104,mathd_algebra_109"
runner = CliRunner()


def write_config(workspace: Path, fake: FakeIsabelleServer, llm: str) -> None:
    (workspace / "lego-prover.toml").write_text(
        f'data_dir = "{MINIF2F_DIR}"\n'
        f'[isabelle]\nserver = "127.0.0.1:{fake.port}:{fake.password}"\n'
        f'work_dir = "{workspace / "isa"}"\nworkers = 1\nchecks_per_worker = 2\nsledgehammer = false\n'
        f'[skills]\ndb_path = "{workspace / "skills_db"}"\n'
        '[prover]\nconcurrency = 2\nfeedback_rounds = 0\nhammer_first = false\n'
        f'[llm]\ncache = false\nmax_retries = 1\nretry_initial_s = 0.01\nretry_max_s = 0.02\n{llm}\n')


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return tmp_path


def records(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run_dir / "attempts.jsonl").read_text().splitlines()]


def test_an_llm_endpoint_failing_every_call_stops_eval_with_one_line_and_resume_redoes_those_attempts(
        workspace: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    script.default = replies.no_oracle_report()
    with FakeOpenAIServer() as failing:  # it answers, but every chat request is a 503
        failing.script.extend([Reply(503, '{"error": {"message": "overloaded"}}')] * 100)
        write_config(workspace, fake_server, f'base_url = "{failing.base_url}"\nmodel = "test-model"')
        result = runner.invoke(app, ["eval", "--problems", PROBLEMS, "--attempts", "3", "--run-dir", "run"])

    assert result.exit_code == 4, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert f"the LLM endpoint {failing.base_url} kept failing after 1 retries: InternalServerError" in errors[0]
    assert "(3 times in a row); check that the endpoint answers" in errors[0]
    assert "lego-prover eval --resume --run-dir run" in errors[0]
    assert "/2 solved (" not in result.output, "no pass rate is reported for a dead service"
    stored = records(workspace / "run")
    assert 3 <= len(stored) < 6, "stopped early: the breaker trips after 3 infrastructure failures in a row"
    assert {(r["failure"], r["service"]) for r in stored} == {("infrastructure", "llm")}
    summary = json.loads((workspace / "run" / "summary.json").read_text())
    assert summary["attempts"] == 0 and summary["failures"] == {} and summary["pass_at_k"][0]["solved"] == 0
    assert summary["interrupted"] == {"infrastructure": len(stored)}
    assert summary["per_problem"]["mathd_algebra_104"]["attempts"] == 0
    report = runner.invoke(app, ["report", "run"])
    assert report.exit_code == 0 and f"not counted (redone on resume): {len(stored)} infrastructure" in report.output
    assert "stopped because a service failed" in report.output

    with FakeOpenAIServer() as alive:  # the endpoint is back; its answers hold no proof
        write_config(workspace, fake_server, f'base_url = "{alive.base_url}"\nmodel = "test-model"')
        again = runner.invoke(app, ["eval", "--problems", PROBLEMS, "--attempts", "3", "--run-dir", "run", "--resume"])
    assert again.exit_code == 0, again.output
    finished = [r for r in records(workspace / "run") if r["failure"] != "infrastructure"]
    assert sorted((r["problem"], r["attempt"]) for r in finished) == sorted(
        (p, i) for p in PROBLEMS.split(",") for i in range(3)), "every interrupted attempt redone, none repeated"
    assert all(r["failure"] == "no_proof" for r in finished)
    summary = json.loads((workspace / "run" / "summary.json").read_text())
    assert summary["attempts"] == 6 and summary["failures"] == {"no_proof": 6}
    assert "0/2 solved (0.0%) in 6 attempts" in again.output


def test_a_refused_api_key_stops_the_run_at_the_first_attempt(
        workspace: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    script.default = replies.no_oracle_report()
    with FakeOpenAIServer() as server:
        server.script.extend([Reply(401, '{"error": {"message": "bad key"}}')] * 10)
        write_config(workspace, fake_server, f'base_url = "{server.base_url}"\nmodel = "test-model"')
        result = runner.invoke(app, ["eval", "--problems", PROBLEMS, "--attempts", "5", "--run-dir", "run"])
        requests = len(server.requests)
    assert result.exit_code == 4, result.output
    assert "refused the API key in $OPENAI_API_KEY (HTTP 401)" in result.output
    assert requests <= 2, "no retries, and no new attempt after the first refusal (2 were in flight)"
    assert all(r["failure"] == "infrastructure" and r["service_fatal"] for r in records(workspace / "run"))


@contextmanager
def scripted_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedLLM]:
    llm = ScriptedLLM(answer)

    @contextmanager
    def fake_open_llm(settings: object, tracker: object) -> Iterator[ScriptedLLM]:
        llm.tracker = tracker  # type: ignore[assignment]
        yield llm

    monkeypatch.setattr(evaluate, "open_llm", fake_open_llm)
    yield llm


def test_isabelle_failing_every_check_stops_eval_and_resume_redoes_the_attempts(
        workspace: Path, fake_server: FakeIsabelleServer, script: Script, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "unused-the-llm-is-scripted")
    write_config(workspace, fake_server, "")
    script.default = Outcome(kind="failed", message="out of memory")
    with scripted_llm(monkeypatch):
        result = runner.invoke(app, ["eval", "--problems", PROBLEMS, "--attempts", "4", "--run-dir", "run"])
    assert result.exit_code == 4, result.output
    assert "error: stopped: Isabelle task failed: out of memory (3 times in a row); check Isabelle" in result.output
    stored = records(workspace / "run")
    assert {(r["failure"], r["service"]) for r in stored} == {("infrastructure", "isabelle")}

    script.default = replies.verified()
    with scripted_llm(monkeypatch):
        again = runner.invoke(app, ["eval", "--problems", PROBLEMS, "--attempts", "4", "--run-dir", "run", "--resume"])
    assert again.exit_code == 0, again.output
    assert "2/2 solved (100.0%)" in again.output
    summary = json.loads((workspace / "run" / "summary.json").read_text())
    assert summary["pass_at_k"][0]["solved"] == 2, "an attempt Isabelle failed is redone, not counted as attempt 1"


def test_evolve_stops_when_the_llm_endpoint_fails_every_call(
        workspace: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    from lego_prover.config import SkillSettings
    from lego_prover.skills.library import SkillLibrary

    script.default = replies.verified()
    with SkillLibrary.open(SkillSettings(db_path=workspace / "skills_db")) as library:
        library.add_requests(['lemma wanted: "(2::nat) + 2 = 4"'], "mathd_algebra_104")
    with FakeOpenAIServer() as failing:
        failing.script.extend([Reply(500, "{}")] * 100)
        write_config(workspace, fake_server, f'base_url = "{failing.base_url}"\nmodel = "m"')
        result = runner.invoke(app, ["evolve", "--steps", "10", "--for", "minif2f:valid", "--problems",
                                     "mathd_algebra_104", "--run-dir", "run"])
    assert result.exit_code == 4, result.output
    assert "the LLM endpoint" in result.output and "lego-prover evolve --resume --run-dir run" in result.output
    steps = [json.loads(line) for line in (workspace / "run" / "evolver.jsonl").read_text().splitlines()]
    assert 3 <= len(steps) < 10 and all(s["failure"] == "infrastructure" for s in steps)
