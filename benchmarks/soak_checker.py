"""A long soak of the checker on a real Isabelle server: verdicts, restarts, memory, latency.

    python benchmarks/soak_checker.py                                  # 60 minutes or 2,000 checks
    python benchmarks/soak_checker.py --minutes 5 --json /tmp/soak.json
    python benchmarks/soak_checker.py --mode repair                    # isabelle.repair_failing_by on
    python benchmarks/soak_checker.py --set isabelle.checks_per_worker=1 --shares correct=6,runaway=1

One ``SessionPool`` and one ``Checker`` (the defaults of ``IsabelleSettings`` unless ``--set``
changes them) check a seeded random sequence of cases until ``--minutes`` or ``--checks`` is
reached, whichever comes first, at the pool's slot count (workers x checks_per_worker) at
once, so that neighbours share sessions as in a real run:

- correct proofs (expected: verified);
- wrong ones, false statements that Isabelle refuses quickly (expected: not verified);
- runaway tactics that never end by themselves (expected: not verified, a timeout);
- with ``--mode repair``: answers whose ``by`` steps fail but the tactic list repairs
  (expected: verified), and every check goes through ``isabelle.repair_failing_by``.

Every check gets the same ``--check-limit`` (10 s by default): a correct proof here takes
about a second alone, so a correct proof reported unverified is one lost to its
neighbours or to the pool, the bug this hunts. Each loss is printed with its failure kind,
reason and the cases that ran beside it.

Prints a line about once a minute and, at the end: checks done; verdicts against the
expected ones; session and server restarts grouped by cause (``pool.restarts``, and the
pool's own progress lines); the Isabelle process tree's resident memory, sampled every
``--rss-every`` seconds (min / median / max and a short series); wall time per check per
``--window`` minutes (count, median, p95). The exit code is 1 when a correct proof was
reported unverified, a wrong or runaway one verified, or the server could not be
recovered (a correct proof checked after the soak does not verify). Without an Isabelle
installation it says so and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lego_prover.config import IsabelleSettings, load_settings
from lego_prover.errors import LegoProverError
from lego_prover.isabelle.context import CheckerProtocol, CheckOptions, TheoryContext
from lego_prover.isabelle.sessions import SessionPool, Worker
from lego_prover.isabelle.verdict import FailureKind, Verdict

Kind = Literal["correct", "wrong", "runaway", "repairable"]
KINDS: tuple[Kind, ...] = ("correct", "wrong", "runaway", "repairable")
DEFAULT_SHARES: dict[Kind, float] = {"correct": 0.6, "wrong": 0.3, "runaway": 0.1, "repairable": 0.0}
REPAIR_SHARES: dict[Kind, float] = {"correct": 0.45, "wrong": 0.25, "runaway": 0.1, "repairable": 0.2}


@dataclass(frozen=True)
class Case:
    name: str          # the target theorem's name, distinct over all cases
    kind: Kind
    statement: str     # the target's exact statement (what the guard holds the answer to)
    proof: str         # everything after the statement, helper lemmas before it included

    @property
    def text(self) -> str:
        helpers, _, tail = self.proof.rpartition("\n@@\n")
        return f"{helpers}\n\n{self.statement}\n{tail}" if helpers else f"{self.statement}\n{self.proof}"

    def expected_verified(self, repair_failing_by: bool) -> bool:
        if self.kind == "repairable":  # its `by` steps fail as written: only the repair mode fixes them
            return repair_failing_by
        return self.kind == "correct"


def _case(kind: Kind, name: str, shows: str, proof: str) -> Case:
    return Case(name, kind, f"theorem {name}:\n{shows}", proof)


# The runaways: ``simp only`` with a rule whose right side contains its left side rewrites
# forever (Suc n ~> Suc (n + 0) ~> ...); ``auto`` with the same rule loops the same way
# inside a different tactic. "@@" separates helper lemmas from the target's own proof.
_LOOP_RULE = 'lemma soak_loop_rule: "Suc n = Suc (n + 0)" by simp'
REAL_STATEMENT = ('  fixes a b :: real\n  assumes h0: "a = 2" and h1: "b = 3"\n  shows "a * b + a^2 = 10"')

CASES: tuple[Case, ...] = (
    _case("correct", "soak_add", '  "(2::nat) + 2 = 4"', "  by simp"),
    _case("correct", "soak_mod", '  "71 mod 3 = (2::nat)"', "  by simp"),
    _case("correct", "soak_real", REAL_STATEMENT, "  using h0 h1 by simp"),
    _case("correct", "soak_structured", REAL_STATEMENT,
          'proof -\n  have c0: "a * b = 6" using h0 h1 by simp\n  show ?thesis using c0 h0 by simp\nqed'),
    _case("correct", "soak_arith", '  fixes x :: nat\n  assumes "x + 3 = 5"\n  shows "x = 2"', "  using assms by arith"),
    _case("correct", "soak_linarith", '  fixes x y :: real\n  assumes "x < y" "y < 3"\n  shows "x < 3"',
          "  using assms by linarith"),
    _case("correct", "soak_auto", '  "finite {n::nat. n < 10}"', "  by auto"),
    _case("correct", "soak_helper", '  "(3::nat) * 3 = 9"',
          'lemma soak_helper_lemma: "(2::nat) + 2 = 4"\n  by simp\n@@\n  by simp'),
    _case("correct", "soak_induct", '  "(\\<Sum>i<n. (2::nat) * i + 1) = n ^ 2"',
          "  by (induct n) (auto simp: power2_eq_square)"),
    _case("wrong", "soak_wrong_add", '  "(2::nat) + 2 = 5"', "  by simp"),
    _case("wrong", "soak_wrong_mod", '  "71 mod 3 = (1::nat)"', "  by simp"),
    _case("wrong", "soak_wrong_less", '  "(x::nat) < x"', "  by auto"),
    _case("wrong", "soak_wrong_arith", '  fixes x :: nat\n  assumes "x + 3 = 5"\n  shows "x = 3"',
          "  using assms by arith"),
    _case("runaway", "soak_runaway_simp", '  "Suc a = Suc (b::nat)"',
          f"{_LOOP_RULE}\n@@\n  by (simp only: soak_loop_rule)"),
    _case("runaway", "soak_runaway_auto", '  "Suc a = Suc (b::nat)"',
          f"{_LOOP_RULE}\n@@\n  by (auto simp only: soak_loop_rule)"),
    # repairable: `rule refl` cannot close arithmetic; the tactic list's `by auto`/`by simp` can
    _case("repairable", "soak_repair_add", '  "(2::nat) + 3 = 5"', "  by (rule refl)"),
    _case("repairable", "soak_repair_real", REAL_STATEMENT,
          'proof -\n  have c0: "a * b = 6" using h0 h1 by (rule refl)\n  show ?thesis using c0 h0 by simp\nqed'),
)


def cases_by_kind(cases: Sequence[Case]) -> dict[Kind, list[Case]]:
    out: dict[Kind, list[Case]] = {k: [] for k in KINDS}
    for case in cases:
        out[case.kind].append(case)
    return out


def plan(cases: Sequence[Case], shares: dict[Kind, float], seed: int) -> Iterator[Case]:
    """An endless seeded sequence: a kind by its share, then one of its cases."""
    rng = random.Random(seed)
    grouped = cases_by_kind(cases)
    kinds = [k for k in KINDS if shares.get(k, 0.0) > 0 and grouped[k]]
    if not kinds:
        raise ValueError("no case has a share above 0")
    weights = [shares[k] for k in kinds]
    while True:
        kind = rng.choices(kinds, weights)[0]
        yield rng.choice(grouped[kind])


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@dataclass
class CheckRecord:
    case: Case
    start: float       # seconds since the soak began
    end: float
    verified: bool
    failure: str       # a FailureKind value, "exception", or "" when verified
    reason: str
    restarts_before: int
    restarts_after: int
    sessions: tuple[int, ...] = ()   # the pool's worker indexes this check ran on
    repairs: tuple[str, ...] = ()    # the repair log: which steps were replaced, and by what


    @property
    def wall_s(self) -> float:
        return self.end - self.start


class PoolView(Protocol):
    """What the soak reads from the pool (a ``SessionPool``; tests pass a double)."""

    restarts: list[str]
    generation: int


@dataclass
class Soak:
    """Everything a soak saw; ``summary`` turns it into the figures."""

    repair_failing_by: bool
    settings: dict[str, Any] = field(default_factory=dict)
    records: list[CheckRecord] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)   # (seconds since start, bytes)
    events: list[tuple[float, str]] = field(default_factory=list)  # the pool's "restarting ..." lines
    warnings: Counter[str] = field(default_factory=Counter)
    restarts: list[str] = field(default_factory=list)
    server_generations: int = 0
    final_check: str = "not run"   # "verified", or why the correct proof after the soak failed
    wall_s: float = 0.0

    def mismatch(self, r: CheckRecord) -> str:
        """'' when the verdict is the expected one; else what went wrong."""
        expected = r.case.expected_verified(self.repair_failing_by)
        if expected and not r.verified:
            return "correct proof lost" if r.case.kind == "correct" else "repairable answer not repaired"
        if not expected and r.verified:
            return f"{r.case.kind} proof verified"
        if r.case.kind == "runaway" and r.failure != FailureKind.TIMEOUT:
            return f"runaway ended as {r.failure}"  # still refused, but not by the limit
        return ""

    def hard(self, message: str) -> bool:
        return message != "" and not message.startswith("runaway ended as")

    def neighbours(self, r: CheckRecord) -> dict[str, int]:
        """The kinds of the checks that overlapped this one in time."""
        return dict(Counter(o.case.kind for o in self.records
                            if o is not r and o.start < r.end and o.end > r.start))

    def same_session(self, r: CheckRecord) -> dict[str, int]:
        """The kinds of the overlapping checks that ran on one of this check's sessions."""
        mine = set(r.sessions)
        return dict(Counter(o.case.kind for o in self.records
                            if o is not r and o.start < r.end and o.end > r.start and mine & set(o.sessions)))

    def summary(self, window_s: float = 300.0) -> dict[str, Any]:
        verdicts: dict[str, dict[str, int]] = {}
        for kind in KINDS:
            mine = [r for r in self.records if r.case.kind == kind]
            if mine:
                verdicts[kind] = {"checks": len(mine), "verified": sum(r.verified for r in mine),
                                  "as_expected": sum(not self.mismatch(r) for r in mine),
                                  **{f"failed_{k}": n for k, n in sorted(Counter(r.failure for r in mine
                                                                                if not r.verified).items())}}
        wrong: list[dict[str, Any]] = []
        for r in self.records:
            what = self.mismatch(r)
            if what:
                wrong.append({"what": what, "hard": self.hard(what), "case": r.case.name, "kind": r.case.kind,
                              "at_s": round(r.start, 1), "wall_s": round(r.wall_s, 2), "failure": r.failure,
                              "reason": r.reason[:300], "neighbours": self.neighbours(r),
                              "sessions": list(r.sessions), "same_session": self.same_session(r),
                              "repairs": list(r.repairs),
                              "restarts_during": r.restarts_after - r.restarts_before})
        rss_values = [b for _, b in self.rss]
        gib = 2.0**30
        step = max(1, len(self.rss) // 12)
        windows: list[dict[str, Any]] = []
        last = max((r.end for r in self.records), default=0.0)
        for w in range(int(last // window_s) + 1):
            lo, hi = w * window_s, (w + 1) * window_s
            inside = [r for r in self.records if lo <= r.end < hi]
            if not inside:
                continue
            times = [r.wall_s for r in inside]
            correct = [r.wall_s for r in inside if r.case.kind == "correct"]
            windows.append({"from_min": round(lo / 60, 1), "checks": len(inside),
                            "median_s": round(statistics.median(times), 2), "p95_s": round(percentile(times, 95), 2),
                            "correct_median_s": round(statistics.median(correct), 2) if correct else None,
                            "correct_p95_s": round(percentile(correct, 95), 2) if correct else None})
        return {
            "checks": len(self.records), "wall_s": round(self.wall_s, 1),
            "checks_per_min": round(len(self.records) / max(self.wall_s, 1e-9) * 60, 1),
            "verdicts": verdicts,
            "correct_lost": sum(1 for m in wrong if m["what"] == "correct proof lost"),
            "wrong_verdicts": wrong,
            "hard_failures": sum(1 for m in wrong if m["hard"]),
            "restarts": len(self.restarts), "restart_causes": dict(Counter(self.restarts).most_common()),
            "server_generations": self.server_generations,
            "pool_events": dict(Counter(_plain(e) for _, e in self.events).most_common()),
            "warnings": dict(self.warnings.most_common(10)),
            "rss_gib": {"samples": len(rss_values),
                        "min": round(min(rss_values) / gib, 2) if rss_values else None,
                        "median": round(statistics.median(rss_values) / gib, 2) if rss_values else None,
                        "max": round(max(rss_values) / gib, 2) if rss_values else None,
                        "series": [[round(t / 60, 1), round(b / gib, 2)] for t, b in self.rss[::step]]},
            "wall_per_check": windows,
            "final_check": self.final_check,
            "settings": self.settings,
        }

    def failed(self) -> bool:
        s = self.summary()
        return s["hard_failures"] > 0 or self.final_check != "verified"


def _plain(message: str) -> str:
    return message[:160]


def render(summary: dict[str, Any]) -> str:
    lines = [f"== soak: {summary['checks']} checks in {summary['wall_s']} s "
             f"({summary['checks_per_min']} a minute) =="]
    for kind, v in summary["verdicts"].items():
        failed = ", ".join(f"{k[7:]} {n}" for k, n in v.items() if k.startswith("failed_")) or "none"
        lines.append(f"  {kind:<10} {v['checks']:>5} checks, {v['verified']} verified, "
                     f"{v['as_expected']} as expected; failures: {failed}")
    lost = [m for m in summary["wrong_verdicts"] if m["hard"]]
    soft = [m for m in summary["wrong_verdicts"] if not m["hard"]]
    lines.append(f"  correct proofs lost: {summary['correct_lost']}; wrong verdicts: {len(lost)}"
                 f" (+{len(soft)} runaways refused other than by the limit)")
    for m in lost[:20]:
        lines.append(f"    ! {m['what']}: {m['case']} at {m['at_s']} s, {m['wall_s']} s, {m['failure']}: "
                     f"{m['reason'][:160]!r}; beside {m['neighbours']}, in its session {m['same_session']}; "
                     f"restarts during it {m['restarts_during']}"
                     + (f"; repairs {m['repairs']}" if m["repairs"] else ""))
    if len(lost) > 20:
        lines.append(f"    ... and {len(lost) - 20} more (see --json)")
    for m in soft[:3]:
        lines.append(f"    ~ {m['what']}: {m['case']} at {m['at_s']} s: {m['reason'][:120]!r}")
    lines.append(f"  restarts: {summary['restarts']} (server generations {summary['server_generations']})")
    for cause, n in summary["restart_causes"].items():
        lines.append(f"    {n:>4} x {cause}")
    for event, n in summary["pool_events"].items():
        lines.append(f"    {n:>4} x pool: {event}")
    for warning, n in summary["warnings"].items():
        lines.append(f"    {n:>4} x warning: {warning}")
    rss = summary["rss_gib"]
    series = ", ".join(f"{t}m {g}" for t, g in rss["series"])
    lines.append(f"  Isabelle RSS (GiB, {rss['samples']} samples): min {rss['min']}, median {rss['median']}, "
                 f"max {rss['max']}; {series}")
    lines.append("  wall time per check (window from minute: count, median / p95 s; correct only):")
    for w in summary["wall_per_check"]:
        lines.append(f"    {w['from_min']:>6}: {w['checks']:>5}, {w['median_s']} / {w['p95_s']}; "
                     f"correct {w['correct_median_s']} / {w['correct_p95_s']}")
    lines.append(f"  a correct proof after the soak: {summary['final_check']}")
    return "\n".join(lines)


_SESSIONS: ContextVar[list[int] | None] = ContextVar("soak_sessions", default=None)


class TracingPool(SessionPool):
    """A ``SessionPool`` that notes which session each check ran on (each soak loop is its
    own task, so the context variable is that check's own list)."""

    @contextlib.asynccontextmanager
    async def worker(self) -> AsyncIterator[Worker]:
        async with super().worker() as worker:
            seen = _SESSIONS.get()
            if seen is not None:
                seen.append(worker.index)
            yield worker


class _WarningCounter(logging.Handler):
    """The pool's and checker's warnings (lost connections, failed restarts), counted."""

    def __init__(self, counter: Counter[str]) -> None:
        super().__init__(logging.WARNING)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        self.counter[_plain(record.getMessage())] += 1


async def run_soak(checker: CheckerProtocol, pool: PoolView, soak: Soak, cases: Sequence[Case], *,
                   imports: Sequence[str], shares: dict[Kind, float], seed: int, slots: int, minutes: float,
                   checks: int, check_limit_s: float, rss: Callable[[], int] = lambda: 0,
                   rss_every_s: float = 30.0, report_every_s: float = 60.0,
                   out: Callable[[str], None] = print) -> Soak:
    """Check ``plan(cases)`` from ``slots`` concurrent loops until ``minutes`` or ``checks``."""
    order = plan(cases, shares, seed)
    options = CheckOptions(check_limit_s=check_limit_s)
    t0 = time.monotonic()
    stop_at = t0 + minutes * 60
    taken = 0

    def now() -> float:
        return time.monotonic() - t0

    async def loop() -> None:
        nonlocal taken
        while taken < checks and time.monotonic() < stop_at:
            taken += 1
            case = next(order)
            ctx = TheoryContext(tuple(imports), target=case.name, statement=case.statement)
            before, start = len(pool.restarts), now()
            sessions: list[int] = []
            _SESSIONS.set(sessions)
            try:
                v: Verdict = await checker.check(case.text, ctx, repair=True, options=options)
                verified, failure, reason, repairs = v.verified, str(v.failure or ""), v.reason, v.repairs
            except (LegoProverError, OSError, RuntimeError) as exc:  # the pool gave up: record, go on
                verified, failure, reason = False, "exception", f"{type(exc).__name__}: {exc}"
                repairs = ()
            soak.records.append(CheckRecord(case, start, now(), verified, failure, reason,
                                            before, len(pool.restarts), tuple(sessions), repairs))

    async def sample() -> None:
        while True:
            soak.rss.append((now(), await asyncio.to_thread(rss)))
            await asyncio.sleep(rss_every_s)

    async def report() -> None:
        while True:
            await asyncio.sleep(report_every_s)
            done = soak.records
            recent = [r.wall_s for r in done if r.end > now() - report_every_s]
            lost = sum(1 for r in done if soak.hard(soak.mismatch(r)))
            kinds = Counter(r.case.kind for r in done)
            rss_gib = soak.rss[-1][1] / 2**30 if soak.rss else 0.0
            out(f"[{now() / 60:5.1f} min] {len(done)} checks ({', '.join(f'{k} {n}' for k, n in kinds.items())}); "
                f"wrong verdicts {lost}; restarts {len(pool.restarts)}; RSS {rss_gib:.2f} GiB; last minute "
                f"{len(recent)} checks, median {statistics.median(recent) if recent else 0:.2f} s")

    helpers = [asyncio.create_task(sample()), asyncio.create_task(report())]
    try:
        await asyncio.gather(*(loop() for _ in range(slots)))
    finally:
        for task in helpers:
            task.cancel()
        for task in helpers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    soak.wall_s = now()
    soak.restarts = list(pool.restarts)
    soak.server_generations = pool.generation
    # the server must still answer: a correct proof alone, with the default limit
    probe = CASES[0]
    try:
        final = await checker.check(probe.text, TheoryContext(tuple(imports), target=probe.name,
                                                              statement=probe.statement))
        soak.final_check = "verified" if final.verified else f"NOT verified ({final.failure}: {final.reason[:200]})"
    except (LegoProverError, OSError, RuntimeError) as exc:
        soak.final_check = f"NOT verified ({type(exc).__name__}: {exc})"
    return soak


def parse_shares(text: str, base: dict[Kind, float]) -> dict[Kind, float]:
    shares = dict(base)
    for item in filter(None, (p.strip() for p in text.split(","))):
        kind, _, value = item.partition("=")
        known = next((k for k in KINDS if k == kind), None)  # narrows the name to a Kind
        if known is None:
            raise SystemExit(f"--shares: unknown kind {kind!r} (one of {', '.join(KINDS)})")
        shares[known] = float(value)
    return shares


def settings_from(sets: Sequence[str], repair_mode: bool, work: Path) -> IsabelleSettings:
    extra: dict[str, Any] = {"isabelle.work_dir": str(work)}
    if repair_mode:
        extra["isabelle.repair_failing_by"] = True
    for item in sets:
        key, _, raw = item.partition("=")
        key = key if key.startswith("isabelle.") else f"isabelle.{key}"
        try:
            extra[key] = json.loads(raw)
        except json.JSONDecodeError:
            extra[key] = raw
    # cwd: a lego-prover.toml where the soak is started must not change what it measures
    return load_settings(None, extra, cwd=work).isabelle


async def soak_real(args: argparse.Namespace, settings: IsabelleSettings, shares: dict[Kind, float]) -> Soak:
    from lego_prover.isabelle.checker import Checker
    from lego_prover.isabelle.server import process_tree_rss_bytes

    soak = Soak(settings.repair_failing_by, settings={
        **{k: v for k, v in settings.model_dump(mode="json").items() if k not in ("repair_tactics",)},
        "check_limit_for_every_check_s": args.check_limit, "shares": shares, "seed": args.seed})
    counter = _WarningCounter(soak.warnings)
    logging.getLogger("lego_prover").addHandler(counter)
    t0 = time.monotonic()

    def progress(message: str) -> None:
        if message.startswith("restarting"):
            soak.events.append((time.monotonic() - t0, message))
            print(f"  pool: {message}", flush=True)

    try:
        async with TracingPool(settings, on_progress=progress) as pool:
            print(f"soak: {pool.isabelle_name}, session {settings.session}, {settings.workers} workers x "
                  f"{settings.checks_per_worker} checks, limit {args.check_limit} s, repair_failing_by "
                  f"{settings.repair_failing_by}, shares {shares}", flush=True)

            def rss() -> int:
                server = pool.server
                return process_tree_rss_bytes(server.pid) if server is not None and server.pid else 0

            await run_soak(Checker(pool, settings), pool, soak, CASES, imports=settings.imports, shares=shares,
                           seed=args.seed, slots=settings.workers * settings.checks_per_worker,
                           minutes=args.minutes, checks=args.checks, check_limit_s=args.check_limit, rss=rss,
                           rss_every_s=args.rss_every, out=lambda line: print(line, flush=True))
            await pool.drain()
    finally:
        logging.getLogger("lego_prover").removeHandler(counter)
    return soak


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--checks", type=int, default=2000, help="stop after this many checks (or --minutes)")
    ap.add_argument("--mode", choices=["plain", "repair"], default="plain",
                    help="repair: isabelle.repair_failing_by on, and answers with failing `by` steps in the mix")
    ap.add_argument("--shares", default="", metavar="KIND=W,...",
                    help=f"relative weights of {', '.join(KINDS)} (default {DEFAULT_SHARES}; repair mode "
                         f"{REPAIR_SHARES})")
    ap.add_argument("--check-limit", type=float, default=10.0, help="check_limit_s of every check")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an isabelle setting (JSON value, else a string), e.g. isabelle.checks_per_worker=1")
    ap.add_argument("--rss-every", type=float, default=30.0, help="seconds between memory samples")
    ap.add_argument("--window", type=float, default=5.0, help="minutes per window of the wall-time table")
    ap.add_argument("--json", type=Path, help="write all figures here")
    args = ap.parse_args(argv)
    from lego_prover.isabelle.server import find_isabelle

    logging.basicConfig(level=logging.ERROR)   # our counter sees the warnings; keep them off the screen
    with tempfile.TemporaryDirectory(prefix="soak-checker-") as tmp:
        settings = settings_from(args.set, args.mode == "repair", Path(tmp))
        try:
            find_isabelle(settings.home)
        except LegoProverError as exc:
            print(f"soak_checker needs a real Isabelle: {exc}")
            return 0
        base = REPAIR_SHARES if settings.repair_failing_by else DEFAULT_SHARES
        shares = parse_shares(args.shares, base)
        soak = asyncio.run(soak_real(args, settings, shares))
    summary = soak.summary(window_s=args.window * 60)
    print(render(summary), flush=True)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return 1 if soak.failed() else 0


if __name__ == "__main__":
    raise SystemExit(main())
