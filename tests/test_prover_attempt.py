"""One prover attempt with the scripted LLM and the fake Isabelle server: informal modes,
statement re-prompts, error feedback, LLM garbage, and a crash of ours recorded, not raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from lego_prover.config import IsabelleSettings, Settings, load_settings
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.problems import Problem
from lego_prover.prover.attempt import Prover
from lego_prover.prover.prompts import PromptLibrary
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script
from tests.fakes.scripted_llm import LLMCall, ScriptedLLM

STATEMENT = 'theorem toy:\n  fixes x :: nat\n  shows "x + 0 = x"'
PROBLEM = Problem("toy", STATEMENT, informal_statement="x + 0 = x", informal_proof="Zero is neutral.")
PLAN = "## Structured proof\nStep 1. Simplify.\n\n## Requests\nN/A"
GOOD = f"```isabelle\n{STATEMENT}\n  by simp\n```"
CHANGED = "```isabelle\ntheorem toy:\n  fixes x :: nat\n  shows \"x = x\"\n  by simp\n```"


@pytest.fixture
def settings(tmp_path: Path, isabelle_settings: IsabelleSettings) -> Settings:
    base = load_settings(None, {}, environ={}, cwd=tmp_path)
    return base.model_copy(update={"isabelle": isabelle_settings})


def prover(llm: ScriptedLLM, checker: Checker, settings: Settings, **prover_settings: object) -> Prover:
    tuned = settings.model_copy(update={"prover": settings.prover.model_copy(update=prover_settings)})
    return Prover(llm, checker, None, PromptLibrary.load(), tuned)


async def test_generated_informal_proofs_come_from_the_informal_solver(checker: Checker, script: Script,
                                                                       settings: Settings) -> None:
    script.default = replies.verified()
    llm = ScriptedLLM({"informal_solver": "Adding zero changes nothing.", "decomposer": PLAN, "formalizer": GOOD})
    record = await prover(llm, checker, settings, informal="generated").attempt(PROBLEM, 0)
    assert record.solved and record.informal == "generated"
    assert llm.components() == ["informal_solver", "decomposer", "formalizer"]
    assert "Adding zero changes nothing." in llm.calls[1].prompt


async def test_both_alternates_human_and_generated(checker: Checker, script: Script, settings: Settings) -> None:
    script.default = replies.verified()
    llm = ScriptedLLM({"informal_solver": "x", "decomposer": PLAN, "formalizer": GOOD})
    p = prover(llm, checker, settings, informal="both")
    assert [(await p.attempt(PROBLEM, i)).informal for i in range(2)] == ["human", "generated"]


async def test_a_changed_statement_is_re_prompted(checker: Checker, script: Script, settings: Settings) -> None:
    script.default = replies.verified()
    llm = ScriptedLLM({"decomposer": PLAN, "formalizer": [CHANGED, GOOD]})
    record = await prover(llm, checker, settings).attempt(PROBLEM, 0)
    assert record.solved and record.statement_reprompts == 1
    assert "must keep exactly this statement" in llm.calls[-1].prompt


async def test_error_feedback_sends_the_first_error_and_its_goal(checker: Checker, script: Script,
                                                                 settings: Settings) -> None:
    script.queue.append(replies.error_at("by simp", "Failed to finish proof\\<^here>:\ngoal (1 subgoal):\n 1. x = x"))
    script.queue.append(replies.verified())
    llm = ScriptedLLM({"decomposer": PLAN, "formalizer": GOOD, "feedback": GOOD.replace("by simp", "by auto")})
    record = await prover(llm, checker, settings, feedback_rounds=1).attempt(PROBLEM, 0)
    assert record.solved and record.feedback_rounds == 1 and "by auto" in record.proof
    feedback_prompt = llm.calls[-1].prompt
    assert "Failed to finish proof" in feedback_prompt and "goal: 1. x = x" in feedback_prompt


async def test_llm_garbage_is_a_recorded_failure(checker: Checker, script: Script, settings: Settings) -> None:
    llm = ScriptedLLM({"decomposer": "I like turtles.", "formalizer": "Sorry, I cannot help with that."})
    record = await prover(llm, checker, settings).attempt(PROBLEM, 0)
    assert not record.solved and record.failure == "no_proof" and record.calls[-1].completion.startswith("Sorry")


async def test_a_bug_of_ours_is_recorded_with_its_traceback(checker: Checker, script: Script,
                                                            settings: Settings) -> None:
    def explode(call: LLMCall) -> str:
        raise RuntimeError("boom")

    record = await prover(ScriptedLLM(explode), checker, settings).attempt(PROBLEM, 0)
    assert record.failure == "crash" and "RuntimeError: boom" in record.reason and "Traceback" in record.crash


async def test_an_answer_longer_than_a_proof_may_be_is_a_recorded_guard_failure(
        fake_server: FakeIsabelleServer, settings: Settings, isabelle_settings: IsabelleSettings) -> None:
    small = isabelle_settings.model_copy(update={"max_proof_bytes": 2_000})
    huge = GOOD.replace("  by simp", "  (* " + "padding " * 300 + "*)\n  by simp")
    llm = ScriptedLLM({"decomposer": PLAN, "formalizer": huge})
    async with SessionPool(small) as pool:
        record = await prover(llm, Checker(pool, small), settings, feedback_rounds=0).attempt(PROBLEM, 0)
    assert not record.solved and record.failure == "guard"
    assert "too_large" in record.reason and "isabelle.max_proof_bytes = 2,000" in record.reason
    assert record.calls[-1].completion == huge, "the answer itself is kept in the record"
    assert fake_server.state.submitted == []
