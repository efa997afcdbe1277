"""Soundness guard + theory model: latency on every miniF2F statement, and scaling with size.

    python benchmarks/bench_guard.py [--data-dir ../shared/minif2f] [--sizes 10K,100K,1M,5M] [--no-cli]

Prints one JSON line for the miniF2F statements (mean and p95 microseconds per guard
check), then one JSON line per size and a table: a theory of repeated small lemmas
(`tests`-style: a one-line `by` and a short Isar proof, about 90 bytes a block) ending
in a target theorem, read the way `check FILE --guard-only` reads it.

Columns: `guard_s` is `SoundnessGuard.check` on the text; `model_s` is `parse_theory`
(what `check` reads before the guard); `cli_s` is the whole `lego-prover check FILE
--statement-file S --guard-only` in a new process (startup included; the size limit
`isabelle.max_proof_bytes` is raised for it). The guard is linear when `s_per_MB` is flat.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lego_prover.isabelle.checker import TheoryContext
from lego_prover.isabelle.guard import GuardContext, SoundnessGuard
from lego_prover.isabelle.theory import parse_theory
from lego_prover.problems import load_problems

TARGET = 'theorem scale_target: "(2::nat) + 2 = 4"'
_UNITS = {"K": 1_000, "M": 1_000_000}


def parse_size(text: str) -> int:
    """``10K`` -> 10_000, ``5M`` -> 5_000_000, ``1234`` -> 1234."""
    text = text.strip().upper()
    if text and text[-1] in _UNITS:
        return int(float(text[:-1]) * _UNITS[text[-1]])
    return int(text)


def scaled_theory(size: int) -> str:
    """A whole theory of about ``size`` bytes: repeated small lemmas, then the target."""
    head = "theory Scale\n  imports Complex_Main\nbegin\n\n"
    tail = f"{TARGET}\n  by simp\n\nend\n"
    parts = [head]
    total = len(head) + len(tail)
    i = 0
    while total < size:
        if i % 2:
            block = f'lemma helper_{i}: "({i}::nat) + 1 > 0"\n  by simp\n\n'
        else:
            block = (f'lemma helper_{i}:\n  fixes x :: nat\n  assumes "x > {i}"\n  shows "x + 1 > {i}"\n'
                     f'proof -\n  have "x > {i}" using assms .\n  then show ?thesis by simp\nqed\n\n')
        parts.append(block)
        total += len(block)
        i += 1
    parts.append(tail)
    return "".join(parts)


def minif2f_latency(data_dir: Path) -> dict[str, object]:
    problems = load_problems(data_dir / "valid.jsonl") + load_problems(data_dir / "test.jsonl")
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
    return {"bench": "guard", "statements": len(problems), "accepted": accepted,
            "mean_us": round(statistics.mean(timings)), "p95_us": round(timings[int(0.95 * len(timings))])}


def _cli_seconds(text: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        proof, statement = Path(tmp, "proof.thy"), Path(tmp, "statement.thy")
        proof.write_text(text, encoding="utf-8")
        statement.write_text(TARGET + "\n", encoding="utf-8")
        env = {**os.environ, "LEGO_PROVER_ISABELLE__MAX_PROOF_BYTES": str(len(text.encode()) + 1)}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "lego_prover", "check", str(proof), "--statement-file",
                               str(statement), "--guard-only"], env=env, cwd=tmp, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"check --guard-only failed ({done.returncode}): {done.stdout}{done.stderr}")
        return elapsed


def scaling_row(size: int, *, cli: bool) -> dict[str, object]:
    text = scaled_theory(size)
    nbytes = len(text.encode())
    guard = SoundnessGuard(GuardContext("scale_target", TARGET, ("Complex_Main",)))
    started = time.perf_counter()
    result = guard.check(text)
    guard_s = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"the generated theory was rejected: {result.summary[:200]}")
    started = time.perf_counter()
    blocks = len(parse_theory(text).blocks)
    model_s = time.perf_counter() - started
    mb = nbytes / 1e6
    row: dict[str, object] = {"bench": "guard_scaling", "bytes": nbytes, "blocks": blocks,
                              "guard_s": round(guard_s, 3), "guard_s_per_MB": round(guard_s / mb, 3),
                              "model_s": round(model_s, 3), "model_s_per_MB": round(model_s / mb, 3)}
    if cli:
        cli_s = _cli_seconds(text)
        row |= {"cli_s": round(cli_s, 2), "cli_s_per_MB": round(cli_s / mb, 2)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "minif2f")
    parser.add_argument("--sizes", default="10K,100K,1M,5M", help="comma-separated sizes (K = 1,000 bytes, M = 1,000,000)")
    parser.add_argument("--no-cli", action="store_true", help="skip the lego-prover check --guard-only column")
    args = parser.parse_args()
    if (args.data_dir / "valid.jsonl").is_file():
        print(json.dumps(minif2f_latency(args.data_dir)), flush=True)
    else:
        print(json.dumps({"bench": "guard", "skipped": f"no miniF2F data in {args.data_dir}"}), flush=True)
    rows = []
    for size in (parse_size(s) for s in args.sizes.split(",")):
        rows.append(scaling_row(size, cli=not args.no_cli))
        print(json.dumps(rows[-1]), flush=True)
    cli = not args.no_cli
    print("\n| size | blocks | guard s | guard s/MB | parse_theory s | s/MB |" + (" check --guard-only s | s/MB |" if cli else ""))
    print("|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if cli else ""))
    for r in rows:
        line = (f"| {r['bytes']:,} | {r['blocks']:,} | {r['guard_s']} | {r['guard_s_per_MB']} | "
                f"{r['model_s']} | {r['model_s_per_MB']} |")
        print(line + (f" {r['cli_s']} | {r['cli_s_per_MB']} |" if cli else ""))


if __name__ == "__main__":
    main()
