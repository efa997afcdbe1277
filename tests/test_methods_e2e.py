"""The methods (`lego`, `dsp`, `hammer`) and the ablations of `lego` end to end through the CLI
and the Python API, on real miniF2F problems, with the scripted LLM and the fake Isabelle
server: resume after kill -9, and `compare` on their run directories.

What Isabelle "says" is the test's decision (`judge`): a proof marked with the SOLVED
problem's name is accepted; of the hammer's candidates only `using assms by simp` on the EASY
problem is; everything else gets an error. The fake server never judges a proof.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.config import load_settings
from lego_prover.problems import load_problems, select
from lego_prover.run import evaluate
from lego_prover.run.compare import write_comparison
from lego_prover.run.evaluate import run_eval
from tests.conftest import MINIF2F_DIR
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Outcome, Script, Submitted
from tests.fakes.scripted_llm import LLMCall, ScriptedLLM
from tests.killed_run import kill_when

pytestmark = pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")

SOLVED, FAILING, EASY = "mathd_algebra_104", "mathd_algebra_109", "mathd_algebra_123"
runner = CliRunner()


@cache
def statements() -> dict[str, str]:
    return {p.name: p.formal_statement for p in load_problems(MINIF2F_DIR / "valid.jsonl")}


def answer(call: LLMCall) -> str:
    """Every component's answer; the proofs carry a marker naming their problem."""
    if call.component in ("informal_solver", "draft"):
        return "An informal proof."
    if call.component == "decomposer":
        return ("## Structured proof\nStep 1. Compute.\n\n## Requests\n```isabelle\n"
                f'lemma helper_{call.problem}:\n  shows "(2::nat) + 2 = 4"\n```')
    statement = statements()[call.problem]
    if call.component == "sketch":
        return (f"```isabelle\n{statement}\nproof -\n  (* MARK_{call.problem} *)\n  show ?thesis using h0\n"
                "    sledgehammer\nqed\n```")
    return (f"```isabelle\nlemma helper_{call.problem}:\n  shows \"(2::nat) + 2 = 4\"\n  by simp\n\n"
            f"{statement}\n  (* MARK_{call.problem} *)\n  by simp\n```")


def judge(sub: Submitted) -> dict[str, Any]:
    """The test's decision about a submitted theory (see the module docstring)."""
    easy = f"{statements()[EASY]}\n  using assms by simp\n"
    if f"MARK_{SOLVED}" in sub.text or easy in sub.text:
        return replies.payload(sub, replies.oracle_messages(sub.text), replies.status())
    messages = [*replies.oracle_messages(sub.text), {"kind": "error", "message": "Failed to finish proof",
                                                     "pos": replies.position(sub.text, "theorem")}]
    return replies.payload(sub, messages, replies.status(failed=1))


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server: FakeIsabelleServer,
              script: Script) -> Path:
    script.default = Outcome(judge)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "unused-the-llm-is-scripted")  # the preflight wants one
    (tmp_path / "lego-prover.toml").write_text(
        f'data_dir = "{MINIF2F_DIR}"\n'
        f'[isabelle]\nserver = "127.0.0.1:{fake_server.port}:{fake_server.password}"\n'
        f'work_dir = "{tmp_path / "isa"}"\nworkers = 1\nchecks_per_worker = 4\nsledgehammer = false\n'
        'repair_tactics = ["by simp", "by auto", "by linarith"]\n'
        f'[skills]\ndb_path = "{tmp_path / "skills_db"}"\n'
        '[prover]\nconcurrency = 3\nfeedback_rounds = 1\n'
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


def read_attempts(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "attempts.jsonl").read_text().splitlines()]


def eval_cli(*args: str, problems: str = f"{SOLVED},{FAILING},{EASY}", attempts: int = 2) -> Any:
    return runner.invoke(app, ["eval", "--problems", problems, "--attempts", str(attempts), *args])


def test_dsp_lego_the_ablations_and_hammer_run_end_to_end_and_compare_renders_them(
        workspace: Path, llm: ScriptedLLM) -> None:
    # dsp, with generated drafts: no library, no requests; the hammer pass solves EASY first
    result = eval_cli("--method", "dsp", "--informal", "generated", "--run-dir", "dsp")
    assert result.exit_code == 0, result.output
    assert not (workspace / "skills_db").exists(), "dsp never opens the skill library"
    records = read_attempts(workspace / "dsp")
    assert [(r["problem"], r["attempt"], r["method"]) for r in records if r["problem"] == EASY] == \
        [(EASY, -1, "hammer")] and all(c.problem != EASY for c in llm.calls), "the hammer pass cost no tokens"
    assert "1 solved by the hammer pass before any LLM attempt; without them 1/2 (50.0%)" in result.output
    dsp = [r for r in records if r["method"] == "dsp"]
    # (with 3 attempts in flight, SOLVED's second attempt may start before its first one solves it)
    assert {(r["problem"], r["attempt"]) for r in dsp} - {(SOLVED, 1)} == {(SOLVED, 0), (FAILING, 0), (FAILING, 1)}
    assert all(r["requests"] == [] and r["retrieved"] == [] for r in dsp)
    solved = next(r for r in dsp if r["solved"])
    assert [c["component"] for c in solved["calls"]] == ["draft", "sketch"] and solved["repairs"]
    summary = json.loads((workspace / "dsp" / "summary.json").read_text())
    assert summary["solved"] == 2 and summary["solved_by_hammer_first"] == 1
    assert summary["excluding_hammer_first"]["solved"] == 1 and summary["method"] == "dsp"

    # lego with its library (the default)
    assert eval_cli("--run-dir", "lego").exit_code == 0
    lego = [r for r in read_attempts(workspace / "lego") if r["method"] == "lego"]
    assert lego and [c["component"] for c in lego[0]["calls"]][:2] == ["decomposer", "formalizer"]
    assert any(r["skills_added"] for r in lego), "the helper lemma entered the library"

    # the ablation: no retrieval, no harvest; and generated informal proofs
    result = eval_cli("--no-library", "--informal", "generated", "--run-dir", "nolib")
    assert result.exit_code == 0, result.output
    nolib = [r for r in read_attempts(workspace / "nolib") if r["method"] == "lego"]
    assert nolib and all(r["retrieved"] == [] and r["skills_added"] == [] for r in nolib)
    assert all(r["calls"][0]["component"] == "informal_solver" for r in nolib)
    assert json.loads((workspace / "nolib" / "run.json").read_text())["library"] is False

    # hammer: no LLM at all, one pass per problem whatever --attempts says
    calls_before = len(llm.calls)
    result = eval_cli("--method", "hammer", "--run-dir", "hammer")
    assert result.exit_code == 0, result.output
    assert len(llm.calls) == calls_before
    hammer = read_attempts(workspace / "hammer")
    assert sorted((r["problem"], r["attempt"]) for r in hammer) == sorted([(EASY, 0), (SOLVED, 0), (FAILING, 0)])
    assert all(r["prompt_tokens"] == 0 and r["calls"] == [] for r in hammer)
    assert json.loads((workspace / "hammer" / "run.json").read_text())["attempts"] == 1
    printed = " ".join(result.output.split())
    assert "seconds per problem: median" in printed and "Isabelle CPU not measured" in printed
    figures = json.loads((workspace / "hammer" / "summary.json").read_text())["hammer"]
    assert figures["solved"] == 1 and figures["seconds_per_problem"]["p95"] is not None

    result = runner.invoke(app, ["compare", "dsp", "lego", "nolib", "hammer", "--out", "cmp"])
    assert result.exit_code == 0, result.output
    md = (workspace / "cmp" / "compare.md").read_text()
    assert "Same model" in md and "## Cost-matched pass rates" in md and "At the spend of **" in md
    assert "| hammer | hammer | — | 1 | — | no |" in md and "| nolib | lego | scripted | 2 | yes | no |" in md
    assert "### lego" in md and "### nolib" not in md
    page = (workspace / "cmp" / "compare.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    report = runner.invoke(app, ["report", "hammer"])
    assert report.exit_code == 0 and "seconds per problem: median" in " ".join(report.output.split())


@pytest.mark.parametrize("method", [["--method", "dsp"], ["--no-library", "--informal", "generated"]],
                         ids=["dsp", "lego-no-library"])
def test_a_killed_run_resumes_without_losing_or_repeating_an_attempt(workspace: Path, llm: ScriptedLLM,
                                                                     method: list[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGO_PROVER_PROVER__CONCURRENCY", "1")   # one at a time: no attempt after a solve
    problems = f"{FAILING},{EASY},{SOLVED}"
    argv = ["eval", "--problems", problems, "--attempts", "5", "--run-dir", "run", *method]
    kill_when(workspace, argv, answer="tests.test_methods_e2e:answer", watch=workspace / "run" / "attempts.jsonl",
              lines=4)
    before = read_attempts(workspace / "run")
    assert 4 <= len(before) < 9, "killed mid-run"
    result = runner.invoke(app, [*argv, "--resume"])
    assert result.exit_code == 0, result.output
    after = read_attempts(workspace / "run")
    assert after[: len(before)] == before, "nothing written before the kill was lost or changed"
    keys = sorted((r["problem"], r["attempt"]) for r in after)
    expected = sorted([(p, -1) for p in (FAILING, EASY, SOLVED)] + [(SOLVED, 0)] + [(FAILING, i) for i in range(5)])
    assert keys == expected, "every first pass once, every attempt once, none after a solve"


def test_resume_alone_continues_a_run_with_the_settings_it_was_started_with(
        workspace: Path, llm: ScriptedLLM) -> None:
    # what a stopped run tells the person to type: no flags but --resume and --run-dir
    first = eval_cli("--method", "dsp", "--no-hammer-first", "--run-dir", "run", problems=FAILING, attempts=2)
    assert first.exit_code == 0, first.output
    config = workspace / "run" / "config.json"
    settings = json.loads(config.read_text())
    settings["prover"]["attempts"] = 3   # as if the run had been stopped before its last attempt
    config.write_text(json.dumps(settings))
    again = runner.invoke(app, ["eval", "--resume", "--run-dir", "run"])
    assert again.exit_code == 0, again.output
    records = read_attempts(workspace / "run")
    assert sorted(r["attempt"] for r in records) == [0, 1, 2], "only the missing attempt was run"
    assert {r["method"] for r in records} == {"dsp"}, "the run went on with its own method"


def test_resuming_a_run_with_another_method_is_refused(workspace: Path, llm: ScriptedLLM) -> None:
    assert eval_cli("--method", "dsp", "--run-dir", "run", problems=SOLVED, attempts=1).exit_code == 0
    again = eval_cli("--resume", "--method", "lego", "--run-dir", "run", problems=SOLVED, attempts=1)
    assert again.exit_code == 2
    assert "run was run with --method dsp, not --method lego; resume it with the settings it was started with" \
        in " ".join(again.output.split())


def test_an_evolver_beside_dsp_is_refused_in_one_line(workspace: Path, llm: ScriptedLLM) -> None:
    result = eval_cli("--method", "dsp", "--evolvers", "1", "--run-dir", "run")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "the dsp method does not use" in " ".join(result.output.split())
    assert not (workspace / "run").exists()


def test_the_methods_run_from_the_python_api(workspace: Path, llm: ScriptedLLM) -> None:
    """The README's Python example: settings with a method, run_eval, then write_comparison."""
    runs = {}
    for method, solved in (("hammer", 1), ("dsp", 2)):
        settings = load_settings(overrides={"prover.method": method, "prover.attempts": 1})
        problems = select(load_problems(MINIF2F_DIR / "valid.jsonl"), [SOLVED, EASY])
        runs[method] = Path(f"api-{method}")
        summary = asyncio.run(run_eval(settings, problems, run_dir=runs[method], resume=False,
                                       meta={"benchmark": "minif2f", "split": "valid"}))
        assert summary["solved"] == solved and summary["method"] == method
    md, page = write_comparison([runs["hammer"], runs["dsp"]], Path("api-cmp"))
    assert "| api-hammer | 1 | 50.0% | 0 | 0 | 0 |" in md.read_text()
    assert "| api-dsp | 2 | 100.0% | 0 | 1 | 1 |" in md.read_text() and page.is_file()


def test_the_time_budgets_reach_the_run_settings_and_the_report_plots_solved_against_time(
        workspace: Path, llm: ScriptedLLM) -> None:
    result = eval_cli("--method", "hammer", "--run-dir", "timed", "--time-budget", "600",
                      "--problem-time-budget", "25")
    assert result.exit_code == 0, result.output
    settings = json.loads((workspace / "timed" / "config.json").read_text())
    assert settings["budget"]["max_wall_s"] == 600 and settings["hammer"]["problem_budget_s"] == 25
    summary = json.loads((workspace / "timed" / "summary.json").read_text())
    assert [n for _, n in summary["solved_over_time"]] == [1]
    assert runner.invoke(app, ["report", "timed"]).exit_code == 0
    page = (workspace / "timed" / "report.html").read_text()
    assert "Solved against wall time" in page
    refused = eval_cli("--method", "hammer", "--run-dir", "t2", "--problem-time-budget", "0")
    assert refused.exit_code == 2 and "--problem-time-budget" in refused.output
