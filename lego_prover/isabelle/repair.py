"""Tactic repair: replace ``sledgehammer`` placeholders (and, with ``repair_failing_by``,
failing ``by`` steps, and ``sorry``/``oops``, as LEGO-Prover does) by the first
tactic of a list that closes the step.

Placeholders: for each site and each candidate a variant theory is built in which that
site gets the candidate and every other site gets ``sorry``. Failing ``by`` steps
(``extra_sites``: the first failing step of each block, see ``failing_by_sites``) are
batched: one variant per candidate, in which every such site gets that candidate (the
blocks are checked one after another, so each site's own step says whether the candidate
closed it); only a variant that did not finish in time is retried site by site. For each site the first candidate in list order whose step
shows no error wins, so the list is tried in waves as wide as the session pool and stops
once every site has its tactic. Sledgehammer itself is tried last for sites no candidate
closed. A candidate that is the step's own text is never chosen: that step already failed
in the whole check, and Sledgehammer can answer with the very proof that failed.

A variant is a whole theory, so its time limit is ``repair_timeout_s`` (LEGO-Prover's limit
for the one step) on top of ``baseline_s``, what a whole check of the text took in Isabelle:
a proof whose other steps take 15 s is not a proof no candidate can repair. The ``sorry``
variants are internal and are never accepted: the checker runs the guard and a whole check
on the final text.

A repaired step can uncover a failure that the failed step hid (a fact it stated was
missing further on), so the checker repairs and checks again, up to ``repair_rounds``
times, as LEGO-Prover's step-by-step check does in one pass.

``sorry_to_placeholders`` turns ``sorry`` and ``oops`` commands into ``sledgehammer``
placeholders (LEGO-Prover's checker does the same), so they are repaired, never accepted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lego_prover.config import IsabelleSettings
from lego_prover.isabelle.context import Submission, TheoryContext
from lego_prover.isabelle.guard import PLACEHOLDER_COMMANDS
from lego_prover.isabelle.lexer import LexError
from lego_prover.isabelle.symbols import SymbolIndex, decode_symbols
from lego_prover.isabelle.theory import (
    AssembledTheory,
    Block,
    MappedBlock,
    Span,
    code_end,
    shift_block,
    split_blocks,
)
from lego_prover.isabelle.verdict import (
    ErrorReport,
    FailureKind,
    Verdict,
    commands_left,
    running_command,
)
from lego_prover.isabelle.versions import (
    NO_SUCH_PROVER_RE,
    TRY_THIS_RE,
    UNREADABLE_FACT_RE,
    sledgehammer_call,
    sledgehammer_wall_s,
)

log = logging.getLogger(__name__)


class VariantChecker(Protocol):
    """What repair needs from a checker: assemble a variant and submit it raw (no guard)."""

    def assemble(self, blocks: Sequence[Block], context: TheoryContext, *, name: str | None = None
                 ) -> AssembledTheory: ...

    async def submit(self, assembled: AssembledTheory, *, check_limit_s: float | None = None,
                     patient: bool = False) -> Submission: ...


@dataclass(frozen=True)
class Site:
    block: int            # index into the block list
    span: int             # index into the block's spans
    original: str


@dataclass(frozen=True)
class RepairOutcome:
    blocks: tuple[Block, ...]
    log: tuple[str, ...]
    unresolved: str = ""  # non-empty: a placeholder no tactic closed
    server_error: str = ""  # non-empty: Isabelle itself failed a candidate check (not the tactics' fault)


def find_sites(blocks: Sequence[Block]) -> list[Site]:
    """The placeholder commands (``sledgehammer``, ``try0``) of the blocks."""
    return [Site(bi, si, span.text[:code_end(span.text)])
            for bi, block in enumerate(blocks)
            for si, span in enumerate(block.spans)
            if span.command in PLACEHOLDER_COMMANDS]


ABANDONED = frozenset({"sorry", "oops"})


def sorry_to_placeholders(text: str) -> str:
    """``sorry`` and ``oops`` commands (not the words in comments or strings) become ``sledgehammer``."""
    try:
        blocks = split_blocks(text)
    except (LexError, ValueError):
        return text        # the guard says what is wrong with it
    edits: list[tuple[int, int]] = []
    cursor = 0
    for block in blocks:
        at = text.find(block.text, cursor)
        if at < 0:
            return text
        cursor = at + len(block.text)
        edits += [(at + span.start, len(span.command)) for span in block.spans if span.command in ABANDONED]
    for start, length in reversed(edits):
        text = text[:start] + "sledgehammer" + text[start + length:]
    return text


def same_step(candidate: str, original: str) -> bool:
    """Whether a candidate is the step's own text (up to layout): no repair at all."""
    return candidate.split() == original.split()


def failing_by_sites(assembled: AssembledTheory, verdict: Verdict) -> list[Site]:
    """Per body block, the ``by`` step of its first located error, if that error is in one.

    Only the first: a failed step leaves its goal open, so every later command of the block
    fails after it ("Illegal application of proof command"), whatever its own merit; those
    steps must be judged again once the first is repaired, as LEGO-Prover's checker, which
    runs the proof step by step, does. A block whose first error names a fact another failing
    block was to prove waits the same way. Multi-line ``by`` steps count too (LEGO-Prover
    repairs every step that starts with ``by``); the comments after a step are not part of it.
    """
    body = _body(assembled)
    located = sorted((e for e in verdict.errors if e.index is not None), key=lambda e: e.index or 0)
    first: dict[int, ErrorReport] = {}
    for err in located:
        for bi, mapped in enumerate(body):
            if mapped.start <= (err.index or 0) < mapped.end:
                first.setdefault(bi, err)
    failing_names = {body[bi].name for bi in first if body[bi].name}
    sites: list[Site] = []
    for bi, err in sorted(first.items()):
        if any(f'Undefined fact: "{name}' in err.message for name in failing_names if name != body[bi].name):
            continue
        site = _by_step_at(body, err.index or 0)
        if site is not None:
            sites.append(site)
    return sites


def running_by_site(submission: Submission) -> Site | None:
    """The ``by`` step that was still running when a check was cut off (LEGO-Prover limits
    each step, so a step that runs past it fails and is repaired), or None. Only for a
    session with one ML thread (``isabelle.threads = 1``), where commands run in order."""
    if submission.reply is None:
        return None
    at = running_command(submission.assembled, submission.reply.payload)
    return None if at is None else _by_step_at(_body(submission.assembled), at)


def _body(assembled: AssembledTheory) -> list[MappedBlock]:
    """The blocks of the text being checked (not our preamble or ``thm_oracles`` lines)."""
    return [b for b in assembled.source_map.blocks if b.origin == "body"]


def _by_step_at(body: Sequence[MappedBlock], index: int) -> Site | None:
    """The ``by`` step of ``body`` that holds char ``index`` of the assembled text, if any."""
    for bi, mapped in enumerate(body):
        if mapped.start <= index < mapped.end:
            for si, step in enumerate(mapped.steps):
                if step.command == "by" and step.start <= index < step.end:
                    return Site(bi, si, step.text[:code_end(step.text)])
    return None


def substitute(blocks: Sequence[Block], choices: dict[tuple[int, int], str]) -> tuple[Block, ...]:
    """Blocks with the commands at ``(block, span)`` replaced by new text, re-parsed.

    Only the command is replaced: the comments after it are kept as written.
    """
    out: list[Block] = []
    for bi, block in enumerate(blocks):
        edits = sorted(((si, text) for (b, si), text in choices.items() if b == bi), reverse=True)
        if not edits:
            out.append(block)
            continue
        text = block.text
        for si, new in edits:
            span: Span = block.spans[si]
            text = text[:span.start] + new + text[span.start + code_end(span.text):]
        (reparsed,) = split_blocks(text)
        out.append(shift_block(reparsed, block.start_line - 1))  # keep the lines of the text as written
    return tuple(out)


class Repairer:
    def __init__(self, checker: VariantChecker, settings: IsabelleSettings, *, baseline_s: float = 0.0) -> None:
        self._checker = checker
        self._settings = settings
        self._server_error = ""
        # a variant runs the whole theory: the candidate's own limit comes on top of the rest's time
        self._limit_s = min(settings.repair_timeout_s + baseline_s, max(settings.check_limit_s, settings.repair_timeout_s))
        self._baseline_s = baseline_s
        self._in_order = settings.commands_in_order

    async def repair(self, blocks: Sequence[Block], context: TheoryContext,
                     extra_sites: Sequence[Site] = ()) -> RepairOutcome:
        placeholders = find_sites(blocks)
        sites = placeholders + list(extra_sites)
        if not sites:
            return RepairOutcome(tuple(blocks), ())
        tactics = list(self._settings.repair_tactics)
        works: dict[tuple[Site, str], bool] = {}
        open_placeholders, open_batched = list(placeholders), list(extra_sites)
        # waves as wide as the pool: the first tactic that closes a site wins, so once every site
        # has one, later tactics cannot change the choice and are not run (LEGO-Prover tries its
        # list in order too); a wave costs no latency over running all at once on that many slots
        wave = max(1, self._settings.workers * self._settings.checks_per_worker)
        for first in range(0, len(tactics), wave):
            chunk = tactics[first:first + wave]
            await self._wave(blocks, sites, open_placeholders, open_batched, chunk, tactics, works, context)
            closed = {s for s in sites if any(works.get((s, t)) for t in tactics[:first + wave])}
            open_placeholders = [s for s in open_placeholders if s not in closed]
            open_batched = [s for s in open_batched if s not in closed]
            if not open_placeholders and not open_batched:
                break
        chosen: dict[tuple[int, int], str] = {}
        log: list[str] = []
        for site in sites:
            for tactic in tactics:
                if works.get((site, tactic)):
                    chosen[(site.block, site.span)] = tactic
                    log.append(f"{site.original!r} -> {tactic!r}")
                    break
        missing = [s for s in sites if (s.block, s.span) not in chosen]
        if missing and self._settings.sledgehammer:
            found = await asyncio.gather(*(self._sledgehammer(blocks, sites, s, context) for s in missing))
            for site, proof in zip(missing, found, strict=True):
                if proof and not same_step(proof, site.original):
                    chosen[(site.block, site.span)] = proof
                    log.append(f"{site.original!r} -> {proof!r} (sledgehammer)")
        unresolved = [s for s in sites if (s.block, s.span) not in chosen]
        new_blocks = substitute(blocks, chosen)
        if unresolved:
            where = ", ".join(f"'{blocks[s.block].name or 'block'}' step {s.original!r}" for s in unresolved)
            return RepairOutcome(new_blocks, tuple(log), f"no tactic closed {where}", self._server_error)
        return RepairOutcome(new_blocks, tuple(log))

    async def _wave(self, blocks: Sequence[Block], sites: Sequence[Site], placeholders: Sequence[Site],
                    batched: Sequence[Site], chunk: Sequence[str], tactics: Sequence[str],
                    works: dict[tuple[Site, str], bool], context: TheoryContext) -> None:
        """Try ``chunk`` at the open sites: a variant per placeholder and tactic, a variant per
        tactic for all of ``batched`` (the sites already closed get ``sorry``)."""
        jobs = [(site, tactic) for site in placeholders for tactic in chunk]
        results, batch_results = await asyncio.gather(
            asyncio.gather(*(self._try(blocks, sites, site, tactic, context) for site, tactic in jobs)),
            asyncio.gather(*(self._try_all(blocks, sites, batched, tactic, context) for tactic in chunk))
            if batched else _nothing())
        works.update(zip(jobs, results, strict=True))
        retry: list[tuple[Site, str]] = []
        for tactic, per_site in zip(chunk if batched else [], batch_results, strict=True):
            for site, ok in zip(batched, per_site, strict=True):
                if same_step(tactic, site.original):
                    # the step as it stands already failed (or ran past its limit) in the whole
                    # check: choosing it again would check the same theory again
                    works[(site, tactic)] = False
                elif ok is None and len(batched) > 1:   # cut off before its step was done: ask it alone
                    retry.append((site, tactic))
                else:                       # alone in its variant, a step still running did not close
                    works[(site, tactic)] = bool(ok)
        # only up to the first candidate known to work for each site
        retry = [(s, t) for s, t in retry if not any(works.get((s, u)) for u in tactics[:tactics.index(t)])]
        if retry:
            again = await asyncio.gather(*(self._try(blocks, sites, s, t, context) for s, t in retry))
            works.update(zip(retry, again, strict=True))

    def _variant(self, blocks: Sequence[Block], sites: Sequence[Site], site: Site, text: str
                 ) -> tuple[tuple[Block, ...], int]:
        choices = {(s.block, s.span): ("sorry" if s != site else text) for s in sites}
        return substitute(blocks, choices), site.block

    async def _submit_variant(self, blocks: Sequence[Block], sites: Sequence[Site], site: Site, text: str,
                              context: TheoryContext, limit: float, patient: bool = False
                              ) -> tuple[Submission, int, int]:
        variant, bi = self._variant(blocks, sites, site, text)
        assembled = self._checker.assemble(variant, context)
        submission = await self._checker.submit(assembled, check_limit_s=limit, patient=patient)
        if submission.verdict.failure is FailureKind.SERVER:
            self._server_error = submission.verdict.reason
        mapped = _body(assembled)[bi]
        step = mapped.steps[site.span]
        return submission, step.start, step.end

    async def _try(self, blocks: Sequence[Block], sites: Sequence[Site], site: Site, tactic: str,
                   context: TheoryContext) -> bool:
        submission, start, end = await self._submit_variant(
            blocks, sites, site, tactic, context, self._limit_s)
        (closed,) = _closed(submission, [(start, end)], self._in_order)
        return bool(closed)

    async def _try_all(self, blocks: Sequence[Block], sites: Sequence[Site], batched: Sequence[Site], tactic: str,
                       context: TheoryContext) -> list[bool | None]:
        """One variant with ``tactic`` at every site of ``batched`` (``sorry`` at the other sites):
        whether it closed each one's step (None: the variant was cut off before that step was done)."""
        choices = {(s.block, s.span): (tactic if s in batched else "sorry") for s in sites}
        variant = substitute(blocks, choices)
        assembled = self._checker.assemble(variant, context)
        submission = await self._checker.submit(assembled, check_limit_s=self._limit_s)
        if submission.verdict.failure is FailureKind.SERVER:
            self._server_error = submission.verdict.reason
            return [False] * len(batched)
        body = _body(assembled)
        steps = [body[site.block].steps[site.span] for site in batched]
        return _closed(submission, [(step.start, step.end) for step in steps], self._in_order)

    async def _sledgehammer(self, blocks: Sequence[Block], sites: Sequence[Site], site: Site,
                            context: TheoryContext) -> str | None:
        timeout_s, minimize = self._settings.sledgehammer_timeout_s, self._settings.sledgehammer_minimize
        call = sledgehammer_call(timeout_s, self._settings.sledgehammer_provers, minimize=minimize)
        # patient: Sledgehammer runs without status changes until its provers end, which its
        # own timeout bounds; a watchdog cut would leave it running and poison the session
        submission, start, end = await self._submit_variant(
            blocks, sites, site, call, context, sledgehammer_wall_s(timeout_s, minimize=minimize) + self._baseline_s,
            patient=True)
        if submission.reply is None:
            return None
        answer = read_sledgehammer(submission.reply.payload, submission.assembled.text, start, end)
        if answer.missing_prover:  # the whole call failed: say so instead of silently losing the last resort
            log.warning("Sledgehammer failed: this Isabelle has no prover %r; fix isabelle.sledgehammer_provers "
                        "(empty = the provers it has; `lego-prover doctor` lists them)", answer.missing_prover)
        return answer.proof


def _closed(submission: Submission, steps: Sequence[tuple[int, int]], in_order: bool) -> list[bool | None]:
    """For each step ``(start, end)`` of ``submission.assembled.text``, whether it closed its
    goal: no error located in it; None when the check was cut off before the step was done
    (or, ``in_order`` false, when it was cut off at all: with several ML threads nothing says
    how far it got)."""
    reply, verdict, text = submission.reply, submission.verdict, submission.assembled.text
    if reply is None:
        return [None] * len(steps)
    done_before: float = float("inf")
    # cut off whatever the verdict's kind: an error before the running step makes it "tactic",
    # and a step with no error that never ended is not one that closed its goal
    if not reply.finished or verdict.failure is FailureKind.TIMEOUT or commands_left(reply.payload):
        # with one ML thread, commands before the running one are done
        running = running_command(submission.assembled, reply.payload) if in_order else None
        done_before = -1 if running is None else running
    out: list[bool | None] = []
    for start, end in steps:
        line = text.count("\n", 0, start) + 1
        out.append(None if end > done_before else
                   not any((e.index is not None and start <= e.index < end)
                           or (e.index is None and e.block_index is not None and e.theory_line == line)
                           for e in verdict.errors))
    return out


async def _nothing() -> list[list[bool | None]]:
    return []


@dataclass(frozen=True)
class SledgehammerAnswer:
    proof: str | None = None            # the first "Try this:" proof
    missing_prover: str | None = None   # "No such prover: NAME": the call failed as a whole


def read_sledgehammer(payload: dict[str, Any], theory_text: str, start: int, end: int) -> SledgehammerAnswer:
    """What Sledgehammer said at the call spanning ``theory_text[start:end]``: of its "Try
    this:" proofs, the one its own replay ran fastest (one whose replay timed out is likely
    to time out in the check too, so it comes last), leaving out any Isabelle printed in a
    form it cannot read back."""
    index = SymbolIndex(theory_text)
    missing = None
    found: list[tuple[float, int, str]] = []
    for node in payload.get("nodes") or []:
        for msg in node.get("messages") or []:
            pos = msg.get("pos") or {}
            off = pos.get("offset")
            if isinstance(off, int) and not start <= index.char_index(off) < end:
                continue
            text = decode_symbols(str(msg.get("message") or ""))
            for hit in TRY_THIS_RE.finditer(text):
                proof = " ".join(hit.group(1).split())
                if not UNREADABLE_FACT_RE.search(proof):
                    found.append((_replay_ms(hit.group(2)), len(found), proof))
            unknown = NO_SUCH_PROVER_RE.search(text)
            if unknown:
                missing = unknown.group(1)
    if found:
        return SledgehammerAnswer(min(found)[2])
    return SledgehammerAnswer(None, missing)


def _replay_ms(timing: str) -> float:
    """"0.4 ms" -> 0.4, "1.2 s" -> 1200.0, "> 1.0 s, timed out" -> inf."""
    number, _, unit = timing.strip().partition(" ")
    try:
        return float(number) * (1.0 if unit.strip() == "ms" else 1000.0)
    except ValueError:
        return float("inf")
