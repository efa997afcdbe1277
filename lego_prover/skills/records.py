"""Plain records of the skill library: skills, requests, target problems, and the proof
that a skill was verified.

A ``VerificationRecord`` is the only ticket into the **skills** collection. It is built from
a checker ``Verdict`` (``from_verdict``) or, for a library exported by this tool, from its
stored record when the Isabelle version and session match (``from_trusted_export``);
its constructor refuses any other caller, so "verified" cannot be a flag someone sets.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from lego_prover.errors import LegoProverError
from lego_prover.isabelle.lexer import tokenize
from lego_prover.isabelle.theory import BlockKind, checked_blocks, code_end
from lego_prover.isabelle.verdict import Verdict

OriginKind = Literal["problem", "evolver", "request", "import"]

_TICKET = object()  # only this module's constructors hold it


class NotVerifiedError(LegoProverError):
    """Something tried to enter the skills collection without Isabelle's say-so."""


def normalized_text(text: str) -> str:
    """Text with comments dropped and whitespace collapsed: what the content hash is of."""
    toks = [t for t in tokenize(text) if not t.is_blank]
    return " ".join(re.sub(r"\s+", " ", t.text.strip()) for t in toks)


def content_hash(text: str) -> str:
    return hashlib.sha256(normalized_text(text).encode()).hexdigest()


def now_iso(precise: bool = False) -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds" if precise else "seconds")


@dataclass(frozen=True)
class Origin:
    """Where a skill came from."""

    kind: OriginKind
    problem: str = ""          # kind=problem: the problem it was proved for
    attempt: int = -1
    direction: str = ""        # kind=evolver: the evolution direction
    parent: str = ""           # kind=evolver: the skill it was evolved from
    request: str = ""          # kind=request: the request id it proves
    run: str = ""              # the run directory's name, when known

    def as_meta(self) -> dict[str, str | int]:
        return {"origin": self.kind, "origin_problem": self.problem, "origin_attempt": self.attempt,
                "origin_direction": self.direction, "origin_parent": self.parent,
                "origin_request": self.request, "origin_run": self.run}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Origin:
        return cls(meta.get("origin", "import"), str(meta.get("origin_problem", "")),
                   int(meta.get("origin_attempt", -1)), str(meta.get("origin_direction", "")),
                   str(meta.get("origin_parent", "")), str(meta.get("origin_request", "")),
                   str(meta.get("origin_run", "")))

    def describe(self) -> str:
        if self.kind == "problem":
            return f"problem {self.problem} (attempt {self.attempt})"
        if self.kind == "evolver":
            return f"evolver: {self.direction} of {self.parent}"
        if self.kind == "request":
            return f"request {self.request}"
        return "import"


@dataclass(frozen=True)
class VerificationRecord:
    """Isabelle verified ``text`` (dependencies first, the lemma ``name`` last) as it stands."""

    name: str
    statement: str
    text: str
    requires: tuple[str, ...]
    isabelle: str
    session: str
    imports: tuple[str, ...]
    verified_at: str
    theory: str
    _ticket: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._ticket is not _TICKET:
            raise NotVerifiedError("a VerificationRecord comes from a checker verdict "
                                   "(VerificationRecord.from_verdict), never from a flag")

    @classmethod
    def from_verdict(cls, verdict: Verdict, name: str, imports: tuple[str, ...] = (),
                     preamble: str = "") -> VerificationRecord:
        """The record of lemma ``name`` in a checked theory; raises unless Isabelle verified it.

        A lemma that may lean on a problem's preamble (definitions) is not standalone and
        is refused too.
        """
        if preamble.strip():
            raise NotVerifiedError(f"{name} was checked after a problem preamble; it is not standalone")
        by_name = {b.name: b for b in verdict.blocks if b.name}
        block = by_name.get(name)
        if block is None or not block.verified or block.origin != "body" or block.kind != BlockKind.LEMMA.value:
            raise NotVerifiedError(f"Isabelle did not verify lemma {name!r} in theory {verdict.theory_name!r}")
        if not verdict.isabelle or block.oracles is None or block.oracles:
            raise NotVerifiedError(f"lemma {name!r} has no clean oracle report")
        parsed: dict[str, Any] = {}
        for b in checked_blocks(verdict.theory_text):  # dependencies may be `lemmas` blocks too
            if b.name:
                parsed.setdefault(b.name, b)
        needed: list[str] = []

        def visit(n: str) -> None:
            if n in needed or n not in by_name:
                return
            for dep in by_name[n].depends_on:
                visit(dep)
            needed.append(n)

        visit(name)
        # a block runs up to the next command, so it carries the answer's comment after the lemma
        # ("(* formal statement copy from the input *)"): not part of the lemma
        texts = [parsed[n].text[:code_end(parsed[n].text)].strip() for n in needed if n in parsed]
        return cls(name, parsed[name].statement.strip(), "\n\n".join(texts), tuple(needed[:-1]),
                   verdict.isabelle, verdict.session, tuple(imports), now_iso(), verdict.theory_name,
                   _TICKET)

    @classmethod
    def from_trusted_export(cls, data: dict[str, Any], *, isabelle: str, session: str) -> VerificationRecord:
        """Re-use an exported record only when it was verified by this Isabelle and session."""
        if data.get("isabelle") != isabelle or data.get("session") != session:
            raise NotVerifiedError(
                f"{data.get('name')}: verified by {data.get('isabelle')!r}/{data.get('session')!r}, "
                f"not {isabelle!r}/{session!r}; import it without --trust-records to re-verify")
        return cls(str(data["name"]), str(data["statement"]), str(data["text"]), tuple(data.get("requires", ())),
                   isabelle, session, tuple(data.get("imports", ())), str(data.get("verified_at") or now_iso()),
                   str(data.get("theory", "")), _TICKET)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "statement": self.statement, "text": self.text, "requires": list(self.requires),
                "isabelle": self.isabelle, "session": self.session, "imports": list(self.imports),
                "verified_at": self.verified_at, "theory": self.theory}


@dataclass(frozen=True)
class Skill:
    """A verified lemma in the library."""

    name: str
    statement: str
    text: str
    requires: tuple[str, ...]
    description: str
    origin: Origin
    isabelle: str
    session: str
    verified_at: str
    content_hash: str
    added_at: str
    times_retrieved: int = 0
    times_used: int = 0          # appeared in a verified proof (verbatim or as a model)
    times_used_verbatim: int = 0
    times_evolved: int = 0
    imports: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "statement": self.statement, "text": self.text, "requires": list(self.requires),
                "description": self.description, "origin": self.origin.as_meta(), "isabelle": self.isabelle,
                "session": self.session, "verified_at": self.verified_at, "content_hash": self.content_hash,
                "added_at": self.added_at, "times_retrieved": self.times_retrieved, "times_used": self.times_used,
                "times_used_verbatim": self.times_used_verbatim, "times_evolved": self.times_evolved,
                "imports": list(self.imports)}


@dataclass(frozen=True)
class Request:
    """A lemma statement someone asked for; open until a skill proves it."""

    id: str
    statement: str
    source: str                  # problem that asked (or "evolver")
    attempts: int = 0
    solved_by: str = ""          # skill name, once proved
    created_at: str = ""

    @property
    def open(self) -> bool:
        return not self.solved_by


@dataclass(frozen=True)
class AddResult:
    """What ``SkillLibrary.add`` did: added under ``name``, or rejected as a duplicate of ``existing``."""

    added: bool
    name: str
    reason: Literal["added", "exact_duplicate", "near_duplicate"]
    existing: str = ""
    similarity: float = 0.0


@dataclass(frozen=True)
class Hit:
    skill: Skill
    score: float                 # cosine similarity, 1 = identical direction
