"""The checker against a real Isabelle: our overhead, and throughput against pool size.

    python benchmarks/bench_checker.py                      # session HOL, about 5 minutes
    python benchmarks/bench_checker.py --session HOL-Number_Theory --checks 40

1. **Overhead.** In one process, on one server and one session, the same proofs are checked
   two ways, interleaved: a bare ``use_theories`` of the exact theory text the checker
   assembles (file written, one task, reply read), and the full ``Checker.check`` (guard,
   assembly, file, ``use_theories``, verdict, purge scheduled). The difference of the
   medians is what lego-prover adds per check; guard and verdict times are also timed alone.
2. **Throughput.** Checks per second with 1, 2 and 4 pool workers (one check per worker at a
   time), all checks started at once; session start-up is not counted.

Prints one JSON line per measurement. Without an Isabelle installation it says so and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lego_prover.config import IsabelleSettings
from lego_prover.errors import IsabelleNotFoundError
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import TheoryContext
from lego_prover.isabelle.guard import SoundnessGuard
from lego_prover.isabelle.server import find_isabelle
from lego_prover.isabelle.sessions import SessionPool
from lego_prover.isabelle.verdict import decide

STATEMENT = 'theorem bench_t:\n  fixes a b :: real\n  assumes h0: "a = 2" and h1: "b = 3"\n  shows "a * b + a^2 = 10"'
PROOFS = [
    f"{STATEMENT}\n  using h0 h1 by simp",
    f'lemma bench_helper: "(2::nat) + 2 = 4"\n  by simp\n\n{STATEMENT}\n  using h0 h1 by simp',
    f'{STATEMENT}\nproof -\n  have c0: "a * b = 6" using h0 h1 by simp\n  show ?thesis using c0 h0 by simp\nqed',
]


def context(imports: list[str]) -> TheoryContext:
    return TheoryContext(imports=tuple(imports), target="bench_t", statement=STATEMENT)


async def overhead(settings: IsabelleSettings, checks: int) -> dict[str, object]:
    ctx = context(settings.imports)
    bare_s: list[float] = []
    full_s: list[float] = []
    guard_s: list[float] = []
    decide_s: list[float] = []
    async with SessionPool(settings) as pool:
        checker = Checker(pool, settings)
        await checker.check(PROOFS[0], ctx)  # warm-up: the first check loads the imports
        for i in range(checks):
            text = PROOFS[i % len(PROOFS)]
            t0 = time.perf_counter()
            guarded = SoundnessGuard(ctx.guard_context(), allow_placeholders=False).check(text)
            guard_s.append(time.perf_counter() - t0)
            assembled = checker.assemble(guarded.blocks, ctx)
            folder = settings.work_dir / "bare" / assembled.name
            t0 = time.perf_counter()
            folder.mkdir(parents=True)
            (folder / f"{assembled.name}.thy").write_text(assembled.text, encoding="utf-8")
            async with pool.worker() as worker:
                reply = await worker.use_theories(folder, [assembled.name], settings=settings)
                pool.purge_later(worker, folder, [assembled.name])
            bare_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            verdict = decide(assembled, finished=reply.finished, payload=reply.payload)
            decide_s.append(time.perf_counter() - t0)
            assert verdict.verified, verdict.reason
            t0 = time.perf_counter()
            full = await checker.check(text, ctx)
            full_s.append(time.perf_counter() - t0)
            assert full.verified, full.reason
        await pool.drain()
    ms = 1000.0
    return {"measure": "overhead", "session": settings.session, "checks": checks,
            "bare_use_theories_ms_median": round(statistics.median(bare_s) * ms, 1),
            "checker_ms_median": round(statistics.median(full_s) * ms, 1),
            "overhead_ms_median": round((statistics.median(full_s) - statistics.median(bare_s)) * ms, 1),
            "guard_ms_median": round(statistics.median(guard_s) * ms, 2),
            "verdict_ms_median": round(statistics.median(decide_s) * ms, 2)}


async def throughput(settings: IsabelleSettings, workers: int, checks: int) -> dict[str, object]:
    ctx = context(settings.imports)
    pooled = settings.model_copy(update={"workers": workers, "checks_per_worker": 1})
    async with SessionPool(pooled) as pool:
        checker = Checker(pool, pooled)
        await asyncio.gather(*(checker.check(PROOFS[0], ctx) for _ in range(workers)))  # warm every session
        t0 = time.perf_counter()
        verdicts = await asyncio.gather(*(checker.check(PROOFS[i % len(PROOFS)], ctx) for i in range(checks)))
        wall = time.perf_counter() - t0
        await pool.drain()
    return {"measure": "throughput", "session": settings.session, "workers": workers, "checks": checks,
            "verified": sum(v.verified for v in verdicts), "wall_s": round(wall, 2),
            "checks_per_s": round(checks / wall, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--session", default="HOL")
    parser.add_argument("--imports", nargs="*", default=["Complex_Main"])
    parser.add_argument("--checks", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    args = parser.parse_args()
    try:
        find_isabelle()
    except IsabelleNotFoundError as exc:
        print(f"bench_checker: cannot run without a real Isabelle: {exc}")
        return 0
    work = Path(tempfile.mkdtemp(prefix="bench-checker-"))
    settings = IsabelleSettings(session=args.session, imports=args.imports, workers=1, checks_per_worker=1,
                                work_dir=work, sledgehammer=False)
    print(json.dumps(asyncio.run(overhead(settings, args.checks))), flush=True)
    for workers in args.workers:
        print(json.dumps(asyncio.run(throughput(settings, workers, args.checks))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
