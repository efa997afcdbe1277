"""Export the library (one Isabelle theory, or jsonl with verification records) and import it.

Usage::

    Path("Skills.thy").write_text(export_theory(library, imports))
    export_jsonl(library, Path("skills.jsonl"))
    report = await import_jsonl(library, Path("skills.jsonl"), checker)          # re-verifies each
    report = await import_jsonl(library, path, checker, trust_records=True)     # same Isabelle+session only

Import never trusts a file by default: every lemma is checked by the checker before it
is added. ``trust_records`` skips the check only for records verified by the same
Isabelle version and session as the checker in use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lego_prover.errors import BadInputError, ProblemFileError
from lego_prover.isabelle.context import CheckerProtocol, TheoryContext
from lego_prover.isabelle.guard import GuardContext, SoundnessGuard
from lego_prover.isabelle.theory import TheoryHeader, rename_facts, split_blocks
from lego_prover.isabelle.verdict import FailureKind
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import (
    NotVerifiedError,
    Origin,
    Skill,
    VerificationRecord,
    content_hash,
)


def export_theory(skills: Iterable[Skill], imports: Sequence[str], name: str = "Skills") -> str:
    """All skills as one theory, dependencies before their users, each lemma once.

    Skills carry the lemmas they depend on in their text; a dependency shared by several
    skills is written once. Two different lemmas that share a name (possible between the
    private dependencies of different skills) are told apart by renaming the later one
    within its skill.
    """
    emitted: dict[str, str] = {}          # lemma name -> content hash of what was written
    parts: list[str] = []
    for skill in sorted(skills, key=lambda s: (s.added_at, s.name)):
        blocks = split_blocks(skill.text)
        renames: dict[str, str] = {}
        for block in blocks:
            if not block.name or emitted.get(block.name, content_hash(block.text)) == content_hash(block.text):
                continue
            # the same lemma may already be out under a variant name; else take the next free one
            n = 2
            while f"{block.name}_v{n}" in emitted:
                variant = f"{block.name}_v{n}"
                if emitted[variant] == content_hash(rename_facts(block.text, {block.name: variant})):
                    break
                n += 1
            renames[block.name] = f"{block.name}_v{n}"
        for block in split_blocks(rename_facts(skill.text, renames)):
            h = content_hash(block.text)
            if block.name and emitted.get(block.name) == h:
                continue
            if block.name:
                emitted[block.name] = h
            parts.append(block.text.strip())
    header = TheoryHeader(name, tuple(imports)).render()
    return header + "\n\n" + "\n\n".join(parts) + ("\n\n" if parts else "") + "end\n"


def skill_to_json(skill: Skill) -> dict[str, Any]:
    data = skill.as_dict()
    data["verification"] = {"name": skill.name, "statement": skill.statement, "text": skill.text,
                            "requires": list(skill.requires), "isabelle": skill.isabelle,
                            "session": skill.session, "imports": list(skill.imports),
                            "verified_at": skill.verified_at}
    return data


def export_jsonl(skills: Iterable[Skill], path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for skill in sorted(skills, key=lambda s: (s.added_at, s.name)):
            f.write(json.dumps(skill_to_json(skill), ensure_ascii=False) + "\n")
            n += 1
    return n


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)   # (name, why)
    # Isabelle failed while checking these: nothing was decided, so they are not "failed"
    undecided: list[tuple[str, str]] = field(default_factory=list)  # (name, what Isabelle said)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    from lego_prover.inputs import read_text

    rows = []
    text = read_text(path, "skills file", hint="; write one with 'lego-prover skills export FILE.jsonl --format jsonl'")
    if not text.strip():
        raise BadInputError(f"skills file {path} is empty: there is nothing to import; give the file that "
                            "'lego-prover skills export FILE.jsonl --format jsonl' wrote.")
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProblemFileError(f"{path}:{i}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("name"), str) or not isinstance(row.get("text"), str):
            raise ProblemFileError(f"{path}:{i}: each line needs at least 'name' and 'text'")
        rows.append(row)
    return rows


async def import_jsonl(library: SkillLibrary, path: Path, checker: CheckerProtocol, *, imports: Sequence[str],
                       trust_records: bool = False, isabelle: str = "", session: str = "",
                       max_proof_bytes: int | None = None,
                       on_progress: Callable[[str], None] | None = None) -> ImportReport:
    report = ImportReport()
    for row in read_jsonl(path):
        name = row["name"]
        origin_meta = row.get("origin") or {}
        origin = Origin.from_meta(origin_meta) if isinstance(origin_meta, dict) and origin_meta else Origin("import")
        try:
            if trust_records:
                # a trusted record skips Isabelle, never the soundness guard: the file is untrusted text
                guard = SoundnessGuard(GuardContext(None, None, tuple(imports), max_bytes=max_proof_bytes),
                                       allow_placeholders=False)
                text = str((row.get("verification") or {}).get("text", ""))
                rejected = guard.check(text).rejections
                if rejected:
                    report.failed.append((name, "; ".join(str(r) for r in rejected)))
                    continue
                record = VerificationRecord.from_trusted_export(row.get("verification") or {}, isabelle=isabelle,
                                                                session=session)
            else:
                verdict = await checker.check(row["text"], TheoryContext(tuple(imports)), repair=False)
                if verdict.failure is FailureKind.SERVER:
                    report.undecided.append((name, verdict.reason))
                    continue
                if not verdict.verified:
                    report.failed.append((name, verdict.reason or "not verified"))
                    continue
                record = VerificationRecord.from_verdict(verdict, name, tuple(imports))
        except NotVerifiedError as exc:
            report.failed.append((name, str(exc)))
            continue
        result = library.add(record, origin, description=str(row.get("description", "")))
        (report.added if result.added else report.duplicates).append(result.name)
        if on_progress:
            on_progress(name)
    return report
