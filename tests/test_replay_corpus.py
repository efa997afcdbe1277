"""A real model's text through the pipeline: LEGO-Prover's published answers on miniF2F-valid
(``../shared/llm-replies/lego-prover/valid.jsonl``, read in place, never copied).

* Property: every answer, and each answer cut at random points, doubled, with its fences
  removed and with prose around it, goes through extraction, the soundness guard and the
  decomposition parser, inside a real ``Prover`` attempt, without a crash, and ends in a
  recorded outcome. The checker double runs the real guard and then answers "not verified"
  for whatever reaches Isabelle: it never judges a proof.
* Replay tier (CI): 20 real records through ``eval --replay`` against the fake server, whose
  verdicts are scripted per problem; extraction, guard, harvest, requests and the report
  run for real.
* All 262 against a real Isabelle: ``pytest -m isabelle tests/test_replay_corpus.py`` (only
  when the ``isabelle`` marker is selected: it takes most of an hour).
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.config import Settings, load_settings
from lego_prover.isabelle.context import CheckOptions, TheoryContext
from lego_prover.isabelle.guard import SoundnessGuard
from lego_prover.isabelle.verdict import FailureKind, Verdict
from lego_prover.problems import Problem, load_problems
from lego_prover.prover.attempt import AttemptRecord, Prover
from lego_prover.prover.parsing import parse_decomposition
from lego_prover.prover.prompts import PromptLibrary
from tests.conftest import MINIF2F_DIR, SHARED
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script
from tests.fakes.scripted_llm import LLMCall, ScriptedLLM

CORPUS = SHARED / "llm-replies" / "lego-prover" / "valid.jsonl"
needs_corpus = pytest.mark.skipif(not CORPUS.is_file() or not MINIF2F_DIR.is_dir(),
                                  reason=f"the recorded run is not at {CORPUS} (set LEGO_TEST_SHARED_DIR)")
runner = CliRunner()


def corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- part 3: real text, cut and mangled


def mangled(text: str, rng: random.Random) -> dict[str, str]:
    """The answer and what real models do to answers: cut off, repeated, unfenced, wrapped in prose."""
    cuts = sorted(rng.sample(range(len(text) + 1), k=min(2, len(text) + 1)))
    return {"as is": text, **{f"cut at {c}": text[:c] for c in cuts}, "doubled": text + "\n" + text,
            "no fences": text.replace("```isabelle", "").replace("```", ""),
            "prose around": f"Sure! Here is my answer.\n\n{text}\n\nI hope this helps; let me know.",
            "unclosed fence": text.rsplit("```", 1)[0] if text.count("```") >= 2 else text + "\n```isabelle\n"}


class GuardOnlyChecker:
    """The real guard; whatever passes it is answered "not verified" (this double judges no proof)."""

    def __init__(self) -> None:
        self.reached_isabelle = 0

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        result = SoundnessGuard(context.guard_context()).check(text)
        if not result.ok:
            return Verdict(False, FailureKind.GUARD, result.summary, "", text, context.target)
        self.reached_isabelle += 1
        return Verdict(False, FailureKind.TACTIC, "scripted: not verified", "", text, context.target)


def settings_for_property(tmp_path: Path) -> Settings:
    return load_settings(None, {"prover.feedback_rounds": 0, "prover.statement_reprompts": 0}, environ={},
                         cwd=tmp_path)


@needs_corpus
async def test_every_real_answer_cut_doubled_unfenced_or_wrapped_ends_in_a_recorded_outcome(tmp_path: Path) -> None:
    rng = random.Random(18)
    ours = {p.name: p for p in load_problems(MINIF2F_DIR / "valid.jsonl")}
    settings = settings_for_property(tmp_path)
    checker = GuardOnlyChecker()
    outcomes: Counter[str] = Counter()
    variants = 0
    for rec in corpus():
        problem = ours.get(rec["problem"]) or Problem(rec["problem"], rec["formal_statement"])
        plans = mangled(rec["decomposer"]["answer"], rng)
        proofs = mangled(rec["formalizer"]["answer"], rng)
        for (how, plan), proof in zip(plans.items(), proofs.values(), strict=True):
            variants += 1
            parsed = parse_decomposition(plan, max_requests=5)
            assert all(r.strip() for r in parsed.requests), how

            def answer(call: LLMCall, plan: str = plan, proof: str = proof) -> str:
                return plan if call.component == "decomposer" else proof

            prover = Prover(ScriptedLLM(answer), checker, None, PromptLibrary.load(), settings)  # type: ignore[arg-type]
            record: AttemptRecord = await prover.attempt(replace(problem, informal_proof="x"), 0)
            assert record.failure != "crash", (rec["problem"], how, record.crash)
            assert record.failure in {"no_proof", "guard", "tactic"}, (rec["problem"], how, record.failure)
            assert record.reason, (rec["problem"], how)
            outcomes[str(record.failure)] += 1
    assert variants == 262 * 7
    # the real answers themselves reach the checker far more often than their mangled forms are refused
    assert checker.reached_isabelle > 262 and outcomes["guard"] > 0 and outcomes["no_proof"] > 0, outcomes


# ---------------------------------------------------------------- the replay tier: 20 real records, fake server


TIER = 20


@pytest.fixture
def tier_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server: FakeIsabelleServer) -> Path:
    if not CORPUS.is_file() or not MINIF2F_DIR.is_dir():
        pytest.skip(f"the recorded run is not at {CORPUS} (set LEGO_TEST_SHARED_DIR)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "lego-prover.toml").write_text(
        f'data_dir = "{MINIF2F_DIR}"\n'
        f'[isabelle]\nserver = "127.0.0.1:{fake_server.port}:{fake_server.password}"\n'
        f'work_dir = "{tmp_path / "isa"}"\nworkers = 1\nchecks_per_worker = 4\nsledgehammer = false\n'
        f'repair_timeout_s = 5\n[skills]\ndb_path = "{tmp_path / "skills_db"}"\n'
        '[prover]\nconcurrency = 4\nfeedback_rounds = 0\nhammer_first = false\nstop_when_solved = false\n')
    return tmp_path


@needs_corpus
def test_twenty_real_records_replay_through_extraction_guard_harvest_requests_and_report(
        tier_workspace: Path, script: Script) -> None:
    records = corpus()[::13][:TIER]      # spread over the corpus: 20 problems, some with helper lemmas
    names = list(dict.fromkeys(r["problem"] for r in records))
    (tier_workspace / "tier.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    ours = {p.name: p.formal_statement for p in load_problems(MINIF2F_DIR / "valid.jsonl")}
    # the verdicts are the test's: every other problem's theory "verifies", the rest fail a step
    verified = set(names[1::2])
    for name in names:
        script.by_marker[f"theorem {name}"] = (replies.verified() if name in verified
                                                else replies.error_at("by", "Failed to apply initial proof method"))
    script.default = replies.verified()      # repair variants of sledgehammer placeholders close their step
    result = runner.invoke(app, ["eval", "--problems", ",".join(names), "--replay", "tier.jsonl",
                                 "--run-dir", "run"])
    assert result.exit_code in (0, 1), result.output
    attempts = [json.loads(line) for line in (tier_workspace / "run" / "attempts.jsonl").read_text().splitlines()]
    assert len(attempts) == TIER, "one attempt per recorded attempt, every one recorded"
    assert all(a["replayed_from"] == "tier.jsonl" and a["failure"] != "crash" for a in attempts)
    by_key = {(a["problem"], a["attempt"]): a for a in attempts}
    seen: Counter[str] = Counter()
    for rec in records:
        a = by_key[(rec["problem"], seen[rec["problem"]])]
        seen[rec["problem"]] += 1
        asks = rec["decomposer"]["answer"].split("Request skills", 1)[-1]
        wants_requests = re.search(r"```isabelle\s*\n\s*(lemma|theorem)\b", asks) is not None
        assert bool(a["requests"]) == wants_requests, (rec["problem"], a["requests"])
        if " ".join(rec["formal_statement"].split()) != " ".join(ours[rec["problem"]].split()):
            # LEGO-Prover's copy of the statement differs from ours: a re-prompt had no recorded answer
            assert a["failure"] == "no_recorded_answer", (rec["problem"], a["failure"], a["reason"])
        elif a["failure"] is None:
            assert rec["problem"] in verified and a["theory"]
        else:
            assert a["failure"] in {"tactic", "guard", "no_proof", "unverified"}, (rec["problem"], a["failure"])
    assert any(a["solved"] for a in attempts) and any(a["skills_added"] for a in attempts), "harvest ran"
    stats = json.loads(runner.invoke(app, ["skills", "stats", "--json"]).stdout)
    assert stats["requests"] >= 1 and stats["skills"] == sum(len(a["skills_added"]) for a in attempts)
    assert runner.invoke(app, ["report", "run"]).exit_code == 0
    md = (tier_workspace / "run" / "report.md").read_text()
    assert "answers replayed from tier.jsonl; no model was called" in md


# ---------------------------------------------------------------- all 262 on a real Isabelle (opt-in)


def _real_isabelle_reason(config: pytest.Config) -> str:
    if "isabelle" not in (config.option.markexpr or ""):
        return "the 262-record replay takes most of an hour: select it with -m isabelle"
    from lego_prover.errors import IsabelleNotFoundError
    from lego_prover.isabelle.server import find_isabelle

    try:
        find_isabelle()
    except IsabelleNotFoundError as exc:
        return f"no real Isabelle: {exc}"
    return ""


@pytest.mark.isabelle
@needs_corpus
def test_all_262_records_replay_on_a_real_isabelle(request: pytest.FixtureRequest, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    reason = _real_isabelle_reason(request.config)
    if reason:
        pytest.skip(reason)
    monkeypatch.chdir(tmp_path)
    names = sorted({r["problem"] for r in corpus()})
    result = runner.invoke(app, [
        "eval", "--split", "valid", "--data-dir", str(MINIF2F_DIR), "--problems", ",".join(names),
        "--replay", str(CORPUS), "--no-hammer-first", "--run-dir", "run"], env={
        "LEGO_PROVER_PROVER__FEEDBACK_ROUNDS": "0", "LEGO_PROVER_PROVER__STOP_WHEN_SOLVED": "false",
        "LEGO_PROVER_SKILLS__DB_PATH": str(tmp_path / "skills"),
        "LEGO_PROVER_ISABELLE__TRUSTED_ORACLES": '["holds_by_evaluation"]'})
    assert result.exit_code in (0, 1), result.output
    attempts = [json.loads(line) for line in (tmp_path / "run" / "attempts.jsonl").read_text().splitlines()]
    assert len(attempts) == 262 and not [a for a in attempts if a["failure"] in {"crash", "infrastructure"}]
    plain = [a for a in attempts if not a["trusted_oracles"]]
    print(f"\n262 replayed: {sum(a['solved'] for a in attempts)} verified, "
          f"{sum(a['solved'] for a in plain)} without a trusted oracle; problems "
          f"{len({a['problem'] for a in attempts if a['solved']})} / {len(names)}")
    print(Counter(str(a["failure"]) for a in attempts))
