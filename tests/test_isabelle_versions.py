"""What differs between Isabelle releases: parsing versions, provers, and reading Sledgehammer
answers as a real Isabelle2020 wrote them (``../shared/isabelle/sledgehammer/``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lego_prover.isabelle.repair import read_sledgehammer
from lego_prover.isabelle.versions import (
    Release,
    oracle_matches,
    sledgehammer_call,
    sledgehammer_wall_s,
    syntax_hint,
)
from tests.conftest import SHARED

SLEDGEHAMMER = SHARED / "isabelle" / "sledgehammer"


@pytest.mark.parametrize(("text", "expected"), [
    ("Isabelle2020", Release(2020, 0, "Isabelle2020")),
    ("Isabelle2021-1: December 2021", Release(2021, 1, "Isabelle2021-1")),
    ("Isabelle2025", Release(2025, 0, "Isabelle2025")),
])
def test_release_names_are_parsed_from_version_and_welcome_text(text: str, expected: Release) -> None:
    assert Release.parse(text) == expected


def test_releases_before_2020_are_not_supported_and_newer_ones_list_what_is_unconfirmed() -> None:
    assert not Release(2019).supported
    assert Release.parse("Isabelle2020").unconfirmed() == ()  # type: ignore[union-attr]
    assert "oracle report format (thm_oracles)" in Release.parse("Isabelle2024").unconfirmed()  # type: ignore[union-attr]
    assert Release.parse("not a version") is None


def test_sledgehammer_without_configured_provers_uses_isabelles_default() -> None:
    assert sledgehammer_call(30, "") == "sledgehammer [timeout = 30, minimize = false] sorry"
    assert sledgehammer_call(20.5, " e  z3 ") == 'sledgehammer [timeout = 20, minimize = false, provers = "e z3"] sorry'


def test_sledgehammer_minimizes_only_when_asked_and_then_gets_the_time_it_needs() -> None:
    # Isabelle minimizes by default, for up to the provers' timeout again; a call cut off
    # then loses the proof it found
    assert sledgehammer_call(30, "", minimize=True) == "sledgehammer [timeout = 30] sorry"
    assert sledgehammer_wall_s(30, minimize=True) - sledgehammer_wall_s(30) == 30


def test_qualified_and_base_oracle_names_match() -> None:
    assert oracle_matches("Code_Evaluation.holds_by_evaluation", "holds_by_evaluation")
    assert not oracle_matches("skip_proof", "holds_by_evaluation")


def _recorded(name: str) -> dict[str, Any]:
    path = SLEDGEHAMMER / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"no recording {path}")
    return dict(json.loads(path.read_text()))


def _call_span(theory: str) -> tuple[int, int]:
    start = theory.index("sledgehammer [")
    return start, theory.index("sorry", start)


@pytest.mark.parametrize("name", ["sledgehammer_found", "sledgehammer_default_provers"])
def test_a_real_try_this_answer_is_read(name: str) -> None:
    rec = _recorded(name)
    answer = read_sledgehammer(rec["payload"], rec["theory"], *_call_span(rec["theory"]))
    assert answer.proof == "by (simp add: h0)" and answer.missing_prover is None


def test_of_several_try_this_proofs_the_one_sledgehammer_replayed_fastest_is_taken() -> None:
    theory = "theory T imports Main begin\nlemma x: \"True\"\n  sledgehammer [timeout = 30] sorry\nend\n"
    at = theory.index("sledgehammer [")

    def said(*messages: str) -> dict[str, Any]:
        return {"nodes": [{"messages": [{"kind": "writeln", "message": m, "pos": {"offset": at + 1}}
                                        for m in messages]}]}

    timed_out = "verit found a proof...\nverit: Try this: by (smt (verit) foo) (> 1.0 s, timed out)"
    slow, fast = "e: Try this: by (metis bar) (1.2 s)", "z3: Try this: by (simp add: baz) (3 ms)"
    span = (at, theory.index("sorry", at))
    assert read_sledgehammer(said(timed_out, slow, fast), theory, *span).proof == "by (simp add: baz)"
    assert read_sledgehammer(said(timed_out, slow), theory, *span).proof == "by (metis bar)"
    assert read_sledgehammer(said(timed_out), theory, *span).proof == "by (smt (verit) foo)", "still better than none"


def test_a_try_this_proof_isabelle_cannot_read_back_is_never_taken() -> None:
    # as this Isabelle printed it with minimize = false: an empty selection of a fact, `name(,)`,
    # is an outer syntax error where the proof is put (amc12a_2010_p11 was lost to one)
    theory = "theory T imports Main begin\nlemma x: \"True\"\n  sledgehammer [timeout = 30] sorry\nend\n"
    at = theory.index("sledgehammer [")
    span = (at, theory.index("sorry", at))

    def said(*messages: str) -> dict[str, Any]:
        return {"nodes": [{"messages": [{"kind": "writeln", "message": m, "pos": {"offset": at + 1}}
                                        for m in messages]}]}

    broken = "cvc4: Try this: using h0 dbl_simps(3,3,5,5) numeral_Bit0(,) one_power2 by auto (2 ms)"
    good = "e: Try this: by (metis bar) (1.2 s)"
    assert read_sledgehammer(said(broken, good), theory, *span).proof == "by (metis bar)"
    assert read_sledgehammer(said(broken), theory, *span).proof is None


def test_a_real_unknown_prover_failure_names_the_prover() -> None:
    rec = _recorded("sledgehammer_unknown_prover")
    answer = read_sledgehammer(rec["payload"], rec["theory"], *_call_span(rec["theory"]))
    assert answer.proof is None and answer.missing_prover == "cvc5"


def test_a_real_timeout_of_every_prover_finds_nothing() -> None:
    rec = _recorded("sledgehammer_nothing_found")
    answer = read_sledgehammer(rec["payload"], rec["theory"], *_call_span(rec["theory"]))
    assert answer == type(answer)(None, None)



def test_smt_with_a_solver_argument_gets_a_hint_only_before_isabelle2021() -> None:
    step = "by (smt (z3) h0 h1)"
    assert "no solver argument" in syntax_hint(step, Release.parse("Isabelle2020"))
    assert syntax_hint(step, Release.parse("Isabelle2021")) == ""
    assert syntax_hint("by (smt h0)", Release.parse("Isabelle2020")) == ""
