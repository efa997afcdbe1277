"""Deciding "verified" from a ``use_theories`` reply, and explaining every failure.

A theory is verified only when all of these hold (engineering note, section 3.3):
the reply is FINISHED with ``ok``; every node is consolidated with failed = running =
unprocessed = 0 and not canceled; no error message; the target theorem exists and its
``thm_oracles`` report was read; and **no lemma of the submission** depends on an oracle
the user did not list as trusted (``isabelle.trusted_oracles``, empty by default).

The last rule is defence in depth: a ``sorry`` in a helper that the target never uses
still fails the whole submission (failure ``oracle``), and then no lemma of it counts as
verified, so none can enter the skill library.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from lego_prover.isabelle.lexer import LexError, TokenKind, tokenize
from lego_prover.isabelle.symbols import SymbolIndex, decode_symbols
from lego_prover.isabelle.theory import (
    AssembledTheory,
    BlockKind,
    MappedBlock,
    isabelle_span_starts,
)
from lego_prover.isabelle.versions import (
    GOAL_RE,
    ORACLES_PREFIX,
    SYNTAX_ERROR_HEADS,
    oracle_matches,
    oracle_names,
)


class FailureKind(StrEnum):
    GUARD = "guard"                  # rejected before Isabelle saw it
    SYNTAX = "syntax"                # outer/inner syntax, types, undefined names
    TACTIC = "tactic"                # a proof method failed or left goals
    TIMEOUT = "timeout"              # watchdog, check limit or client deadline
    ORACLE = "oracle"                # the theorem depends on an oracle (sorry, ...)
    MISSING_TARGET = "missing_target"
    SERVER = "server"                # crash, lost connection, FAILED task


@dataclass(frozen=True)
class ErrorReport:
    """One Isabelle error, placed in the text as the user or the LLM wrote it.

    ``line`` counts lines of that text (the file given to ``check``, the LLM's proof);
    ``theory_line`` and ``index`` are positions in the theory Isabelle actually checked
    (our header, preamble and ``thm_oracles`` lines around it).
    """

    message: str
    line: int | None                 # line in the text as written; None: not in it (preamble, header)
    block: str | None                # block name, or None
    block_index: int | None
    step: str | None                 # text of the failing command
    goal: str | None                 # goal text when Isabelle printed one
    kind: FailureKind
    index: int | None = None         # character index in the checked theory
    theory_line: int | None = None   # line in the checked theory

    def short(self) -> str:
        where = f"line {self.line}" if self.line else "no position"
        return f"{where}: {self.message.splitlines()[0] if self.message else ''}"


@dataclass(frozen=True)
class BlockVerdict:
    name: str | None
    index: int
    kind: str
    origin: str
    verified: bool                   # verified on its own, dependencies included
    errors: tuple[ErrorReport, ...]
    depends_on: tuple[str, ...]
    oracles: tuple[str, ...] | None  # None: no oracle report was read for it


@dataclass(frozen=True)
class Verdict:
    """The checker's answer about one exact theory text."""

    verified: bool
    failure: FailureKind | None
    reason: str
    theory_name: str
    theory_text: str
    target: str | None
    blocks: tuple[BlockVerdict, ...] = ()
    errors: tuple[ErrorReport, ...] = ()
    isabelle: str = ""
    session: str = ""
    elapsed_s: float = 0.0
    repairs: tuple[str, ...] = field(default_factory=tuple)
    trusted_oracles: tuple[str, ...] = ()   # trusted oracles the checked text relied on

    @property
    def first_error(self) -> ErrorReport | None:
        return self.errors[0] if self.errors else None

    @property
    def root_errors(self) -> tuple[ErrorReport, ...]:
        """The first error of each block: its root cause (later ones are often cascades)."""
        seen: dict[int | None, ErrorReport] = {}
        for err in self.errors:
            seen.setdefault(err.block_index, err)
        return tuple(seen.values())

    def verified_blocks(self) -> tuple[BlockVerdict, ...]:
        return tuple(b for b in self.blocks if b.verified and b.origin == "body")


_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_'.]*")


def classify_error(message: str) -> FailureKind:
    head = message.strip().lower()
    if "timeout" in head or "timed out" in head:
        return FailureKind.TIMEOUT
    if any(head.startswith(h) or h in head.splitlines()[0] for h in SYNTAX_ERROR_HEADS if head):
        return FailureKind.SYNTAX
    return FailureKind.TACTIC


def parse_oracles(message: str) -> tuple[str, ...] | None:
    """Oracle names from a ``thm_oracles`` report, ``None`` if the text is not one.

    Isabelle prints ``oracles:`` followed by one oracle per line (an empty list when the
    theorem is oracle-free). Anything else is not read as a report, and the verdict then
    fails closed.
    """
    text = decode_symbols(message).strip()
    if not text.lower().startswith(ORACLES_PREFIX):
        return None
    return oracle_names(text[len(ORACLES_PREFIX):])


def _status_problem(node: Mapping[str, Any]) -> str | None:
    status = node.get("status") or {}
    name = node.get("theory_name") or node.get("node_name") or "?"
    if status.get("canceled"):
        return f"{name}: canceled"
    for key in ("failed", "running", "unprocessed"):
        if int(status.get(key) or 0) != 0:
            return f"{name}: {key}={status.get(key)}"
    if not status.get("consolidated"):
        return f"{name}: not consolidated"
    return None


def commands_left(payload: Mapping[str, Any]) -> bool:
    """Whether a finished ``use_theories`` left commands running or waiting: the check was cut
    off (its limit or the watchdog), whatever errors the commands before had reported."""
    for node in payload.get("nodes") or []:
        status = node.get("status") or {}
        if int(status.get("running") or 0) or int(status.get("unprocessed") or 0) or not status.get("consolidated", True):
            return True
    return False


def running_command(assembled: AssembledTheory, payload: Mapping[str, Any]) -> int | None:
    """Where the one command still running in a theory that did not finish starts (a char
    index into ``assembled.text``), or None when the reply does not say.

    Isabelle reports no position for it, only its node's counts; with one ML thread commands
    run in order, so everything before the running one is done and everything after it is
    unprocessed. Trusted only when our count of the theory's spans is Isabelle's.
    """
    file_name = f"{assembled.name}.thy"
    for node in payload.get("nodes") or []:
        if str(node.get("node_name") or "").rsplit("/", 1)[-1] != file_name:
            continue
        status = node.get("status") or {}
        try:
            total, running = int(status.get("total") or 0), int(status.get("running") or 0)
            unprocessed = int(status.get("unprocessed") or 0)
        except (TypeError, ValueError):
            return None
        if running != 1:
            return None
        try:
            spans = isabelle_span_starts(assembled.text)
        except LexError:
            return None
        at = total - unprocessed - running
        if len(spans) != total or not 0 <= at < total:
            return None
        return spans[at]
    return None


def _messages(payload: Mapping[str, Any], file_name: str) -> list[dict[str, Any]]:
    """Messages of our theory's node (matched on the file's basename), plus top-level errors."""
    out: list[dict[str, Any]] = []
    for node in payload.get("nodes") or []:
        node_name = str(node.get("node_name") or "")
        if node_name.rsplit("/", 1)[-1] == file_name or not file_name:
            out.extend(m for m in node.get("messages") or [] if isinstance(m, dict))
    seen = {(m.get("message"), str(m.get("pos"))) for m in out}
    for err in payload.get("errors") or []:
        if isinstance(err, dict) and (err.get("message"), str(err.get("pos"))) not in seen:
            out.append({"kind": "error", **err})
    return out


def _locate(assembled: AssembledTheory, index: SymbolIndex, pos: Mapping[str, Any] | None
            ) -> tuple[int | None, MappedBlock | None, str | None, int | None]:
    if not pos:
        return None, None, None, None
    smap = assembled.source_map
    offset = pos.get("offset")
    line = pos.get("line")
    block = None
    step = None
    char: int | None = None
    if isinstance(offset, int):
        char = index.char_index(offset)
        line = line if isinstance(line, int) else index.line_of_offset(offset)
        block = smap.block_at_index(char)
        if block is not None:
            span = smap.step_at(block, index=char)
            step = span.text if span else None
    if block is None and isinstance(line, int):
        block = smap.block_at_line(line)
        if block is not None:
            span = smap.step_at(block, line=line)
            step = span.text if span else None
    return (line if isinstance(line, int) else None), block, step, char


def decide(
    assembled: AssembledTheory,
    *,
    finished: bool,
    payload: Mapping[str, Any],
    isabelle: str = "",
    session: str = "",
    elapsed_s: float = 0.0,
    trusted_oracles: Collection[str] = (),
) -> Verdict:
    """The verdict for one ``use_theories`` reply about ``assembled``.

    ``trusted_oracles`` are oracle names the user chose to accept (never by default); a
    verdict that relied on one lists it in ``Verdict.trusted_oracles``.
    """
    file_name = f"{assembled.name}.thy"
    trusted = frozenset(trusted_oracles)

    def is_trusted(oracle: str) -> bool:
        return any(oracle_matches(oracle, t) for t in trusted)

    def verdict(failure: FailureKind | None, reason: str, blocks: tuple[BlockVerdict, ...] = (),
                errors: tuple[ErrorReport, ...] = ()) -> Verdict:
        relied = tuple(sorted({o for b in blocks for o in (b.oracles or ()) if is_trusted(o)}))
        return Verdict(failure is None, failure, reason, assembled.name, assembled.text, assembled.target,
                       blocks, errors, isabelle, session, elapsed_s, trusted_oracles=relied)

    if not finished:
        return verdict(FailureKind.SERVER, f"Isabelle task failed: {payload.get('message') or 'task failed'}")

    index = SymbolIndex(assembled.text)
    smap = assembled.source_map
    errors: list[ErrorReport] = []
    oracle_reports: dict[int, tuple[str, ...]] = {}
    oracle_line_to_name = {line: name for name, line in smap.oracle_lines.items()}
    for msg in _messages(payload, file_name):
        kind = msg.get("kind")
        text = decode_symbols(str(msg.get("message") or ""))
        line, block, step, char = _locate(assembled, index, msg.get("pos"))
        if kind == "error":
            goal_m = GOAL_RE.search(text)
            if block is not None and block.origin == "check" and line in oracle_line_to_name:
                # thm_oracles on a name that does not exist: the lemma was never stored
                name = oracle_line_to_name[line]
                target_block = smap.by_name(name)
                block = target_block or block
            errors.append(ErrorReport(text, _source_line(block, line), block.name if block else None,
                                      block.index if block else None, step,
                                      goal_m.group(1).strip() if goal_m else None,
                                      classify_error(text), char, line))
        elif kind in ("writeln", "information", None) and line in oracle_line_to_name:
            oracles = parse_oracles(text)
            if oracles is not None:
                oracle_reports[line] = oracles

    # the first error of each block is its root cause; later ones are usually cascades
    errors.sort(key=lambda e: (e.block_index if e.block_index is not None else 10**9,
                               e.index if e.index is not None else 0, e.theory_line or 0))

    blocks = _block_verdicts(assembled, errors, oracle_reports, is_trusted)
    cheats = [(b.name, untrusted) for b in blocks
              if (untrusted := tuple(o for o in (b.oracles or ()) if not is_trusted(o)))]
    if cheats:
        # one oracle anywhere taints the submission: nothing of it counts as verified
        blocks = tuple(replace(b, verified=False) for b in blocks)
    status_problems = [p for p in (_status_problem(n) for n in payload.get("nodes") or []) if p]
    nodes_ok = bool(payload.get("ok")) and not status_problems and bool(payload.get("nodes"))
    target = assembled.target
    target_verdict = next((b for b in blocks if target is not None and b.name == target), None)
    if errors:
        first = errors[0]
        return verdict(first.kind, f"{first.block or 'theory'}: {first.short()}", blocks, tuple(errors))
    if not nodes_ok:
        timed_out = any("running" in p or "unprocessed" in p or "consolidated" in p for p in status_problems)
        kind = FailureKind.TIMEOUT if timed_out else FailureKind.SERVER
        detail = "; ".join(status_problems) or "no nodes in the reply"
        return verdict(kind, f"theory did not finish checking ({detail})", blocks)
    if cheats:
        cheater, oracles = cheats[0]
        others = f" (and {len(cheats) - 1} more lemma(s))" if len(cheats) > 1 else ""
        return verdict(FailureKind.ORACLE,
                       f"'{cheater or 'a block'}' depends on oracles: {', '.join(oracles)}{others}; a submission with an "
                       "oracle anywhere is not verified (isabelle.trusted_oracles lists the ones you accept)",
                       blocks)
    if target is not None:
        if target_verdict is None:
            return verdict(FailureKind.MISSING_TARGET, f"no theorem named '{target}'", blocks)
        if target_verdict.oracles is None:
            return verdict(FailureKind.ORACLE,
                           f"no readable thm_oracles report for '{target}'; not accepted", blocks)
        if not target_verdict.verified:
            return verdict(FailureKind.TACTIC, f"'{target}' depends on a lemma that did not verify", blocks)
    return verdict(None, "verified", blocks)


def _source_line(block: MappedBlock | None, theory_line: int | None) -> int | None:
    """A line of the checked theory in the coordinates of the text as written."""
    if block is None or block.source_line is None:
        return None
    if theory_line is None or not block.start_line <= theory_line <= block.end_line:
        return block.source_line  # e.g. a thm_oracles error moved to its lemma
    return block.source_line + theory_line - block.start_line


def _block_verdicts(assembled: AssembledTheory, errors: Sequence[ErrorReport],
                    oracle_reports: Mapping[int, tuple[str, ...]], is_trusted: Callable[[str], bool]
                    ) -> tuple[BlockVerdict, ...]:
    smap = assembled.source_map
    lemma_blocks = [b for b in smap.blocks if b.origin != "check"]
    names = {b.name for b in lemma_blocks if b.name}
    text = assembled.text
    out: list[BlockVerdict] = []
    verified_names: set[str] = set()
    preamble_ok = True
    for block in lemma_blocks:
        own = tuple(e for e in errors if e.block_index == block.index)
        words = set(_WORD_RE.findall(_strip_strings_and_comments(text[block.start:block.end])))
        deps = tuple(sorted(n for n in names & words if n != block.name and _defined_before(smap.blocks, n, block.index)))
        oracle_line = smap.oracle_lines.get(block.name or "")
        oracles = oracle_reports.get(oracle_line) if oracle_line is not None else None
        if block.origin == "preamble":
            ok = not own
            preamble_ok = preamble_ok and ok
        elif block.kind is BlockKind.LEMMA:
            ok = (preamble_ok and not own and oracles is not None and all(map(is_trusted, oracles))
                  and all(d in verified_names for d in deps))
        else:
            ok = preamble_ok and not own and all(d in verified_names for d in deps)
        if ok and block.name:
            verified_names.add(block.name)
        out.append(BlockVerdict(block.name, block.index, block.kind.value, block.origin, ok, own, deps, oracles))
    return tuple(out)


def _defined_before(blocks: Iterable[MappedBlock], name: str, index: int) -> bool:
    return any(b.name == name and b.index < index for b in blocks)


def _strip_strings_and_comments(text: str) -> str:
    try:
        return " ".join(t.text for t in tokenize(text) if t.kind in (TokenKind.WORD,))
    except LexError:
        return text
