"""`lego-prover compare` on hand-made run directories: cost-matched numbers worked out by hand,
problems solved by one run and not another, the library's real use, and runs that must not be
set side by side silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.prover.attempt import AttemptRecord
from lego_prover.run.compare import compare_runs, render_markdown

runner = CliRunner()
PROBLEMS = ["p1", "p2", "p3", "p4"]
STATEMENTS = {p: f'theorem {p}:\n  shows "True"' for p in PROBLEMS}


def rec(problem: str, attempt: int, tokens: int, cost: float, solved: bool, *, method: str = "lego",
        retrieved: tuple[str, ...] = (), used: tuple[tuple[str, str], ...] = (), added: tuple[str, ...] = (),
        isabelle: str = "Isabelle2022") -> dict[str, Any]:
    return AttemptRecord(
        problem, attempt, solved, "human", None if solved else "tactic", "", "", "", [], [], list(retrieved),
        [{"name": n, "mode": m} for n, m in used], list(added), 0, 0, [], [], tokens, 0, cost, 0.0, 0.0, 0.0,
        isabelle, "HOL-Number_Theory", "", "", method=method).to_json()


def make_run(path: Path, records: list[dict[str, Any]], *, method: str = "lego", model: str = "gpt-4o-mini",
             attempts: int = 2, hammer_first: bool = False, statements: dict[str, str] | None = None,
             problems: list[str] | None = None, trusted: list[str] | None = None,
             steps: list[dict[str, Any]] | None = None) -> Path:
    path.mkdir(parents=True)
    for i, r in enumerate(records):   # finished one after another, a second apart
        r["finished_at"] = f"2026-11-22T10:00:{i:02d}+00:00"
    meta = {"kind": "eval", "problems": problems or PROBLEMS, "attempts": attempts, "method": method,
            "hammer_first": hammer_first, "library": method == "lego", "model": None if method == "hammer" else model,
            "statements": statements or STATEMENTS, "evolvers": 0}
    isabelle: dict[str, Any] = {"session": "HOL-Number_Theory", "header_mode": "fixed", "imports": ["Complex_Main"]}
    if trusted is not None:
        isabelle["trusted_oracles"] = trusted
    config = {"llm": {"model": model}, "prover": {"method": method, "informal": "human", "feedback_rounds": 1},
              "isabelle": isabelle}
    (path / "run.json").write_text(json.dumps(meta))
    (path / "config.json").write_text(json.dumps(config))
    (path / "attempts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if steps:
        (path / "evolver.jsonl").write_text("".join(json.dumps(s) + "\n" for s in steps))
    return path


@pytest.fixture
def three_runs(tmp_path: Path) -> list[Path]:
    # lego: 1,500 tokens, $0.015; solves p1 (after 100 tokens), p2 (after 1,000), p3 (after 1,500)
    lego = make_run(tmp_path / "lego", [
        rec("p1", 0, 100, 0.001, True, retrieved=("sq_nonneg", "am_gm"), used=(("sq_nonneg", "verbatim"),),
            added=("helper_p1",)),
        rec("p2", 0, 200, 0.002, False, added=("helper_p2",)),
        rec("p3", 0, 300, 0.003, False),
        rec("p2", 1, 400, 0.004, True, retrieved=("helper_p1", "am_gm"), used=(("helper_p1", "modelled"),)),
        rec("p3", 1, 500, 0.005, True, retrieved=("am_gm",)),
    ])
    # dsp with the hammer pass first: p4 solved by the pass (0 tokens), p2 by an LLM attempt; 250 tokens, $0.0025
    dsp = make_run(tmp_path / "dsp", [
        rec("p4", -1, 0, 0.0, True, method="hammer"), rec("p1", -1, 0, 0.0, False, method="hammer"),
        rec("p2", -1, 0, 0.0, False, method="hammer"), rec("p3", -1, 0, 0.0, False, method="hammer"),
        rec("p1", 0, 50, 0.0005, False, method="dsp"), rec("p2", 0, 50, 0.0005, True, method="dsp"),
        rec("p3", 0, 50, 0.0005, False, method="dsp"), rec("p1", 1, 50, 0.0005, False, method="dsp"),
        rec("p3", 1, 50, 0.0005, False, method="dsp"),
    ], method="dsp", hammer_first=True)
    # hammer alone: no tokens at all, solves p4
    hammer = make_run(tmp_path / "hammer", [rec(p, 0, 0, 0.0, p == "p4", method="hammer") for p in PROBLEMS],
                      method="hammer", attempts=1)
    return [lego, dsp, hammer]


def test_cost_matched_numbers_are_each_runs_solved_count_at_the_cheapest_runs_spend(three_runs: list[Path]) -> None:
    c = compare_runs(three_runs)
    assert c.flags == [] and c.problems == PROBLEMS
    # the cheapest run that spent anything is dsp (250 tokens); hammer spent nothing and is not the reference
    assert c.by_tokens is not None and c.by_tokens.reference == "dsp" and c.by_tokens.budget == 250
    # lego at 250 tokens: 100 (p1 solved), then 300 > 250 -> 1; dsp: all of it -> 2 (p4 by the pass); hammer: 1
    assert {k: v.solved for k, v in c.by_tokens.at_budget.items()} == {"lego": 1, "dsp": 2, "hammer": 1}
    assert c.by_tokens.at_budget["dsp"].solved_by_first_pass == 1
    # by cost: dsp spent $0.0025; lego had $0.001 when it solved p1 and $0.003 at its next record -> 1
    assert c.by_cost is not None and c.by_cost.reference == "dsp" and c.by_cost.budget == pytest.approx(0.0025)
    assert {k: v.solved for k, v in c.by_cost.at_budget.items()} == {"lego": 1, "dsp": 2, "hammer": 1}
    md = render_markdown(c)
    assert "At the spend of **dsp** (250 tokens):" in md
    assert "| lego | 1,500 tokens | 1 | 25.0% | 1/4 (25.0%) |" in md
    assert "| dsp | 250 tokens | 2 | 50.0% | 1/3 (33.3%) |" in md, "without the problem the hammer pass solved"
    assert "| hammer | 0 tokens | 1 | 25.0% | 1/4 (25.0%) |" in md
    assert "At the spend of **dsp** ($0.0025):" in md


def test_solved_curves_and_who_solved_what(three_runs: list[Path]) -> None:
    c = compare_runs(three_runs)
    assert c.solved == {"lego": {"p1", "p2", "p3"}, "dsp": {"p2", "p4"}, "hammer": {"p4"}}
    md = render_markdown(c)
    assert "| lego | 3 | 75.0% | 0 | 0 | 3 | 3/4 (75.0%) | 5 | 1,500 | 0 | 0 | $0.0150 |" in md
    assert "| dsp | 2 | 50.0% | 0 | 1 | 1 | 1/3 (33.3%) | 9 | 250 | 0 | 0 | $0.0025 |" in md
    assert "| hammer | 1 | 25.0% | 0 | 0 | 0 | 1/4 (25.0%) | 4 | 0 | 0 | 0 | $0.0000 |" in md, "no LLM attempts at all"
    assert "| lego | — | 2 | 3 |" in md and "| dsp | 1 | — | 1 |" in md and "| hammer | 1 | 0 | — |" in md
    assert "- solved by lego, not by dsp: p1, p3" in md and "- solved by dsp, not by lego: p4" in md
    # pass@k from k = 0 (the hammer pass): lego 0, 1, 3; dsp 1, 2, 2; hammer 1, 1 (kept at k = 2)
    assert "| lego | 0 | 1 | 3 |" in md and "| dsp | 1 | 2 | 2 |" in md and "| hammer | 0 | 1 | 1 |" in md


def test_the_library_use_lists_verbatim_modelled_and_ignored_skills(three_runs: list[Path]) -> None:
    md = render_markdown(compare_runs(three_runs))
    assert "| p1 | 2 | sq_nonneg | — | am_gm |" in md
    assert "| p2 | 2 | — | helper_p1 | am_gm |" in md
    assert "| p3 | 1 | — | — | am_gm |" in md
    assert "skills added: 2 (2 by the prover, 0 by the evolver); distinct skills ever retrieved: 3; " \
           "**distinct skills ever used in a solved proof: 2**" in md
    assert "of these 2 used a retrieved skill" in md


def test_runs_that_differ_in_model_statements_isabelle_or_trusted_oracles_are_flagged(tmp_path: Path) -> None:
    base = make_run(tmp_path / "a", [rec("p1", 0, 10, 0.0, True)], trusted=[])
    other = make_run(tmp_path / "b", [rec("p1", 0, 10, 0.0, True, isabelle="Isabelle2023")], model="gpt-4o",
                     statements={**STATEMENTS, "p2": 'theorem p2:\n  shows "False \\<longrightarrow> True"'},
                     trusted=["Code_Generator.holds_by_evaluation"], problems=[*PROBLEMS, "p5"])
    c = compare_runs([base, other])
    text = "\n".join(c.flags)
    assert "models differ: a: gpt-4o-mini; b: gpt-4o" in text
    assert "Isabelle versions differ: a: Isabelle2022; b: Isabelle2023" in text
    assert "trusted oracles differ: a: none; b: Code_Generator.holds_by_evaluation" in text
    assert "1 problem(s) have different statements in different runs and are left out: p2" in text
    assert "the runs attempted different problems: compared on the 4 they share" in text
    assert c.problems == ["p1", "p3", "p4"]
    md = render_markdown(c)
    assert md.index("not directly comparable") < md.index("## Runs")
    assert "Same model" not in md


def test_cached_answers_and_a_library_that_was_not_empty_are_flagged(tmp_path: Path) -> None:
    cached = rec("p1", 0, 10, 0.0, True)
    cached["calls"] = [{"component": "formalizer", "prompt": "formalizer", "prompt_tokens": 8, "completion_tokens": 2,
                        "finish_reason": "stop", "cached": True, "completion": "x"}]
    a = make_run(tmp_path / "a", [cached])
    b = make_run(tmp_path / "b", [rec("p1", 0, 10, 0.0, True)])
    meta = json.loads((b / "run.json").read_text())
    (b / "run.json").write_text(json.dumps({**meta, "library_skills_at_start": 12}))
    flags = compare_runs([a, b]).flags
    assert flags == ["1 of 1 LLM calls of a were answered from the response cache and cost nothing: its cost is "
                     "understated (llm.cache = false for comparison runs)",
                     "b started with 12 skills already in its library (from earlier runs or imports)"]


def test_a_missing_trusted_oracles_key_means_none_trusted(tmp_path: Path) -> None:
    old = make_run(tmp_path / "old", [rec("p1", 0, 10, 0.0, True)])                # no key at all
    new = make_run(tmp_path / "new", [rec("p1", 0, 10, 0.0, True)], trusted=[])
    assert compare_runs([old, new]).flags == []


def test_the_compare_command_writes_markdown_and_html_and_refuses_one_run(three_runs: list[Path],
                                                                          tmp_path: Path) -> None:
    result = runner.invoke(app, ["compare", *map(str, three_runs), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cmp" / "compare.md").read_text().startswith("# lego-prover comparison")
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "<h3>lego</h3>" in page
    alone = runner.invoke(app, ["compare", str(three_runs[0])])
    assert alone.exit_code == 2 and "at least two run directories" in alone.output
    missing = runner.invoke(app, ["compare", str(three_runs[0]), str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "nope does not exist" in missing.output


def test_evolver_steps_count_in_a_runs_spend_in_the_order_they_finished(tmp_path: Path) -> None:
    from lego_prover.run.compare import RunView, solved_within, spend_curve

    path = make_run(tmp_path / "evolving", [rec("p1", 0, 100, 0.0, True), rec("p2", 0, 100, 0.0, True)],
                    steps=[{"step": 0, "prompt_tokens": 150, "completion_tokens": 50, "cost_usd": 0.0,
                            "finished_at": "2026-11-22T10:00:00+00:00", "added": ["s"]}])
    curve = spend_curve(RunView.load(path, "evolving"), set(PROBLEMS))
    # attempt p1 (10:00:00, first in the file), the evolver step (10:00:00), attempt p2 (10:00:01)
    assert [(p.tokens, p.solved) for p in curve] == [(100, 1), (300, 1), (400, 2)]
    assert solved_within(curve, 300, "tokens").solved == 1 and solved_within(curve, 99, "tokens").solved == 0
