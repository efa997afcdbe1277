"""``Checker``: the one place that asks Isabelle whether a proof is verified.

Usage::

    async with SessionPool(settings.isabelle) as pool:
        checker = Checker(pool, settings.isabelle)
        verdict = await checker.check(llm_text, TheoryContext.for_problem(problem, settings.isabelle))
        if verdict.verified: ...

Every check runs the soundness guard first (a text longer than ``isabelle.max_proof_bytes``
is refused there, unread), repairs ``sledgehammer`` placeholders, runs the guard again on
the final text, then checks that exact text in a fresh, uniquely named theory with
``thm_oracles`` appended for every named lemma.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from lego_prover.config import IsabelleSettings
from lego_prover.errors import IsabelleServerError
from lego_prover.isabelle.client import ServerFault, SessionGone, TaskReply, TaskTimeout
from lego_prover.isabelle.context import CheckOptions, Submission, TheoryContext
from lego_prover.isabelle.guard import GuardContext, GuardResult, SoundnessGuard
from lego_prover.isabelle.repair import (
    Repairer,
    Site,
    failing_by_sites,
    find_sites,
    running_by_site,
    sorry_to_placeholders,
    substitute,
)
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.isabelle.theory import (
    AssembledTheory,
    Block,
    BlockKind,
    TheoryHeader,
    assemble_theory,
    shift_block,
)
from lego_prover.isabelle.verdict import FailureKind, Verdict, commands_left, decide

log = logging.getLogger(__name__)


def _as_written(rechecked: Sequence[Block], written: Sequence[Block]) -> tuple[Block, ...]:
    """The blocks the final guard re-read, carrying the line numbers of the text as written.

    The final guard reads the blocks joined by blank lines, so its line numbers are those of
    the joined text; errors must point into the user's (or the LLM's) own text.
    """
    if len(rechecked) != len(written):
        return tuple(rechecked)
    return tuple(shift_block(r, w.start_line - r.start_line) if r.text == w.text else r
                 for r, w in zip(rechecked, written, strict=True))


ReplyObserver = Callable[[AssembledTheory, TaskReply, Verdict], None]


class Checker:
    """Guard, repair and check LLM text against one session pool.

    ``on_reply`` sees every raw round trip (the exact theory, Isabelle's reply, our
    verdict); the real-Isabelle test tier uses it to record replies for the replay tier.
    """

    def __init__(self, pool: SessionPool, settings: IsabelleSettings, *, work_dir: Path | None = None,
                 on_reply: ReplyObserver | None = None) -> None:
        self._pool = pool
        self._settings = settings
        self._on_reply = on_reply
        self._work_dir = (work_dir or settings.work_dir) / "theories"
        self._work_dir.mkdir(parents=True, exist_ok=True)

    @property
    def isabelle(self) -> str:
        return self._pool.isabelle_name

    @property
    def session(self) -> str:
        return self._settings.session

    # ------------------------------------------------------------------ public

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        """Guard, repair placeholders, guard again, and check the final text."""
        options = options or CheckOptions()
        settings = self._settings
        if options.repair_tactics is not None:
            settings = settings.model_copy(update={"repair_tactics": list(options.repair_tactics)})
        if options.sledgehammer_timeout_s is not None:
            settings = settings.model_copy(update={"sledgehammer_timeout_s": options.sledgehammer_timeout_s})
        limit = options.check_limit_s
        started = time.monotonic()
        gctx = replace(context.guard_context(), max_bytes=self._settings.max_proof_bytes)
        if repair and self._settings.repair_failing_by:   # LEGO-Prover's repair: abandoned steps are placeholders
            text = sorry_to_placeholders(text)
        first = SoundnessGuard(gctx, allow_placeholders=repair).check(text)
        if not first.ok:
            return self._guard_verdict(first, context, started)
        blocks: Sequence[Block] = first.blocks
        repairs: tuple[str, ...] = ()
        if repair:
            baseline = await self._baseline_s(blocks, context) if find_sites(blocks) else 0.0
            outcome = await Repairer(self, settings, baseline_s=baseline).repair(blocks, context)
            blocks, repairs = outcome.blocks, outcome.log
            if outcome.unresolved:  # Isabelle failing under the candidates is a server failure, not a tactic's
                kind = FailureKind.SERVER if outcome.server_error else FailureKind.TACTIC
                return Verdict(False, kind, outcome.server_error or outcome.unresolved, "",
                               "\n\n".join(b.text for b in blocks), context.target, isabelle=self.isabelle,
                               session=self.session, elapsed_s=time.monotonic() - started, repairs=repairs)
        final_body = "\n\n".join(b.text for b in blocks)
        final = SoundnessGuard(gctx, allow_placeholders=False).check(final_body)
        if not final.ok:
            return self._guard_verdict(final, context, started)
        checked = _as_written(final.blocks, blocks)
        submission = await self.submit(self.assemble(checked, context), check_limit_s=limit)
        verdict = submission.verdict
        if repair and self._settings.repair_failing_by:
            verdict, more = await self._repair_failing_by(submission, checked, context, settings, gctx, limit)
            repairs += more
        return replace(verdict, elapsed_s=time.monotonic() - started, repairs=repairs)

    async def _repair_failing_by(self, submission: Submission, checked: Sequence[Block], context: TheoryContext,
                                 settings: IsabelleSettings, gctx: GuardContext, limit: float | None
                                 ) -> tuple[Verdict, tuple[str, ...]]:
        """LEGO-Prover's repair of failing ``by`` steps, round after round: a repaired step can
        uncover a failure that its failure hid, which the next round repairs."""
        verdict = submission.verdict
        repairs: tuple[str, ...] = ()
        tried: set[Site] = set()
        for _ in range(self._settings.repair_rounds):
            # a step naming a fact this release lacks (syntax) fails like a wrong tactic, and a step
            # still running when the check was cut off fails LEGO-Prover's step limit: all are repaired
            if verdict.failure not in (FailureKind.TACTIC, FailureKind.SYNTAX, FailureKind.TIMEOUT):
                break
            sites = failing_by_sites(submission.assembled, verdict)
            # an error in an earlier block makes a cut-off check's verdict "tactic": read the reply
            cut_off = self._settings.commands_in_order and submission.reply is not None and (
                verdict.failure is FailureKind.TIMEOUT or commands_left(submission.reply.payload))
            running = running_by_site(submission) if cut_off else None
            # a step that runs is no cascade of an earlier failure in its block (that fails at once)
            if running is not None and running not in sites:
                sites.append(running)
            sites = [s for s in sites if s not in tried]
            if not sites:
                break
            tried.update(sites)
            outcome = await Repairer(self, settings, baseline_s=submission.isabelle_s).repair(
                checked, context, extra_sites=sites)
            if outcome.unresolved:   # a step no tactic closes: the proof fails there, as the verdict says
                break
            again = SoundnessGuard(gctx, allow_placeholders=False).check("\n\n".join(b.text for b in outcome.blocks))
            if not again.ok:
                break
            repairs += outcome.log
            checked = _as_written(again.blocks, outcome.blocks)
            submission = await self.submit(self.assemble(checked, context), check_limit_s=limit)
            verdict = submission.verdict
        return verdict, repairs

    async def _baseline_s(self, blocks: Sequence[Block], context: TheoryContext) -> float:
        """What the text takes in Isabelle with ``sorry`` at its placeholders: the time every
        repair variant needs besides its candidate."""
        stubbed = substitute(blocks, {(s.block, s.span): "sorry" for s in find_sites(blocks)})
        return (await self.submit(self.assemble(stubbed, context), check_limit_s=self._settings.check_limit_s)).isabelle_s

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        """Check the named lemmas alone, in order: what passes here is sound by construction."""
        from lego_prover.isabelle.theory import parse_theory

        parsed = parse_theory(verdict.theory_text)
        wanted = set(names)
        blocks = [b for b in parsed.blocks if b.name in wanted and b.kind is BlockKind.LEMMA]
        if not blocks:
            return replace(verdict, verified=False, failure=FailureKind.MISSING_TARGET, reason="nothing to confirm")
        ctx = TheoryContext(context.imports, context.preamble, None, None, context.reserved_names)
        return await self.check("\n\n".join(b.text for b in blocks), ctx, repair=False)

    # ------------------------------------------------------------------ internals

    def assemble(self, blocks: Sequence[Block], context: TheoryContext, *, name: str | None = None) -> AssembledTheory:
        """Our header, the trusted preamble, the blocks, a ``thm_oracles`` per named lemma, ``end``."""
        name = name or f"T_{uuid.uuid4().hex}"
        lemma_names = [b.name for b in blocks if b.name and b.kind is BlockKind.LEMMA]
        return assemble_theory(TheoryHeader(name, context.imports), preamble=context.preamble,
                               blocks=blocks, target=context.target, oracle_checks=lemma_names)

    async def submit(self, assembled: AssembledTheory, *, check_limit_s: float | None = None,
                     patient: bool = False) -> Submission:
        """Write the theory, check it, purge it; restart and retry once on a server crash."""
        for attempt in (1, 2):
            generation = self._pool.generation
            try:
                return await self._submit_once(assembled, check_limit_s, patient, attempt=attempt)
            except SessionGone as exc:
                if attempt == 2:
                    return self._server_failure(assembled, f"Isabelle server error: {exc}")
                # the server is fine: its worker gets a new session, the check another worker
                log.info("the session of a check was gone (%s); retrying on another", exc)
            except TaskTimeout as exc:
                verdict = Verdict(False, FailureKind.TIMEOUT, str(exc), assembled.name, assembled.text,
                                  assembled.target, isabelle=self.isabelle, session=self.session)
                return Submission(assembled, None, verdict, isabelle_s=check_limit_s or 0.0)
            except (IsabelleServerError, OSError) as exc:
                if attempt == 2:
                    return self._server_failure(assembled, f"Isabelle server error: {exc}")
                # an expected recovery: one line for the person, the traceback for the log file
                log.warning("Isabelle failed during a check (%s); restarting and retrying once", exc)
                log.debug("the failure", exc_info=True)
                try:
                    if isinstance(exc, ServerFault):
                        await self._pool.recover(force=True, reason=f"the Isabelle server failed inside ({exc})",
                                                 since=generation)
                    else:
                        await self._pool.recover(since=generation)
                except (IsabelleServerError, OSError) as again:
                    return self._server_failure(assembled, f"Isabelle could not be restarted: {again}")
        raise AssertionError("unreachable")

    def _server_failure(self, assembled: AssembledTheory, reason: str) -> Submission:
        verdict = Verdict(False, FailureKind.SERVER, reason, assembled.name, assembled.text, assembled.target,
                          isabelle=self.isabelle, session=self.session)
        return Submission(assembled, None, verdict)

    async def _submit_once(self, assembled: AssembledTheory, check_limit_s: float | None,
                           patient: bool = False, *, attempt: int = 1) -> Submission:
        # a directory per try: the first try's clean-up runs in the background, after its purge
        check_dir = self._work_dir / f"{assembled.name}-{attempt}"
        check_dir.mkdir(parents=True, exist_ok=True)
        (check_dir / f"{assembled.name}.thy").write_text(assembled.text, encoding="utf-8", newline="\n")
        started = time.monotonic()
        async with self._pool.worker() as worker:
            held = time.monotonic()
            try:
                deadline = None if check_limit_s is None else check_limit_s + 10.0
                reply = await worker.use_theories(check_dir, [assembled.name], settings=self._settings,
                                                  deadline_s=deadline, check_limit_s=check_limit_s, patient=patient)
            finally:
                # never delete before the reply: the server may still be reading the file
                self._pool.purge_later(worker, check_dir, [assembled.name],
                                       then=lambda: shutil.rmtree(check_dir, ignore_errors=True))
        verdict = decide(assembled, finished=reply.finished, payload=reply.payload, isabelle=self.isabelle,
                         session=self.session, elapsed_s=time.monotonic() - started,
                         trusted_oracles=self._settings.trusted_oracles)
        if self._on_reply is not None:
            self._on_reply(assembled, reply, verdict)
        return Submission(assembled, reply, verdict, isabelle_s=time.monotonic() - held)

    def _guard_verdict(self, result: GuardResult, context: TheoryContext, started: float) -> Verdict:
        return Verdict(False, FailureKind.GUARD, result.summary, "", result.text, context.target,
                       isabelle=self.isabelle, session=self.session, elapsed_s=time.monotonic() - started)

