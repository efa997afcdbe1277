"""After a check: verified lemmas into the library, failed lemma statements into requests,
and usage counters for the retrieved skills a verified proof used.

A retrieved skill counts as *used verbatim* when the solved proof contains a lemma with
the same content (a copy), and as *modelled* when it contains a verified lemma whose
statement shares most of its tokens with the skill's (an adaptation).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from lego_prover.isabelle.guard import normalize_statement
from lego_prover.isabelle.theory import BlockKind, named_lemmas, split_blocks
from lego_prover.isabelle.verdict import Verdict
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import (
    NotVerifiedError,
    Origin,
    Skill,
    VerificationRecord,
    content_hash,
)

MODELLED_OVERLAP = 0.6


@dataclass
class HarvestResult:
    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)        # names of the existing skills
    names: dict[str, str] = field(default_factory=dict)        # lemma name in the proof -> library name
    new_requests: list[str] = field(default_factory=list)
    used: list[dict[str, str]] = field(default_factory=list)   # {"name", "mode": verbatim|modelled}


def _tokens(statement: str) -> set[str]:
    body = re.sub(r"^\s*(lemma|theorem|corollary|proposition)\s+[^:\s]+\s*:", "", statement)
    return set(re.findall(r"[A-Za-z_]\w*|\d+|\S", normalize_statement(body)))


def similarity(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    return len(ta & tb) / max(1, len(ta | tb))


def skills_used(verdict: Verdict, retrieved: Sequence[Skill]) -> list[dict[str, str]]:
    """Which retrieved skills the verified lemmas of ``verdict`` copy or imitate."""
    blocks = named_lemmas(verdict.theory_text)
    verified = [blocks[b.name] for b in verdict.verified_blocks() if b.name in blocks]
    hashes = {content_hash(b.text) for b in verified}
    out = []
    for skill in retrieved:
        own = next((b.text for b in split_blocks(skill.text) if b.name == skill.name), skill.text)
        if content_hash(own) in hashes:
            out.append({"name": skill.name, "mode": "verbatim"})
        elif any(similarity(skill.statement, b.statement) >= MODELLED_OVERLAP for b in verified):
            out.append({"name": skill.name, "mode": "modelled"})
    return out


class Harvester:
    def __init__(self, library: SkillLibrary | None, imports: tuple[str, ...]) -> None:
        self._library = library
        self._imports = imports

    async def harvest(self, verdict: Verdict, *, target: str | None, origin: Origin, preamble: str = "",
                      retrieved: Sequence[Skill] = (), solved: bool = False) -> HarvestResult:
        result = HarvestResult()
        library = self._library
        if library is None or not verdict.blocks:
            return result
        records = []
        if not preamble.strip():
            for block in verdict.verified_blocks():
                if block.name and block.name != target and block.kind == BlockKind.LEMMA.value:
                    try:
                        records.append(VerificationRecord.from_verdict(verdict, block.name, self._imports))
                    except NotVerifiedError:
                        continue
        if records:
            added = await asyncio.to_thread(library.add_many, [(r, origin, "") for r in records])
            for record, r in zip(records, added, strict=True):
                if r.added:
                    result.added.append(r.name)
                    result.names[record.name] = r.name
                else:
                    result.duplicates.append(r.existing)
                    result.names[record.name] = r.existing
        parsed = named_lemmas(verdict.theory_text)
        failed = [parsed[b.name].statement for b in verdict.blocks
                  if b.origin == "body" and not b.verified and b.name and b.name != target and b.name in parsed]
        if failed:
            made = await asyncio.to_thread(library.add_requests, failed, origin.problem or "evolver")
            result.new_requests = [r.id for r in made]
        if solved and retrieved:
            result.used = skills_used(verdict, retrieved)
            verbatim = [u["name"] for u in result.used if u["mode"] == "verbatim"]
            modelled = [u["name"] for u in result.used if u["mode"] == "modelled"]
            if verbatim:
                await asyncio.to_thread(library.record_used, verbatim, verbatim=True)
            if modelled:
                await asyncio.to_thread(library.record_used, modelled, verbatim=False)
        return result
