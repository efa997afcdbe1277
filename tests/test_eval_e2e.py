"""`lego-prover eval`, `report` and `verify-results` end to end through the CLI, on real
miniF2F problems, with the scripted LLM and the fake Isabelle server.

What Isabelle "says" is the test's decision: each proof carries a marker naming the
problem, and the fake server is scripted per marker (or per exact text).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.problems import load_problems
from lego_prover.run import evaluate
from tests.conftest import MINIF2F_DIR
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script
from tests.fakes.scripted_llm import LLMCall, ScriptedLLM
from tests.killed_run import kill_when

pytestmark = pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")

SOLVED, FAILING, OTHER = "mathd_algebra_104", "mathd_algebra_109", "mathd_algebra_123"
runner = CliRunner()


def statements() -> dict[str, str]:
    return {p.name: p.formal_statement for p in load_problems(MINIF2F_DIR / "valid.jsonl")}


def answer(call: LLMCall) -> str:
    """A decomposition with one request, or a proof marked with its problem's name."""
    if call.component == "informal_solver":
        return "An informal proof."
    if call.component == "decomposer":
        return ("## Structured proof\nStep 1. Compute.\n\n## Requests\n```isabelle\n"
                f'lemma helper_{call.problem}:\n  shows "(2::nat) + 2 = 4"\n```')
    statement = statements()[call.problem]
    return (f"```isabelle\nlemma helper_{call.problem}:\n  shows \"(2::nat) + 2 = 4\"\n  by simp\n\n"
            f"{statement}\n  (* MARK_{call.problem} *)\n  by simp\n```")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server: FakeIsabelleServer) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "unused-the-llm-is-scripted")  # the preflight wants one
    (tmp_path / "lego-prover.toml").write_text(
        f'data_dir = "{MINIF2F_DIR}"\n'
        f'[isabelle]\nserver = "127.0.0.1:{fake_server.port}:{fake_server.password}"\n'
        f'work_dir = "{tmp_path / "isa"}"\nworkers = 1\nchecks_per_worker = 2\nsledgehammer = false\n'
        f'[skills]\ndb_path = "{tmp_path / "skills_db"}"\n'
        '[prover]\nconcurrency = 2\nfeedback_rounds = 1\nhammer_first = false\n'
        '[llm.prices.scripted]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n')
    return tmp_path


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> ScriptedLLM:
    """Replace the settings-built LLM with the scripted one (tests only; no setting selects it)."""
    scripted = ScriptedLLM(answer)

    @contextmanager
    def fake_open_llm(settings: object, tracker: object) -> Iterator[ScriptedLLM]:
        scripted.tracker = tracker  # type: ignore[assignment]
        yield scripted

    monkeypatch.setattr(evaluate, "open_llm", fake_open_llm)
    return scripted


def read_attempts(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run_dir / "attempts.jsonl").read_text().splitlines()]


def test_a_solve_and_a_failure_are_recorded_with_proof_and_error(workspace: Path, llm: ScriptedLLM,
                                                                 script: Script) -> None:
    script.by_marker[f"MARK_{SOLVED}"] = replies.verified()
    script.by_marker[f"MARK_{FAILING}"] = replies.error_at(
        "by simp", "Failed to finish proof\\<^here>:\ngoal (1 subgoal):\n 1. b = 0", occurrence=2)
    result = runner.invoke(app, ["eval", "--problems", f"{SOLVED},{FAILING}", "--attempts", "2",
                                 "--run-dir", "run"])
    assert result.exit_code == 0, result.output
    assert "run directory: run" in result.output, "named once it exists"
    records = read_attempts(workspace / "run")
    solved = [r for r in records if r["solved"]]
    assert [r["problem"] for r in solved] == [SOLVED], "stops after the solve: one solved attempt only"
    assert (workspace / "run" / "solved" / f"{SOLVED}.thy").read_text() == solved[0]["theory"]
    assert f"MARK_{SOLVED}" in str(solved[0]["proof"])
    failed = [r for r in records if r["problem"] == FAILING]
    assert len(failed) == 2 and all(r["failure"] == "tactic" for r in failed)
    assert failed[0]["errors"][0]["goal"] == "1. b = 0"        # type: ignore[index]
    assert failed[0]["feedback_rounds"] == 1
    assert [c["component"] for c in failed[0]["calls"]] == ["decomposer", "formalizer", "feedback"]  # type: ignore[index, union-attr]
    summary = json.loads((workspace / "run" / "summary.json").read_text())
    assert summary["solved"] == 1 and summary["problems"] == 2 and summary["pass_at_k"][0]["solved"] == 1
    assert summary["usage"]["by_component"]["decomposer"]["calls"] == 3
    assert summary["usage"]["total"]["cost_usd"] > 0
    # the helper lemma verified on its own in every attempt: it is in the library once, with its origin
    stats = json.loads(runner.invoke(app, ["skills", "stats", "--json"]).stdout)
    assert stats["by_origin"] == {"problem": 1} and stats["requests"] >= 1


def test_the_report_renders_markdown_and_html(workspace: Path, llm: ScriptedLLM, script: Script) -> None:
    script.default = replies.verified()
    assert runner.invoke(app, ["eval", "--problems", f"{SOLVED},{OTHER}", "--attempts", "1",
                               "--run-dir", "run"]).exit_code == 0
    result = runner.invoke(app, ["report", "run"])
    assert result.exit_code == 0, result.output
    md = (workspace / "run" / "report.md").read_text()
    assert "solved 2 / 2 (100.0%)" in md and f"| {SOLVED} | 1 |" in md
    page = (workspace / "run" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "<table>" in page


def test_budgets_stop_the_run_cleanly_and_resume_continues(workspace: Path, llm: ScriptedLLM,
                                                           script: Script) -> None:
    script.default = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    result = runner.invoke(app, ["eval", "--problems", f"{FAILING},{OTHER}", "--attempts", "5",
                                 "--run-dir", "run", "--max-tokens", "5000"])
    assert result.exit_code == 3 and "--resume --run-dir run" in result.output
    first = read_attempts(workspace / "run")
    assert 0 < len([r for r in first if r["failure"] != "budget"]) < 10
    summary = json.loads((workspace / "run" / "summary.json").read_text())
    assert summary["stopped_by_budget"] and "max_tokens" in summary["stopped_by_budget"]
    result = runner.invoke(app, ["eval", "--problems", f"{FAILING},{OTHER}", "--attempts", "5",
                                 "--run-dir", "run", "--resume"])
    assert result.exit_code == 0, result.output
    finished = [(r["problem"], r["attempt"]) for r in read_attempts(workspace / "run") if r["failure"] != "budget"]
    assert sorted(finished) == sorted((p, i) for p in (FAILING, OTHER) for i in range(5))


def test_verify_results_flags_a_stored_proof_that_no_longer_verifies(workspace: Path, llm: ScriptedLLM,
                                                                     script: Script) -> None:
    script.default = replies.verified()
    assert runner.invoke(app, ["eval", "--problems", f"{SOLVED},{OTHER}", "--attempts", "1",
                               "--run-dir", "run"]).exit_code == 0
    good = runner.invoke(app, ["verify-results", "run"])
    assert good.exit_code == 0 and "2/2 stored proofs verify again" in good.output
    script.default = None
    script.by_marker[f"MARK_{OTHER}"] = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    script.by_marker[f"MARK_{SOLVED}"] = replies.verified()
    bad = runner.invoke(app, ["verify-results", "run"])
    assert bad.exit_code == 1 and OTHER in bad.output and "1/2 stored proofs verify again" in bad.output


def test_an_existing_run_is_never_overwritten(workspace: Path, llm: ScriptedLLM, script: Script) -> None:
    script.default = replies.verified()
    assert runner.invoke(app, ["eval", "--problems", SOLVED, "--attempts", "1", "--run-dir", "run"]).exit_code == 0
    again = runner.invoke(app, ["eval", "--problems", SOLVED, "--attempts", "1", "--run-dir", "run"])
    assert again.exit_code == 2 and "pass --resume" in again.output


# ----------------------------------------------------------------- kill -9 and resume

def test_a_killed_run_resumes_without_losing_or_repeating_an_attempt(workspace: Path, script: Script,
                                                                     llm: ScriptedLLM) -> None:
    script.default = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    kill_when(workspace, ["eval", "--problems", f"{FAILING},{OTHER}", "--attempts", "6", "--run-dir", "run"],
              answer="tests.test_eval_e2e:answer", watch=workspace / "run" / "attempts.jsonl", lines=3)
    before = read_attempts(workspace / "run")
    assert 3 <= len(before) < 12, "killed mid-run"
    result = runner.invoke(app, ["eval", "--problems", f"{FAILING},{OTHER}", "--attempts", "6",
                                 "--run-dir", "run", "--resume"])
    assert result.exit_code == 0, result.output
    after = read_attempts(workspace / "run")
    assert after[: len(before)] == before, "nothing written before the kill was lost or changed"
    keys = [(r["problem"], r["attempt"]) for r in after]
    assert sorted(keys) == sorted((p, i) for p in (FAILING, OTHER) for i in range(6)), "none repeated, none missing"


def test_the_run_store_and_feedback_name_lines_of_the_llms_own_proof(workspace: Path, llm: ScriptedLLM,
                                                                      script: Script) -> None:
    script.by_marker[f"MARK_{FAILING}"] = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    result = runner.invoke(app, ["eval", "--problems", FAILING, "--attempts", "1", "--run-dir", "run"])
    assert result.exit_code == 0, result.output
    (record,) = read_attempts(workspace / "run")
    proof_lines = str(record["proof"]).splitlines()
    err = record["errors"][0]  # type: ignore[index]
    assert proof_lines[err["line"] - 1].strip() == "by simp" and err["line"] == len(proof_lines)
    feedback = next(c for c in llm.calls if c.component == "feedback")
    assert f"at line {err['line']}: Failed to finish proof" in feedback.messages[-1]["content"]


def test_an_oracle_in_an_unused_helper_fails_the_attempt_and_adds_nothing(workspace: Path, llm: ScriptedLLM,
                                                                           script: Script) -> None:
    # scripted: Isabelle reports skip_proof for the helper only (its proof was a cheat)
    script.by_marker[f"MARK_{SOLVED}"] = replies.verified({f"helper_{SOLVED}": ["skip_proof"]})
    result = runner.invoke(app, ["eval", "--problems", SOLVED, "--attempts", "1", "--run-dir", "run"])
    assert result.exit_code == 0, result.output
    (record,) = read_attempts(workspace / "run")
    assert record["failure"] == "oracle" and not record["solved"]
    assert record["skills_added"] == []
    stats = json.loads(runner.invoke(app, ["skills", "stats", "--json"]).stdout)
    assert stats["by_origin"] == {}


def test_a_result_relying_on_a_trusted_oracle_says_so_in_record_and_report(workspace: Path, llm: ScriptedLLM,
                                                                             script: Script) -> None:
    toml = (workspace / "lego-prover.toml").read_text().replace(
        "sledgehammer = false\n", 'sledgehammer = false\ntrusted_oracles = ["holds_by_evaluation"]\n')
    (workspace / "lego-prover.toml").write_text(toml)
    script.by_marker[f"MARK_{SOLVED}"] = replies.verified({SOLVED: ["holds_by_evaluation"]})
    result = runner.invoke(app, ["eval", "--problems", SOLVED, "--attempts", "1", "--run-dir", "run"])
    assert result.exit_code == 0, result.output
    (record,) = read_attempts(workspace / "run")
    assert record["solved"] and record["trusted_oracles"] == ["holds_by_evaluation"]
    assert runner.invoke(app, ["report", "run"]).exit_code == 0
    report = (workspace / "run" / "report.md").read_text()
    assert "trusted" in report and SOLVED in report.split("trusted", 1)[1].splitlines()[0]
