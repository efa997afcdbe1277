"""Check a run's lost attempts again with today's checker and repair, without the model.

    python benchmarks/recheck_losses.py RUN_DIR --data-dir ../shared/minif2f --out rechecked.jsonl \\
        [--attempts NAME#K,NAME ...]

For every attempt of RUN_DIR that did not verify (or only those named, ``NAME`` meaning
attempt 0), the answer the attempt recorded (its extracted ``proof``, before repair) goes
through ``Checker.check`` again, as an attempt's answer does: the guard, the repair, the
whole check, under the settings of the environment (``LEGO_PROVER_*``: use the run's own,
e.g. the README replay settings). Nothing else of the attempt runs again (no prompt, no
retrieval, no harvest), so this measures what a change to the checker or the repair does to
the losses of a run that took hours, without running it all again.

Writes one JSON line per attempt checked (with the commit of the code that checked it); a
line already in ``--out`` is not checked again. ``replay_figures.py --rechecked`` reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.check_again import Row, check_each, checked, read_jsonl
from lego_prover.config import IsabelleSettings
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import TheoryContext
from lego_prover.problems import Problem, load_problems
from lego_prover.prover.attempt import error_json


def wanted(run_dir: Path, names: list[str], done: set[tuple[str, int]]) -> list[dict[str, Any]]:
    """The attempt records to check again, in the run's order."""
    records = read_jsonl(run_dir / "attempts.jsonl")
    keys = {(n.partition("#")[0], int(n.partition("#")[2] or 0)) for n in names}
    return [r for r in records
            if r["attempt"] >= 0 and (r["problem"], r["attempt"]) not in done
            and ((r["problem"], r["attempt"]) in keys if keys else not r["solved"])]


def commit() -> str:
    here = Path(__file__).resolve().parents[1]
    done = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def checking(problems: dict[str, Problem], code: str
             ) -> Callable[[dict[str, Any], Checker, IsabelleSettings], Awaitable[Row]]:
    """How one recorded attempt is checked again: its answer, as the attempt checked it."""

    async def check_one(record: dict[str, Any], checker: Checker, settings: IsabelleSettings) -> Row:
        started = time.monotonic()
        verdict = await checker.check(record["proof"], TheoryContext.for_problem(problems[record["problem"]],
                                                                                 settings))
        return {"problem": record["problem"], "attempt": record["attempt"], "verified": verdict.verified,
                "failure": verdict.failure.value if verdict.failure else None, "reason": verdict.reason,
                "errors": [error_json(e) for e in verdict.root_errors], "repairs": list(verdict.repairs),
                "trusted_oracles": list(verdict.trusted_oracles), "theory": verdict.theory_text,
                "wall_s": round(time.monotonic() - started, 1), "code": code}

    return check_one


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--data-dir", type=Path, required=True, help="the miniF2F folder the run read")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--attempts", default="", help="comma-separated NAME#K (default: every attempt that did not verify)")
    args = ap.parse_args()
    todo = wanted(args.run_dir, [n for n in args.attempts.split(",") if n], checked(args.out))
    problems = {p.name: p for p in load_problems(args.data_dir / f"{args.split}.jsonl")}
    print(f"{len(todo)} attempts to check again", flush=True)
    asyncio.run(check_each(todo, checking(problems, commit()), args.out))


if __name__ == "__main__":
    main()
