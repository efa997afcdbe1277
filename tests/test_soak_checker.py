"""``benchmarks/soak_checker.py`` against doubles: its case mix and its bookkeeping.

No Isabelle: a fake checker answers each case by its kind, and a fake pool counts
restarts, so these say whether the soak would notice a lost correct proof, a wrong proof
verified, or a server that no longer answers.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from lego_prover.isabelle.context import CheckOptions, TheoryContext
from lego_prover.isabelle.guard import SoundnessGuard
from lego_prover.isabelle.verdict import FailureKind, Verdict


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "soak_checker.py"
    spec = importlib.util.spec_from_file_location("soak_checker", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_checker"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:  # benchmarks/ is no package: mypy reads it as a namespace one
    from benchmarks import soak_checker
else:
    soak_checker = _load()
Case = soak_checker.Case


class FakePool:
    def __init__(self) -> None:
        self.restarts: list[str] = []
        self.generation = 0


Answer = Callable[[Case, int], tuple[bool, FailureKind | None]]


class FakeChecker:
    """Answers as a sound checker would, except where ``answer`` says otherwise."""

    def __init__(self, pool: FakePool, answer: Answer | None = None, *, repair_failing_by: bool = False) -> None:
        self.pool = pool
        self.answer = answer
        self.repair_failing_by = repair_failing_by
        self.by_name = {c.name: c for c in soak_checker.CASES}
        self.calls = 0
        self.limits: list[float | None] = []

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        self.calls += 1
        self.limits.append(options.check_limit_s if options else None)
        case = self.by_name[context.target or ""]
        assert text == case.text
        await asyncio.sleep(0)  # let the other slots run between checks, as a real one does
        seen = soak_checker._SESSIONS.get()
        if seen is not None:  # as TracingPool would: all on session 0
            seen.append(0)
        if case.kind == "runaway":
            self.pool.restarts.append("a check hit its limit while a command was still running")
        verified = case.expected_verified(self.repair_failing_by)
        failure = None if verified else (FailureKind.TIMEOUT if case.kind == "runaway" else FailureKind.TACTIC)
        if self.answer is not None:
            verified, failure = self.answer(case, self.calls)
        return Verdict(verified, failure, "" if verified else f"{failure} in {case.name}", "T", text, case.name,
                       repairs=("by (rule refl) -> by auto",) if case.kind == "repairable" else ())

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        raise NotImplementedError


def run(checker: FakeChecker, pool: FakePool, *, checks: int = 60, repair_failing_by: bool = False,
        shares: dict[soak_checker.Kind, float] | None = None) -> tuple[soak_checker.Soak, dict[str, Any]]:
    soak = soak_checker.Soak(repair_failing_by)
    lines: list[str] = []
    asyncio.run(soak_checker.run_soak(
        checker, pool, soak, soak_checker.CASES, imports=["Complex_Main"],
        shares=shares or soak_checker.DEFAULT_SHARES, seed=1, slots=4, minutes=5, checks=checks,
        check_limit_s=10.0, rss=lambda: 3 * 2**30, rss_every_s=0.001, report_every_s=60, out=lines.append))
    return soak, soak.summary()


def test_every_case_passes_the_guard_with_its_own_statement() -> None:
    """A case the guard refuses would test the guard, not Isabelle."""
    names = [c.name for c in soak_checker.CASES]
    assert len(names) == len(set(names))
    for case in soak_checker.CASES:
        ctx = TheoryContext(("Complex_Main",), target=case.name, statement=case.statement)
        result = SoundnessGuard(ctx.guard_context(), allow_placeholders=False).check(case.text)
        assert result.ok, (case.name, result.summary)
    assert Counter(c.kind for c in soak_checker.CASES).keys() == set(soak_checker.KINDS)


def test_the_plan_is_seeded_and_follows_the_shares() -> None:
    shares = soak_checker.DEFAULT_SHARES
    first = [c.name for c, _ in zip(soak_checker.plan(soak_checker.CASES, shares, 7), range(2000), strict=False)]
    again = [c.name for c, _ in zip(soak_checker.plan(soak_checker.CASES, shares, 7), range(2000), strict=False)]
    assert first == again
    kinds = Counter(next(c.kind for c in soak_checker.CASES if c.name == n) for n in first)
    assert "repairable" not in kinds
    assert 0.5 < kinds["correct"] / 2000 < 0.7 and 0.05 < kinds["runaway"] / 2000 < 0.15


def test_a_sound_checker_gives_a_clean_summary() -> None:
    pool = FakePool()
    checker = FakeChecker(pool)
    soak, summary = run(checker, pool)
    assert summary["checks"] == 60 and checker.calls == 61  # and the final probe
    assert set(checker.limits[:60]) == {10.0} and checker.limits[60] is None
    assert summary["correct_lost"] == 0 and summary["hard_failures"] == 0
    assert summary["final_check"] == "verified"
    assert not soak.failed()
    runaways = summary["verdicts"]["runaway"]
    assert runaways["as_expected"] == runaways["checks"] == summary["restarts"]
    assert list(summary["restart_causes"]) == ["a check hit its limit while a command was still running"]
    assert summary["rss_gib"]["max"] == 3.0
    assert summary["wall_per_check"][0]["checks"] == 60


def test_a_correct_proof_reported_unverified_is_a_loss_with_its_neighbours() -> None:
    pool = FakePool()

    def lose_one(case: Case, call: int) -> tuple[bool, FailureKind | None]:
        if case.name == "soak_add" and not lost:
            lost.append(call)
            return False, FailureKind.TIMEOUT
        ok = case.expected_verified(False)
        return ok, None if ok else FailureKind.TACTIC

    lost: list[int] = []
    soak, summary = run(FakeChecker(pool, lose_one), pool)
    assert lost, "the plan drew soak_add"
    assert summary["correct_lost"] == 1
    [loss] = [m for m in summary["wrong_verdicts"] if m["hard"]]
    assert loss["what"] == "correct proof lost" and loss["case"] == "soak_add"
    assert loss["failure"] == "timeout" and "soak_add" in loss["reason"]
    assert sum(loss["neighbours"].values()) >= 1  # the checks that ran beside it
    assert loss["sessions"] == [0] and loss["same_session"] == loss["neighbours"]
    assert soak.failed()
    text = soak_checker.render(summary)
    assert "correct proofs lost: 1" in text and "! correct proof lost: soak_add" in text


def test_a_wrong_or_runaway_proof_verified_fails_the_soak() -> None:
    pool = FakePool()
    soak, summary = run(FakeChecker(pool, lambda case, call: (True, None)), pool)
    whats = Counter(m["what"] for m in summary["wrong_verdicts"])
    assert whats["wrong proof verified"] >= 1 and whats["runaway proof verified"] >= 1
    assert summary["correct_lost"] == 0 and soak.failed()


def test_a_runaway_refused_other_than_by_the_limit_is_reported_but_not_a_failure() -> None:
    pool = FakePool()

    def tactic(case: Case, call: int) -> tuple[bool, FailureKind | None]:
        ok = case.expected_verified(False)
        return ok, None if ok else FailureKind.TACTIC

    soak, summary = run(FakeChecker(pool, tactic), pool)
    assert any(m["what"] == "runaway ended as tactic" and not m["hard"]
               for m in summary["wrong_verdicts"])
    assert not soak.failed()


def test_a_server_that_no_longer_answers_fails_the_soak() -> None:
    pool = FakePool()
    total = 40

    def dead_after(case: Case, call: int) -> tuple[bool, FailureKind | None]:
        if call > total:
            return False, FailureKind.SERVER
        ok = case.expected_verified(False)
        return ok, None if ok else FailureKind.TIMEOUT if case.kind == "runaway" else FailureKind.TACTIC

    soak, summary = run(FakeChecker(pool, dead_after), pool, checks=total)
    assert summary["correct_lost"] == 0
    assert str(summary["final_check"]).startswith("NOT verified (server")
    assert soak.failed()


def test_repair_mode_expects_the_repairable_answers_verified() -> None:
    pool = FakePool()
    shares = dict(soak_checker.REPAIR_SHARES)
    soak, summary = run(FakeChecker(pool, repair_failing_by=True), pool, repair_failing_by=True, shares=shares)
    assert summary["verdicts"]["repairable"]["verified"] >= 1
    assert not soak.failed()
    # the same answers unrepaired are losses in that mode
    pool = FakePool()
    soak, summary = run(FakeChecker(pool, repair_failing_by=False), pool, repair_failing_by=True, shares=shares)
    assert any(m["what"] == "repairable answer not repaired" and m["repairs"] == ["by (rule refl) -> by auto"]
               for m in summary["wrong_verdicts"])
    assert soak.failed()


@pytest.mark.parametrize("sets, key, value", [
    (["isabelle.checks_per_worker=1"], "checks_per_worker", 1),
    (["repair_failing_by=true"], "repair_failing_by", True),
])
def test_set_changes_an_isabelle_setting(tmp_path: Path, sets: list[str], key: str, value: object) -> None:
    settings = soak_checker.settings_from(sets, False, tmp_path)
    assert getattr(settings, key) == value and settings.work_dir == tmp_path
    assert soak_checker.settings_from([], True, tmp_path).repair_failing_by
