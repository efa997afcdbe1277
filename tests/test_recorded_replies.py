"""Replay replies recorded from a real Isabelle through the verdict logic: ``../shared/isabelle/``
(Isabelle2020) and ``tests/recordings/<isabelle>/`` (ours, from the real-Isabelle tier).

Format of a recording (one JSON file each): ``theory`` (the exact text submitted, with its
``theory T_...`` name), ``target`` (theorem name or null), ``finished`` (FINISHED vs FAILED),
``payload`` (the reply body), ``expected`` (``"verified"`` or a failure kind), optionally
``trusted_oracles`` (the oracles the verdict was allowed to rely on). Skipped when the
folder does not exist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lego_prover.config import load_settings
from lego_prover.errors import ConfigError
from lego_prover.isabelle.theory import (
    AssembledTheory,
    TheoryHeader,
    assemble_theory,
    isabelle_span_starts,
    parse_theory,
)
from lego_prover.isabelle.verdict import FailureKind, Verdict, decide
from tests.conftest import SHARED

OURS = Path(__file__).parent / "recordings"   # made with `pytest -m isabelle --record-replies DIR`
RECORDINGS = (sorted((SHARED / "isabelle").glob("*.json")) if (SHARED / "isabelle").is_dir() else []) + sorted(
    OURS.glob("*/*.json"))


@pytest.mark.skipif(not RECORDINGS, reason="no recorded Isabelle replies in ../shared/isabelle")
@pytest.mark.parametrize("path", RECORDINGS, ids=[f"{p.parent.name}/{p.stem}" for p in RECORDINGS])
def test_recorded_reply_gives_the_recorded_verdict(path: Path) -> None:
    rec = json.loads(path.read_text())
    verdict = _replay(rec, tuple(rec.get("trusted_oracles", ())))
    got = "verified" if verdict.verified else verdict.failure.value  # type: ignore[union-attr]
    assert got == rec["expected"], verdict.reason


@pytest.mark.skipif(not RECORDINGS, reason="no recorded Isabelle replies in ../shared/isabelle")
def test_our_count_of_a_theorys_spans_is_isabelles_for_every_recorded_reply() -> None:
    # locating the command a cut-off check was running (repair) rests on this count
    for path in RECORDINGS:
        rec = json.loads(path.read_text())
        for node in rec["payload"].get("nodes") or []:
            assert len(isabelle_span_starts(rec["theory"])) == node["status"]["total"], path.name


def _load(name: str) -> dict[str, Any]:
    path = SHARED / "isabelle" / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"no recording {path}")
    return dict(json.loads(path.read_text()))


def _replay(rec: dict[str, Any], trusted_oracles: tuple[str, ...] = ()) -> Verdict:
    parsed = parse_theory(rec["theory"])
    assert parsed.header is not None
    checks = [line.split()[1] for line in rec["theory"].splitlines() if line.startswith("thm_oracles ")]
    blocks = [b for b in parsed.blocks if b.command != "thm_oracles"]
    assembled: AssembledTheory = assemble_theory(TheoryHeader(parsed.header.name, parsed.header.imports),
                                                 blocks=blocks, target=rec.get("target"), oracle_checks=checks)
    assert assembled.text == rec["theory"], "recording was not made from a lego-prover-assembled theory"
    return decide(assembled, finished=rec["finished"], payload=rec["payload"], isabelle=rec.get("isabelle", ""),
                  trusted_oracles=trusted_oracles)


def test_a_sorry_in_an_unused_helper_leaves_no_lemma_verified() -> None:
    verdict = _replay(_load("sorry_in_unused_helper"))
    assert verdict.failure is FailureKind.ORACLE
    assert "helper_cheat" in verdict.reason and "skip_proof" in verdict.reason
    # the clean target must not reach the library either
    assert verdict.verified_blocks() == ()


def test_an_oracle_the_user_trusts_is_accepted_and_named_in_the_verdict() -> None:
    rec = _load("eval_oracle")
    assert not _replay(rec).verified
    verdict = _replay(rec, trusted_oracles=("holds_by_evaluation",))
    assert verdict.verified, verdict.reason
    assert verdict.trusted_oracles == ("holds_by_evaluation",)


def test_trusting_another_oracle_does_not_excuse_sorry() -> None:
    verdict = _replay(_load("sorry_in_unused_helper"), trusted_oracles=("holds_by_evaluation",))
    assert verdict.failure is FailureKind.ORACLE


def test_skip_proof_can_never_be_listed_as_trusted() -> None:
    with pytest.raises(ConfigError, match="skip_proof"):
        load_settings(overrides={"isabelle.trusted_oracles": ["skip_proof"]}, environ={}, cwd=Path("/nonexistent"))
