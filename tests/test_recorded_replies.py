"""Replay replies recorded from a real Isabelle (``../shared/isabelle/``) through the verdict logic.

Format of a recording (one JSON file each): ``theory`` (the exact text submitted, with its
``theory T_...`` name), ``target`` (theorem name or null), ``finished`` (FINISHED vs FAILED),
``payload`` (the reply body), ``expected`` (``"verified"`` or a failure kind). Skipped when the
folder does not exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lego_prover.isabelle.theory import AssembledTheory, TheoryHeader, assemble_theory, parse_theory
from lego_prover.isabelle.verdict import decide
from tests.conftest import SHARED

RECORDINGS = sorted((SHARED / "isabelle").glob("*.json")) if (SHARED / "isabelle").is_dir() else []


@pytest.mark.skipif(not RECORDINGS, reason="no recorded Isabelle replies in ../shared/isabelle")
@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_recorded_reply_gives_the_recorded_verdict(path: Path) -> None:
    rec = json.loads(path.read_text())
    parsed = parse_theory(rec["theory"])
    assert parsed.header is not None
    checks = [line.split()[1] for line in rec["theory"].splitlines() if line.startswith("thm_oracles ")]
    blocks = [b for b in parsed.blocks if b.command != "thm_oracles"]
    assembled: AssembledTheory = assemble_theory(TheoryHeader(parsed.header.name, parsed.header.imports),
                                                 blocks=blocks, target=rec.get("target"), oracle_checks=checks)
    assert assembled.text == rec["theory"], "recording was not made from a lego-prover-assembled theory"
    verdict = decide(assembled, finished=rec["finished"], payload=rec["payload"])
    got = "verified" if verdict.verified else verdict.failure.value  # type: ignore[union-attr]
    assert got == rec["expected"], verdict.reason
