"""The evolver with the scripted LLM and the fake Isabelle server: each direction adds a
verified skill with its lineage, a proved request is closed and linked, duplicates are
rejected, counters change, an offline run resumes after a kill, and evolvers beside the
provers do not slow them beyond their share."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.config import IsabelleSettings, Settings, load_settings
from lego_prover.evolver.directional import DIRECTIONS
from lego_prover.evolver.loop import Evolver, is_directional
from lego_prover.isabelle.checker import Checker
from lego_prover.llm.usage import UsageTracker
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.run import evaluate
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import Origin
from tests.conftest import MINIF2F_DIR
from tests.fakes import replies
from tests.fakes.fake_isabelle import Script
from tests.fakes.hash_embedder import HashEmbedder
from tests.fakes.scripted_llm import LLMCall, ScriptedLLM
from tests.killed_run import kill_when
from tests.skill_helpers import verify

SEED = 'lemma sq_sum_nonneg:\n  fixes a b :: real\n  shows "a^2 + b^2 >= 0"\n  by simp'
REQUEST = 'lemma cube_diff_factor:\n  fixes x y :: real\n  shows "x^3 - y^3 = (x - y) * (x^2 + x*y + y^2)"'
EVOLVED = {
    "identify_key_concepts": 'lemma sq_nonneg_key:\n  fixes t :: real\n  shows "0 <= t * t"\n  by simp',
    "parameterize": 'lemma scaled_nonneg:\n  fixes c t :: real\n  assumes "c >= 0"\n  shows "c * t^2 >= 0"\n  using assms by simp',
    "scale_complexity": 'lemma four_sq_sum_nonneg:\n  fixes a b c d :: real\n  shows "a^2 + b^2 + c^2 + d^2 >= 0"\n  by simp',
    "extend_dimensions": 'lemma finite_sq_sum_nonneg:\n  fixes f :: "nat => real"\n  shows "(\\<Sum>i<n. (f i)^2) >= 0"\n  by (simp add: sum_nonneg)',
}


def evolver_answer(call: LLMCall) -> str:
    if call.component.startswith("evolver:"):
        return f"```isabelle\n{EVOLVED[call.component.split(':', 1)[1]]}\n```"
    if call.component == "request_solver":
        return f"```isabelle\n{REQUEST}\n  by (simp add: power3_eq_cube power2_eq_square algebra_simps)\n```"
    raise AssertionError(call.component)


@pytest.fixture
def settings(tmp_path: Path, isabelle_settings: IsabelleSettings) -> Settings:
    base = load_settings(None, {"evolver.samples": 1, "evolver.directional_share": 1.0}, environ={}, cwd=tmp_path)
    return base.model_copy(update={"isabelle": isabelle_settings})



@pytest.fixture
async def library(tmp_path: Path, checker: Checker, script: Script) -> SkillLibrary:
    from lego_prover.config import SkillSettings

    # the hashed bag-of-words embedder is coarse: only near-identical statements count as duplicates here
    lib = SkillLibrary.open(SkillSettings(db_path=tmp_path / "db", dedup_threshold=0.97), HashEmbedder())
    (record,) = await verify(checker, script, SEED)
    assert lib.add(record, Origin("problem", problem="p0", attempt=0)).added
    return lib


def make_evolver(llm: ScriptedLLM, checker: Checker, library: SkillLibrary, settings: Settings,
                 share: float) -> Evolver:
    tuned = settings.model_copy(update={"evolver": settings.evolver.model_copy(update={"directional_share": share})})
    return Evolver(llm, checker, library, PromptLibrary.load(), tuned)


def test_directional_steps_are_spread_evenly() -> None:
    assert sum(is_directional(i, 0.3) for i in range(100)) == 30
    assert [is_directional(i, 0.5) for i in range(4)] == [False, True, False, True]


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_each_direction_adds_a_verified_skill_with_its_lineage(direction: str, library: SkillLibrary,
                                                                    checker: Checker, script: Script,
                                                                    settings: Settings) -> None:
    script.default = replies.verified()
    evolver = make_evolver(ScriptedLLM(evolver_answer), checker, library, settings, share=1.0)
    index = DIRECTIONS.index(direction)  # share 1.0: step i uses direction i
    record = await evolver.step(index)
    assert (record.kind, record.direction, record.parent) == ("directional", direction, "sq_sum_nonneg")
    assert len(record.added) == 1, (record.candidates, record.verified, record.duplicates, record.errors, record.reason)
    (name,) = record.added
    skill = library.get(name)
    assert skill is not None and skill.origin == Origin("evolver", direction=direction, parent="sq_sum_nonneg")
    parent = library.get("sq_sum_nonneg")
    assert parent is not None and parent.times_evolved == 1


async def test_the_least_evolved_skill_is_picked_so_counters_move_the_choice(library: SkillLibrary,
                                                                             checker: Checker, script: Script,
                                                                             settings: Settings) -> None:
    script.default = replies.verified()
    evolver = make_evolver(ScriptedLLM(evolver_answer), checker, library, settings, share=1.0)
    first = await evolver.step(0)
    second = await evolver.step(1)
    assert first.parent == "sq_sum_nonneg" and second.parent == first.added[0]


async def test_a_duplicate_evolution_is_rejected(library: SkillLibrary, checker: Checker, script: Script,
                                                settings: Settings) -> None:
    script.default = replies.verified()
    evolver = make_evolver(ScriptedLLM(evolver_answer), checker, library, settings, share=1.0)
    first = await evolver.step(0)
    again = await evolver.step(4)  # identify_key_concepts once more: the same lemma comes back
    assert first.added and not again.added and again.duplicates == first.added


async def test_a_proved_request_is_closed_and_linked_to_its_skill(library: SkillLibrary, checker: Checker,
                                                                  script: Script, settings: Settings) -> None:
    (request,) = library.add_requests([REQUEST], source="mathd_algebra_1")
    script.default = replies.verified()
    evolver = make_evolver(ScriptedLLM(evolver_answer), checker, library, settings, share=0.0)
    record = await evolver.step(0)
    assert record.kind == "request" and record.closed_request == "cube_diff_factor"
    closed = library.get_request(request.id)
    assert closed is not None and closed.solved_by == "cube_diff_factor" and closed.attempts == 1
    skill = library.get("cube_diff_factor")
    assert skill is not None and skill.origin == Origin("request", request=request.id)


async def test_a_failed_request_stays_open_and_counts_the_try(library: SkillLibrary, checker: Checker,
                                                             script: Script, settings: Settings) -> None:
    (request,) = library.add_requests([REQUEST], source="p")
    script.default = replies.error_at("by (simp", "Failed to finish proof")
    evolver = make_evolver(ScriptedLLM(evolver_answer), checker, library, settings, share=0.0)
    record = await evolver.step(0)
    assert record.kind == "request" and not record.closed_request and record.errors
    still = library.get_request(request.id)
    assert still is not None and still.open and still.attempts == 1


async def test_a_request_answer_that_changes_the_statement_is_refused(library: SkillLibrary, checker: Checker,
                                                                      script: Script, settings: Settings) -> None:
    library.add_requests([REQUEST], source="p")
    script.default = replies.verified()
    weaker = REQUEST.replace("x^3 - y^3", "x^3 - x^3 + y - y").replace("= (x - y) * (x^2 + x*y + y^2)", "= 0")
    llm = ScriptedLLM({"request_solver": f"```isabelle\n{weaker}\n  by simp\n```"})
    record = await make_evolver(llm, checker, library, settings, share=0.0).step(0)
    assert not record.closed_request and "statement" in " ".join(record.errors).lower()


# ----------------------------------------------------------------- offline `evolve`, killed and resumed

needs_minif2f = pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")

def varied_answer(call: LLMCall) -> str:
    """A new lemma per step (named after the attempt index), so every step adds one."""
    k = call.attempt
    return (f"```isabelle\nlemma evolved_{k}:\n  fixes x :: real\n  shows \"x^2 + {k} * x^4 + {k}^{k} >= {k}^{k}\"\n"
            "  by simp\n```")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server: object, script: Script) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "unused-the-llm-is-scripted")  # the preflight wants one
    fake = fake_server
    (tmp_path / "lego-prover.toml").write_text(
        f'data_dir = "{MINIF2F_DIR}"\n'
        f'[isabelle]\nserver = "127.0.0.1:{fake.port}:{fake.password}"\n'  # type: ignore[attr-defined]
        f'work_dir = "{tmp_path / "isa"}"\nworkers = 1\nchecks_per_worker = 2\nsledgehammer = false\n'
        f'[skills]\ndb_path = "{tmp_path / "skills_db"}"\ndedup_threshold = 1.0\n'
        '[evolver]\nsamples = 1\nconcurrency = 1\n')
    script.default = replies.verified()
    return tmp_path


def _seed_library(workspace: Path) -> None:
    from lego_prover.config import SkillSettings
    from lego_prover.skills.records import VerificationRecord

    with SkillLibrary.open(SkillSettings(db_path=workspace / "skills_db")) as lib:
        lib.add(VerificationRecord.from_trusted_export(
            {"name": "seed", "statement": 'lemma seed: "(1::nat) + 1 = 2"', "text": 'lemma seed: "(1::nat) + 1 = 2" by simp',
             "isabelle": "t", "session": "t"}, isabelle="t", session="t"), Origin("problem"))


@needs_minif2f
@pytest.mark.slow
def test_an_offline_evolve_run_resumes_after_kill_9(workspace: Path) -> None:
    _seed_library(workspace)
    steps = workspace / "run" / "evolver.jsonl"
    kill_when(workspace, ["evolve", "--steps", "12", "--for", "minif2f:valid", "--run-dir", "run"],
              answer="tests.test_evolver:varied_answer", watch=steps, lines=3, delay=0.2)
    before = [json.loads(line) for line in steps.read_text().splitlines() if line.strip()]
    assert 3 <= len(before) < 12

    scripted = ScriptedLLM(varied_answer)

    @contextmanager
    def fake_open_llm(settings: object, tracker: UsageTracker) -> Iterator[ScriptedLLM]:
        scripted.tracker = tracker
        yield scripted

    mp = pytest.MonkeyPatch()
    mp.setattr(evaluate, "open_llm", fake_open_llm)
    try:
        result = CliRunner().invoke(app, ["evolve", "--steps", "12", "--for", "minif2f:valid", "--run-dir", "run",
                                          "--resume"])
    finally:
        mp.undo()
    assert result.exit_code == 0, result.output
    after = [json.loads(line) for line in steps.read_text().splitlines() if line.strip()]
    assert after[: len(before)] == before
    assert sorted(s["step"] for s in after) == list(range(12)), "no step lost or repeated"
    stats = json.loads(CliRunner().invoke(app, ["skills", "stats", "--json"]).stdout)
    assert stats["by_origin"].get("evolver", 0) >= 3 and stats["by_direction"]


# ----------------------------------------------------------------- beside the provers

PROBLEMS_JSONL = [
    {"name": f"toy_{i}", "formal_statement": f'theorem toy_{i}:\n  fixes x :: nat\n  shows "x + {i} = {i} + x"',
     "informal_statement": f"x + {i} = {i} + x", "informal_proof": "Commutativity."} for i in range(3)]


def prover_or_evolver_answer(call: LLMCall) -> str:
    if call.component == "decomposer":
        return "## Structured proof\nStep 1. Commute.\n\n## Requests\nN/A"
    if call.component in ("formalizer", "feedback"):
        i = call.problem.split("_")[1]
        return f'```isabelle\ntheorem toy_{i}:\n  fixes x :: nat\n  shows "x + {i} = {i} + x"\n  by simp\n```'
    return varied_answer(call)


async def _timed_eval(tmp_path: Path, settings: Settings, checker: Checker, library: SkillLibrary,
                      evolvers: int) -> tuple[float, int, int]:
    from lego_prover.problems import Problem
    from lego_prover.run.evaluate import Services, run_eval

    problems = [Problem(**p) for p in PROBLEMS_JSONL]  # type: ignore[arg-type]
    # prover calls are quick, evolver calls slow; the "server" serves 3 calls at once
    llm = ScriptedLLM(prover_or_evolver_answer, concurrency=3,
                      delay_s=lambda c: 0.08 if c.component in ("decomposer", "formalizer", "feedback") else 1.0)
    tracker = UsageTracker()
    llm.tracker = tracker
    services = Services(llm, checker, library, PromptLibrary.load(), tracker)
    tuned = settings.model_copy(update={"prover": settings.prover.model_copy(
        update={"attempts": 4, "concurrency": 2, "feedback_rounds": 0, "hammer_first": False})})
    started = time.monotonic()
    summary = await run_eval(tuned, problems, run_dir=tmp_path / f"run{evolvers}", resume=False, meta={},
                             services=services, evolvers=evolvers)
    evolver_calls = sum(1 for c in llm.calls if c.component.startswith(("evolver", "request")))
    return time.monotonic() - started, summary["attempts"], evolver_calls


async def test_a_slow_evolver_beside_the_provers_does_not_slow_them(tmp_path: Path, library: SkillLibrary,
                                                                    checker: Checker, script: Script,
                                                                    settings: Settings) -> None:
    """2 prover workers and 1 evolver share an LLM that serves 3 calls at once: the provers'
    throughput stays what it is alone, since the evolver only uses its own share."""
    script.default = replies.error_at("by simp", "Failed to finish proof")   # every attempt runs
    alone, attempts, _ = await _timed_eval(tmp_path, settings, checker, library, evolvers=0)
    beside, attempts_beside, evolver_calls = await _timed_eval(tmp_path, settings, checker, library, evolvers=1)
    assert attempts == attempts_beside == 12
    assert evolver_calls >= 1, "the evolver really ran beside the provers"
    assert beside <= alone * 1.3 + 0.3, f"provers took {beside:.2f}s beside an evolver vs {alone:.2f}s alone"


def test_the_report_shows_what_the_evolver_added() -> None:
    from lego_prover.run.report import render_markdown
    from lego_prover.run.summary import summarize

    steps = [{"step": 0, "kind": "directional", "direction": "parameterize", "added": ["a", "b"]},
             {"step": 1, "kind": "request", "added": ["c"], "closed_request": "c"}]
    summary = summarize([], ["p"], max_attempts=1, evolver_steps=steps,
                        library={"evolved_used_in_proofs": 1, "by_origin": {"evolver": 2}})
    md = render_markdown({}, summary)
    assert "| parameterize | 1 | 2 |" in md and "| request | 1 | 1 |" in md
    assert "later appeared in verified proofs: 1 of 2" in md and summary["requests_solved_by_evolver"] == 1
