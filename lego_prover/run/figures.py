"""Figures about the hammer: the first pass's share of a run, and the hammer method's timing.

Usage::

    excluding_first_pass(per_problem, max_attempts)   # every figure without the problems the
                                                      # first pass solved (comparable with papers)
    hammer_figures(attempts)                          # solved, seconds per problem, Isabelle time,
                                                      # what closed each solved problem
    solved_over_time(attempts)                        # [seconds since the start, problems solved]

``summarize`` puts both into summary.json; ``report`` and ``compare`` show them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from lego_prover.prover.attempt import AttemptRecord
from lego_prover.run.scheduler import FIRST_PASS


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (q in 0..100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def pass_at_k(solved_at: Iterable[int | None], problems: int, max_attempts: int) -> list[dict[str, Any]]:
    """Problems solved within k attempts, k = 1 .. max_attempts (a first pass counts from k = 1)."""
    at = [s for s in solved_at if s is not None]
    return [{"k": k, "solved": sum(1 for s in at if s < k), "rate": round(sum(1 for s in at if s < k) / max(1, problems), 4)}
            for k in range(1, max_attempts + 1)]


def excluding_first_pass(per_problem: dict[str, dict[str, Any]], max_attempts: int) -> dict[str, Any]:
    """The run's figures over the problems the first pass did not solve."""
    rest = {n: p for n, p in per_problem.items() if p["solved_at_attempt"] != FIRST_PASS}
    solved = sum(1 for p in rest.values() if p["solved"])
    return {"problems": len(rest), "solved": solved, "pass_rate": round(solved / max(1, len(rest)), 4),
            "pass_at_k": pass_at_k((p["solved_at_attempt"] for p in rest.values()), len(rest), max_attempts)}


def hammer_figures(attempts: Sequence[AttemptRecord]) -> dict[str, Any] | None:
    """Solved, seconds per problem (median, p95) and Isabelle check time of the hammer records.

    A problem's seconds are the wall time of its hammer pass(es), waiting for a free
    Isabelle slot included; its check seconds add up the checks, which run side by side.
    """
    records = [r for r in attempts if r.method == "hammer"]
    if not records:
        return None
    seconds: dict[str, float] = defaultdict(float)
    check: dict[str, float] = defaultdict(float)
    solved: set[str] = set()
    by_sledgehammer: set[str] = set()
    closed_by: Counter[str] = Counter()
    for r in records:
        seconds[r.problem] += r.total_s
        check[r.problem] += r.check_s
        if r.solved:
            solved.add(r.problem)
            if any(line.startswith("sledgehammer:") and line.endswith(": verified") for line in r.repairs):
                by_sledgehammer.add(r.problem)
                closed_by["Sledgehammer"] += 1
            else:
                closed_by[_winner(r.repairs)] += 1
    wall = list(seconds.values())
    return {"problems": len(seconds), "solved": len(solved), "solved_by_tactic": len(solved - by_sledgehammer),
            "solved_by_sledgehammer": len(by_sledgehammer),
            "seconds_per_problem": {"median": _round(median(wall)), "p95": _round(percentile(wall, 95)),
                                    "max": _round(max(wall))},
            "isabelle_check_s": round(sum(check.values()), 3),
            "closed_by": dict(sorted(closed_by.items(), key=lambda kv: (-kv[1], kv[0])))}


def _winner(log: Sequence[str]) -> str:
    """The candidate whose log line says it verified (``TACTIC: verified``)."""
    return next((line.removesuffix(": verified") for line in log if line.endswith(": verified")), "?")


def solved_over_time(attempts: Sequence[AttemptRecord]) -> list[list[float]]:
    """``[seconds, solved]`` at each first solve of a problem, seconds counted from the earliest
    attempt's start; a resumed run's pause between invocations is in the seconds."""
    stamps = [(_when(r.started_at), _when(r.finished_at), r) for r in attempts]
    starts = [s for s, _, _ in stamps if s is not None]
    if not starts:
        return []
    origin = min(starts)
    first: dict[str, float] = {}
    for _, end, r in stamps:
        if r.solved and end is not None:
            first[r.problem] = min(first.get(r.problem, math.inf), (end - origin))
    return [[round(t, 1), i + 1] for i, t in enumerate(sorted(first.values()))]


def _when(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
