"""Against a real Isabelle, when one is installed; skipped (with the reason) otherwise.

These are the only tests whose verdicts say anything about Isabelle's proof checking. They
run in session HOL with ``Complex_Main`` (short heap build); the shipped examples run in
the miniF2F session. ``pytest -m isabelle --record-replies DIR`` writes every reply they
get as a replay recording (the format of ``test_recorded_replies.py``).

Timings are printed (run with ``-s``): they are the figures the checker's claims rest on.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from lego_prover.config import IsabelleSettings
from lego_prover.errors import IsabelleNotFoundError
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import TheoryContext
from lego_prover.isabelle.server import find_isabelle
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.isabelle.theory import split_blocks
from lego_prover.isabelle.verdict import FailureKind
from lego_prover.isabelle.versions import Release, oracle_matches
from tests.process_tree import run_and_stop
from tests.recorder import ReplyRecorder

try:
    EXE: Path | None = find_isabelle()
    REASON = ""
except IsabelleNotFoundError as exc:
    EXE, REASON = None, f"no real Isabelle: {exc}"

pytestmark = [pytest.mark.isabelle, pytest.mark.skipif(bool(REASON), reason=REASON or "-")]
in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the async tests share the module's pool

STATEMENT = 'theorem mathd_numbertheory_81:\n  "71 mod 3 = (2::nat)"'
CONTEXT = TheoryContext(imports=("Complex_Main",), target="mathd_numbertheory_81", statement=STATEMENT)
GOOD = f"{STATEMENT}\n  by simp"
# Suc n ~> Suc (n + 0) ~> Suc ((n + 0) + 0) ~> ...: simp only never stops
LOOP = ('lemma loop_rule: "Suc n = Suc (n + 0)" by simp\n\n'
        'lemma loops: "Suc a = Suc (b::nat)" by (simp only: loop_rule)')


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> IsabelleSettings:
    return IsabelleSettings(session="HOL", imports=["Complex_Main"], workers=2, checks_per_worker=1,
                            work_dir=tmp_path_factory.mktemp("isabelle"), watchdog_timeout_s=10, check_limit_s=20,
                            client_deadline_s=40, sledgehammer=False)


@pytest.fixture(scope="module")
def recorder(request: pytest.FixtureRequest, settings: IsabelleSettings) -> ReplyRecorder | None:
    folder = request.config.getoption("--record-replies")
    return ReplyRecorder(Path(folder), settings.session) if folder else None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(settings: IsabelleSettings) -> AsyncIterator[SessionPool]:
    async with SessionPool(settings) as pool:
        yield pool
        await pool.drain()


def make_checker(pool: SessionPool, settings: IsabelleSettings, recorder: ReplyRecorder | None,
                 request: pytest.FixtureRequest) -> Checker:
    if recorder is not None:
        recorder.test = request.node.name
    return Checker(pool, settings, on_reply=recorder)


@pytest.fixture
def checker(pool: SessionPool, settings: IsabelleSettings, recorder: ReplyRecorder | None,
            request: pytest.FixtureRequest) -> Checker:
    return make_checker(pool, settings, recorder, request)


@in_module_loop
async def test_a_correct_proof_verifies(checker: Checker) -> None:
    verdict = await checker.check(GOOD, CONTEXT)
    assert verdict.verified, verdict.reason


@in_module_loop
async def test_the_server_is_a_supported_release(pool: SessionPool) -> None:
    release = Release.parse(pool.isabelle_name)
    assert release is not None and release.supported, pool.isabelle_name


@in_module_loop
async def test_a_wrong_proof_fails_on_the_line_of_the_text_as_written(checker: Checker) -> None:
    text = f'lemma helper: "(1::nat) + 1 = 3"\n  by simp\n\n{GOOD}'
    verdict = await checker.check(text, CONTEXT)
    assert not verdict.verified
    err = verdict.first_error
    assert err is not None and err.block == "helper" and err.line == 2, err
    assert err.theory_line is not None and verdict.theory_text.splitlines()[err.theory_line - 1].strip() == "by simp"


@in_module_loop
async def test_a_whole_theory_file_with_fewer_imports_is_checked_under_our_header(checker: Checker) -> None:
    text = f"theory Mine\n  imports Main\nbegin\n\n{GOOD}\n\nend\n"
    verdict = await checker.check(text, CONTEXT)
    assert verdict.verified, verdict.reason
    broken = await checker.check(text.replace("by simp", "by (rule refl)"), CONTEXT)
    assert not broken.verified and broken.first_error is not None and broken.first_error.line == 7


@in_module_loop
async def test_sorry_is_caught_by_the_oracle_check_even_past_the_guard(checker: Checker) -> None:
    assert (await checker.check(f"{STATEMENT}\n  sorry", CONTEXT)).failure is FailureKind.GUARD
    # bypass the lexical guard on purpose: Isabelle's thm_oracles must still expose it
    submission = await checker.submit(checker.assemble(split_blocks(f"{STATEMENT}\n  sorry"), CONTEXT))
    assert submission.verdict.failure is FailureKind.ORACLE, submission.verdict.reason


@in_module_loop
async def test_sorry_in_an_unused_helper_fails_the_whole_submission(checker: Checker) -> None:
    blocks = split_blocks(f'lemma helper_cheat: "(0::nat) = 1"\n  sorry\n\n{GOOD}')
    verdict = (await checker.submit(checker.assemble(blocks, CONTEXT))).verdict
    assert verdict.failure is FailureKind.ORACLE, verdict.reason
    assert verdict.verified_blocks() == (), "no lemma of a submission with an oracle may enter the library"


@in_module_loop
async def test_by_eval_is_rejected_unless_its_oracle_is_trusted(pool: SessionPool, settings: IsabelleSettings,
                                                               recorder: ReplyRecorder | None,
                                                               request: pytest.FixtureRequest) -> None:
    text = f'lemma helper_eval: "(2::nat) + 3 = 5" by eval\n\n{GOOD}'
    strict = await make_checker(pool, settings, recorder, request).check(text, CONTEXT)
    assert strict.failure is FailureKind.ORACLE, strict.reason
    trusting = make_checker(pool, settings.model_copy(update={"trusted_oracles": ["holds_by_evaluation"]}),
                            recorder, request)
    verdict = await trusting.check(text, CONTEXT)
    assert verdict.verified, verdict.reason
    assert [o for o in verdict.trusted_oracles if oracle_matches(o, "holds_by_evaluation")], verdict.trusted_oracles


@in_module_loop
async def test_sledgehammer_with_isabelles_own_provers_repairs_a_placeholder(
        pool: SessionPool, settings: IsabelleSettings, recorder: ReplyRecorder | None,
        request: pytest.FixtureRequest) -> None:
    from lego_prover.doctor import doctor_settings
    from lego_prover.isabelle.tools import installed_provers, isabelle_getenv

    assert EXE is not None
    if not installed_provers(isabelle_getenv(EXE, doctor_settings())):
        pytest.skip("this Isabelle has no Sledgehammer prover installed")
    only_sledgehammer = settings.model_copy(update={"sledgehammer": True, "repair_tactics": [],
                                                    "sledgehammer_provers": "", "sledgehammer_timeout_s": 30})
    text = ('theorem t:\n  fixes a :: real\n  assumes h0: "a = 2"\n  shows "a^2 + 1 = 5"\nproof -\n'
            '  have "a^2 = 4" sledgehammer\n  then show ?thesis by simp\nqed')
    ctx = TheoryContext(imports=("Complex_Main",), target="t")
    started, restarts = time.monotonic(), len(pool.restarts)
    verdict = await make_checker(pool, only_sledgehammer, recorder, request).check(text, ctx)
    print(f"\nsledgehammer repair: {time.monotonic() - started:.1f}s, {verdict.repairs}")
    assert verdict.verified, verdict.reason
    assert any("sledgehammer" in r for r in verdict.repairs)
    assert len(pool.restarts) == restarts, "Sledgehammer ran to its end: no session was left busy"


@in_module_loop
async def test_lego_repair_fixes_failing_steps_with_step_comments_and_keeps_the_comments(
        pool: SessionPool, settings: IsabelleSettings, recorder: ReplyRecorder | None,
        request: pytest.FixtureRequest) -> None:
    # the shape of LEGO-Prover's answers: a comment before each step, a failing `by` after it;
    # the second step's failure may only show once the first is repaired (repair rounds)
    lego = settings.model_copy(update={"repair_failing_by": True, "repair_tactics": ["by auto", "by simp"]})
    text = ('theorem t:\n  fixes x :: nat\n  assumes h0: "x = 2"\n  shows "x * 2 = 4"\nproof -\n'
            '  (* Step 1: one more *)\n  have a: "x + 1 = 3" using h0 by (rule refl)\n'
            '  (* Step 2: back again *)\n  from a have b: "x = 2" by (rule refl)\n'
            '  (* Step 3: double it *)\n  show ?thesis using b by simp\nqed')
    started = time.monotonic()
    verdict = await make_checker(pool, lego, recorder, request).check(text, TheoryContext(("Complex_Main",), target="t"))
    print(f"\nlego repair: {time.monotonic() - started:.1f}s, {verdict.repairs}")
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by (rule refl)' -> 'by auto'",) * 2
    assert "by auto\n  (* Step 2: back again *)\n  from a have b" in verdict.theory_text


@in_module_loop
async def test_a_runaway_really_occupies_its_session(settings: IsabelleSettings, tmp_path: Path) -> None:
    """What the pool defends against, on this release: without a restart the runaway tactic
    keeps its session busy and the next check there cannot finish."""
    one = settings.model_copy(update={"workers": 1, "check_limit_s": 10, "work_dir": tmp_path})
    async with SessionPool(one) as pool:
        checker = Checker(pool, one)
        async with pool.worker() as worker:
            for text in (f"{LOOP}\n\n{GOOD}", GOOD):
                assembled = checker.assemble(split_blocks(text), CONTEXT)
                folder = tmp_path / assembled.name
                folder.mkdir()
                (folder / f"{assembled.name}.thy").write_text(assembled.text)
                reply = await worker.use_theories(folder, [assembled.name], settings=one, check_limit_s=10)
            worker.poisoned = ""  # keep the pool from restarting it before we look
        status = reply.payload["nodes"][0]["status"]
        print(f"\nsecond check in the runaway's session: {status}")
        assert status["unprocessed"] or status["running"] or not status["consolidated"]


@in_module_loop
async def test_a_looping_proof_leaves_the_pool_healthy(settings: IsabelleSettings, tmp_path: Path,
                                                      recorder: ReplyRecorder | None,
                                                      request: pytest.FixtureRequest) -> None:
    """Issue 10, item 1: a loop, then 20 correct checks, all verified, each in normal time."""
    fresh = settings.model_copy(update={"check_limit_s": 10, "work_dir": tmp_path})
    async with SessionPool(fresh) as pool:
        checker = make_checker(pool, fresh, recorder, request)
        baseline = []
        for _ in range(3):
            t0 = time.monotonic()
            assert (await checker.check(GOOD, CONTEXT)).verified
            baseline.append(time.monotonic() - t0)
        t0 = time.monotonic()
        looped = await checker.check(f"{LOOP}\n\n{GOOD}", CONTEXT)
        loop_s = time.monotonic() - t0
        assert looped.failure is FailureKind.TIMEOUT, looped.reason
        times, verdicts = [], []
        for _ in range(20):
            t0 = time.monotonic()
            verdicts.append(await checker.check(GOOD, CONTEXT))
            times.append(time.monotonic() - t0)
        await pool.drain()
        restarts = list(pool.restarts)
    print(f"\nloop check {loop_s:.1f}s; before it median {statistics.median(baseline):.2f}s; after it "
          f"median {statistics.median(times):.2f}s, max {max(times):.2f}s; restarts {restarts}")
    assert [v.verified for v in verdicts] == [True] * 20, [v.reason for v in verdicts if not v.verified]
    assert max(times) < max(5.0, 5 * statistics.median(baseline)), times
    assert restarts, "the runaway's session was restarted"


@in_module_loop
async def test_a_correct_proof_checked_beside_runaways_verifies_every_time(settings: IsabelleSettings,
                                                                          tmp_path: Path) -> None:
    """Issue 19: a verdict does not depend on its neighbours. With the default of one check per
    session, a runaway never shares its session's ML thread with another check, and its session
    is restarted before it takes the next one."""
    defaults = IsabelleSettings()
    fresh = settings.model_copy(update={"check_limit_s": 8, "work_dir": tmp_path,
                                        "checks_per_worker": defaults.checks_per_worker})
    texts = [f"{LOOP}\n\n{GOOD}" if i % 3 == 0 else GOOD for i in range(12)]   # 4 runaways among 8 good
    async with SessionPool(fresh) as pool:
        checker = Checker(pool, fresh)
        started = time.monotonic()
        verdicts = await asyncio.gather(*(checker.check(t, CONTEXT) for t in texts))
        wall = time.monotonic() - started
        await pool.drain()
        restarts = list(pool.restarts)
    good = [v for t, v in zip(texts, verdicts, strict=True) if t == GOOD]
    runaway = [v for t, v in zip(texts, verdicts, strict=True) if t != GOOD]
    print(f"\n12 checks (4 runaways) in {wall:.1f}s; restarts {restarts}")
    assert all(v.verified for v in good), [f"{v.failure}: {v.reason}" for v in good if not v.verified]
    assert all(v.failure is FailureKind.TIMEOUT for v in runaway), [v.reason for v in runaway]


@pytest.mark.parametrize("mode", ["exit", "crash", "sigint", "sigterm", "sigkill"])
def test_no_server_process_survives_lego_prover(tmp_path: Path, mode: str) -> None:
    assert EXE is not None
    report, survivors = run_and_stop(EXE.parent.parent, tmp_path / "work", mode)
    assert report["verified"], report["reason"]
    assert isinstance(report["tree"], list) and len(report["tree"]) >= 3, report["tree"]
    assert survivors == [], f"still running after '{mode}': {survivors}"


@pytest.mark.slow
@in_module_loop
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
