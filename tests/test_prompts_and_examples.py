"""Prompt files render, examples are complete, pass the soundness guard, and none comes from
the miniF2F test split. (Whether the example proofs verify is for Isabelle:
`lego-prover check-examples`, and tests/test_isabelle_real.py when Isabelle is present.)"""

from __future__ import annotations

import pytest

from lego_prover.config import LEGO_IMPORTS
from lego_prover.isabelle.guard import GuardContext, SoundnessGuard, normalize_statement
from lego_prover.isabelle.theory import BlockKind, split_blocks
from lego_prover.problems import load_problems
from lego_prover.prover.parsing import parse_decomposition
from lego_prover.prover.prompts import PromptLibrary
from tests.conftest import MINIF2F_DIR

prompts = PromptLibrary.load()
PROVER = prompts.examples("prover")
EVOLVER = prompts.examples("evolver")
DSP = prompts.examples_in("dsp/examples")
FIELDS = ("informal_statement", "informal_proof", "formal_statement", "structured_proof", "requests",
          "isabelle_proof")


def test_the_manifest_covers_the_four_topics_and_every_direction() -> None:
    assert {e["topic"] for e in PROVER} == {"algebra", "number theory", "inequality", "induction"}
    assert {e["direction"] for e in EVOLVER} == {"identify_key_concepts", "parameterize", "scale_complexity",
                                                 "extend_dimensions", "request"}


@pytest.mark.parametrize("example", PROVER, ids=lambda e: e.name)
def test_a_prover_example_is_complete_and_passes_the_guard(example: object) -> None:
    ex = example
    assert all(ex[f] for f in FIELDS), [f for f in FIELDS if not ex[f]]  # type: ignore[index]
    (goal,) = [b for b in split_blocks(ex["formal_statement"]) if b.kind is BlockKind.LEMMA]  # type: ignore[index]
    guard = SoundnessGuard(GuardContext(goal.name, ex["formal_statement"], tuple(LEGO_IMPORTS)),  # type: ignore[index]
                           allow_placeholders=False)
    result = guard.check(ex["isabelle_proof"])  # type: ignore[index]
    assert result.ok, result.summary
    for request in ex.requests:  # type: ignore[attr-defined]
        assert normalize_statement(request) in {normalize_statement(b.statement) for b in result.blocks}


@pytest.mark.parametrize("example", DSP, ids=lambda e: e.name)
def test_a_dsp_example_is_complete_and_its_sketch_passes_the_guard_with_placeholders(example: object) -> None:
    ex = example
    assert all(ex[f] for f in ("informal_statement", "informal_proof", "formal_statement", "sketch"))  # type: ignore[index]
    (goal,) = [b for b in split_blocks(ex["formal_statement"]) if b.kind is BlockKind.LEMMA]  # type: ignore[index]
    guard = SoundnessGuard(GuardContext(goal.name, ex["formal_statement"], tuple(LEGO_IMPORTS)),  # type: ignore[index]
                           allow_placeholders=True)
    result = guard.check(ex["sketch"])  # type: ignore[index]
    assert result.ok, result.summary
    assert "sledgehammer" in ex["sketch"] and "(*" in ex["sketch"], "steps left to automation, with comments"  # type: ignore[index]


def test_the_dsp_examples_cover_the_four_topics() -> None:
    assert {e["topic"] for e in DSP} == {"algebra", "number theory", "inequality", "induction"}


@pytest.mark.parametrize("example", EVOLVER, ids=lambda e: e.name)
def test_an_evolver_example_passes_the_guard(example: object) -> None:
    for part in ("skill", "evolved"):
        result = SoundnessGuard(GuardContext(None, None, tuple(LEGO_IMPORTS)), allow_placeholders=False).check(
            example[part])  # type: ignore[index]
        assert result.ok, f"{part}: {result.summary}"


@pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")
def test_no_example_is_a_minif2f_test_problem() -> None:
    test_split = load_problems(MINIF2F_DIR / "test.jsonl")
    statements = {normalize_statement(p.formal_statement.split(":", 1)[1]) for p in test_split}
    informal = {" ".join(p.informal_statement.split()) for p in test_split}
    for ex in [*PROVER, *DSP]:
        assert normalize_statement(ex["formal_statement"].split(":", 1)[1]) not in statements, ex.name
        assert " ".join(ex["informal_statement"].split()) not in informal, ex.name


def test_every_prompt_renders_without_a_missing_value() -> None:
    values = dict.fromkeys(("informal_statement", "informal_proof", "formal_statement", "structured_proof",
                            "skills", "examples", "max_requests", "proof", "errors", "skill", "targets", "rules",
                            "request"), "X")
    for name in ("informal_solver", "decomposer", "formalizer", "feedback", "statement_reprompt",
                 "evolver/identify_key_concepts", "evolver/parameterize", "evolver/scale_complexity",
                 "evolver/extend_dimensions", "evolver/request_solver", "dsp/draft", "dsp/sketch"):
        messages = prompts.render(name, **values)
        assert messages[-1]["role"] == "user" and "$" not in messages[-1]["content"], name


def test_a_decomposition_answer_yields_its_plan_and_requests() -> None:
    answer = ("## Structured proof\nStep 1. Expand.\n\n## Requests\n```isabelle\nlemma a:\n  shows \"x = x\"\n\n"
              "lemma b: \"(1::nat) < 2\" by simp\n```\n")
    parsed = parse_decomposition(answer, max_requests=1)
    assert parsed.structured_proof == "Step 1. Expand." and parsed.requests == ('lemma a:\n  shows "x = x"',)
    assert parse_decomposition("## Structured proof\nS\n## Requests\nN/A", max_requests=5).requests == ()
