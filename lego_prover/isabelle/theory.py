"""The theory model: split theory text into blocks, and assemble theories with a source map.

Usage::

    parsed = parse_theory(text)          # header (if any) + blocks
    for block in parsed.blocks:
        print(block.kind, block.name, block.start_line, block.statement)

    assembled = assemble_theory(
        TheoryHeader("T_1a2b", ["Complex_Main"]), preamble="", blocks=parsed.blocks,
    )
    assembled.source_map.locate(line=12)  # -> (block, step) that line 12 belongs to
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import NamedTuple

from lego_prover.isabelle.keywords import (
    COMMAND_WORDS,
    GOAL_COMMANDS,
    PROOF_COMMANDS,
)
from lego_prover.isabelle.lexer import LexError, LineIndex, Token, TokenKind, reading, tokenize

_PROOF_START = frozenset({"proof", "by", "apply", "using", "unfolding", "sorry", "oops", ".", "..",
                          "including", "supply", "subgoal", "sledgehammer", "done",
                          "\\<proof>"})
_IDENT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_']*\Z")


class BlockKind(Enum):
    LEMMA = "lemma"            # lemma / theorem / corollary / proposition
    DEFINITION = "definition"  # definition / fun / function / primrec / abbreviation / ...
    OTHER = "other"            # declare, lemmas, diagnostics, anything else


class Span(NamedTuple):
    """One command: its keyword and its text, with positions relative to its source.

    A tuple: a large text has tens of thousands of commands, and tuples are cheap to make.
    """

    command: str
    text: str
    start: int
    end: int
    start_line: int
    end_line: int


@dataclass(frozen=True)
class Block:
    """A top-level command with the proof commands that follow it."""

    kind: BlockKind
    command: str
    name: str | None
    text: str
    statement: str            # goal blocks: keyword .. last statement token; else ""
    start_line: int
    end_line: int
    spans: tuple[Span, ...]

    @property
    def steps(self) -> tuple[Span, ...]:
        """The proof commands of the block (everything after its first span)."""
        return self.spans[1:]


@dataclass(frozen=True)
class TheoryHeader:
    name: str
    imports: tuple[str, ...]

    def __init__(self, name: str, imports: Iterable[str]) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "imports", tuple(imports))

    def render(self) -> str:
        return f"theory {self.name}\n  imports {' '.join(self.imports)}\nbegin"


@dataclass(frozen=True)
class ParsedTheory:
    header: TheoryHeader | None
    header_text: str
    blocks: tuple[Block, ...]
    has_end: bool
    text_after_end: str


class Command(NamedTuple):
    """One command span with its tokens (positions and lines are those of the whole text)."""

    span: Span
    tokens: Sequence[Token]


def commands(text: str, tokens: Sequence[Token], lines: LineIndex) -> list[Command]:
    """Split a run of ``text``'s tokens into commands at every command keyword, as Isabelle does.

    ``tokens`` are ``tokenize(text)`` or a contiguous part of it (a body after its header);
    ``lines`` is the line index of ``text``. One pass: the text is read once, whatever its
    size. Isabelle splits commands at keyword tokens whatever the parentheses, so we do
    too. Text before the first command becomes a command ``""``.
    """
    word, symbol, space = TokenKind.WORD, TokenKind.SYMBOL, TokenKind.SPACE
    starts = [i for i, (kind, spelling, _, _) in enumerate(tokens)
              if spelling in COMMAND_WORDS and (kind is word or kind is symbol)]
    leading = bool(starts) and starts[0] == 0
    bounds = ([] if leading else [0]) + starts
    out: list[Command] = []
    line = lines.line
    for j, first in enumerate(bounds):
        last = bounds[j + 1] if j + 1 < len(bounds) else len(tokens)
        # trailing blanks belong to nobody; keep spans tight for the source map
        while last > first and tokens[last - 1].kind is space:
            last -= 1
        if last == first:
            continue
        chunk = tokens[first:last]
        command = chunk[0].text if (j > 0 or leading) else ""
        if command == "" and all(t.is_blank for t in chunk):
            continue
        start, end = chunk[0].start, chunk[-1].end
        span = Span(command, text[start:end], start, end, line(start), line(end - 1 if end > start else start))
        out.append(Command(span, chunk))
    return out


def command_spans(text: str, tokens: Sequence[Token] | None = None) -> list[Span]:
    """The command spans of ``text`` (see ``commands``); ``tokens``: ``tokenize(text)`` if given."""
    toks = tokens if tokens is not None else tokenize(text)
    return [c.span for c in commands(text, toks, LineIndex(text))]


def isabelle_span_starts(text: str) -> list[int | None]:
    """The spans Isabelle's document model makes of ``text``, in order: a command's start
    index, or None for a run of blanks and comments between commands (a span of its own).

    Isabelle's node status counts these spans, so with one ML thread (commands run in order)
    the status of a theory cut off in mid-check tells which command was running.
    """
    space, comment = TokenKind.SPACE, TokenKind.COMMENT
    out: list[int | None] = []
    content = ignored = False
    for kind, spelling, start, _ in tokenize(text):
        if kind is space or kind is comment:
            ignored = True
        elif spelling in COMMAND_WORDS and (kind is TokenKind.WORD or kind is TokenKind.SYMBOL):
            if ignored:
                out.append(None)
            out.append(start)
            content, ignored = True, False
        else:
            if not content:            # text before the first command is a span too
                out.append(start)
            content, ignored = True, False
    if ignored:
        out.append(None)
    return out


def _meaningful(tokens: Sequence[Token]) -> list[Token]:
    space, comment, formal = TokenKind.SPACE, TokenKind.COMMENT, TokenKind.FORMAL_COMMENT
    return [t for t in tokens if t.kind is not space and t.kind is not comment and t.kind is not formal]


def _block_name(command: str, toks: Sequence[Token]) -> str | None:
    """The name a block defines; ``toks``: its head's tokens without the blank ones."""
    if len(toks) < 2:
        return None
    cand = toks[1]
    if cand.kind is not TokenKind.WORD or not _IDENT_RE.match(cand.text):
        return None
    if command in GOAL_COMMANDS or command == "lemmas":
        # a name is followed by ':' or '[attrs]' or '=' (lemmas); `lemma foo` alone is odd
        rest = toks[2:3]
        if rest and rest[0].text in (":", "[", "="):
            return cand.text
        return None
    if cand.text in ("where", "for"):
        return None
    return cand.text


def _statement_text(text: str, meaningful: Sequence[Token]) -> str:
    """From the goal keyword to the end of the last token before the first proof command
    (``meaningful``: the head's tokens without the blank ones)."""
    end = meaningful[0].end
    for t in meaningful[1:]:
        if (t.kind is TokenKind.WORD or t.kind is TokenKind.SYMBOL) and t.text in _PROOF_START:
            break
        end = t.end
    return text[meaningful[0].start:end]


def _block_from_commands(source: str, group: Sequence[Command]) -> Block:
    head = group[0].span
    head_tokens = _meaningful(group[0].tokens)
    start, end = head.start, group[-1].span.end
    text = source[start:end]
    command = head.command
    if command in GOAL_COMMANDS:
        kind = BlockKind.LEMMA
        statement = _statement_text(source, head_tokens)
    elif command in _DEFINING:
        kind = BlockKind.DEFINITION
        statement = ""
    else:
        kind = BlockKind.OTHER
        statement = ""
    name = _block_name(command, head_tokens) if command else None
    rebased = tuple(
        Span(s.command, s.text, s.start - start, s.end - start,
             s.start_line - head.start_line + 1, s.end_line - head.start_line + 1)
        for s in (c.span for c in group)
    )
    return Block(kind, command, name, text, statement, head.start_line, group[-1].span.end_line, rebased)


_DEFINING = frozenset({
    "definition", "abbreviation", "fun", "function", "primrec", "primcorec", "inductive",
    "inductive_set", "coinductive", "datatype", "codatatype", "type_synonym", "typedef",
    "record", "consts", "lift_definition", "termination",
})


def blocks_of(source: str, cmds: Sequence[Command]) -> list[Block]:
    """Group commands into blocks: a top-level command + the proof commands after it."""
    groups: list[list[Command]] = []
    for cmd in cmds:
        if cmd.span.command in PROOF_COMMANDS and groups:
            groups[-1].append(cmd)
        else:
            groups.append([cmd])
    return [_block_from_commands(source, group) for group in groups]


def code_end(text: str) -> int:
    """Where a command's own text ends: after its last token that is not a comment or space.

    A span runs up to the next command, so it carries the comments written after it (the step
    comments of an LLM's proof: ``by simp\n  (* Step 2: ... *)``); a replacement or a copy of
    the command itself must leave them out.
    """
    try:
        tokens = tokenize(text)
    except LexError:
        return len(text.rstrip())
    return next((t.end for t in reversed(tokens) if not t.is_blank), 0)


def split_blocks(text: str) -> list[Block]:
    """Split a theory body (no header) into blocks: a top-level command + its proof."""
    return blocks_of(text, commands(text, tokenize(text), LineIndex(text)))


def header_of(tokens: Sequence[Token]) -> tuple[TheoryHeader, int]:
    """Parse ``theory NAME imports ... begin`` from a text's tokens.

    Returns the header and the index of the first token after ``begin``.
    """
    meaningful = ((i, t) for i, t in enumerate(tokens) if not t.is_blank)
    first, second = next(meaningful, None), next(meaningful, None)
    if first is None or second is None or first[1].text != "theory":
        raise ValueError("theory text does not start with 'theory NAME'")
    name = second[1].text
    imports: list[str] = []
    mode = ""
    for i, tok in meaningful:
        if tok.text == "begin":
            return TheoryHeader(name, imports), i + 1
        if tok.text in ("imports", "keywords", "abbrevs"):
            mode = tok.text
            continue
        if mode == "imports":
            imports.append(tok.text)
    raise ValueError("theory header has no 'begin'")


def parse_header(text: str) -> tuple[TheoryHeader, int]:
    """Parse ``theory NAME imports ... begin``; returns the header and the index after ``begin``."""
    tokens = tokenize(text)
    header, after = header_of(tokens)
    return header, tokens[after - 1].end


def parse_theory(text: str) -> ParsedTheory:
    """Parse a whole theory (or a bare body): header, blocks, and what follows ``end``.

    The text is tokenized once; every line number is a line of ``text``.
    """
    with reading(text):
        return _parse_theory(text)


def _parse_theory(text: str) -> ParsedTheory:
    tokens = tokenize(text)
    lines = LineIndex(text)
    first = next((t for t in tokens if not t.is_blank), None)
    header: TheoryHeader | None = None
    header_text = ""
    body_from = 0
    if first is not None and text.startswith("theory", first.start):
        header, body_from = header_of(tokens)
        header_text = text[first.start:tokens[body_from - 1].end]  # leading comments dropped
    cmds = commands(text, tokens[body_from:], lines)
    has_end = False
    after = ""
    if header is not None:
        for k, cmd in enumerate(cmds):
            if cmd.span.command == "end":
                has_end = True
                after = text[cmd.span.start + len("end"):]
                cmds = cmds[:k]
                break
    return ParsedTheory(header, header_text, tuple(blocks_of(text, cmds)), has_end, after.strip())


def shift_block(block: Block, lines: int) -> Block:
    """The block with its line numbers moved down by ``lines`` (to the coordinates of a larger text)."""
    if not lines:
        return block
    return Block(block.kind, block.command, block.name, block.text, block.statement,
                 block.start_line + lines, block.end_line + lines, block.spans)


# --------------------------------------------------------------------------- assembly


@dataclass(frozen=True)
class MappedBlock:
    """Where a block landed in an assembled theory."""

    index: int
    name: str | None
    kind: BlockKind
    origin: str               # "preamble", "body", "check" (our own commands)
    start_line: int
    end_line: int
    start: int                # char index in the assembled text
    end: int
    steps: tuple[Span, ...]   # absolute char and line positions
    source_line: int | None = None  # body blocks: where the block starts in the text as written


@dataclass(frozen=True)
class SourceMap:
    blocks: tuple[MappedBlock, ...]
    oracle_lines: dict[str, int] = field(default_factory=dict)  # lemma name -> thm_oracles line

    def block_at_line(self, line: int) -> MappedBlock | None:
        for block in self.blocks:
            if block.start_line <= line <= block.end_line:
                return block
        return None

    def block_at_index(self, index: int) -> MappedBlock | None:
        for block in self.blocks:
            if block.start <= index < block.end:
                return block
        return None

    def step_at(self, block: MappedBlock, *, index: int | None = None, line: int | None = None) -> Span | None:
        for step in block.steps:
            if index is not None and step.start <= index < step.end:
                return step
        if line is not None:
            for step in block.steps:
                if step.start_line <= line <= step.end_line:
                    return step
        return None

    def by_name(self, name: str) -> MappedBlock | None:
        for block in self.blocks:
            if block.name == name:
                return block
        return None


@dataclass(frozen=True)
class AssembledTheory:
    name: str
    text: str
    source_map: SourceMap
    target: str | None


def assemble_theory(
    header: TheoryHeader,
    *,
    preamble: str = "",
    blocks: Sequence[Block],
    target: str | None = None,
    oracle_checks: Sequence[str] = (),
) -> AssembledTheory:
    """Build ``header + preamble + blocks + thm_oracles checks + end``, recording positions.

    ``oracle_checks`` are lemma names; each gets its own ``thm_oracles`` line so that its
    oracles (and its existence) can be read from the message at that line.
    """
    parts: list[str] = [header.render(), ""]
    mapped: list[MappedBlock] = []
    # length and newlines of "\n".join(parts) so far, kept as parts are added (joining
    # and counting the whole text for every block made assembly quadratic)
    length, newlines = len(parts[0]) + 1, parts[0].count("\n") + 1

    def append(part: str) -> None:
        nonlocal length, newlines
        parts.append(part)
        length += 1 + len(part)
        newlines += 1 + part.count("\n")

    def add(text: str, *, name: str | None, kind: BlockKind, origin: str, spans: Sequence[Span],
            source_line: int | None = None) -> None:
        # every piece starts on its own line, separated by one blank line
        start, start_line = length + 1, newlines + 2
        append(text)
        end_line = start_line + text.count("\n")
        steps = tuple(
            Span(s.command, s.text, start + s.start, start + s.end,
                 start_line + s.start_line - 1, start_line + s.end_line - 1)
            for s in spans
        )
        mapped.append(MappedBlock(len(mapped), name, kind, origin, start_line, end_line,
                                  start, start + len(text), steps, source_line))
        append("")

    if preamble.strip():
        for block in split_blocks(preamble.strip()):
            add(block.text, name=block.name, kind=block.kind, origin="preamble", spans=block.spans)
    for block in blocks:
        add(block.text, name=block.name, kind=block.kind, origin="body", spans=block.spans,
            source_line=block.start_line)
    oracle_lines: dict[str, int] = {}
    for name in oracle_checks:
        line_text = f"thm_oracles {name}"
        add(line_text, name=None, kind=BlockKind.OTHER, origin="check",
            spans=(Span("thm_oracles", line_text, 0, len(line_text), 1, 1),))
        oracle_lines[name] = mapped[-1].start_line
    parts.append("end")
    text = "\n".join(parts) + "\n"
    return AssembledTheory(header.name, text, SourceMap(tuple(mapped), oracle_lines), target)


def rename_facts(text: str, mapping: Mapping[str, str]) -> str:
    """Rename lemma names (their declaration and every reference) outside strings and comments.

    Fact names never occur inside inner-syntax strings, so outer word tokens are exactly
    the places to change: ``lemma foo:``, ``using foo(2)``, ``simp add: foo``.
    """
    if not mapping:
        return text
    out: list[str] = []
    for tok in tokenize(text):
        out.append(mapping.get(tok.text, tok.text) if tok.kind is TokenKind.WORD else tok.text)
    return "".join(out)


@lru_cache(maxsize=64)
def checked_blocks(theory_text: str) -> tuple[Block, ...]:
    """The body blocks of a theory the checker assembled: without our ``thm_oracles`` lines.

    Cached: after a check, harvesting reads the same text for every lemma it keeps.
    """
    return tuple(b for b in parse_theory(theory_text).blocks if b.command != "thm_oracles")


def named_lemmas(theory_text: str) -> dict[str, Block]:
    """Lemma blocks of a checked theory by name (the first definition of a name wins)."""
    out: dict[str, Block] = {}
    for block in checked_blocks(theory_text):
        if block.name and block.kind is BlockKind.LEMMA:
            out.setdefault(block.name, block)
    return out
