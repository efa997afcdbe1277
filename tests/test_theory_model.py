"""Theory model: blocks, statements, the source map and Isabelle symbol offsets."""

from __future__ import annotations

import pytest

from lego_prover.isabelle.lexer import LexError, TokenKind, tokenize
from lego_prover.isabelle.symbols import SymbolIndex, normalize_unicode
from lego_prover.isabelle.theory import (
    BlockKind,
    TheoryHeader,
    assemble_theory,
    isabelle_span_starts,
    parse_theory,
    split_blocks,
)

THEORY = '''theory Example
  imports Complex_Main "HOL-Number_Theory.Number_Theory"
begin

definition f :: "nat \\<Rightarrow> nat" where "f n = n + 1"

lemma f_simp [simp]: "f n = Suc n" (* a comment with lemma and sorry *)
  unfolding f_def by simp

theorem main:
  fixes n :: nat
  shows "f n > n"
proof -
  have "f n = Suc n" by simp
  then show ?thesis by simp
qed

end
'''


def test_blocks_have_kinds_names_statements_and_lines() -> None:
    parsed = parse_theory(THEORY)
    assert parsed.header == TheoryHeader("Example", ["Complex_Main", '"HOL-Number_Theory.Number_Theory"'])
    assert parsed.has_end and parsed.text_after_end == ""
    kinds = [(b.kind, b.name, b.start_line, b.end_line) for b in parsed.blocks]
    assert kinds == [(BlockKind.DEFINITION, "f", 5, 5), (BlockKind.LEMMA, "f_simp", 7, 8), (BlockKind.LEMMA, "main", 10, 16)]
    assert parsed.blocks[2].statement == 'theorem main:\n  fixes n :: nat\n  shows "f n > n"'
    assert [s.command for s in parsed.blocks[2].steps] == ["proof", "have", "by", "then", "show", "by", "qed"]


def test_text_after_end_is_kept_for_the_guard() -> None:
    assert parse_theory(THEORY + "lemma x: True by simp\n").text_after_end == "lemma x: True by simp"


def test_source_map_points_lines_back_to_blocks_and_steps() -> None:
    blocks = parse_theory(THEORY).blocks
    assembled = assemble_theory(TheoryHeader("T_1", ["Main"]), preamble='definition g :: nat where "g = 1"',
                                blocks=blocks[1:], target="main", oracle_checks=["f_simp", "main"])
    lines = assembled.text.splitlines()
    smap = assembled.source_map
    show_line = next(i for i, text in enumerate(lines, 1) if "show ?thesis" in text)
    block = smap.block_at_line(show_line)
    assert block is not None and block.name == "main" and block.origin == "body"
    step = smap.step_at(block, line=show_line)
    assert step is not None and step.command in ("then", "show", "by")
    assert smap.by_name("g") is not None and smap.by_name("g").origin == "preamble"
    assert lines[smap.oracle_lines["main"] - 1] == "thm_oracles main"
    assert lines[-1] == "end"


def test_symbol_offsets_count_isabelle_symbols_like_the_recorded_fixture() -> None:
    # the recorded reply: "Failed to finish proof" at line 5, offset 59..61 is `by`
    text = 'theory Example\nimports Main\nbegin\nlemma "\\<forall> x. \\<exists> y. x = y"\nby auto\nend'
    index = SymbolIndex(text)
    assert index.snippet(59, 61) == "by"
    assert index.line_of_offset(59) == 5


def test_lexer_respects_nesting_and_escapes() -> None:
    toks = [t for t in tokenize('(* a (* b *) c *) "x \\" y" \\<open>a \\<open>b\\<close>\\<close> w') if t.kind is not TokenKind.SPACE]
    assert [t.kind for t in toks] == [TokenKind.COMMENT, TokenKind.STRING, TokenKind.CARTOUCHE, TokenKind.WORD]
    with pytest.raises(LexError):
        tokenize('"unterminated')


def test_unicode_is_mapped_to_ascii_symbols() -> None:
    assert normalize_unicode("∀x. x ≤ y ⟶ ¬ P") == "\\<forall>x. x \\<le> y \\<longrightarrow> \\<not> P"


def test_command_words_split_even_inside_parentheses_like_isabelle() -> None:
    (first, second) = split_blocks('lemma a: "True" by (simp\nlemma b: "True" by simp')
    assert (first.name, second.name) == ("a", "b")


def test_the_fast_path_of_the_lexer_agrees_with_its_full_grammar() -> None:
    """``tokenize`` matches common tokens with one regular expression; ``_scan_token`` is the
    grammar. On texts made of the pieces that trip lexers, both must give the same tokens."""
    import random

    from lego_prover.isabelle.lexer import Token, _scan_token

    def by_the_grammar(text: str) -> list[Token]:
        tokens, i = [], 0
        while i < len(text):
            kind, end = _scan_token(text, i)
            tokens.append(Token(kind, text[i:end], i, end))
            i = end
        return tokens

    pieces = ["(", "*", ")", "{", "}", '"', "`", "\\", "\\<open>", "\\<close>", "‹", "›", "\\<comment>", "\\<^cancel>",
              "\\<alpha>", "\\<A>", "\\<^sub>", "\\<^sup>", "\\<proof>", "\\<forall>", " ", "\n", "\t", "a", "_", "?",
              "'", ".", "..", ":", "=", ">", "<", "0", "9", "[", "qed", "lemma", "λ", "\\<lambda>", '\\"']
    rng = random.Random(20)
    for _ in range(5_000):
        text = "".join(rng.choices(pieces, k=rng.randint(1, 20)))
        try:
            expected: list[Token] | str = by_the_grammar(text)
        except LexError as exc:
            expected = str(exc)
        try:
            got: list[Token] | str = tokenize(text)
        except LexError as exc:
            got = str(exc)
        assert got == expected, text


def test_isabelle_makes_a_span_of_each_command_and_of_each_run_of_blanks_between_commands() -> None:
    text = 'theory T imports Main begin\n\nlemma x: "True"\n  (* why *) by simp\n\nend\n'
    starts = isabelle_span_starts(text)
    assert starts == [0, None, text.index("lemma"), None, text.index("by simp"), None, text.index("end"), None]
    # blanks inside a command are the command's own
    one = 'lemma "x = x"\n  by  (simp\n   add: foo)'
    assert isabelle_span_starts(one) == [0, None, one.index("by")]
