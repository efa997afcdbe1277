"""Against a real Isabelle, when one is installed; skipped (with the reason) otherwise.

These are the only tests whose verdicts say anything about Isabelle's proof checking.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lego_prover.config import IsabelleSettings
from lego_prover.errors import IsabelleNotFoundError
from lego_prover.isabelle.checker import Checker, TheoryContext
from lego_prover.isabelle.server import find_isabelle
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.isabelle.theory import split_blocks
from lego_prover.isabelle.verdict import FailureKind

try:
    find_isabelle()
    REASON = ""
except IsabelleNotFoundError as exc:
    REASON = f"no real Isabelle: {exc}"

pytestmark = [pytest.mark.isabelle, pytest.mark.skipif(bool(REASON), reason=REASON or "-")]

STATEMENT = 'theorem mathd_numbertheory_81:\n  "71 mod 3 = (2::nat)"'
CONTEXT = TheoryContext(imports=("Complex_Main",), target="mathd_numbertheory_81", statement=STATEMENT)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> IsabelleSettings:
    # HOL keeps the first heap build short; the miniF2F session is exercised by `check-examples`
    return IsabelleSettings(session="HOL", imports=["Complex_Main"], workers=1,
                            work_dir=tmp_path_factory.mktemp("isabelle"), watchdog_timeout_s=10, check_limit_s=20,
                            client_deadline_s=40, sledgehammer=False)


@pytest.fixture
async def checker(settings: IsabelleSettings) -> AsyncIterator[Checker]:
    async with SessionPool(settings) as pool:
        yield Checker(pool, settings)


async def test_a_correct_proof_verifies(checker: Checker) -> None:
    verdict = await checker.check(f"{STATEMENT}\n  by simp", CONTEXT)
    assert verdict.verified, verdict.reason


async def test_a_wrong_proof_fails_on_its_line(checker: Checker) -> None:
    text = f'lemma helper: "(1::nat) + 1 = 3"\n  by simp\n\n{STATEMENT}\n  by simp'
    verdict = await checker.check(text, CONTEXT)
    assert not verdict.verified
    err = verdict.first_error
    assert err is not None and err.block == "helper"
    assert verdict.theory_text.splitlines()[err.line - 1].strip() == "by simp"


async def test_sorry_is_caught_by_the_oracle_check_even_past_the_guard(checker: Checker) -> None:
    assert (await checker.check(f"{STATEMENT}\n  sorry", CONTEXT)).failure is FailureKind.GUARD
    # bypass the lexical guard on purpose: Isabelle's thm_oracles must still expose it
    blocks = split_blocks(f"{STATEMENT}\n  sorry")
    submission = await checker.submit(checker.assemble(blocks, CONTEXT))
    assert submission.verdict.failure is FailureKind.ORACLE, submission.verdict.reason


async def test_a_looping_tactic_times_out_within_the_limit(checker: Checker, settings: IsabelleSettings) -> None:
    # Suc n ~> Suc (n + 0) ~> Suc ((n + 0) + 0) ~> ...: simp only never stops
    loop = ('lemma loop_rule: "Suc n = Suc (n + 0)" by simp\n\n'
            'lemma loops: "Suc a = Suc (b::nat)" by (simp only: loop_rule)')
    started = time.monotonic()
    blocks = split_blocks(loop + f"\n\n{STATEMENT}\n  by simp")
    submission = await checker.submit(checker.assemble(blocks, CONTEXT), check_limit_s=10)
    assert not submission.verdict.verified
    assert time.monotonic() - started < settings.client_deadline_s + 15


def test_the_installation_has_a_usable_work_dir(settings: IsabelleSettings) -> None:
    assert Path(settings.work_dir).exists()


@pytest.mark.slow
async def test_every_shipped_example_verifies(tmp_path: Path) -> None:
    """The in-context examples were written without Isabelle; this is where they are confirmed
    (in the miniF2F session with LEGO-Prover's imports, as the prover uses them)."""
    from lego_prover.config import LEGO_IMPORTS
    from lego_prover.prover.examples import check_all_examples
    from lego_prover.prover.prompts import PromptLibrary

    settings = IsabelleSettings(workers=1, work_dir=tmp_path / "isabelle", sledgehammer=False)
    async with SessionPool(settings) as pool:
        results = await check_all_examples(PromptLibrary.load(), Checker(pool, settings), tuple(LEGO_IMPORTS))
    failed = [f"{r.kind}/{r.name}: {r.reason}" for r in results if not r.verified]
    assert not failed, "\n".join(failed)
