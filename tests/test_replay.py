"""Replay (``--replay SOURCE``, ``llm.replay``): answers from recorded conversations, matched by
problem, role and order; ``no recorded answer`` as an outcome of its own; the replay label in
run.json, every record, the summary, the report and ``compare``; ``evolve --replay``.

The fake Isabelle server never judges a proof: each test scripts its verdicts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.config import IsabelleSettings, Settings, load_settings
from lego_prover.errors import BadInputError
from lego_prover.evolver.loop import Evolver
from lego_prover.isabelle.checker import Checker
from lego_prover.llm.base import ChatMessage
from lego_prover.llm.replay import (
    JSONL_MODEL,
    NoRecordedAnswer,
    ReplayLLM,
    load_replay_source,
    replay_note,
)
from lego_prover.llm.usage import UsageTracker
from lego_prover.problems import load_problems
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.run.store import RunStore
from lego_prover.skills.library import SkillLibrary
from lego_prover.tokens import count_tokens
from tests.conftest import MINIF2F_DIR
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script
from tests.fakes.scripted_llm import LLMCall, ScriptedLLM

runner = CliRunner()
SOLVED, FAILING = "mathd_algebra_104", "mathd_algebra_109"
MSG: list[ChatMessage] = [{"role": "user", "content": "Prove it."}]


def record(problem: str, decomposer: str, formalizer: str, *, informal_mode: str = "human",
           informal_proof: str = "") -> dict[str, object]:
    """One line in the format of LEGO-Prover's published runs."""
    return {"problem": problem, "split": "valid", "informal_mode": informal_mode, "informal_statement": "",
            "informal_proof": informal_proof, "formal_statement": "",
            "decomposer": {"system": "s", "user": "u", "answer": decomposer},
            "formalizer": {"system": "s", "user": "u", "answer": formalizer}, "final_code": ""}


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ---------------------------------------------------------------- matching


async def test_answers_match_by_problem_role_and_order_never_by_guessing(tmp_path: Path) -> None:
    source = load_replay_source(write_jsonl(tmp_path / "r.jsonl", [
        record("p", "plan p0", "proof p0"), record("q", "plan q0", "proof q0"),
        record("p", "plan p1", "proof p1", informal_mode="generated", informal_proof="informal p1")]))
    assert (source.kind, source.attempts("p"), source.attempts("q"), source.attempts("r")) == ("jsonl", 2, 1, 0)
    llm = ReplayLLM(source, UsageTracker())
    # out of order across problems and attempts: each gets its own
    (c,) = await llm.complete(MSG, component="formalizer", problem="p", attempt=1)
    assert c.text == "proof p1" and c.replayed and c.usage_estimated and c.model == JSONL_MODEL
    (c,) = await llm.complete(MSG, component="decomposer", problem="q", attempt=0)
    assert c.text == "plan q0"
    (c,) = await llm.complete(MSG, component="informal_solver", problem="p", attempt=1)
    assert c.text == "informal p1"
    (c,) = await llm.complete(MSG, component="decomposer", problem="p", attempt=0)
    assert c.text == "plan p0"
    # the second formalizer call of an attempt (a re-prompt) has no recorded answer
    with pytest.raises(NoRecordedAnswer, match="call 2 of the formalizer in p attempt 1"):
        await llm.complete(MSG, component="formalizer", problem="p", attempt=1)
    for component, problem, attempt in (("informal_solver", "p", 0), ("feedback", "p", 0),
                                        ("decomposer", "p", 2), ("decomposer", "r", 0)):
        with pytest.raises(NoRecordedAnswer):
            await llm.complete(MSG, component=component, problem=problem, attempt=attempt)


async def test_usage_is_counted_with_the_tokenizer_where_the_source_has_none(tmp_path: Path) -> None:
    llm = ReplayLLM(load_replay_source(write_jsonl(tmp_path / "r.jsonl", [record("p", "a plan", "x")])),
                    tracker := UsageTracker())
    (c,) = await llm.complete(MSG, component="decomposer", problem="p", attempt=0)
    assert (c.usage.prompt_tokens, c.usage.completion_tokens) == (count_tokens("Prove it."), count_tokens("a plan"))
    assert tracker.total.calls == 1 and tracker.total.completion_tokens == c.usage.completion_tokens
    assert tracker.total.unpriced_calls == 1, "no price for the recorded run's model: never counted as free"


@pytest.mark.parametrize(("content", "message"), [
    ("{not json\n", "line 1 is not JSON"),
    ('{"problem": "p"}\n', "line 1 has no decomposer.answer"),
    ('{"decomposer": {"answer": "a"}, "formalizer": {"answer": "b"}}\n', "line 1 names no problem"),
    ("\n", "holds no records"),
])
def test_a_bad_jsonl_source_is_one_line_naming_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.jsonl").write_text(content)
    with pytest.raises(BadInputError, match=message) as info:
        load_replay_source(tmp_path / "bad.jsonl")
    assert "\n" not in str(info.value)


def test_a_missing_or_empty_source_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        load_replay_source(tmp_path / "nope.jsonl")
    with pytest.raises(BadInputError, match=r"no attempts\.jsonl or evolver\.jsonl"):
        load_replay_source(tmp_path)


# ---------------------------------------------------------------- eval --replay through the CLI


def statements() -> dict[str, str]:
    return {p.name: p.formal_statement for p in load_problems(MINIF2F_DIR / "valid.jsonl")}


def answer_for(problem: str) -> str:
    return (f"Here is the proof.\n```isabelle\nlemma helper_{problem}:\n  shows \"(2::nat) + 2 = 4\"\n  by simp\n\n"
            f"{statements()[problem]}\n  (* MARK_{problem} *)\n  by simp\n```")


PLAN = ("## Structured informal proof\nStep 1: compute.\n\n## Request skills\n### Code 1\n```isabelle\n"
        'lemma two_plus_two:\n  shows "(2::nat) + 2 = 4"\n```')


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server: FakeIsabelleServer) -> Path:
    if not MINIF2F_DIR.is_dir():
        pytest.skip(f"miniF2F is not at {MINIF2F_DIR} (set LEGO_TEST_SHARED_DIR)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)     # a replay needs no key
    (tmp_path / "lego-prover.toml").write_text(
        f'data_dir = "{MINIF2F_DIR}"\n'
        f'[isabelle]\nserver = "127.0.0.1:{fake_server.port}:{fake_server.password}"\n'
        f'work_dir = "{tmp_path / "isa"}"\nworkers = 1\nchecks_per_worker = 2\nsledgehammer = false\n'
        f'[skills]\ndb_path = "{tmp_path / "skills_db"}"\n'
        '[prover]\nconcurrency = 2\nfeedback_rounds = 1\nhammer_first = false\n')
    write_jsonl(tmp_path / "recorded.jsonl", [
        record(SOLVED, PLAN, answer_for(SOLVED)), record(FAILING, "N/A", answer_for(FAILING)),
        record(FAILING, "N/A", answer_for(FAILING))])
    return tmp_path


def attempts_of(run: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run / "attempts.jsonl").read_text().splitlines()]


def test_eval_replays_a_jsonl_and_labels_every_record_summary_report_and_compare(workspace: Path,
                                                                                script: Script) -> None:
    script.by_marker[f"MARK_{SOLVED}"] = replies.verified()
    script.by_marker[f"MARK_{FAILING}"] = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    result = runner.invoke(app, ["eval", "--problems", f"{SOLVED},{FAILING}", "--attempts", "5",
                                 "--replay", "recorded.jsonl", "--run-dir", "run"])
    assert result.exit_code == 0, result.output
    note = replay_note("recorded.jsonl")
    assert note in result.output
    assert json.loads((workspace / "run" / "run.json").read_text())["replay"]["note"] == note
    records = attempts_of(workspace / "run")
    # only the attempts the source recorded are made: 1 for SOLVED, 2 for FAILING (not --attempts 5)
    assert sorted((r["problem"], r["attempt"]) for r in records) == [(SOLVED, 0), (FAILING, 0), (FAILING, 1)]
    assert all(r["replayed_from"] == "recorded.jsonl" for r in records)
    assert all(c["replayed"] and c["usage_estimated"] for r in records for c in r["calls"])  # type: ignore[attr-defined]
    solved = next(r for r in records if r["problem"] == SOLVED)
    assert solved["solved"] and solved["requests"] == ['lemma two_plus_two:\n  shows "(2::nat) + 2 = 4"']
    # the proof failed, then the feedback round asked for an answer the source never had
    failed = [r for r in records if r["problem"] == FAILING]
    assert all(r["failure"] == "no_recorded_answer" for r in failed)
    assert all("the check before it: tactic" in str(r["reason"]) for r in failed)
    summary = json.loads((workspace / "run" / "summary.json").read_text())
    assert summary["replay"]["no_recorded_answer"] == 2 and summary["replay"]["note"] == note
    # the run says it made at most the 2 recorded attempts per problem, not the 5 asked for
    assert "at most 2 per problem (not prover.attempts = 5)" in result.output
    assert json.loads((workspace / "run" / "run.json").read_text())["attempts"] == 2
    assert [p["k"] for p in summary["pass_at_k"]] == [1, 2]
    assert summary["failures"] == {"solved": 1, "no_recorded_answer": 2}
    assert summary["interrupted"] == {}, "not a service failure: nothing to redo"
    assert runner.invoke(app, ["report", "run"]).exit_code == 0
    md = (workspace / "run" / "report.md").read_text()
    assert f"**Replayed**: {note}" in md and "| no recorded answer | 2 |" in md
    assert "2 attempts per problem" in md
    stats = json.loads(runner.invoke(app, ["skills", "stats", "--json"]).stdout)
    assert stats["by_origin"] == {"problem": 1} and stats["requests"] == 1, "harvest and requests ran for real"
    # the same helper lemma verified in the other attempts: refused as a duplicate, and the record says of which
    refused = [d for r in records for d in r["skills_duplicates"]]  # type: ignore[attr-defined]
    assert len(refused) == 2 and len(set(refused)) == 1 and set(refused) <= {f"helper_{SOLVED}", f"helper_{FAILING}"}

    # a run directory of ours replays the same answers, with the usage it recorded (an estimate stays one)
    result = runner.invoke(app, ["eval", "--problems", f"{SOLVED},{FAILING}", "--replay", "run",
                                 "--run-dir", "again", "--no-library"])
    assert result.exit_code == 0, result.output
    again = attempts_of(workspace / "again")
    assert {(r["problem"], r["attempt"], r["solved"], r["failure"]) for r in again} == \
        {(r["problem"], r["attempt"], r["solved"], r["failure"]) for r in records}
    first = {(r["problem"], r["attempt"]): r["calls"] for r in records}
    for r in again:
        assert [c["completion"] for c in r["calls"]] == [c["completion"] for c in first[(r["problem"], r["attempt"])]]  # type: ignore[index, union-attr]
        assert [(c["usage_estimated"], c["completion_tokens"]) for c in r["calls"]] == \
            [(c["usage_estimated"], c["completion_tokens"]) for c in first[(r["problem"], r["attempt"])]]  # type: ignore[index, union-attr]
    compared = runner.invoke(app, ["compare", "run", "again", "--out", "cmp"])
    assert compared.exit_code == 0, compared.output
    page = (workspace / "cmp" / "compare.md").read_text()
    assert f"{note}: its cost and time" in page and f"{replay_note('run')}: its cost and time" in page


def test_every_attempt_is_rechecked_when_asked_and_a_missing_problem_is_said(workspace: Path,
                                                                              script: Script) -> None:
    script.default = replies.verified()
    (workspace / "two.jsonl").write_text(
        json.dumps(record(SOLVED, "N/A", answer_for(SOLVED))) + "\n" + json.dumps(record(SOLVED, "N/A", "no code")) + "\n")
    result = runner.invoke(app, ["eval", "--problems", f"{SOLVED},{FAILING}", "--replay", "two.jsonl",
                                 "--run-dir", "run", "--no-library"],
                           env={"LEGO_PROVER_PROVER__STOP_WHEN_SOLVED": "false"})
    assert result.exit_code == 0, result.output
    outcome = {(r["problem"], r["attempt"]): r["failure"] for r in attempts_of(workspace / "run")}
    # both recorded attempts of SOLVED ran although the first solved it; FAILING is not in the source
    assert outcome == {(SOLVED, 0): None, (SOLVED, 1): "no_proof", (FAILING, 0): "no_recorded_answer"}


def test_a_bad_replay_source_stops_before_anything_is_written(workspace: Path) -> None:
    result = runner.invoke(app, ["eval", "--problems", SOLVED, "--replay", "missing.jsonl", "--run-dir", "run"])
    assert result.exit_code == 2 and "the replay source missing.jsonl does not exist" in result.output
    assert not (workspace / "run").exists()


# ---------------------------------------------------------------- evolve --replay


EVOLVED = 'lemma sq_nonneg_key:\n  fixes t :: real\n  shows "0 <= t * t"\n  by simp'


@pytest.fixture
def evolve_settings(tmp_path: Path, isabelle_settings: IsabelleSettings) -> Settings:
    base = load_settings(None, {"evolver.samples": 1, "evolver.directional_share": 1.0}, environ={}, cwd=tmp_path)
    return base.model_copy(update={"isabelle": isabelle_settings})


async def test_evolve_replays_a_run_directory_of_ours(tmp_path: Path, checker: Checker, script: Script,
                                                      evolve_settings: Settings) -> None:
    from lego_prover.config import SkillSettings
    from lego_prover.skills.records import Origin
    from tests.fakes.hash_embedder import HashEmbedder
    from tests.skill_helpers import verify

    script.default = replies.verified()

    def answer(call: LLMCall) -> str:
        return f"```isabelle\n{EVOLVED}\n```"

    async def evolve(llm: object, settings: Settings, where: str) -> RunStore:
        library = SkillLibrary.open(SkillSettings(db_path=tmp_path / f"{where}.db", dedup_threshold=0.97),
                                    HashEmbedder())
        (seed,) = await verify(checker, script, 'lemma seed:\n  fixes a :: real\n  shows "a^2 >= 0"\n  by simp')
        library.add(seed, Origin("problem", problem="p0", attempt=0))
        store = RunStore.open(tmp_path / where, {"kind": "evolve"}, {}, resume=False)
        await Evolver(llm, checker, library, PromptLibrary.load(), settings, store=store).run(2)  # type: ignore[arg-type]
        return store

    recorded = await evolve(ScriptedLLM(answer), evolve_settings, "first")
    replay_settings = evolve_settings.model_copy(update={"llm": evolve_settings.llm.model_copy(
        update={"replay": tmp_path / "first"})})
    source = load_replay_source(tmp_path / "first")
    tracker = UsageTracker()
    replayed = await evolve(ReplayLLM(source, tracker), replay_settings, "second")
    assert [s["llm_calls"][0]["completion"] for s in replayed.evolver_steps] == \
        [s["llm_calls"][0]["completion"] for s in recorded.evolver_steps]
    assert all(s["replayed_from"] == str(tmp_path / "first") for s in replayed.evolver_steps)
    assert all(c["replayed"] and not c["usage_estimated"] for s in replayed.evolver_steps for c in s["llm_calls"])
    assert tracker.total.completion_tokens == sum(s["completion_tokens"] for s in recorded.evolver_steps)
    # a step the recorded run never made has no recorded answer: its own outcome, the run goes on
    store = RunStore.open(tmp_path / "third", {"kind": "evolve"}, {}, resume=False)
    library = SkillLibrary.open(SkillSettings(db_path=tmp_path / "third.db"), HashEmbedder())
    (seed,) = await verify(checker, script, 'lemma seed:\n  fixes a :: real\n  shows "a^2 >= 0"\n  by simp')
    library.add(seed, Origin("problem", problem="p0", attempt=0))
    step = await Evolver(ReplayLLM(source, UsageTracker()), checker, library, PromptLibrary.load(), replay_settings,
                         store=store).step(7)
    assert step.failure == "no_recorded_answer" and "evolver step 7" in step.reason
