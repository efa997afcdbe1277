"""Isabelle outer-syntax tokenizer.

It knows what hides keywords from a naive search: strings (with backslash escapes),
alternative strings, cartouches (nested, ``\\<open>``/``\\<close>`` or ``‹``/``›``), nested
comments ``(* ... *)``, formal comments ``\\<comment> \\<open>...\\<close>`` and verbatim
``{* ... *}``. The soundness guard and the theory model both read theories through it, so
a keyword is a keyword only where Isabelle would see one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class TokenKind(Enum):
    SPACE = "space"
    COMMENT = "comment"          # (* ... *), ignored by Isabelle
    FORMAL_COMMENT = "formal"    # \<comment> / \<^cancel> / \<^latex> / \<^marker> + cartouche
    STRING = "string"            # "..."
    ALT_STRING = "alt_string"    # `...`
    CARTOUCHE = "cartouche"
    VERBATIM = "verbatim"        # {* ... *}
    WORD = "word"                # identifiers, long names, numbers, ?vars
    SYMBOL = "symbol"            # any other symbol: : ( ) [ ] = . .. { } | \<proof> ...


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    start: int  # character index into the source
    end: int

    @property
    def is_blank(self) -> bool:
        return self.kind in (TokenKind.SPACE, TokenKind.COMMENT, TokenKind.FORMAL_COMMENT)


class LexError(ValueError):
    """The text is not well-formed outer syntax (an unterminated string, comment, ...)."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


_OPEN = ("\\<open>", "‹")
_CLOSE = ("\\<close>", "›")
_FORMAL_MARKERS = ("\\<comment>", "\\<^cancel>", "\\<^latex>", "\\<^marker>")
# Isabelle's letters: ASCII, \<A>..\<zz>-style script letters and the Greek names
# (\<lambda> is a binder, not a letter). Anything else, \<open> included, ends a word.
_GREEK = (
    "alpha|beta|gamma|delta|epsilon|zeta|eta|theta|iota|kappa|mu|nu|xi|pi|rho|sigma|tau|"
    "upsilon|phi|chi|psi|omega|Gamma|Delta|Theta|Lambda|Xi|Pi|Sigma|Upsilon|Phi|Psi|Omega"
)
_LETTER = rf"(?:[A-Za-z]|\\<(?:[A-Za-z]{{1,2}}|{_GREEK})>)"
_SUB = r"\\<\^(?:sub|isub|bsub|esub)>"
_WORD_RE = re.compile(
    rf"(?:\?|')?(?:{_LETTER}|_)(?:{_LETTER}|[0-9_'.]|{_SUB}|\\<\^(?:sup|isup)>)*"
    r"|[0-9]+(?:\.[0-9]+)?"
)
_SYMBOL_RE = re.compile(r"\\<\^?[A-Za-z][A-Za-z0-9_']*>|\.\.|::|==|=>|<=|.", re.S)
_SPACE_RE = re.compile(r"\s+")


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _scan_cartouche(text: str, i: int) -> int:
    """Index just past the cartouche that opens at ``i`` (nesting respected)."""
    depth = 0
    n = len(text)
    while i < n:
        for opener in _OPEN:
            if text.startswith(opener, i):
                depth += 1
                i += len(opener)
                break
        else:
            for closer in _CLOSE:
                if text.startswith(closer, i):
                    depth -= 1
                    i += len(closer)
                    if depth == 0:
                        return i
                    break
            else:
                i += 1
    raise LexError("unterminated cartouche", i)


def _scan_comment(text: str, i: int) -> int:
    depth = 0
    n = len(text)
    while i < n:
        if text.startswith("(*", i):
            depth += 1
            i += 2
        elif text.startswith("*)", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    raise LexError("unterminated comment (*", i)


def _scan_quoted(text: str, i: int, quote: str) -> int:
    i += 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2  # an escape: \" \\ \<sym> \123 -- never ends the string
            continue
        if ch == quote:
            return i + 1
        i += 1
    raise LexError(f"unterminated string {quote}", i)


def tokenize(text: str) -> list[Token]:
    """Split outer-syntax text into tokens, raising ``LexError`` on malformed input."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        start = i
        if ch.isspace():
            m = _SPACE_RE.match(text, i)
            assert m is not None
            i = m.end()
            kind = TokenKind.SPACE
        elif text.startswith("(*", i):
            i = _scan_comment(text, i)
            kind = TokenKind.COMMENT
        elif text.startswith("{*", i):
            end = text.find("*}", i + 2)
            if end < 0:
                raise LexError("unterminated verbatim {*", i)
            i = end + 2
            kind = TokenKind.VERBATIM
        elif ch == '"':
            i = _scan_quoted(text, i, '"')
            kind = TokenKind.STRING
        elif ch == "`":
            i = _scan_quoted(text, i, "`")
            kind = TokenKind.ALT_STRING
        elif any(text.startswith(o, i) for o in _OPEN):
            i = _scan_cartouche(text, i)
            kind = TokenKind.CARTOUCHE
        elif any(text.startswith(c, i) for c in _CLOSE):
            raise LexError("cartouche closed that was never opened", i)
        elif any(text.startswith(mk, i) for mk in _FORMAL_MARKERS):
            marker = next(mk for mk in _FORMAL_MARKERS if text.startswith(mk, i))
            j = i + len(marker)
            m = _SPACE_RE.match(text, j)
            if m:
                j = m.end()
            if not any(text.startswith(o, j) for o in _OPEN):
                raise LexError(f"{marker} must be followed by a cartouche", i)
            i = _scan_cartouche(text, j)
            kind = TokenKind.FORMAL_COMMENT
        else:
            m = _WORD_RE.match(text, i)
            if m and m.end() > i:
                i = m.end()
                # A long name never ends in a dot: `qed.` is `qed` followed by `.`
                while text[i - 1] == "." and i - 1 > start:
                    i -= 1
                kind = TokenKind.WORD
            else:
                m = _SYMBOL_RE.match(text, i)
                assert m is not None
                i = m.end()
                kind = TokenKind.SYMBOL
        tokens.append(Token(kind, text[start:i], start, i))
    return tokens


def describe_lex_error(text: str, error: LexError) -> str:
    return f"{error} at line {_line_of(text, error.index)}"
