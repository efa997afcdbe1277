"""The soundness guard rejects every way of cheating we know of, each with its reason."""

from __future__ import annotations

import pytest

from lego_prover.isabelle.guard import (
    GuardContext,
    RejectionCode,
    SoundnessGuard,
    normalize_statement,
)

STATEMENT = 'theorem mathd_t:\n  fixes x :: nat\n  assumes h0 : "x = 2"\n  shows "x + 1 = 3"'
GOOD_PROOF = 'using h0 by simp'
CTX = GuardContext(target="mathd_t", statement=STATEMENT,
                   imports=("Complex_Main", '"HOL-Number_Theory.Number_Theory"'),
                   reserved_names=frozenset({"digits"}))


def theorem(proof: str = GOOD_PROOF, statement: str = STATEMENT) -> str:
    return f"{statement}\n  {proof}\n"


def rejected_codes(text: str, *, placeholders: bool = True) -> set[RejectionCode]:
    return {r.code for r in SoundnessGuard(CTX, allow_placeholders=placeholders).check(text).rejections}


def test_a_plain_proof_with_helper_lemmas_is_accepted() -> None:
    text = 'lemma helper: "(2::nat) + 1 = 3" by simp\n\n' + theorem("using h0 helper by simp")
    result = SoundnessGuard(CTX).check(text)
    assert result.ok, result.summary
    assert [b.name for b in result.blocks] == ["helper", "mathd_t"]


def test_keywords_inside_comments_strings_and_cartouches_are_harmless() -> None:
    text = (
        '(* sorry oops ML axiomatization *)\n'
        'lemma h: "sorry_free = sorry_free" (* (* nested sorry *) still comment *) by simp\n'
        + theorem('using h0 by (simp add: h)')
    )
    assert SoundnessGuard(CTX).check(text).ok


ADVERSARIAL = {
    "sorry in a helper lemma": ('lemma h: "False" sorry\n' + theorem(), RejectionCode.SKIPPED_PROOF),
    "oops": ('lemma h: "False" oops\n' + theorem(), RejectionCode.SKIPPED_PROOF),
    "\\<proof>": (theorem("\\<proof>"), RejectionCode.SKIPPED_PROOF),
    "axiomatization": ('axiomatization where ax: "False"\n' + theorem(), RejectionCode.AXIOM),
    "axioms": ('axioms ax: "False"\n' + theorem(), RejectionCode.AXIOM),
    "oracle": ('oracle cheat = \\<open>fn ct => ct\\<close>\n' + theorem(), RejectionCode.ORACLE),
    "ML": ('ML \\<open>OS.Process.system "rm -rf ~"\\<close>\n' + theorem(), RejectionCode.ML_CODE),
    "ML_val glued to a cartouche": ('ML_val\\<open>1\\<close>\n' + theorem(), RejectionCode.ML_CODE),
    "ML_file": ('ML_file "evil.ML"\n' + theorem(), RejectionCode.ML_CODE),
    "ML_prf inside a proof": (theorem('proof - ML_prf \\<open>1\\<close> show ?thesis using h0 by simp qed'), RejectionCode.ML_CODE),
    "SML_import": ('SML_import \\<open>x\\<close>\n' + theorem(), RejectionCode.ML_CODE),
    "setup": ('setup \\<open>I\\<close>\n' + theorem(), RejectionCode.ML_CODE),
    "local_setup": ('local_setup \\<open>I\\<close>\n' + theorem(), RejectionCode.ML_CODE),
    "method_setup": ('method_setup m = \\<open>x\\<close>\n' + theorem(), RejectionCode.ML_CODE),
    "attribute_setup": ('attribute_setup a = \\<open>x\\<close>\n' + theorem(), RejectionCode.ML_CODE),
    "simproc_setup": ('simproc_setup s ("x") = \\<open>x\\<close>\n' + theorem(), RejectionCode.ML_CODE),
    "declaration": ('declaration \\<open>K I\\<close>\n' + theorem(), RejectionCode.ML_CODE),
    "tactic method": (theorem('by (tactic \\<open>Skip_Proof.cheat_tac @{context} 1\\<close>)'), RejectionCode.ML_CODE),
    "raw_tactic method": (theorem('by (raw_tactic \\<open>all_tac\\<close>)'), RejectionCode.ML_CODE),
    "quick_and_dirty declare": ('declare [[quick_and_dirty = true]]\n' + theorem(), RejectionCode.QUICK_AND_DIRTY),
    "config attribute in using": (theorem('using [[simp_trace]] h0 by simp'), RejectionCode.CONFIG_ATTRIBUTE),
    "skip_proof": (theorem('by (rule skip_proof)'), RejectionCode.SKIPPED_PROOF),
    "changed statement": (theorem(statement=STATEMENT.replace('"x + 1 = 3"', '"x + 1 > 0"')), RejectionCode.STATEMENT_CHANGED),
    "dropped assumption": (theorem(statement=STATEMENT.replace('  assumes h0 : "x = 2"\n', '')), RejectionCode.STATEMENT_CHANGED),
    "missing theorem": ('lemma h: "True" by simp\n', RejectionCode.MISSING_TARGET),
    "second end": (theorem() + "end\n\nlemma x: \"False\" by simp\n", RejectionCode.TEXT_AFTER_END),
    "second theory": (theorem() + "end\ntheory Other imports Main begin\n", RejectionCode.TEXT_AFTER_END),
    "lemma named like the theorem": ('lemma mathd_t: "True" by simp\n' + theorem(), RejectionCode.NAME_CLASH),
    "lemma twice": ('lemma h: "True" by simp\nlemma h: "True" by simp\n' + theorem(), RejectionCode.NAME_CLASH),
    "redefines a preamble name": ('lemma digits: "True" by simp\n' + theorem(), RejectionCode.NAME_CLASH),
    "definition changes what the statement means": ('definition x :: nat where "x = 2"\n' + theorem(), RejectionCode.COMMAND_NOT_ALLOWED),
    "notation": ('no_notation plus (infixl "+" 65)\n' + theorem(), RejectionCode.COMMAND_NOT_ALLOWED),
    "comment opener inside a string": ('lemma h: "(* " sorry "*)"\n' + theorem(), RejectionCode.SKIPPED_PROOF),
    "escaped quote keeps the string open": ('lemma h: "a\\" b" sorry\n' + theorem(), RejectionCode.SKIPPED_PROOF),
    "unterminated comment swallowing the rest": ('(* (* *) sorry\n' + theorem(), RejectionCode.MALFORMED),
    "cartouche antiquotation in formal comment": ('\\<comment> \\<open>@{ML \\<open>1\\<close>}\\<close>\n' + theorem(), RejectionCode.ANTIQUOTATION),
    "control-symbol antiquotation": (theorem('using h0 by (simp add: \\<open>\\<^ML>\\<open>1\\<close>\\<close>)'), RejectionCode.ANTIQUOTATION),
    "verbatim": ('{* ML *}\n' + theorem(), RejectionCode.ANTIQUOTATION),
    "imports changed by the proof text": ('theory X imports Complex_Main "HOL-Number_Theory.Number_Theory" Evil begin\n' + theorem() + 'end\n', RejectionCode.IMPORTS_CHANGED),
    "text document antiquotation": ('text \\<open>@{ML \\<open>1\\<close>}\\<close>\n' + theorem(), RejectionCode.ANTIQUOTATION),
    "export_code writes files": ('export_code f in SML file "x"\n' + theorem(), RejectionCode.HOST_IO),
    "value runs generated code": ('value "f 1"\n' + theorem(), RejectionCode.COMMAND_NOT_ALLOWED),
    "prose before the proof": ('Here is the proof:\n' + theorem(), RejectionCode.STRAY_TEXT),
    "sorry glued to a cartouche": ('lemma h: \\<open>False\\<close>sorry\n' + theorem(), RejectionCode.SKIPPED_PROOF),
}


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_adversarial_text_is_rejected_with_its_reason(case: str) -> None:
    text, code = ADVERSARIAL[case]
    codes = rejected_codes(text)
    assert code in codes, f"{case}: expected {code.value}, got {sorted(c.value for c in codes)}"


def test_sledgehammer_placeholder_is_allowed_only_before_repair() -> None:
    text = theorem("proof - have \"x = 2\" using h0 sledgehammer then show ?thesis by simp qed")
    assert rejected_codes(text) == set()
    assert rejected_codes(text, placeholders=False) == {RejectionCode.PLACEHOLDER}


def test_statement_comparison_ignores_whitespace_comments_and_keyword() -> None:
    assert normalize_statement('theorem t :  "x  = 1"') == normalize_statement('lemma t: (* c *) "x = 1"')
    assert normalize_statement('theorem t: "x = 1"') != normalize_statement('theorem t: "x = 2"')


def test_unicode_is_normalised_before_the_statement_check() -> None:
    ctx = GuardContext(target="t", statement='theorem t: "(x::nat) \\<le> x"')
    assert SoundnessGuard(ctx).check('theorem t: "(x::nat) ≤ x" by simp').ok


def test_every_rejection_has_a_readable_message_and_line() -> None:
    result = SoundnessGuard(CTX).check('lemma h: "True" sorry\n' + theorem())
    (rejection,) = result.rejections
    assert rejection.line == 1
    assert "sorry" in str(rejection)


def test_every_minif2f_statement_survives_the_guard_unchanged() -> None:
    """The lexer and statement comparison agree with all 488 real miniF2F statements."""
    from lego_prover.isabelle.context import TheoryContext
    from lego_prover.problems import load_problems
    from tests.conftest import MINIF2F_DIR

    if not MINIF2F_DIR.is_dir():
        pytest.skip("../shared/minif2f is not present")
    problems = load_problems(MINIF2F_DIR / "valid.jsonl") + load_problems(MINIF2F_DIR / "test.jsonl")
    failures = []
    for p in problems:
        ctx = TheoryContext(("Complex_Main",), p.preamble, p.name, p.formal_statement).guard_context()
        result = SoundnessGuard(ctx).check(f"{p.formal_statement}\n  sledgehammer\n")
        if not result.ok:
            failures.append(f"{p.name}: {result.summary}")
    assert len(problems) == 488 and failures == []


@pytest.mark.parametrize("imports", ["Main", "Complex_Main", "HOL.Complex_Main", '"HOL-Number_Theory.Number_Theory"',
                                     'Complex_Main "HOL-Number_Theory.Number_Theory"'])
def test_a_header_importing_a_subset_of_the_session_is_accepted_and_dropped(imports: str) -> None:
    result = SoundnessGuard(CTX).check(f"theory Mine imports {imports} begin\n{theorem()}\nend\n")
    assert result.ok, result.summary
    assert not result.text.lstrip().startswith("theory"), "our own header replaces the file's"


def test_blocks_carry_the_line_numbers_of_the_text_as_written() -> None:
    text = f"theory Mine imports Complex_Main\nbegin\n\n{theorem()}\nend\n"
    (block,) = SoundnessGuard(CTX).check(text).blocks
    assert text.splitlines()[block.start_line - 1].startswith("theorem mathd_t")


def test_a_text_longer_than_the_limit_is_refused_unread() -> None:
    limited = GuardContext(CTX.target, CTX.statement, CTX.imports, max_bytes=1_000)
    padding = "(* " + "x" * 1_000 + " *)\n"
    result = SoundnessGuard(limited).check(padding + theorem())
    (rejection,) = result.rejections
    assert rejection.code is RejectionCode.TOO_LARGE and result.blocks == ()
    assert f"{len(padding + theorem()):,} bytes" in rejection.message and "isabelle.max_proof_bytes" in rejection.message
    assert result.text == "", "the text is not read, so there is no body to give back"


def test_the_limit_counts_utf8_bytes_and_a_text_at_the_limit_passes() -> None:
    text = theorem()
    at_limit = GuardContext(CTX.target, CTX.statement, CTX.imports, max_bytes=len(text.encode()))
    assert SoundnessGuard(at_limit).check(text).ok
    wide = theorem() + "(* " + "‹›" * 100 + " *)\n"  # 3 bytes a character in UTF-8
    limit = len(wide) + 50  # more characters than the text has, fewer bytes
    refused = SoundnessGuard(GuardContext(CTX.target, CTX.statement, CTX.imports, max_bytes=limit)).check(wide)
    assert [r.code for r in refused.rejections] == [RejectionCode.TOO_LARGE]


def test_a_large_text_is_read_with_the_lines_as_written_and_the_collector_left_as_it_was() -> None:
    import gc

    lemmas = "".join(f'lemma helper_{i}: "({i}::nat) + 1 > 0"\n  by simp\n\n' for i in range(4_000))
    text = lemmas + 'lemma cheat: "False"\n  sorry\n\n' + theorem()
    assert len(text) > 100_000, "large enough to be read with the collector paused"
    sorry_line = text.splitlines().index("  sorry") + 1
    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            result = SoundnessGuard(CTX).check(text)
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
        assert [(r.code, r.line) for r in result.rejections] == [(RejectionCode.SKIPPED_PROOF, sorry_line)]
