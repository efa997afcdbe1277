"""Soundness guard + theory model: latency on every miniF2F statement, and scaling with size.

    python benchmarks/bench_guard.py [--data-dir ../shared/minif2f] [--sizes 10K,100K,1M,5M] [--no-cli]

Prints one JSON line for the miniF2F statements (mean and p95 microseconds per guard
check), then one JSON line per size and a table: a theory of repeated small lemmas
(`tests`-style: a one-line `by` and a short Isar proof, about 90 bytes a block) ending
in a target theorem, read the way `check FILE --guard-only` reads it.

Columns: `guard` is `SoundnessGuard.check` on the text; `parse_theory` is the theory model
(`check` reads the file with it before the guard); `check --guard-only` is the whole
`lego-prover check FILE --statement-file S --guard-only` in a new process (startup
included; `isabelle.max_proof_bytes` is raised for it). Each gives wall seconds and CPU
seconds, the best of up to 10 runs (sizes below 1 MB are repeated): on a shared machine
the CPU time is the steadier. Linear when CPU s/MB is flat.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from lego_prover.isabelle.context import TheoryContext
from lego_prover.isabelle.guard import GuardContext, SoundnessGuard
from lego_prover.isabelle.theory import parse_theory
from lego_prover.problems import load_problems

T = TypeVar("T")
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


def _cli_seconds(text: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        proof, statement = Path(tmp, "proof.thy"), Path(tmp, "statement.thy")
        proof.write_text(text, encoding="utf-8")
        statement.write_text(TARGET + "\n", encoding="utf-8")
        env = {**os.environ, "LEGO_PROVER_ISABELLE__MAX_PROOF_BYTES": str(len(text.encode()) + 1)}
        started, cpu = time.perf_counter(), _children_cpu()
        done = subprocess.run([sys.executable, "-m", "lego_prover", "check", str(proof), "--statement-file",
                               str(statement), "--guard-only"], env=env, cwd=tmp, capture_output=True, text=True)
        elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu
        if done.returncode != 0:
            raise SystemExit(f"check --guard-only failed ({done.returncode}): {done.stdout}{done.stderr}")
        return elapsed, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(fn: Callable[[], T], repeat: int) -> tuple[T, float, float]:
    """``fn()``, and its best wall and CPU seconds over ``repeat`` runs (on a shared machine the
    CPU time is the steadier; small sizes are repeated so that one slow run does not count)."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return result, min(walls), min(cpus)


def scaling_row(size: int, *, cli: bool) -> dict[str, object]:
    text = scaled_theory(size)
    mb = len(text.encode()) / 1e6
    guard = SoundnessGuard(GuardContext("scale_target", TARGET, ("Complex_Main",)))
    repeat = max(1, min(10, 1_000_000 // size))
    result, guard_s, guard_cpu = _timed(lambda: guard.check(text), repeat)
    if not result.ok:
        raise SystemExit(f"the generated theory was rejected: {result.summary[:200]}")
    parsed, model_s, model_cpu = _timed(lambda: parse_theory(text), repeat)
    row: dict[str, object] = {"bench": "guard_scaling", "bytes": len(text.encode()), "blocks": len(parsed.blocks),
                              "guard_s": round(guard_s, 3), "guard_cpu_s": round(guard_cpu, 3),
                              "guard_cpu_s_per_MB": round(guard_cpu / mb, 3),
                              "model_s": round(model_s, 3), "model_cpu_s": round(model_cpu, 3),
                              "model_cpu_s_per_MB": round(model_cpu / mb, 3)}
    if cli:
        cli_s, cli_cpu = _cli_seconds(text)
        row |= {"cli_s": round(cli_s, 2), "cli_cpu_s": round(cli_cpu, 2), "cli_cpu_s_per_MB": round(cli_cpu / mb, 2)}
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
    scaling_row(2_000, cli=False)  # warm up: lazy imports and compiled patterns are not the guard's scaling
    rows = []
    for size in (parse_size(s) for s in args.sizes.split(",")):
        rows.append(scaling_row(size, cli=not args.no_cli))
        print(json.dumps(rows[-1]), flush=True)
    cli = not args.no_cli
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("\n| size (bytes) | blocks | guard s (CPU s) | guard CPU s/MB | parse_theory s (CPU s) | CPU s/MB |"
          + (" check --guard-only s (CPU s) | CPU s/MB |" if cli else ""))
    print("|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if cli else ""))
    for r in rows:
        line = (f"| {r['bytes']:,} | {r['blocks']:,} | {r['guard_s']} ({r['guard_cpu_s']}) | {r['guard_cpu_s_per_MB']} | "
                f"{r['model_s']} ({r['model_cpu_s']}) | {r['model_cpu_s_per_MB']} |")
        print(line + (f" {r['cli_s']} ({r['cli_cpu_s']}) | {r['cli_cpu_s_per_MB']} |" if cli else ""))


if __name__ == "__main__":
    main()
