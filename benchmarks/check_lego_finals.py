"""Check LEGO-Prover's own final theories on this Isabelle, with no repair (issue 18, part 2).

    python benchmarks/check_lego_finals.py RUN_DIR --corpus ../shared/llm-replies/lego-prover/valid.jsonl \\
        --data-dir ../shared/minif2f --out finals.jsonl [--all]

For every attempt of a replay run (``eval --replay CORPUS``) that did not verify (``--all``:
every attempt run), the record's ``final_code`` (the theory LEGO-Prover verified in the end,
after its repair, in Isabelle2022) is checked as written: the guard, then Isabelle, no repair,
under the settings of the environment (``LEGO_PROVER_*``; trust ``holds_by_evaluation`` there
to count ``by eval`` as the replay did). The statement it must keep is the record's own.

What it tells ``replay_figures.py --finals``: an attempt whose final theory verifies here was
lost by *our* repair (LEGO-Prover's found a step this Isabelle accepts); one whose final
theory fails here too fails for a reason outside our handling of the answer (a release or
installation difference), named by the failure.

Writes one JSON line per attempt checked; a line already in ``--out`` is not checked again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.check_again import Row, check_each, checked, read_jsonl
from lego_prover.config import IsabelleSettings
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import TheoryContext
from lego_prover.isabelle.theory import BlockKind, parse_theory


def pending(run_dir: Path, corpus: list[dict[str, Any]], everything: bool, done: set[tuple[str, int]]
            ) -> list[tuple[dict[str, Any], int]]:
    """(record, attempt) of the attempts to check, in corpus order."""
    attempts = {(a["problem"], a["attempt"]): a for a in read_jsonl(run_dir / "attempts.jsonl") if a["attempt"] >= 0}
    seen: dict[str, int] = {}
    out = []
    for rec in corpus:
        k = seen.get(rec["problem"], 0)
        seen[rec["problem"]] = k + 1
        a = attempts.get((rec["problem"], k))
        if a is not None and (everything or not a["solved"]) and (rec["problem"], k) not in done:
            out.append((rec, k))
    return out


def body_of(final_code: str) -> str:
    """The final theory's blocks, without its header and ``end`` (our checker writes its own)."""
    return "\n\n".join(b.text for b in parse_theory(final_code).blocks)


async def check_final(item: tuple[dict[str, Any], int], checker: Checker, settings: IsabelleSettings) -> Row:
    """LEGO-Prover's final theory of one attempt, as written, against the record's own statement."""
    rec, k = item
    statement = rec["formal_statement"].strip()
    goals = [b for b in parse_theory(f"theory X imports Main begin\n{statement}\nend").blocks
             if b.kind is BlockKind.LEMMA and b.name]
    context = TheoryContext(tuple(settings.imports), "", goals[0].name if goals else rec["problem"], statement)
    started = time.monotonic()
    verdict = await checker.check(body_of(rec["final_code"]), context, repair=False)
    return {"problem": rec["problem"], "attempt": k, "verified": verdict.verified,
            "failure": verdict.failure.value if verdict.failure else None, "reason": verdict.reason,
            "trusted_oracles": list(verdict.trusted_oracles), "wall_s": round(time.monotonic() - started, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, help="unused; accepted for symmetry with replay_figures.py")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--all", action="store_true", help="every attempt run, not only those that did not verify")
    args = ap.parse_args()
    todo = pending(args.run_dir, read_jsonl(args.corpus), args.all, checked(args.out))
    print(f"{len(todo)} final theories to check", flush=True)
    asyncio.run(check_each(todo, check_final, args.out))


if __name__ == "__main__":
    main()
