"""The methods behind one attempt interface: ``hammer`` and ``dsp`` attempts against the fake
Isabelle server (whose replies each test scripts: it never judges a proof), the hammer pass
that runs before a problem's first LLM attempt, and the figures they add to a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lego_prover.config import IsabelleSettings, Settings, load_settings
from lego_prover.errors import ConfigError
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.problems import Problem
from lego_prover.prover.attempt import AttemptRecord, Prover
from lego_prover.prover.dsp import DraftSketchProver
from lego_prover.prover.hammer import HammerProver, hammer_candidates, has_assumptions
from lego_prover.prover.methods import check_method_settings, make_first_pass, make_method
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.run.scheduler import FIRST_PASS, Scheduler
from lego_prover.run.store import RunStore
from lego_prover.run.summary import summarize
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Outcome, Script, Submitted
from tests.fakes.scripted_llm import ScriptedLLM

STATEMENT = 'theorem toy:\n  fixes x :: nat\n  assumes h0: "x = 2"\n  shows "x + x = 4"'
PROBLEM = Problem("toy", STATEMENT, informal_statement="If x = 2 then x + x = 4.", informal_proof="Substitute.")


@pytest.fixture
def settings(tmp_path: Path, isabelle_settings: IsabelleSettings) -> Settings:
    base = load_settings(None, {}, environ={}, cwd=tmp_path)
    return base.model_copy(update={"isabelle": isabelle_settings})


def tuned(settings: Settings, section: str, **values: Any) -> Settings:
    return settings.model_copy(update={section: getattr(settings, section).model_copy(update=values)})


def accepts_only(proof_line: str) -> Outcome:
    """Scripted: Isabelle accepts a theory whose theorem is closed by exactly ``proof_line``; any
    other theory gets an error at its theorem (the test's decision, not a judgement of the proof)."""

    def build(sub: Submitted) -> dict[str, Any]:
        if f"\n  {proof_line}\n" in sub.text:
            return replies.payload(sub, replies.oracle_messages(sub.text), replies.status())
        messages = [*replies.oracle_messages(sub.text),
                    {"kind": "error", "message": "Failed to finish proof", "pos": replies.position(sub.text, "theorem")}]
        return replies.payload(sub, messages, replies.status(failed=1))

    return Outcome(build)


def submitted_proof_lines(fake: FakeIsabelleServer) -> list[str]:
    """The line after the statement in every theory the fake received, in order."""
    out = []
    for sub in fake.state.submitted:
        body = sub.text.split('shows "x + x = 4"\n', 1)[1]
        out.append(body.split("\n", 1)[0].strip())
    return out


# ------------------------------------------------------------------------------ hammer

def test_candidates_try_using_assms_only_where_the_statement_has_assumptions(settings: Settings) -> None:
    s = tuned(settings, "hammer", tactics=["by simp", "by auto"], bare_with_assms=True)
    assert hammer_candidates(STATEMENT, s) == ["using assms by simp", "by simp", "using assms by auto", "by auto"]
    assert hammer_candidates('theorem t:\n  shows "(2::nat) + 2 = 4"', s) == ["by simp", "by auto"]
    assert not has_assumptions('theorem t:\n  shows "assumes = assumes"')   # a word inside a term is no keyword
    assert hammer_candidates(STATEMENT, tuned(s, "hammer", with_assms=False)) == ["by simp", "by auto"]
    assert hammer_candidates(STATEMENT, tuned(settings, "hammer", tactics=None, with_assms=False)) == \
        settings.isabelle.repair_tactics


async def test_hammer_checks_tactics_in_waves_and_starts_none_after_a_verified_one_scripted_fake_server(
        checker: Checker, script: Script, fake_server: FakeIsabelleServer, settings: Settings) -> None:
    script.default = accepts_only("using assms by auto")
    s = tuned(settings, "hammer", tactics=["by simp", "by auto", "by blast", "by force"], parallel=2, bare_with_assms=True)
    record = await HammerProver(checker, s).attempt(PROBLEM, 0)
    assert record.solved and record.method == "hammer" and record.failure is None
    assert record.prompt_tokens == record.completion_tokens == 0 and record.calls == [] and record.cost_usd == 0
    assert record.proof == f"{STATEMENT}\n  using assms by auto"
    assert "using assms by auto" in record.theory and record.theory.startswith("theory T_")
    # two waves of two; the third wave (blast, force) never started
    assert sorted(submitted_proof_lines(fake_server)) == sorted(
        ["using assms by simp", "by simp", "using assms by auto", "by auto"])
    assert record.repairs[:2] == ["using assms by simp: tactic", "by simp: tactic"]
    assert "using assms by auto: verified" in record.repairs


async def test_hammer_falls_back_to_sledgehammer_and_checks_the_proof_it_suggests_scripted_fake_server(
        checker: Checker, script: Script, fake_server: FakeIsabelleServer, settings: Settings) -> None:
    suggested = "by (metis add_2_eq_Suc' h0)"
    script.by_marker["sledgehammer ["] = replies.try_this(suggested)
    script.default = accepts_only(suggested)
    s = tuned(tuned(settings, "hammer", tactics=["by simp"], with_assms=False), "isabelle", sledgehammer=True)
    async with SessionPool(s.isabelle) as pool:  # the checker's own settings switch Sledgehammer on
        record = await HammerProver(Checker(pool, s.isabelle), s).attempt(PROBLEM, 0)
    assert record.solved and record.proof == f"{STATEMENT}\n  {suggested}"
    assert record.repairs == ["by simp: tactic", f"sledgehammer: {suggested}: verified"]
    figures = summarize([record], ["toy"], max_attempts=1)["hammer"]
    assert figures["solved_by_sledgehammer"] == 1 and figures["solved_by_tactic"] == 0


async def test_hammer_without_a_proof_says_what_it_tried_scripted_fake_server(
        checker: Checker, script: Script, settings: Settings) -> None:
    script.default = accepts_only("nothing closes it")
    s = tuned(settings, "hammer", tactics=["by simp", "by auto"], with_assms=False)
    record = await HammerProver(checker, s).attempt(PROBLEM, 3)
    assert not record.solved and record.failure == "tactic" and record.attempt == 3
    assert record.reason == "none of the 2 tactic candidates closed the goal" and record.theory == ""


async def test_a_failed_isabelle_task_in_the_hammer_pass_is_an_infrastructure_failure_not_a_result_scripted_fake_server(
        checker: Checker, script: Script, settings: Settings) -> None:
    script.default = Outcome(kind="failed", message="session died")
    record = await HammerProver(checker, tuned(settings, "hammer", tactics=["by simp"])).attempt(PROBLEM, 0)
    assert not record.solved and record.failure == "infrastructure" and record.service == "isabelle"
    assert "session died" in record.reason and not record.finished, "redone on resume, never counted"


def test_methods_refuse_an_evolver_without_a_library(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="does not use"):
        check_method_settings(tuned(settings, "prover", method="dsp"), evolvers=1)
    with pytest.raises(ConfigError, match="--no-library"):
        check_method_settings(tuned(settings, "prover", library=False), evolvers=2)
    check_method_settings(settings, evolvers=2)


async def test_make_method_gives_each_method_and_the_first_pass_only_where_it_belongs(
        checker: Checker, settings: Settings) -> None:
    llm = ScriptedLLM({})
    prompts = PromptLibrary.load()

    def made(**prover: Any) -> Any:
        s = tuned(settings, "prover", **prover)
        return (make_method(s, llm=llm, checker=checker, library=None, prompts=prompts),
                make_first_pass(s, checker))

    lego, first = made()
    assert type(lego) is Prover and isinstance(first, HammerProver)
    dsp, first = made(method="dsp", hammer_first=False)
    assert isinstance(dsp, DraftSketchProver) and first is None
    hammer, first = made(method="hammer")
    assert isinstance(hammer, HammerProver) and first is None


# ------------------------------------------------------------------------------ dsp

SKETCH = (f"```isabelle\n{STATEMENT}\nproof -\n  (* Substitute x = 2. *)\n  have \"x + x = 2 + 2\" using h0\n"
          "    sledgehammer\n  then show ?thesis by simp\nqed\n```")


async def test_dsp_drafts_then_sketches_and_the_repair_machinery_closes_its_placeholders_scripted_fake_server(
        checker: Checker, script: Script, settings: Settings) -> None:
    script.default = replies.verified()
    llm = ScriptedLLM({"draft": "Since x = 2, x + x = 2 + 2 = 4.", "sketch": SKETCH})
    s = tuned(settings, "prover", informal="generated")
    record = await DraftSketchProver(llm, checker, PromptLibrary.load(), s).attempt(PROBLEM, 0)
    assert record.solved and record.method == "dsp" and record.informal == "generated"
    assert llm.components() == ["draft", "sketch"]
    assert [c.prompt for c in record.calls] == ["dsp/draft", "dsp/sketch"]
    assert record.repairs and "sledgehammer" in record.repairs[0] and "by auto" in record.repairs[0]
    assert "sledgehammer" not in record.theory and "using h0\n    by auto" in record.theory
    assert record.requests == [] and record.retrieved == [] and record.skills_added == []
    sketch_prompt = llm.calls[1].prompt
    assert "Since x = 2, x + x = 2 + 2 = 4." in sketch_prompt, "the draft goes into the sketch prompt"
    assert "## Formal sketch" in sketch_prompt and "theorem sum_and_difference" in sketch_prompt, "worked examples"


async def test_dsp_with_the_problems_own_informal_proof_makes_one_call(checker: Checker, script: Script,
                                                                      settings: Settings) -> None:
    script.default = replies.verified()
    llm = ScriptedLLM({"sketch": SKETCH})
    s = tuned(settings, "prover", sketch_examples=1)
    prover = DraftSketchProver(llm, checker, PromptLibrary.load(), s)
    record = await prover.attempt(PROBLEM, 1)
    assert record.solved and llm.components() == ["sketch"] and "Substitute." in llm.calls[0].prompt
    assert llm.calls[0].prompt.count("## Formal sketch") == 2, "one worked example, then the problem's own"
    assert "theorem consecutive_product_even" in llm.calls[0].prompt, "examples rotate with the attempt index"


# ------------------------------------------------------------------------------ the first pass in the scheduler

def record(problem: str, attempt: int, solved: bool, method: str = "lego") -> AttemptRecord:
    return AttemptRecord(problem, attempt, solved, "human", None if solved else "tactic", "", "", "", [], [], [], [],
                         [], 0, 0, [], [], 0, 0, 0.0, 0.0, 0.0, 0.0, "", "", "t", "t", method=method)


async def test_the_first_pass_runs_once_per_problem_before_any_of_its_attempts(tmp_path: Path) -> None:
    store = RunStore.open(tmp_path / "run", {"kind": "eval"}, {}, resume=False)
    log: list[tuple[str, int]] = []
    passes_done: set[str] = set()

    async def first(problem: Problem, index: int) -> AttemptRecord:
        log.append((problem.name, index))
        passes_done.add(problem.name)
        return record(problem.name, index, problem.name == "easy", "hammer")

    async def attempt(problem: Problem, index: int) -> AttemptRecord:
        assert problem.name in passes_done, "an attempt started before its problem's first pass ended"
        log.append((problem.name, index))
        return record(problem.name, index, False)

    problems = [Problem("easy", "x"), Problem("hard", "y")]
    await Scheduler(attempt, store, attempts=3, concurrency=6, first_pass=first).run(problems)
    assert sorted(log) == [("easy", FIRST_PASS), ("hard", FIRST_PASS), ("hard", 0), ("hard", 1), ("hard", 2)]
    assert sorted((r.problem, r.attempt) for r in store.records if r.method == "hammer") == \
        [("easy", FIRST_PASS), ("hard", FIRST_PASS)], "the first passes are in the store like any attempt"

    log.clear()   # resumed with more attempts: the first passes are in the store and are not run again
    resumed = RunStore.open(tmp_path / "run", {"kind": "eval"}, {}, resume=True)
    await Scheduler(attempt, resumed, attempts=4, concurrency=6, first_pass=first).run(problems)
    assert log == [("hard", 3)]


def test_the_summary_reports_every_figure_also_without_the_problems_the_first_pass_solved() -> None:
    records = [record("easy", FIRST_PASS, True, "hammer"), record("hard", FIRST_PASS, False, "hammer"),
               record("hard", 0, False), record("hard", 1, True), record("other", FIRST_PASS, False, "hammer"),
               record("other", 0, False), record("other", 1, False)]
    summary = summarize(records, ["easy", "hard", "other"], max_attempts=2)
    assert summary["solved"] == 2 and summary["solved_by_hammer_first"] == 1
    assert [p["solved"] for p in summary["pass_at_k"]] == [1, 2], "a first-pass solve counts from k = 1"
    assert summary["per_problem"]["easy"] | {"solved_by": "hammer", "solved_at_attempt": -1} == \
        summary["per_problem"]["easy"]
    rest = summary["excluding_hammer_first"]
    assert rest == {"problems": 2, "solved": 1, "pass_rate": 0.5,
                    "pass_at_k": [{"k": 1, "solved": 0, "rate": 0.0}, {"k": 2, "solved": 1, "rate": 0.5}]}


def test_hammer_figures_give_seconds_per_problem_median_and_p95() -> None:
    timed: list[AttemptRecord] = []
    for i, seconds in enumerate([1.0, 2.0, 3.0, 4.0, 100.0]):
        r = record(f"p{i}", 0, i == 0, "hammer")
        timed.append(AttemptRecord.from_json({**r.to_json(), "total_s": seconds, "check_s": 2 * seconds}))
    figures = summarize(timed, [f"p{i}" for i in range(5)], max_attempts=1)["hammer"]
    assert figures["seconds_per_problem"] == {"median": 3.0, "p95": 100.0, "max": 100.0}
    assert figures["isabelle_check_s"] == 220.0 and figures["solved"] == 1 and figures["problems"] == 5


async def test_check_examples_also_checks_the_dsp_sketches_with_their_placeholders_repaired_scripted_fake_server(
        checker: Checker, script: Script, fake_server: FakeIsabelleServer) -> None:
    from lego_prover.config import LEGO_IMPORTS
    from lego_prover.prover.examples import check_all_examples

    script.default = replies.verified()
    results = await check_all_examples(PromptLibrary.load(), checker, tuple(LEGO_IMPORTS))
    dsp = [r for r in results if r.kind == "dsp"]
    assert [r.name for r in dsp] == ["sum_and_difference", "consecutive_product_even", "completed_square",
                                     "power_of_two_bound"] and all(r.verified for r in dsp)
    finals = [s.text for s in fake_server.state.submitted if "theorem completed_square" in s.text]
    assert any("sledgehammer" not in t and "sorry" not in t for t in finals), "the repaired sketch was checked"
