"""Isabelle outer-syntax tokenizer.

It knows what hides keywords from a naive search: strings (with backslash escapes),
alternative strings, cartouches (nested, ``\\<open>``/``\\<close>`` or ``‹``/``›``), nested
comments ``(* ... *)``, formal comments ``\\<comment> \\<open>...\\<close>`` and verbatim
``{* ... *}``. The soundness guard and the theory model both read theories through it, so
a keyword is a keyword only where Isabelle would see one.
"""

from __future__ import annotations

import contextlib
import gc
import re
import threading
from bisect import bisect_right
from collections.abc import Iterator
from enum import Enum
from typing import NamedTuple


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


class Token(NamedTuple):
    """One token; a tuple, so that reading a large text makes cheap, immutable tokens."""

    kind: TokenKind
    text: str
    start: int  # character index into the source
    end: int

    @property
    def is_blank(self) -> bool:
        kind = self.kind
        return kind is TokenKind.SPACE or kind is TokenKind.COMMENT or kind is TokenKind.FORMAL_COMMENT


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


class LineIndex:
    """1-based line numbers of character indices of one text, in O(log lines) each.

    Built once per text (one pass over its newlines); counting newlines from the start
    for every position instead made reading a large text quadratic.
    """

    def __init__(self, text: str) -> None:
        starts = [0]
        find = text.find
        i = find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = find("\n", i + 1)
        self._starts = starts

    def line(self, index: int) -> int:
        """The line of ``text[index]``: the newlines before ``index``, plus one."""
        return bisect_right(self._starts, index)


_CARTOUCHE_MARK_RE = re.compile(r"\\<open>|‹|\\<close>|›")
_COMMENT_MARK_RE = re.compile(r"\(\*|\*\)")
_QUOTED_REST_RE = {q: re.compile(rf'[^{q}\\]*(?:\\.[^{q}\\]*)*{q}', re.S) for q in ('"', "`")}


def _scan_cartouche(text: str, i: int) -> int:
    """Index just past the cartouche that opens at ``i`` (nesting respected)."""
    depth = 0
    for m in _CARTOUCHE_MARK_RE.finditer(text, i):
        if m.group() in _OPEN:
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    raise LexError("unterminated cartouche", len(text))


def _scan_comment(text: str, i: int) -> int:
    depth = 0
    for m in _COMMENT_MARK_RE.finditer(text, i):
        if m.group() == "(*":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    raise LexError("unterminated comment (*", len(text))


def _scan_quoted(text: str, i: int, quote: str) -> int:
    """Index just past the string that opens at ``i``: an escape (``\\"``, ``\\\\``,
    ``\\<sym>``, ``\\123``) never ends it."""
    m = _QUOTED_REST_RE[quote].match(text, i + 1)
    if m is None:
        raise LexError(f"unterminated string {quote}", len(text))
    return m.end()


# The common tokens, matched in one pass by the regular-expression engine: blanks, words
# (never ending in a dot: `qed.` is `qed` followed by `.`), complete strings, cartouches
# with none nested inside, and the symbols that cannot start a comment, verbatim text, a
# cartouche or a formal comment. Everything else is read by ``_scan_token``, which is
# the full grammar; the fast path must only ever agree with it.
_FAST_RE = re.compile(
    rf"(\s+)"
    rf"|((?:\?|')?(?:{_LETTER}|_)(?:{_LETTER}|[0-9_'.]|{_SUB}|\\<\^(?:sup|isup)>)*(?<!\.)|[0-9]+(?:\.[0-9]+)?)"
    r'|("[^"\\]*(?:\\.[^"\\]*)*")'
    r"|(`[^`\\]*(?:\\.[^`\\]*)*`)"
    r"|((?:\\<open>|‹)(?:[^\\‹›]|\\(?!<open>|<close>))*(?:\\<close>|›))"
    r"|(\.\.|::|==|=>|<=|\((?!\*)|\{(?!\*)|[^\s(\{\"`\\‹›]"
    r"|\\<(?!open>|close>|comment>|\^cancel>|\^latex>|\^marker>)\^?[A-Za-z][A-Za-z0-9_']*>)",
    re.S)
_FAST_KINDS: dict[int | None, TokenKind] = dict(enumerate(
    (TokenKind.SPACE, TokenKind.WORD, TokenKind.STRING, TokenKind.ALT_STRING, TokenKind.CARTOUCHE, TokenKind.SYMBOL),
    start=1))  # group number -> kind


def tokenize(text: str) -> list[Token]:
    """Split outer-syntax text into tokens, raising ``LexError`` on malformed input."""
    tokens: list[Token] = []
    append = tokens.append
    kinds = _FAST_KINDS
    make = tuple.__new__  # Token(...) without its Python-level __new__: one call less per token
    i = 0
    n = len(text)
    while i < n:
        for m in _FAST_RE.finditer(text, i):
            start, j = m.span()
            if start != i:
                break
            append(make(Token, (kinds[m.lastindex], m.group(), i, j)))
            i = j
        if i < n:
            kind, j = _scan_token(text, i)
            append(Token(kind, text[i:j], i, j))
            i = j
    return tokens


def _scan_token(text: str, i: int) -> tuple[TokenKind, int]:
    """The kind and end of the token at ``i``."""
    start = i
    ch = text[i]
    if ch.isspace():
        m = _SPACE_RE.match(text, i)
        assert m is not None
        return TokenKind.SPACE, m.end()
    if text.startswith("(*", i):
        return TokenKind.COMMENT, _scan_comment(text, i)
    if text.startswith("{*", i):
        end = text.find("*}", i + 2)
        if end < 0:
            raise LexError("unterminated verbatim {*", i)
        return TokenKind.VERBATIM, end + 2
    if ch == '"':
        return TokenKind.STRING, _scan_quoted(text, i, '"')
    if ch == "`":
        return TokenKind.ALT_STRING, _scan_quoted(text, i, "`")
    if text.startswith(_OPEN, i):
        return TokenKind.CARTOUCHE, _scan_cartouche(text, i)
    if text.startswith(_CLOSE, i):
        raise LexError("cartouche closed that was never opened", i)
    marker = next((mk for mk in _FORMAL_MARKERS if text.startswith(mk, i)), None)
    if marker is not None:
        j = i + len(marker)
        m = _SPACE_RE.match(text, j)
        if m:
            j = m.end()
        if not text.startswith(_OPEN, j):
            raise LexError(f"{marker} must be followed by a cartouche", i)
        return TokenKind.FORMAL_COMMENT, _scan_cartouche(text, j)
    m = _WORD_RE.match(text, i)
    if m and m.end() > i:
        i = m.end()
        # A long name never ends in a dot: `qed.` is `qed` followed by `.`
        while text[i - 1] == "." and i - 1 > start:
            i -= 1
        return TokenKind.WORD, i
    m = _SYMBOL_RE.match(text, i)
    assert m is not None
    return TokenKind.SYMBOL, m.end()


# Reading a text makes one small tuple per token (hundreds of thousands per MB) and no
# reference cycles; the cyclic collector would traverse them again and again while they
# are made, about 40% of the time of reading a large text. It is paused while a large
# text is read. Pauses are counted, so that concurrent readers (threads) or nested ones
# resume it once, and only if it was running when the first began.
LARGE_TEXT = 100_000
_pause_lock = threading.Lock()
_pauses = 0
_resume = False


@contextlib.contextmanager
def reading(text: str) -> Iterator[None]:
    """Around the reading of ``text``: the cyclic garbage collector pauses if it is large."""
    global _pauses, _resume
    if len(text) < LARGE_TEXT:
        yield
        return
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()


def describe_lex_error(text: str, error: LexError) -> str:
    return f"{error} at line {LineIndex(text).line(error.index)}"
