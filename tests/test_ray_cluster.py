"""Checking on a Ray cluster: a real local cluster (one per module, loopback only, no
dashboard), checker actors running the real Checker against the fake Isabelle server (it
replays scripted replies and never judges a proof), and the scripted LLM.

Skipped with the reason when Ray (the ``ray`` extra) or ../shared/minif2f is missing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.config import IsabelleSettings, RunSettings, Settings, load_settings
from lego_prover.doctor import check_cluster
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import TheoryContext
from lego_prover.isabelle.verdict import BlockVerdict, ErrorReport, FailureKind, Verdict
from lego_prover.llm.usage import UsageTracker
from lego_prover.problems import load_problems
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.run import evaluate
from lego_prover.run.cluster import RayRemote, open_cluster_checker
from lego_prover.run.evaluate import Services, run_eval
from tests.conftest import MINIF2F_DIR
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script
from tests.fakes.scripted_llm import ScriptedLLM
from tests.killed_run import kill_when
from tests.test_eval_e2e import FAILING, OTHER, SOLVED, answer, read_attempts
from tests.test_evolver import _seed_library, varied_answer

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")]

runner = CliRunner()
ORDERED = "mathd_algebra_110"   # a fourth problem, so two actors have work at once


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local Ray cluster for this module: 4 logical CPUs, bound to 127.0.0.1, no dashboard."""
    with pytest.MonkeyPatch.context() as mp:
        # Ray binds to the machine's address unless clusters are "disabled", which on Linux
        # is exactly "this machine only, on loopback" (the switch is named for Windows/macOS)
        mp.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        mp.delenv("RAY_AUTH_MODE", raising=False)  # ray.init sets it; restored (removed) afterwards
        ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'lego-prover[ray]')")
        # the same switch as read at import time, for when another test imported Ray first
        mp.setattr("ray._private.ray_constants.ENABLE_RAY_CLUSTER", False)
        ray.init(num_cpus=4, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False,
                 logging_level=logging.WARNING)
        try:
            address = str(ray.get_runtime_context().gcs_address)
            assert address.startswith("127.0.0.1:"), f"the test cluster must be on loopback, got {address}"
            yield address
        finally:
            ray.shutdown()


def write_config(folder: Path, fake: FakeIsabelleServer, *, concurrency: int) -> None:
    (folder / "lego-prover.toml").write_text(
        f'data_dir = "{MINIF2F_DIR}"\n'
        f'[isabelle]\nserver = "127.0.0.1:{fake.port}:{fake.password}"\n'
        f'work_dir = "{folder / "isa"}"\nworkers = 1\nchecks_per_worker = 2\nsledgehammer = false\n'
        f'[skills]\ndb_path = "{folder / "skills_db"}"\n'
        f'[prover]\nconcurrency = {concurrency}\nfeedback_rounds = 1\nhammer_first = false\n'
        '[run]\nray_actor_cpus = 2\n'                 # 4 CPUs: two checker actors, 2 check slots each
        '[llm.prices.scripted]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n')


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server: FakeIsabelleServer) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "unused-the-llm-is-scripted")  # the preflight wants one
    write_config(tmp_path, fake_server, concurrency=1)
    return tmp_path


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> ScriptedLLM:
    scripted = ScriptedLLM(answer)

    @contextmanager
    def fake_open_llm(settings: object, tracker: object) -> Iterator[ScriptedLLM]:
        scripted.tracker = tracker  # type: ignore[assignment]
        yield scripted

    monkeypatch.setattr(evaluate, "open_llm", fake_open_llm)
    return scripted


def comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records without timings, and with the random theory names made equal."""
    timing = {"started_at", "finished_at", "llm_s", "check_s", "total_s"}
    out = [json.loads(re.sub(r"T_[0-9a-f]{32}", "T_X", json.dumps({k: v for k, v in r.items() if k not in timing})))
           for r in records]
    return sorted(out, key=lambda r: (r["problem"], r["attempt"]))


# --------------------------------------------------------------------------- tests


def test_a_verdict_crosses_ray_unchanged(ray_cluster: str) -> None:
    import ray

    error = ErrorReport("Failed to finish proof\\<^here>:\ngoal (1 subgoal):\n 1. b = 0", 7, "t", 1, "by simp",
                        "1. b = 0", FailureKind.TACTIC, 120)
    verdict = Verdict(False, FailureKind.TACTIC, "t: line 7: Failed ≤ to finish", "T_ab", "theory T_ab ...", "t",
                      (BlockVerdict("t", 1, "lemma", "body", False, (error,), ("h",), ()),), (error,),
                      "Isabelle2022", "HOL-Number_Theory", 1.25, ("by simp",))
    back = ray.get(ray.remote(lambda v: v).remote(verdict))      # out to a worker process and back
    assert back == verdict and type(back) is Verdict and back.failure is FailureKind.TACTIC
    assert back.errors[0].kind is FailureKind.TACTIC and back.root_errors == verdict.root_errors


async def test_check_and_confirm_in_an_actor_give_the_local_checkers_verdicts(
        ray_cluster: str, script: Script, checker: Checker, isabelle_settings: IsabelleSettings) -> None:
    statement = 'theorem t:\n  fixes a :: nat\n  shows "a + 0 = a"'
    good = 'lemma helper:\n  shows "(2::nat) + 2 = 4"\n  by simp\n\n' + statement + "\n  (* GOOD *)\n  by simp"
    bad = statement + "\n  (* BAD *)\n  by blast"
    script.by_marker["GOOD"] = replies.verified()
    script.by_marker["BAD"] = replies.error_at("by blast", "Failed to apply initial proof method\\<^here>:\ngoal (1 subgoal):\n 1. a + 0 = a")
    script.default = replies.verified()                    # the lemma checked alone by confirm
    context = TheoryContext(tuple(isabelle_settings.imports), "", "t", statement)
    settings = Settings(isabelle=isabelle_settings, run=RunSettings(ray_address="auto", ray_actor_cpus=4))

    def same(v: Verdict) -> Verdict:
        return replace(v, theory_name="T_X", theory_text=re.sub(r"T_[0-9a-f]{32}", "T_X", v.theory_text), elapsed_s=0)

    local = [await checker.check(good, context), await checker.check(bad, context)]
    local.append(await checker.confirm(local[0], context, ["helper"]))
    async with open_cluster_checker(settings) as remote:
        assert remote.alive == 1
        ray_made = [await remote.check(good, context), await remote.check(bad, context)]
        ray_made.append(await remote.confirm(ray_made[0], context, ["helper"]))
    assert [v.verified for v in ray_made] == [True, False, True]
    assert ray_made[1].errors[0].goal == "1. a + 0 = a" and ray_made[1].failure is FailureKind.TACTIC
    assert [same(v) for v in ray_made] == [same(v) for v in local]


def test_an_eval_on_the_cluster_records_exactly_what_the_one_machine_run_records(
        ray_cluster: str, workspace: Path, llm: ScriptedLLM, script: Script,
        monkeypatch: pytest.MonkeyPatch) -> None:
    script.by_marker[f"MARK_{SOLVED}"] = replies.verified()
    script.by_marker[f"MARK_{FAILING}"] = replies.error_at(
        "by simp", "Failed to finish proof\\<^here>:\ngoal (1 subgoal):\n 1. b = 0", occurrence=2)
    script.by_marker[f"MARK_{OTHER}"] = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    argv = ["eval", "--problems", f"{SOLVED},{FAILING},{OTHER}", "--attempts", "2"]
    monkeypatch.setenv("LEGO_PROVER_SKILLS__DB_PATH", str(workspace / "skills_one"))
    one = runner.invoke(app, [*argv, "--run-dir", "one"])
    assert one.exit_code == 0, one.output
    monkeypatch.setenv("LEGO_PROVER_SKILLS__DB_PATH", str(workspace / "skills_ray"))
    cluster = runner.invoke(app, [*argv, "--run-dir", "cluster", "--ray", "auto"])
    assert cluster.exit_code == 0, cluster.output
    assert "2 checker actors with 4 check slots" in cluster.output
    ran = comparable(read_attempts(workspace / "cluster"))
    assert ran == comparable(read_attempts(workspace / "one"))
    assert [(r["problem"], r["solved"], r["failure"]) for r in ran if r["attempt"] == 0] == [
        (SOLVED, True, None), (FAILING, False, "tactic"), (OTHER, False, "tactic")]
    assert all(r["isabelle"] == "Isabelle2022 (fake test server)" for r in ran)
    summaries = [json.loads((workspace / d / "summary.json").read_text()) for d in ("one", "cluster")]
    one_summary, cluster_summary = ((s["solved"], s["attempts"], s["pass_at_k"]) for s in summaries)
    assert one_summary == cluster_summary


def test_evolve_checks_on_the_cluster_too(ray_cluster: str, workspace: Path, script: Script,
                                          fake_server: FakeIsabelleServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with (workspace / "lego-prover.toml").open("a") as toml:
        toml.write('[evolver]\nsamples = 1\nconcurrency = 2\n')
    monkeypatch.setenv("LEGO_PROVER_SKILLS__DEDUP_THRESHOLD", "1.0")     # every evolved lemma is new
    _seed_library(workspace)
    script.default = replies.verified()
    scripted = ScriptedLLM(varied_answer)

    @contextmanager
    def fake_open_llm(settings: object, tracker: UsageTracker) -> Iterator[ScriptedLLM]:
        scripted.tracker = tracker
        yield scripted

    monkeypatch.setattr(evaluate, "open_llm", fake_open_llm)
    result = runner.invoke(app, ["evolve", "--steps", "4", "--for", "minif2f:valid", "--run-dir", "run", "--ray", "auto"])
    assert result.exit_code == 0, result.output
    assert "2 checker actors with 4 check slots" in result.output
    steps = [json.loads(line) for line in (workspace / "run" / "evolver.jsonl").read_text().splitlines()]
    assert sorted(s["step"] for s in steps) == [0, 1, 2, 3] and sum(len(s["added"]) for s in steps) >= 1


async def test_a_killed_actor_has_its_checks_retried_elsewhere_and_the_run_finishes(
        ray_cluster: str, tmp_path: Path, fake_server: FakeIsabelleServer, script: Script,
        monkeypatch: pytest.MonkeyPatch) -> None:
    failing = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    failing.delay_s = 0.4                                  # checks stay in flight long enough to be caught
    script.default = failing
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("OPENAI_API_KEY", "unused-the-llm-is-scripted")  # the preflight wants one
    write_config(tmp_path, fake_server, concurrency=4)
    settings = load_settings(tmp_path / "lego-prover.toml", {"prover.attempts": 3, "run.ray_address": "auto"})
    names = {SOLVED, FAILING, OTHER, ORDERED}
    problems = [p for p in load_problems(MINIF2F_DIR / "valid.jsonl") if p.name in names]
    tracker = UsageTracker(settings.llm.prices, settings.budget)
    notes: list[str] = []
    async with open_cluster_checker(settings, note=notes.append) as checker:
        victim = checker.remotes[0]
        assert isinstance(victim, RayRemote)

        async def kill_victim_mid_check() -> None:
            while checker.stats()[0].in_flight == 0 or checker.stats()[0].done < 1:
                await asyncio.sleep(0.02)
            os.kill(victim.info.pid, signal.SIGKILL)

        killer = asyncio.create_task(kill_victim_mid_check())
        services = Services(ScriptedLLM(answer, tracker=tracker), checker, None, PromptLibrary.load(), tracker)
        summary = await asyncio.wait_for(
            run_eval(settings, problems, run_dir=tmp_path / "run", resume=False, meta={}, services=services), 240)
        await asyncio.wait_for(killer, 5)
        stats = checker.stats()
    assert stats[0].lost and stats[1].lost is None, "the killed actor was dropped, the other kept"
    assert checker.retried >= 1, "the killed actor's in-flight checks went to the other one"
    assert any("was lost" in n for n in notes)
    records = read_attempts(tmp_path / "run")
    keys = sorted((r["problem"], r["attempt"]) for r in records)
    assert keys == sorted((p, i) for p in names for i in range(3)), "nothing lost, nothing twice"
    assert {r["failure"] for r in records} == {"tactic"}, "every check got its scripted verdict, none 'server'"
    assert summary["attempts"] == 12


def test_a_killed_driver_resumes_on_the_cluster_without_losing_or_repeating_an_attempt(
        ray_cluster: str, workspace: Path, llm: ScriptedLLM, script: Script, fake_server: FakeIsabelleServer) -> None:
    script.default = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    write_config(workspace, fake_server, concurrency=2)
    argv = ["eval", "--problems", f"{FAILING},{OTHER}", "--attempts", "6", "--run-dir", "run"]
    kill_when(workspace, [*argv, "--ray", ray_cluster], answer="tests.test_eval_e2e:answer",
              watch=workspace / "run" / "attempts.jsonl", lines=3)
    before = read_attempts(workspace / "run")
    assert 3 <= len(before) < 12, "killed mid-run"
    result = runner.invoke(app, [*argv, "--resume", "--ray", "auto"])
    assert result.exit_code == 0, result.output
    # the cluster has 4 CPUs: both new actors got placed, so Ray ended the dead driver's two
    assert "2 checker actors with 4 check slots" in result.output
    after = read_attempts(workspace / "run")
    assert after[: len(before)] == before, "nothing written before the kill was lost or changed"
    keys = [(r["problem"], r["attempt"]) for r in after]
    assert sorted(keys) == sorted((p, i) for p in (FAILING, OTHER) for i in range(6)), "none repeated, none missing"


def test_doctor_reports_every_node_isabelle_heap_and_check_slots(ray_cluster: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEGO_PROVER_LLM__BASE_URL", "http://127.0.0.1:9/v1")   # nothing listens: fails fast
    monkeypatch.setenv("LEGO_PROVER_ISABELLE__HOME", str(tmp_path / "nowhere"))
    missing = runner.invoke(app, ["doctor", "--ray", "auto"])
    shown = " ".join(missing.output.split())
    assert missing.exit_code == 1 and "✓ Ray cluster: auto: 1 alive nodes" in shown
    assert re.search(r"✗ node \S+ \(127\.0\.0\.1\): Isabelle: not found fix: isabelle\.home=", shown), shown
    assert "has no executable bin/isabelle" in shown
    assert re.search(r"✓ node \S+ \(127\.0\.0\.1\): check slots: 2 \(1 checker actor x 2\), 2 free now; 4 CPUs, 4 free",
                     shown), shown

    home = tmp_path / "FakeIsabelle"           # a stand-in install that only answers doctor's two questions
    heaps = tmp_path / "heaps"
    (heaps / "polyml").mkdir(parents=True)
    (heaps / "polyml" / "HOL-Number_Theory").write_text("heap")
    (home / "bin").mkdir(parents=True)
    exe = home / "bin" / "isabelle"
    exe.write_text(f'#!/bin/sh\nif [ "$1" = version ]; then echo Isabelle2022; else echo {heaps}; fi\n')
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    settings = load_settings(None, {"isabelle.home": str(home), "run.ray_address": "auto", "run.ray_actor_cpus": 2},
                             environ={}, cwd=tmp_path)
    found = {f.name.split(": ", 1)[-1]: f for f in check_cluster(settings)}
    assert found["Isabelle"].ok and found["Isabelle"].detail == f"Isabelle2022 at {exe}"
    heap = found["session heap HOL-Number_Theory"]
    assert heap.ok and heap.detail == str(heaps / "polyml" / "HOL-Number_Theory")
    assert found["check slots"].detail.startswith("4 (2 checker actors x 2)")
