"""LEGO-Prover's repair (``isabelle.repair_failing_by = true``): a failing
one-line ``by`` step is a placeholder too, and ``sorry``/``oops`` become placeholders.

The fake server judges nothing: each test's script says which step fails with which tactic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lego_prover.config import IsabelleSettings
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import TheoryContext
from lego_prover.isabelle.repair import sorry_to_placeholders
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.isabelle.theory import isabelle_span_starts
from lego_prover.isabelle.verdict import FailureKind
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Outcome, Script, Submitted

STATEMENT = 'theorem mathd_t:\n  fixes x :: nat\n  assumes h0 : "x = 2"\n  shows "x + 1 = 3 \\<and> x * 2 = 4"'
CONTEXT = TheoryContext(imports=("Complex_Main",), target="mathd_t", statement=STATEMENT)
PROOF = (f"{STATEMENT}\nproof -\n  have a: \"x + 1 = 3\" using h0 by blast\n"
         "  have b: \"x * 2 = 4\" using h0 by blast\n  show ?thesis using a b by blast\nqed")


def test_sorry_and_oops_commands_become_placeholders_but_not_the_words() -> None:
    text = ('lemma a: "True"\n  (* sorry, this is hard *) sorry\n\nlemma b: "x = x"\nproof -\n'
            '  have "\\<open>sorry\\<close> = \\<open>sorry\\<close>" by simp\n  oops')
    out = sorry_to_placeholders(text)
    assert out.count("sledgehammer") == 2 and "(* sorry, this is hard *)" in out and "\\<open>sorry\\<close>" in out
    assert "oops" not in out and out.count("sorry") == 3
    assert sorry_to_placeholders("lemma (") == "lemma (", "text the lexer refuses is left to the guard"


def failing(tactics: set[str], also_at: str = "") -> Outcome:
    """Scripted: every step ending in one of ``tactics`` fails at that step, and so does the
    ``by`` step that ends ``also_at``; all else is accepted."""
    def build(sub: Submitted) -> dict[str, Any]:
        msgs = replies.oracle_messages(sub.text)
        if also_at and also_at in sub.text:
            by = also_at[also_at.index("by "):]
            at = sub.text.index(also_at) + also_at.index("by ")
            msgs.append({"kind": "error", "message": "Failed to apply initial proof method",
                         "pos": replies.position(sub.text, by, sub.text[:at + len(by)].count(by))})
        for tactic in tactics:
            start = 0
            while (at := sub.text.find(tactic + "\n", start)) >= 0:
                msgs.append({"kind": "error", "message": "Failed to apply initial proof method",
                             "pos": replies.position(sub.text, sub.text[at:at + len(tactic)],
                                                     sub.text[:at + len(tactic)].count(tactic))})
                start = at + 1
        failed = int(any(m["kind"] == "error" for m in msgs))
        return replies.payload(sub, msgs, replies.status(failed=failed))
    return Outcome(build)


def fact_gone(at: str) -> Outcome:
    """Scripted: ``powr_less_mono1`` is gone in this release; the error is located at ``at``."""
    def build(sub: Submitted) -> dict[str, Any]:
        msgs = replies.oracle_messages(sub.text)
        if "powr_less_mono1" in sub.text:
            msgs.append({"kind": "error", "message": 'Undefined fact: "powr_less_mono1"',
                         "pos": replies.position(sub.text, at)})
        return replies.payload(sub, msgs, replies.status(failed=int(len(msgs) > len(replies.oracle_messages(sub.text)))))
    return Outcome(build)


@pytest.fixture
async def lego_checker(tmp_path: Path, fake_server: FakeIsabelleServer) -> Any:
    settings = IsabelleSettings(server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
                                work_dir=tmp_path / "isa", workers=1, checks_per_worker=4, repair_timeout_s=2,
                                client_deadline_s=4, check_limit_s=3, sledgehammer=False,
                                repair_failing_by=True,
                                repair_tactics=["by blast", "by auto", "by simp", "by presburger"])
    async with SessionPool(settings) as pool:
        yield Checker(pool, settings), fake_server
        await pool.drain()


LEMMA = 'lemma two_plus_one: "(2::nat) + 1 = 3"\n  by blast'
SHORT = f"{STATEMENT}\n  using h0 by blast"


async def test_the_failing_steps_of_different_blocks_are_repaired_in_one_variant_per_tactic(
        lego_checker: Any, script: Script) -> None:
    checker, server = lego_checker
    # scripted: blast and auto fail wherever they stand; simp and presburger close every step
    script.default = failing({"by blast", "by auto"})
    verdict = await checker.check(f"{LEMMA}\n\n{SHORT}", CONTEXT)
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by blast' -> 'by simp'",) * 2
    assert "by blast" not in verdict.theory_text
    # the first check, one variant per tactic (not per step and tactic: 4, not 8), the final check
    uses = [s for s in server.state.submitted if "mathd_t" in s.text]
    assert len(uses) == 1 + 4 + 1, [s.text for s in uses]


def first_failure(tactics: set[str], *, and_after: bool = False) -> Outcome:
    """Scripted: only the first step (in text order) ending in one of ``tactics`` fails, as when a
    failed step hides the failures after it; all else is accepted. ``and_after``: as Isabelle
    does it, every ``by`` step after that one fails too, because the failed step left its goal open."""
    def build(sub: Submitted) -> dict[str, Any]:
        msgs = replies.oracle_messages(sub.text)
        found = [(at, t) for t in tactics if (at := sub.text.find(t + "\n")) >= 0]
        if found:
            at, tactic = min(found)
            msgs.append({"kind": "error", "message": "Failed to apply initial proof method",
                         "pos": replies.position(sub.text, tactic, sub.text[:at + len(tactic)].count(tactic))})
            later = at + len(tactic)
            while and_after and (at := sub.text.find(" by ", later)) >= 0 and at < sub.text.index("\nqed"):
                step = sub.text[at + 1:sub.text.index("\n", at)]
                msgs.append({"kind": "error", "message": 'Illegal application of proof command in "prove" mode',
                             "pos": replies.position(sub.text, step, sub.text[:at + 1 + len(step)].count(step))})
                later = at + 1
        failed = int(any(m["kind"] == "error" for m in msgs))
        return replies.payload(sub, msgs, replies.status(failed=failed))
    return Outcome(build)


async def test_a_step_that_fails_only_because_an_earlier_step_failed_keeps_its_text(
        lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    proof = PROOF.replace(
        "have b: \"x * 2 = 4\" using h0 by blast", "have b: \"x * 2 = 4\" using h0 by arith").replace(
        "show ?thesis using a b by blast", "show ?thesis using a b by arith")
    script.default = first_failure({"by blast"}, and_after=True)
    verdict = await checker.check(proof, CONTEXT)
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by blast' -> 'by auto'",), "only the step that failed on its own is replaced"
    assert verdict.theory_text.count("by arith") == 2


async def test_sorry_in_a_lego_answer_is_repaired_never_accepted(lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    script.default = failing({"by blast", "by auto"})
    verdict = await checker.check(PROOF.replace("using h0 by blast\n  have b", "sorry\n  have b", 1), CONTEXT)
    assert verdict.verified and "sorry" not in verdict.theory_text
    assert "'sledgehammer' -> 'by simp'" in verdict.repairs
    # no tactic closes anything: the answer fails as a tactic failure, the sorry never reaches a verdict
    script.default = failing({"by blast", "by auto", "by simp", "by presburger"})
    verdict = await checker.check(PROOF.replace("by blast", "sorry"), CONTEXT)
    assert verdict.failure is FailureKind.TACTIC and "no tactic closed" in verdict.reason


async def test_a_variant_that_runs_out_of_time_is_retried_block_by_block(lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    hang, rest = Outcome(kind="hang"), failing({"by blast"})

    class Pick(Script):
        def pick(self, text: str) -> Outcome:
            # auto runs away in the lemma (and so does the variant with auto in both blocks); auto
            # closes the theorem's step, simp the lemma's
            return hang if '"(2::nat) + 1 = 3"\n  by auto' in text else rest

    script.__class__ = Pick
    verdict = await checker.check(f"{LEMMA}\n\n{SHORT}", CONTEXT)
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by blast' -> 'by simp'", "'by blast' -> 'by auto'")


async def test_a_step_naming_a_fact_this_release_lacks_is_repaired_too(lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    proof = PROOF.replace("using h0 by blast\n  have b", "using h0 by (simp add: powr_less_mono1)\n  have b", 1)

    script.default = fact_gone("by (simp add: powr_less_mono1)")
    verdict = await checker.check(proof, CONTEXT)
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by (simp add: powr_less_mono1)' -> 'by blast'",)


async def test_a_repaired_step_that_uncovers_the_next_failure_is_repaired_again(
        lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    script.default = first_failure({"by blast", "by auto"})
    verdict = await checker.check(PROOF, CONTEXT)
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by blast' -> 'by simp'",) * 3, "one step a round, three rounds"


async def test_one_round_of_repair_leaves_the_uncovered_failure(tmp_path: Path, fake_server: FakeIsabelleServer,
                                                                script: Script) -> None:
    settings = IsabelleSettings(server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
                                work_dir=tmp_path / "isa", workers=1, checks_per_worker=4, repair_timeout_s=2,
                                client_deadline_s=4, check_limit_s=3, sledgehammer=False, repair_failing_by=True,
                                repair_rounds=1, repair_tactics=["by blast", "by auto", "by simp"])
    script.default = first_failure({"by blast", "by auto"})
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check(PROOF, CONTEXT)
        await pool.drain()
    assert not verdict.verified and verdict.failure is FailureKind.TACTIC
    assert verdict.repairs == ("'by blast' -> 'by simp'",)


async def test_a_step_followed_by_a_step_comment_is_repaired_and_the_comment_kept(
        lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    commented = PROOF.replace("using h0 by blast\n  have b", "using h0 by blast\n  (* Step 2: double it *)\n  have b", 1)
    script.default = failing({"by blast", "by auto"})
    verdict = await checker.check(commented, CONTEXT)
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by blast' -> 'by simp'",) * 3
    assert "using h0 by simp\n  (* Step 2: double it *)\n  have b" in verdict.theory_text


async def test_a_failing_by_step_over_several_lines_is_repaired(lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    step = "by (simp add: powr_less_mono1\n        field_simps)"
    proof = PROOF.replace("using h0 by blast\n  have b", f"using h0 {step}\n  have b", 1)

    script.default = fact_gone("powr_less_mono1")
    verdict = await checker.check(proof, CONTEXT)
    assert verdict.verified, verdict.reason
    assert verdict.repairs == (f"{step!r} -> 'by blast'",)


async def test_tactics_after_the_one_that_closes_every_step_are_not_tried(
        tmp_path: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    # one check slot: the list is tried one tactic at a time
    settings = IsabelleSettings(server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
                                work_dir=tmp_path / "isa", workers=1, checks_per_worker=1, repair_timeout_s=2,
                                client_deadline_s=4, check_limit_s=3, sledgehammer=False, repair_failing_by=True,
                                repair_tactics=["by blast", "by auto", "by simp", "by presburger"])
    # scripted: blast and auto fail wherever they stand; simp closes the lemma, only presburger the theorem
    script.default = failing({"by blast", "by auto"}, also_at="using h0 by simp")
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check(f"{LEMMA}\n\n{SHORT}", CONTEXT)
        await pool.drain()
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by blast' -> 'by simp'", "'by blast' -> 'by presburger'")
    tried = [s.text for s in fake_server.state.submitted if "mathd_t" in s.text]
    # the first check, blast, auto, simp, then presburger for the theorem alone (the lemma gets sorry), the final
    assert len(tried) == 1 + 4 + 1, tried
    assert "= 3\"\n  sorry" in tried[4] and "using h0 by presburger" in tried[4]

    script.default = failing({"by blast", "by auto"})
    fake_server.state.submitted.clear()
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check(f"{LEMMA}\n\n{SHORT}", CONTEXT)
        await pool.drain()
    assert verdict.verified and verdict.repairs == ("'by blast' -> 'by simp'",) * 2
    tried = [s.text for s in fake_server.state.submitted if "mathd_t" in s.text]
    assert len(tried) == 1 + 3 + 1, "presburger comes after simp, which closed every step: never tried"


async def test_a_slow_proof_gives_each_repair_variant_its_time_on_top_of_the_candidates(
        tmp_path: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    settings = IsabelleSettings(server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
                                work_dir=tmp_path / "isa", workers=1, checks_per_worker=4, repair_timeout_s=2,
                                client_deadline_s=30, check_limit_s=30, sledgehammer=False, repair_failing_by=True,
                                repair_tactics=["by blast", "by auto"])
    # scripted: the whole proof takes 1.5 s in Isabelle; blast fails wherever it stands
    slow = failing({"by blast"})
    slow.delay_s = 1.5
    script.default = slow
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check(PROOF, CONTEXT)
        await pool.drain()
    assert verdict.verified, verdict.reason
    limits = [arg["check_limit"] * arg["check_delay"] for name, arg in fake_server.state.commands
              if name == "use_theories"]
    first, variants = limits[0], limits[1:-1]
    assert first == settings.check_limit_s and variants, limits
    # LEGO-Prover gives a step 10 s (here 2 s); a variant runs the whole theory, so it gets the 1.5 s
    # the rest of the proof took besides, and is not cut off before its candidate has run at all
    assert all(v >= settings.repair_timeout_s + 1.5 for v in variants), limits


def cut_off_at(slow: str) -> Outcome:
    """Scripted as Isabelle with one ML thread: a check is cut off while the first step written
    ``slow`` runs; no message says where, only the node's counts say how far it got."""
    def build(sub: Submitted) -> dict[str, Any]:
        at = sub.text.find(slow)
        if at < 0:
            return replies.payload(sub, replies.oracle_messages(sub.text), replies.status())
        spans = isabelle_span_starts(sub.text)
        done = spans.index(at)
        return replies.payload(sub, [], {"ok": True, "total": len(spans), "unprocessed": len(spans) - done - 1,
                                         "running": 1, "warned": 0, "failed": 0, "finished": done,
                                         "canceled": False, "consolidated": False, "percentage": 50})
    return Outcome(build)


async def test_a_step_still_running_when_the_check_is_cut_off_is_repaired(lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    script.default = cut_off_at("by (metis slow_fact)")
    proof = PROOF.replace("have b: \"x * 2 = 4\" using h0 by blast", "have b: \"x * 2 = 4\" using h0 by (metis slow_fact)")
    verdict = await checker.check(proof, CONTEXT)
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by (metis slow_fact)' -> 'by blast'",), "LEGO-Prover's step limit: the slow step fails"


def errors_then_cut_off(failing: set[str], slow: str) -> Outcome:
    """Scripted as Isabelle with one ML thread: every step ending in one of ``failing`` before
    the ``by`` of ``slow`` fails; that ``by`` runs until the check is cut off (no later
    command ran). Without ``slow`` in the text, the failing steps fail and all else is accepted."""
    def build(sub: Submitted) -> dict[str, Any]:
        at = sub.text.find(slow)
        cut = len(sub.text) if at < 0 else at + slow.index("by ")
        msgs = replies.oracle_messages(sub.text) if at < 0 else []
        for tactic in failing:
            start = 0
            while 0 <= (hit := sub.text.find(tactic + "\n", start)) < cut:
                msgs.append({"kind": "error", "message": "Failed to apply initial proof method",
                             "pos": replies.position(sub.text, tactic, sub.text[:hit + len(tactic)].count(tactic))})
                start = hit + 1
        failed = sum(m["kind"] == "error" for m in msgs)
        if at < 0:
            return replies.payload(sub, msgs, replies.status(failed=failed))
        spans = isabelle_span_starts(sub.text)
        done = spans.index(cut)
        return replies.payload(sub, msgs, {"ok": failed == 0, "total": len(spans), "unprocessed": len(spans) - done - 1,
                                           "running": 1, "warned": 0, "failed": failed, "finished": done - failed,
                                           "canceled": False, "consolidated": False, "percentage": 50})
    return Outcome(build)


async def test_a_step_still_running_after_an_earlier_error_did_not_close_its_goal(
        lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    # blast fails everywhere, auto fails in the lemma and runs away in the theorem: the variant
    # with auto at both steps reports the lemma's error while the theorem's step still runs
    script.default = errors_then_cut_off({"by blast", "by auto"}, "h0 by auto")
    verdict = await checker.check(f"{LEMMA}\n\n{SHORT}", CONTEXT)
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by blast' -> 'by simp'",) * 2, "a step that never ended is no repair"


async def test_a_check_cut_off_after_an_error_repairs_the_failed_and_the_running_step_at_once(
        tmp_path: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    settings = IsabelleSettings(server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
                                work_dir=tmp_path / "isa", workers=1, checks_per_worker=4, repair_timeout_s=2,
                                client_deadline_s=4, check_limit_s=3, sledgehammer=False, repair_failing_by=True,
                                repair_rounds=1, repair_tactics=["by blast", "by auto"])
    script.default = errors_then_cut_off({"by blast"}, "by (metis slow_fact)")
    theorem = SHORT.replace("by blast", "by (metis slow_fact)")
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check(f"{LEMMA}\n\n{theorem}", CONTEXT)
        await pool.drain()
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by blast' -> 'by auto'", "'by (metis slow_fact)' -> 'by auto'")


async def test_a_step_running_after_a_failed_step_of_its_own_proof_is_repaired_with_it(
        tmp_path: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    # Isabelle goes on past a failed `by` (terminal proofs are forked), so a later step of the
    # same proof can run away while the first failure is reported (amc12a_2010_p11)
    settings = IsabelleSettings(server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
                                work_dir=tmp_path / "isa", workers=1, checks_per_worker=4, repair_timeout_s=2,
                                client_deadline_s=4, check_limit_s=3, sledgehammer=False, repair_failing_by=True,
                                repair_rounds=1, repair_tactics=["by simp", "by blast"])
    script.default = errors_then_cut_off({"by auto", "by simp"}, "by (metis slow_fact)")
    proof = PROOF.replace("have a: \"x + 1 = 3\" using h0 by blast", "have a: \"x + 1 = 3\" using h0 by auto") \
                 .replace("have b: \"x * 2 = 4\" using h0 by blast", "have b: \"x * 2 = 4\" using h0 by (metis slow_fact)")
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check(proof, CONTEXT)
        await pool.drain()
    assert verdict.verified, verdict.reason
    assert verdict.repairs == ("'by auto' -> 'by blast'", "'by (metis slow_fact)' -> 'by blast'")


async def test_with_several_ml_threads_a_cut_off_check_is_not_read_as_a_slow_step(
        tmp_path: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    # commands may finish out of order there, so the node's counts do not say which one ran
    settings = IsabelleSettings(server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
                                work_dir=tmp_path / "isa", workers=1, threads=2, repair_timeout_s=2,
                                client_deadline_s=4, check_limit_s=3, sledgehammer=False, repair_failing_by=True,
                                repair_tactics=["by blast"])
    script.default = cut_off_at("by (metis slow_fact)")
    proof = PROOF.replace("have b: \"x * 2 = 4\" using h0 by blast", "have b: \"x * 2 = 4\" using h0 by (metis slow_fact)")
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check(proof, CONTEXT)
        await pool.drain()
    assert verdict.failure is FailureKind.TIMEOUT and verdict.repairs == ()


async def test_a_slow_step_after_the_repaired_one_does_not_hide_that_the_repair_worked(
        lego_checker: Any, script: Script) -> None:
    checker, _ = lego_checker
    script.default = cut_off_at("by (metis slow_fact)")
    proof = PROOF.replace("by blast", "by (metis slow_fact)")
    verdict = await checker.check(proof, CONTEXT)
    assert verdict.verified, verdict.reason
    # each variant is cut off at the next slow step, after the candidate's own step was done
    assert verdict.repairs == ("'by (metis slow_fact)' -> 'by blast'",) * 3


async def test_a_sledgehammer_call_keeps_its_proof_and_is_given_the_time_its_provers_take(
        tmp_path: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    settings = IsabelleSettings(server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
                                work_dir=tmp_path / "isa", workers=1, checks_per_worker=4, repair_timeout_s=2,
                                client_deadline_s=4, check_limit_s=3, sledgehammer=True, sledgehammer_timeout_s=5,
                                repair_tactics=["by simp"])
    suggested = "by (metis add_2_eq_Suc h0)"
    script.by_marker["sledgehammer ["] = replies.try_this(suggested)
    script.default = failing({"by simp"})
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check(PROOF.replace("using h0 by blast\n  have b", "sledgehammer\n  have b", 1),
                                                      CONTEXT)
        await pool.drain()
    assert verdict.verified and f"'sledgehammer' -> {suggested!r} (sledgehammer)" in verdict.repairs
    (call,) = [s for s in fake_server.state.submitted if "sledgehammer [" in s.text]
    # Isabelle's minimizer would take up to the provers' timeout again after they found a proof
    assert "sledgehammer [timeout = 5, minimize = false] sorry" in call.text
    (limit,) = [arg["check_limit"] for name, arg in fake_server.state.commands
                if name == "use_theories" and arg["theories"][0] == call.theory]
    assert limit >= 5 + 15, "the provers' time, the last slice and preplay fit in the call's limit"


async def test_sledgehammer_answering_with_the_step_that_failed_is_no_repair(
        tmp_path: Path, fake_server: FakeIsabelleServer, script: Script) -> None:
    settings = IsabelleSettings(server=f"127.0.0.1:{fake_server.port}:{fake_server.password}",
                                work_dir=tmp_path / "isa", workers=1, checks_per_worker=4, repair_timeout_s=2,
                                client_deadline_s=4, check_limit_s=3, sledgehammer=True, sledgehammer_timeout_s=5,
                                repair_failing_by=True, repair_tactics=["by simp"])
    failed = "by (metis mult_2 h0)"
    # scripted: Sledgehammer suggests the very proof that fails (its preplay can pass where the check does not)
    script.by_marker["sledgehammer ["] = replies.try_this(failed)
    script.default = failing({failed, "by simp"})
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check(
            PROOF.replace('"x * 2 = 4" using h0 by blast', f'"x * 2 = 4" using h0 {failed}'), CONTEXT)
        await pool.drain()
    assert not verdict.verified and verdict.failure is FailureKind.TACTIC
    assert verdict.repairs == (), "a step replaced by its own text is no repair"
    whole = [s for s in fake_server.state.submitted if "sorry" not in s.text and "sledgehammer [" not in s.text
             and "by simp" not in s.text]
    assert len(whole) == 1, "the same theory is not checked again"
