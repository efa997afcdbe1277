"""The soundness guard: what an LLM-written proof may contain before Isabelle sees it.

Usage::

    guard = SoundnessGuard(GuardContext(target="mathd_algebra_1", statement=problem.formal_statement,
                                        imports=("Complex_Main",)))
    result = guard.check(llm_text)
    if not result.ok:
        print(result.rejections[0].message)

Commands are allow-listed (lemmas and their Isar/apply proofs, ``lemmas``, ``declare``);
words that skip proofs, extend the logic or run ML are rejected wherever they stand
outside strings and comments. The semantic half of the guard (``thm_oracles``) runs
inside Isabelle and is read by the verdict logic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from lego_prover.isabelle.keywords import (
    ALLOWED_PROOF_COMMANDS,
    ALLOWED_TOP_COMMANDS,
    FORBIDDEN_WORDS,
    GOAL_COMMANDS,
    HARMLESS_CONTROL_SYMBOLS,
    IMPLIED_IMPORTS,
    ML_PREFIXES,
    PROOF_COMMANDS,
)
from lego_prover.isabelle.lexer import (
    LexError,
    LineIndex,
    Token,
    TokenKind,
    describe_lex_error,
    reading,
    tokenize,
)
from lego_prover.isabelle.symbols import normalize_unicode
from lego_prover.isabelle.theory import (
    Block,
    BlockKind,
    Command,
    blocks_of,
    commands,
    header_of,
)

PLACEHOLDER_COMMANDS = frozenset({"sledgehammer", "try0"})


class RejectionCode(StrEnum):
    MALFORMED = "malformed"
    SKIPPED_PROOF = "skipped_proof"
    QUICK_AND_DIRTY = "quick_and_dirty"
    AXIOM = "axiom"
    ORACLE = "oracle"
    ML_CODE = "ml_code"
    HOST_IO = "host_io"
    CONFIG_ATTRIBUTE = "config_attribute"
    ANTIQUOTATION = "antiquotation"
    COMMAND_NOT_ALLOWED = "command_not_allowed"
    STRAY_TEXT = "stray_text"
    IMPORTS_CHANGED = "imports_changed"
    TEXT_AFTER_END = "text_after_end"
    MISSING_TARGET = "missing_target"
    STATEMENT_CHANGED = "statement_changed"
    NAME_CLASH = "name_clash"
    PLACEHOLDER = "placeholder"
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class Rejection:
    code: RejectionCode
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"[{self.code.value}] {where}{self.message}"


@dataclass(frozen=True)
class GuardContext:
    """What the guard compares the text against."""

    target: str | None                       # theorem name; None: no target required
    statement: str | None = None             # exact formal statement (whitespace-normalised)
    imports: tuple[str, ...] = ()            # our imports; a header in the text must match
    reserved_names: frozenset[str] = frozenset()  # names the text may not (re)define
    max_bytes: int | None = None             # a longer text (UTF-8 bytes) is refused unread; None: no limit


@dataclass(frozen=True)
class GuardResult:
    text: str                                # the normalised body (no header, no end)
    blocks: tuple[Block, ...]                # line numbers are those of the text as written
    rejections: tuple[Rejection, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.rejections

    @property
    def summary(self) -> str:
        return "; ".join(str(r) for r in self.rejections) if self.rejections else "accepted"


_ML_STARTS = tuple(p + "_" for p in ML_PREFIXES)
_WATCHED_WORDS = frozenset(FORBIDDEN_WORDS) | frozenset(ML_PREFIXES)


def _previous_text(tokens: Sequence[Token], i: int) -> str | None:
    """The text of the last token before ``tokens[i]`` that is not blank."""
    j = i - 1
    while j >= 0 and tokens[j].is_blank:
        j -= 1
    return tokens[j].text if j >= 0 else None


def _suspects(tokens: Sequence[Token]) -> list[int]:
    """Indices of the tokens a token rule looks at: forbidden and ML words, ``\\<proof>``,
    ``[`` (it may open ``[[``), verbatim text, cartouches and formal comments. One
    comprehension over the tokens: most are blanks and harmless words."""
    word, symbol = TokenKind.WORD, TokenKind.SYMBOL
    verbatim, cartouche, formal = TokenKind.VERBATIM, TokenKind.CARTOUCHE, TokenKind.FORMAL_COMMENT
    return [i for i, (kind, spelling, _, _) in enumerate(tokens)
            if (kind is word and (spelling in _WATCHED_WORDS or spelling.startswith(_ML_STARTS)))
            or (kind is symbol and (spelling == "[" or spelling == "\\<proof>"))
            or kind is verbatim or kind is cartouche or kind is formal]


def normalize_statement(text: str) -> str:
    """Statement text with comments dropped and every whitespace run made one space.

    The goal keyword is dropped too: ``lemma NAME: P`` and ``theorem NAME: P`` state the
    same proposition.
    """
    toks = [t for t in tokenize(normalize_unicode(text)) if not t.is_blank]
    if toks and toks[0].text in GOAL_COMMANDS:
        toks = toks[1:]
    return " ".join(re.sub(r"\s+", " ", t.text.strip()) for t in toks)


def _unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


def canonical_import(name: str) -> str:
    """``"HOL.Main"`` -> ``Main``: quotes dropped, HOL's own theories by their plain name."""
    plain = _unquote(name.strip())
    return plain[len("HOL."):] if plain.startswith("HOL.") and plain != "HOL.HOL" else (
        "HOL" if plain == "HOL.HOL" else plain)


def available_imports(imports: Sequence[str]) -> frozenset[str]:
    """Every theory name a header may import when the checked theory imports ``imports``."""
    names = {canonical_import(i) for i in imports}
    for name in list(names):
        names |= IMPLIED_IMPORTS.get(name, frozenset())
    return frozenset(names)


class SoundnessGuard:
    """Checks LLM text against the soundness rules; never talks to Isabelle."""

    def __init__(self, context: GuardContext, *, allow_placeholders: bool = True) -> None:
        self._ctx = context
        self._allow_placeholders = allow_placeholders

    def check(self, raw_text: str) -> GuardResult:
        too_large = self._too_large(raw_text)
        if too_large is not None:
            return GuardResult("", (), (too_large,))  # not read: the text itself stays with its caller
        with reading(raw_text):
            return self._check(raw_text)

    def _too_large(self, text: str) -> Rejection | None:
        limit = self._ctx.max_bytes
        if limit is None or len(text) * 4 <= limit:  # a character is at most 4 bytes in UTF-8
            return None
        size = len(text.encode("utf-8", errors="surrogatepass"))
        if size <= limit:
            return None
        return Rejection(RejectionCode.TOO_LARGE, f"the text is {size:,} bytes, more than a proof may be "
                                                  f"(isabelle.max_proof_bytes = {limit:,})")

    def _check(self, raw_text: str) -> GuardResult:
        text = normalize_unicode(raw_text)
        try:
            tokens = tokenize(text)
        except LexError as exc:
            return GuardResult(text, (), (Rejection(RejectionCode.MALFORMED,
                                                    f"not well-formed Isabelle text: {describe_lex_error(text, exc)}",
                                                    LineIndex(text).line(exc.index)),))
        # the text is tokenized once; every rule below reads these tokens and lines
        lines = LineIndex(text)
        rejections: list[Rejection] = []
        body_from = self._strip_header(text, tokens, lines, rejections)
        body_tokens = tokens[body_from:]
        body_start = body_tokens[0].start if body_tokens else len(text)
        rejections.extend(self._token_rules(body_tokens, lines))
        cmds, body_end = self._strip_end(text, commands(text, body_tokens, lines), rejections)
        rejections.extend(self._command_rules(cmds))
        blocks = (tuple(blocks_of(text, cmds))
                  if not any(r.code is RejectionCode.MALFORMED for r in rejections) else ())
        rejections.extend(self._block_rules(blocks))
        return GuardResult(text[body_start:body_end].strip("\n"), blocks, tuple(_dedupe(rejections)))

    def check_preamble(self, raw_text: str) -> tuple[Rejection, ...]:
        """Rules that hold even for a problem's own preamble, where definitions are allowed:
        no ML, axioms, oracles, skipped proofs, configuration options or antiquotations."""
        text = normalize_unicode(raw_text)
        try:
            tokens = tokenize(text)
        except LexError as exc:
            return (Rejection(RejectionCode.MALFORMED, f"not well-formed Isabelle text: {describe_lex_error(text, exc)}",
                              LineIndex(text).line(exc.index)),)
        return tuple(_dedupe(self._token_rules(tokens, LineIndex(text))))

    # ------------------------------------------------------------------ pieces

    def _strip_header(self, text: str, tokens: Sequence[Token], lines: LineIndex, out: list[Rejection]) -> int:
        """The index of the first token after the theory header (0 when there is none)."""
        first = next(((i, t) for i, t in enumerate(tokens) if not t.is_blank), None)
        if first is None or first[1].text != "theory":
            return 0
        try:
            header, body_from = header_of(tokens)
        except ValueError as exc:
            out.append(Rejection(RejectionCode.MALFORMED, f"broken theory header: {exc}", 1))
            return first[0] + 1
        if self._ctx.imports:
            allowed = available_imports(self._ctx.imports)
            unknown = [_unquote(i) for i in header.imports if canonical_import(i) not in allowed]
            if unknown:
                out.append(Rejection(RejectionCode.IMPORTS_CHANGED,
                                     f"the theory header imports {', '.join(unknown)}, which this session does "
                                     f"not provide; a header may import only what lego-prover loads: "
                                     f"{' '.join(_unquote(i) for i in self._ctx.imports)} (or less)",
                                     lines.line(first[1].start)))
        # whatever the header says, the checked theory gets our header
        return body_from

    def _strip_end(self, text: str, cmds: list[Command], out: list[Rejection]) -> tuple[list[Command], int]:
        """The commands before ``end`` and where the body ends in ``text``."""
        for k, cmd in enumerate(cmds):
            span = cmd.span
            if span.command == "end":
                if text[span.end:].strip():
                    out.append(Rejection(RejectionCode.TEXT_AFTER_END,
                                         "text after 'end' (a second theory or a hidden command)", span.start_line))
                return cmds[:k], span.start
        return cmds, len(text)

    def _token_rules(self, tokens: Sequence[Token], lines: LineIndex) -> list[Rejection]:
        out: list[Rejection] = []
        for i in _suspects(tokens):
            tok = tokens[i]
            kind = tok.kind
            if kind is TokenKind.WORD:
                word = tok.text
                if word in FORBIDDEN_WORDS:
                    code = RejectionCode(FORBIDDEN_WORDS[word])
                    out.append(Rejection(code, f"'{word}' is not allowed in a proof", lines.line(tok.start)))
                else:
                    out.append(Rejection(RejectionCode.ML_CODE, f"'{word}' runs ML code", lines.line(tok.start)))
            elif kind is TokenKind.SYMBOL:
                if tok.text == "\\<proof>":
                    out.append(Rejection(RejectionCode.SKIPPED_PROOF, "'\\<proof>' skips a proof", lines.line(tok.start)))
                if tok.text == "[" and _previous_text(tokens, i) == "[":
                    out.append(Rejection(RejectionCode.CONFIG_ATTRIBUTE,
                                         "'[[...]]' configuration options are not allowed (they can enable quick_and_dirty)",
                                         lines.line(tok.start)))
            elif kind is TokenKind.VERBATIM:
                out.append(Rejection(RejectionCode.ANTIQUOTATION, "verbatim text {* ... *} is not allowed",
                                     lines.line(tok.start)))
            else:
                bad = _antiquotation_in(tok.text)
                if bad:
                    out.append(Rejection(RejectionCode.ANTIQUOTATION,
                                         f"antiquotation '{bad}' inside a cartouche may run ML", lines.line(tok.start)))
        return out

    def _command_rules(self, cmds: Sequence[Command]) -> list[Rejection]:
        out: list[Rejection] = []
        spans = [c.span for c in cmds]
        for span in spans:
            line = span.start_line
            cmd = span.command
            if cmd == "":
                out.append(Rejection(RejectionCode.STRAY_TEXT,
                                     f"text that is not an Isabelle command: {span.text[:60]!r}", line))
            elif cmd in PLACEHOLDER_COMMANDS:
                if not self._allow_placeholders:
                    out.append(Rejection(RejectionCode.PLACEHOLDER,
                                         f"'{cmd}' placeholder left in a final proof", line))
            elif cmd in ("theory", "begin"):
                out.append(Rejection(RejectionCode.TEXT_AFTER_END, "a second theory header", line))
            elif cmd not in ALLOWED_TOP_COMMANDS and cmd not in ALLOWED_PROOF_COMMANDS:
                if cmd in FORBIDDEN_WORDS or cmd == "end":
                    continue  # already reported by the word or end rules
                out.append(Rejection(RejectionCode.COMMAND_NOT_ALLOWED,
                                     f"command '{cmd}' is not allowed in a proof (allowed: lemmas, their proofs, lemmas/declare)",
                                     line))
        if spans and spans[0].command in PROOF_COMMANDS:
            out.append(Rejection(RejectionCode.STRAY_TEXT,
                                 f"proof command '{spans[0].command}' before any lemma", spans[0].start_line))
        return out

    def _block_rules(self, blocks: Sequence[Block]) -> list[Rejection]:
        out: list[Rejection] = []
        target = self._ctx.target
        seen: dict[str, int] = {}
        target_blocks: list[Block] = []
        for block in blocks:
            line = block.start_line
            if block.name is None:
                continue
            if block.name in seen:
                out.append(Rejection(RejectionCode.NAME_CLASH,
                                     f"'{block.name}' is defined twice (first at line {seen[block.name]})", line))
            seen.setdefault(block.name, line)
            if block.name in self._ctx.reserved_names and block.name != target:
                out.append(Rejection(RejectionCode.NAME_CLASH,
                                     f"'{block.name}' is already defined in the theory context", line))
            if target is not None and block.name == target:
                target_blocks.append(block)
        if target is None:
            return out
        goals = [b for b in target_blocks if b.kind is BlockKind.LEMMA]
        if not goals:
            out.append(Rejection(RejectionCode.MISSING_TARGET, f"no theorem named '{target}' in the proof"))
            return out
        for extra in target_blocks[1:]:
            out.append(Rejection(RejectionCode.NAME_CLASH,
                                 f"a second block is named like the theorem '{target}'", extra.start_line))
        if self._ctx.statement is not None:
            given = normalize_statement(self._ctx.statement)
            written = normalize_statement(goals[0].statement)
            if given != written:
                out.append(Rejection(RejectionCode.STATEMENT_CHANGED,
                                     f"the statement of '{target}' differs from the given formal statement",
                                     goals[0].start_line))
        return out


_CONTROL_RE = re.compile(r"\\<\^[A-Za-z][A-Za-z0-9_']*>")


def _antiquotation_in(text: str) -> str | None:
    if "@{" in text:
        return "@{"
    for m in _CONTROL_RE.finditer(text):
        if m.group(0) not in HARMLESS_CONTROL_SYMBOLS:
            return m.group(0)
    return None


def _dedupe(items: Sequence[Rejection]) -> list[Rejection]:
    seen: set[tuple[RejectionCode, int | None]] = set()
    out: list[Rejection] = []
    for r in items:
        key = (r.code, r.line)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
