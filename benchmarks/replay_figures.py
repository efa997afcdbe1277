"""Figures of a replay of LEGO-Prover's published run (part 2 of issue 18).

Usage::

    python benchmarks/replay_figures.py RUN_DIR --corpus ../shared/llm-replies/lego-prover/valid.jsonl \\
        --data-dir ../shared/minif2f [--json out.json] [--finals finals.jsonl] [--rechecked rechecked.jsonl]

RUN_DIR is an ``eval --replay CORPUS`` run (``prover.stop_when_solved = false``, so every
recorded attempt ran). Prints: attempts and problems verified, with and without the oracle
the user trusted (``holds_by_evaluation``), the attempts whose LEGO-Prover final theory used
``by eval`` counted apart, every attempt that did not verify classified by cause (the rule for
each cause is in ``cause``; with ``--finals``, the output of ``check_lego_finals.py``, a cause
is told apart by whether LEGO-Prover's own final theory verifies here, see ``refine``), wall time and Isabelle CPU per attempt, requests parsed, and the
``by`` steps of the formalizer answers: on one line, on one line with a comment written after
them (which LEGO-Prover's repair treats as any other step), or over several lines.

With ``--rechecked`` (the output of ``recheck_losses.py``), the attempts checked again there
take that verdict, and the figures say how many were and with which code (``rechecked``).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lego_prover.isabelle.lexer import LexError
from lego_prover.isabelle.theory import code_end, split_blocks
from lego_prover.problems import load_problems
from lego_prover.prover.parsing import extract_isabelle

RELEASE = re.compile(r"Undefined (fact|constant|type)|Bad name|Unknown (theorem|method)|Inner syntax error|"
                     r"Outer syntax error|Type unification failed|Illegal|Bad context", re.I)
PROVER = re.compile(r"No such prover|return code is 127|Prover failed|not installed|ISABELLE_CSDP", re.I)


def norm(text: str) -> str:
    return " ".join(text.split())


def cause(a: dict[str, Any], rec: dict[str, Any], ours: str) -> str:
    """Why an attempt did not verify; the first rule that applies."""
    failure, reason = a.get("failure") or "", a.get("reason") or ""
    messages = " ".join(str(e.get("message", "")) for e in a.get("errors") or []) + " " + reason
    if norm(rec["formal_statement"]) != norm(ours) and (failure == "no_recorded_answer" or "statement" in reason):
        return "statement differs between LEGO-Prover's miniF2F copy and ours"
    if failure in {"crash", "infrastructure"}:
        return f"our checker ({failure})"
    if failure == "no_proof":
        return "our extraction (no code found)"
    if failure == "guard":
        return "our guard" + (" (oracle)" if "oracle" in reason else "")
    if failure == "oracle":
        return "an oracle not trusted"
    if PROVER.search(messages):
        return "a prover this installation lacks"
    if "no tactic closed" in reason:
        return "a placeholder our repair did not fill (LEGO-Prover's did)"
    if failure == "syntax" and "Undefined fact" in messages and not a.get("repairs"):
        return "a by step naming a fact that does not exist here (LEGO-Prover's repair replaced such steps)"
    if failure == "timeout":
        return "did not finish in time (our checker's limits, or a slower release)"
    if failure == "syntax" and RELEASE.search(messages):
        return "Isabelle release difference (a name, syntax or fact that changed)"
    if failure == "no_recorded_answer":
        return "a further call the published run does not have (re-prompt)"
    if a.get("repairs"):
        return f"repaired steps, then another step fails ({failure}): LEGO-Prover repaired step by step"
    return f"a proof step that fails here ({failure}); LEGO-Prover's heuristics closed it in Isabelle2022"


def refine(first: str, final: dict[str, Any] | None) -> str:
    """The cause, told apart by what LEGO-Prover's own final theory does on this Isabelle
    (``check_lego_finals.py``): verified here, the loss is our repair's; failing here too,
    it is not about our handling of the answer."""
    if final is None or first.startswith(("our ", "statement differs", "an oracle")):
        return first
    if final["verified"]:
        return f"ours: LEGO-Prover's final theory verifies here, our repair did not reach it [{first}]"
    kind = final.get("failure") or ""
    reason = final.get("reason") or ""
    if PROVER.search(reason):
        return "a prover this installation lacks (LEGO-Prover's final theory fails here too)"
    if kind == "timeout":
        return "LEGO-Prover's final theory does not finish in time here either (a slower release or bench)"
    return f"Isabelle release difference: LEGO-Prover's final theory fails here too ({kind})"


def by_steps(corpus: list[dict[str, Any]]) -> dict[str, int]:
    """The ``by`` steps of the formalizer answers, by shape (what a repair site must cover)."""
    shapes: Counter[str] = Counter()
    for rec in corpus:
        try:
            blocks = split_blocks(extract_isabelle(rec["formalizer"]["answer"]))
        except (LexError, ValueError):
            shapes["answers_not_parsed"] += 1
            continue
        for step in (s for b in blocks for s in b.steps if s.command == "by"):
            own = step.text[:code_end(step.text)]
            shapes["multi_line" if "\n" in own else "one_line_comment_after" if "\n" in step.text
                   else "one_line"] += 1
    return {"by_steps": sum(v for k, v in shapes.items() if k != "answers_not_parsed"), **shapes}


def merge_rechecked(by_key: dict[tuple[str, int], dict[str, Any]], path: Path) -> dict[str, Any]:
    """The attempts ``recheck_losses.py`` checked again take its verdict (in place)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        a = by_key[(row["problem"], row["attempt"])]
        a.update(solved=row["verified"], failure=row["failure"], reason=row["reason"], errors=row["errors"],
                 repairs=row["repairs"], trusted_oracles=row["trusted_oracles"])
    return {"attempts": len(rows), "verified_now": sum(1 for r in rows if r["verified"]),
            "code": sorted({r["code"] for r in rows})}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--finals", type=Path, help="check_lego_finals.py output: tells our losses from release differences")
    ap.add_argument("--rechecked", type=Path, help="recheck_losses.py output: these attempts take its verdicts")
    args = ap.parse_args()
    finals: dict[tuple[str, int], dict[str, Any]] = {}
    if args.finals and args.finals.exists():
        finals = {(r["problem"], r["attempt"]): r for r in map(json.loads, args.finals.read_text().splitlines())}
    corpus = [json.loads(line) for line in args.corpus.read_text().splitlines() if line.strip()]
    ours = {p.name: p.formal_statement for p in load_problems(args.data_dir / "valid.jsonl")}
    attempts = [json.loads(line) for line in (args.run_dir / "attempts.jsonl").read_text().splitlines()]
    summary = json.loads((args.run_dir / "summary.json").read_text())
    by_key = {(a["problem"], a["attempt"]): a for a in attempts if a["attempt"] >= 0}
    rechecked = merge_rechecked(by_key, args.rechecked) if args.rechecked else None
    seen: Counter[str] = Counter()
    rows = []
    for rec in corpus:
        key = (rec["problem"], seen[rec["problem"]])
        seen[rec["problem"]] += 1
        a = by_key.get(key)
        if a is None:
            continue                        # not run (a subset, or a wall-time budget)
        rows.append((rec, a))
    ran = len(rows)
    solved = [(r, a) for r, a in rows if a["solved"]]
    plain = [(r, a) for r, a in solved if not a["trusted_oracles"]]
    eval_final = [(r, a) for r, a in rows if "by eval" in r["final_code"] or "(eval)" in r["final_code"]]
    other = [(r, a) for r, a in rows if (r, a) not in eval_final]
    problems_ran = {r["problem"] for r, _ in rows}
    causes = Counter(refine(cause(a, r, ours.get(r["problem"], "")), finals.get((a["problem"], a["attempt"])))
                     for r, a in rows if not a["solved"])
    unsolved = [(r, a) for r, a in rows if not a["solved"]]
    walls = [a["total_s"] for _, a in rows]
    cpu = summary.get("isabelle_cpu_s")
    out = {
        "attempts_run": ran, "of_attempts": len(corpus),
        "attempts_verified": len(solved), "attempts_verified_without_trusted_oracle": len(plain),
        "problems_run": len(problems_ran),
        "problems_verified": len({r["problem"] for r, _ in solved}),
        "problems_verified_without_trusted_oracle": len({r["problem"] for r, _ in plain}),
        "lego_final_uses_eval": {"attempts": len(eval_final),
                                 "verified": sum(1 for _, a in eval_final if a["solved"]),
                                 "verified_on_trusted_oracle": sum(1 for _, a in eval_final
                                                                   if a["solved"] and a["trusted_oracles"])},
        "other_attempts": {"attempts": len(other), "verified": sum(1 for _, a in other if a["solved"]),
                           "verified_without_trusted_oracle": sum(1 for _, a in other
                                                                  if a["solved"] and not a["trusted_oracles"])},
        "not_verified_by_cause": dict(causes.most_common()),
        "not_verified": [{"problem": a["problem"], "attempt": a["attempt"], "failure": a.get("failure"),
                          "reason": (a.get("reason") or "")[:160],
                          "cause": refine(cause(a, r, ours.get(r["problem"], "")),
                                          finals.get((a["problem"], a["attempt"])))} for r, a in unsolved],
        "wall_s_per_attempt": {"median": round(statistics.median(walls), 1) if walls else None,
                               "p95": round(sorted(walls)[int(0.95 * (len(walls) - 1))], 1) if walls else None,
                               "mean": round(statistics.fmean(walls), 1) if walls else None},
        "isabelle_cpu_s": cpu, "isabelle_cpu_s_per_attempt": round(cpu / ran, 1) if cpu and ran else None,
        "repairs": sum(len(a["repairs"]) for _, a in rows),
        "attempts_with_repairs_verified": sum(1 for _, a in solved if a["repairs"]),
        "requests_parsed": sum(len(a["requests"]) for _, a in rows),
        "skills_added": sum(len(a["skills_added"]) for _, a in rows),
        "answers_by_steps": by_steps(corpus),
    }
    if rechecked is not None:
        out["rechecked"] = rechecked
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
