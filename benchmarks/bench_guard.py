"""Soundness guard + theory model throughput on every miniF2F statement.

    python benchmarks/bench_guard.py [--data-dir ../shared/minif2f]

Prints one JSON line: statements checked, mean and p95 microseconds per guard check.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from lego_prover.isabelle.context import TheoryContext
from lego_prover.isabelle.guard import SoundnessGuard
from lego_prover.problems import load_problems


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "minif2f")
    args = parser.parse_args()
    problems = load_problems(args.data_dir / "valid.jsonl") + load_problems(args.data_dir / "test.jsonl")
    timings = []
    accepted = 0
    for problem in problems:
        context = TheoryContext(("Complex_Main",), problem.preamble, problem.name, problem.formal_statement)
        text = f'lemma helper_{problem.name}: "(1::nat) + 1 = 2"\n  by simp\n\n{problem.formal_statement}\n  sledgehammer\n'
        started = time.perf_counter()
        result = SoundnessGuard(context.guard_context()).check(text)
        timings.append((time.perf_counter() - started) * 1e6)
        accepted += result.ok
    timings.sort()
    print(json.dumps({"bench": "guard", "statements": len(problems), "accepted": accepted,
                      "mean_us": round(statistics.mean(timings)), "p95_us": round(timings[int(0.95 * len(timings))])}))


if __name__ == "__main__":
    main()
