"""Verification records produced the only way they can be: a checker verdict.

The fake Isabelle server is scripted to report success; the decision logic, block
mapping and dependency tracking are the real checker's.
"""

from __future__ import annotations

from collections.abc import Sequence

from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import TheoryContext
from lego_prover.skills.records import VerificationRecord
from tests.fakes import replies
from tests.fakes.fake_isabelle import Script

IMPORTS = ("Complex_Main",)


async def verify(checker: Checker, script: Script, text: str, names: Sequence[str] | None = None
                 ) -> list[VerificationRecord]:
    """Check ``text`` (scripted: verified) and return the records of its lemmas."""
    script.queue.append(replies.verified())
    verdict = await checker.check(text, TheoryContext(IMPORTS), repair=False)
    assert verdict.verified, verdict.reason
    wanted = names or [b.name for b in verdict.verified_blocks() if b.name and b.kind == "lemma"]
    return [VerificationRecord.from_verdict(verdict, n, IMPORTS) for n in wanted]
