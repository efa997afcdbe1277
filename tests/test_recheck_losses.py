"""``benchmarks/recheck_losses.py`` and ``replay_figures.py --rechecked``: which attempts are
checked again, and how their new verdicts replace the run's."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


def _load(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


recheck = _load("recheck_losses")
figures = _load("replay_figures")


def _record(problem: str, attempt: int, solved: bool) -> dict[str, Any]:
    return {"problem": problem, "attempt": attempt, "solved": solved, "proof": f"proof of {problem}",
            "failure": None if solved else "tactic", "reason": "verified" if solved else "Failed to finish proof",
            "errors": [], "repairs": [], "trusted_oracles": []}


def _run(tmp_path: Path, *records: dict[str, Any]) -> Path:
    (tmp_path / "attempts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return tmp_path


def test_every_lost_attempt_is_checked_again_and_none_already_checked(tmp_path: Path) -> None:
    run = _run(tmp_path, _record("a", 0, True), _record("a", 1, False), _record("b", 0, False),
               {**_record("c", -1, False)})
    assert [(r["problem"], r["attempt"]) for r in recheck.wanted(run, [], set())] == [("a", 1), ("b", 0)]
    assert [(r["problem"], r["attempt"]) for r in recheck.wanted(run, [], {("b", 0)})] == [("a", 1)]


def test_named_attempts_are_checked_whatever_their_verdict(tmp_path: Path) -> None:
    run = _run(tmp_path, _record("a", 0, True), _record("a", 1, False), _record("b", 0, False))
    assert [(r["problem"], r["attempt"]) for r in recheck.wanted(run, ["a", "b#0"], set())] == [("a", 0), ("b", 0)]


def test_a_rechecked_verdict_replaces_the_runs_and_the_figures_say_so(tmp_path: Path) -> None:
    by_key = {("a", 1): _record("a", 1, False), ("b", 0): _record("b", 0, False)}
    rows = [{"problem": "a", "attempt": 1, "verified": True, "failure": None, "reason": "verified", "errors": [],
             "repairs": ["'by simp' -> 'by sos'"], "trusted_oracles": [], "code": "abc1234"},
            {"problem": "b", "attempt": 0, "verified": False, "failure": "timeout", "reason": "did not finish",
             "errors": [], "repairs": [], "trusted_oracles": [], "code": "abc1234"}]
    path = tmp_path / "rechecked.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    said = figures.merge_rechecked(by_key, path)
    assert said == {"attempts": 2, "verified_now": 1, "code": ["abc1234"]}
    assert by_key[("a", 1)]["solved"] and by_key[("a", 1)]["repairs"] == ["'by simp' -> 'by sos'"]
    assert not by_key[("b", 0)]["solved"] and by_key[("b", 0)]["failure"] == "timeout"
