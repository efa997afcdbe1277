"""How the hammer pass spends Isabelle time: which candidates, in what order, under which limits.

A checker double stands in for Isabelle here: it answers from a script (which proof lines
"verify", how long a check "takes") and records what it was asked. It decides nothing about
any proof; the pass's schedule is what these tests pin down.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lego_prover.config import Settings, load_settings
from lego_prover.isabelle.context import CheckOptions, TheoryContext
from lego_prover.isabelle.verdict import FailureKind, Verdict
from lego_prover.problems import Problem
from lego_prover.prover.attempt import AttemptRecord
from lego_prover.prover.hammer import HammerProver, hammer_candidates
from lego_prover.run.summary import summarize

STATEMENT = 'theorem toy:\n  fixes x :: nat\n  assumes h0: "x = 2"\n  shows "x + x = 4"'
PROBLEM = Problem("toy", STATEMENT, informal_statement="", informal_proof="")


@dataclass
class Asked:
    line: str
    options: CheckOptions
    repair: bool
    start: float
    end: float = 0.0


@dataclass
class ScriptedChecker:
    """Answers ``verified`` for the proof lines in ``verifies``; each check sleeps ``seconds``."""

    verifies: set[str] = field(default_factory=set)
    seconds: float = 0.0
    sledgehammer_finds: str = ""
    asked: list[Asked] = field(default_factory=list)
    isabelle: str = "Isabelle-test"
    session: str = "HOL"

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        line = text.rsplit("\n", 1)[-1].strip()
        asked = Asked(line, options or CheckOptions(), repair, time.monotonic())
        self.asked.append(asked)
        await asyncio.sleep(self.seconds)
        asked.end = time.monotonic()
        if repair:   # the Sledgehammer call
            found = self.sledgehammer_finds
            repairs = (f"line 5 (sledgehammer): {found}",) if found else ()
            return Verdict(bool(found), None if found else FailureKind.TACTIC, "", "T", "", "toy", repairs=repairs)
        ok = line in self.verifies
        return Verdict(ok, None if ok else FailureKind.TACTIC, "" if ok else "Failed to finish proof", "T",
                       f"theory T imports Main begin\n{text}\nend", "toy", elapsed_s=self.seconds)

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        raise AssertionError("the hammer pass never confirms")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(None, {"isabelle.work_dir": str(tmp_path / "isa"), "isabelle.sledgehammer": False},
                         environ={}, cwd=tmp_path)


def hammer(settings: Settings, **values: Any) -> Settings:
    return settings.model_copy(update={"hammer": settings.hammer.model_copy(update=values)})


def test_with_assumptions_only_the_using_assms_variants_unless_bare_ones_are_asked_for(settings: Settings) -> None:
    s = hammer(settings, tactics=["by simp", "by auto"], bare_with_assms=False)
    assert hammer_candidates(STATEMENT, s) == ["using assms by simp", "using assms by auto"]
    assert hammer_candidates('theorem t:\n  shows "(2::nat) + 2 = 4"', s) == ["by simp", "by auto"], \
        "a statement without assumptions still gets the bare tactics"
    assert hammer_candidates(STATEMENT, hammer(s, bare_with_assms=True)) == \
        ["using assms by simp", "by simp", "using assms by auto", "by auto"]


async def test_one_candidate_at_a_time_stops_at_the_first_that_verifies(settings: Settings) -> None:
    checker = ScriptedChecker(verifies={"using assms by auto"})
    s = hammer(settings, tactics=["by simp", "by auto", "by blast"], parallel=1, bare_with_assms=False)
    record = await HammerProver(checker, s).attempt(PROBLEM, 0)
    assert record.solved and record.reason == "verified by 'using assms by auto'"
    assert [a.line for a in checker.asked] == ["using assms by simp", "using assms by auto"], \
        "nothing starts after the winner"


async def test_each_tactic_gets_its_own_limit_or_the_common_one(settings: Settings) -> None:
    checker = ScriptedChecker()
    s = hammer(settings, tactics=["by simp", "by sos"], parallel=1, bare_with_assms=False,
               tactic_timeout_s=7.0, tactic_timeouts_s={"by sos": 3.0})
    await HammerProver(checker, s).attempt(PROBLEM, 0)
    assert [(a.line, a.options.check_limit_s) for a in checker.asked] == \
        [("using assms by simp", 7.0), ("using assms by sos", 3.0)]


async def test_a_problem_budget_caps_the_limits_and_starts_nothing_once_spent(settings: Settings) -> None:
    checker = ScriptedChecker(seconds=0.6)
    s = hammer(settings, tactics=["by simp", "by auto", "by blast", "by force"], parallel=1,
               bare_with_assms=False, tactic_timeout_s=10.0, problem_budget_s=1.5)
    record = await HammerProver(checker, s).attempt(PROBLEM, 0)
    assert len(checker.asked) == 1, "after 0.6 s less than the 1 s minimum is left of 1.5 s"
    assert checker.asked[0].options.check_limit_s is not None and checker.asked[0].options.check_limit_s <= 1.5
    assert not record.solved and record.failure == "timeout"
    assert record.reason == "the problem's time budget (1.5 s) ran out after 1 of the 4 tactic candidates"


async def test_sledgehammer_gets_what_is_left_of_the_budget(settings: Settings) -> None:
    checker = ScriptedChecker(sledgehammer_finds="by (metis h0)")
    s = hammer(settings, tactics=["by simp"], parallel=1, bare_with_assms=False, problem_budget_s=20.0)
    s = s.model_copy(update={"isabelle": s.isabelle.model_copy(update={"sledgehammer": True,
                                                                       "sledgehammer_timeout_s": 30.0})})
    record = await HammerProver(checker, s).attempt(PROBLEM, 0)
    call = checker.asked[-1]
    assert call.repair and call.options.repair_tactics == ()
    assert call.options.sledgehammer_timeout_s is not None and 7.0 < call.options.sledgehammer_timeout_s <= 12.0, \
        "20 s left, less the 8 s a Sledgehammer call spends around its provers' limit"
    assert record.repairs[-1].startswith("sledgehammer:")


async def test_a_minimizing_sledgehammer_call_shares_what_is_left_with_its_minimizer(settings: Settings) -> None:
    checker = ScriptedChecker(sledgehammer_finds="by (metis h0)")
    s = hammer(settings, tactics=["by simp"], parallel=1, bare_with_assms=False, problem_budget_s=28.0)
    s = s.model_copy(update={"isabelle": s.isabelle.model_copy(update={
        "sledgehammer": True, "sledgehammer_timeout_s": 30.0, "sledgehammer_minimize": True})})
    await HammerProver(checker, s).attempt(PROBLEM, 0)
    call = checker.asked[-1]
    assert call.options.sledgehammer_timeout_s is not None and 7.0 < call.options.sledgehammer_timeout_s <= 10.0, \
        "28 s left, less the 8 s around the call, shared by the provers and the minimizer"


async def test_sledgehammer_is_skipped_when_the_budget_leaves_too_little(settings: Settings) -> None:
    checker = ScriptedChecker(seconds=0.3)
    s = hammer(settings, tactics=["by simp"], parallel=1, bare_with_assms=False, problem_budget_s=12.0)
    s = s.model_copy(update={"isabelle": s.isabelle.model_copy(update={"sledgehammer": True})})
    record = await HammerProver(checker, s).attempt(PROBLEM, 0)
    assert [a.repair for a in checker.asked] == [False], "no Sledgehammer call with under 5 s left after its 8 s"
    assert record.reason.endswith("left no time for Sledgehammer")


async def test_sledgehammer_calls_across_problems_wait_for_each_other_when_limited(settings: Settings) -> None:
    checker = ScriptedChecker(seconds=0.2)
    s = hammer(settings, tactics=["by simp"], parallel=1, bare_with_assms=False, sledgehammer_parallel=1)
    s = s.model_copy(update={"isabelle": s.isabelle.model_copy(update={"sledgehammer": True})})
    prover = HammerProver(checker, s)
    await asyncio.gather(*(prover.attempt(Problem(f"p{i}", STATEMENT, "", ""), 0) for i in range(3)))
    calls = sorted((a.start, a.end) for a in checker.asked if a.repair)
    assert len(calls) == 3
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(calls)), \
        "with sledgehammer_parallel = 1 no two Sledgehammer calls overlap"
    tactic = sorted(a.start for a in checker.asked if not a.repair)
    assert tactic[-1] - tactic[0] < 0.15, "the tactic checks of the three problems were not held back"


# ------------------------------------------------------------------------------ figures and report

def hammer_record(problem: str, solved: bool, log: list[str], started: str, finished: str) -> AttemptRecord:
    return AttemptRecord(problem, 0, solved, "none", None if solved else "tactic", "", "", "", [], [], [], [],
                         [], 0, 0, log, [], 0, 0, 0.0, 0.0, 1.0, 2.0, "", "", started, finished, method="hammer")


RECORDS = [
    hammer_record("a", True, ["using assms by simp: tactic", "using assms by auto: verified"],
                  "2026-12-06T10:00:00+00:00", "2026-12-06T10:00:05+00:00"),
    hammer_record("b", True, ["by simp: tactic", "sledgehammer: by (metis h0): verified"],
                  "2026-12-06T10:00:00+00:00", "2026-12-06T10:01:30+00:00"),
    hammer_record("c", False, ["by simp: tactic", "sledgehammer: no proof found"],
                  "2026-12-06T10:00:05+00:00", "2026-12-06T10:02:00+00:00"),
    hammer_record("d", True, ["using assms by auto: verified"],
                  "2026-12-06T10:01:30+00:00", "2026-12-06T10:03:20+00:00"),
]


def test_the_summary_says_what_closed_each_solved_problem_and_when_it_was_solved() -> None:
    summary = summarize(RECORDS, ["a", "b", "c", "d"], max_attempts=1)
    assert summary["hammer"]["closed_by"] == {"using assms by auto": 2, "Sledgehammer": 1}
    assert summary["solved_over_time"] == [[5.0, 1], [90.0, 2], [200.0, 3]], \
        "seconds from the earliest start to each problem's first solve"


def test_the_report_names_the_winners_and_the_solved_against_wall_time_marks() -> None:
    from lego_prover.run.report import render_markdown

    md = render_markdown({"kind": "eval", "method": "hammer"}, summarize(RECORDS, ["a", "b", "c", "d"], max_attempts=1))
    assert "- closed by: `using assms by auto` 2, `Sledgehammer` 1" in md
    assert "- solved against wall time: 2 solved after 90 s; 3 solved after 3.3 min" in md
