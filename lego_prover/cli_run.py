"""`eval` and `evolve`: choosing the problems, preflight, the run, and what it printed when it stopped."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from lego_prover.cli_support import announce, cli_settings, err, guarded, out, run_meta
from lego_prover.config import MAX_ATTEMPTS, Settings
from lego_prover.errors import (
    BadInputError,
    LegoProverError,
    ProblemFileError,
    ServiceError,
)

# --------------------------------------------------------------------------- eval


class Split(StrEnum):
    valid = "valid"
    test = "test"


class Benchmark(StrEnum):
    minif2f = "minif2f"


class Informal(StrEnum):
    human = "human"
    generated = "generated"
    both = "both"


class Method(StrEnum):
    lego = "lego"
    dsp = "dsp"
    hammer = "hammer"


def _problem_names(names: str | None) -> list[str] | None:
    if names is None:
        return None
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise BadInputError("--problems is empty; give comma-separated problem names, e.g. "
                            "--problems mathd_algebra_104,mathd_algebra_109.")
    return wanted


def _problems_for_run(settings: Settings, benchmark: str, split: str, problems_file: Path | None,
                      names: str | None, *, split_flag: str = "--split {}") -> tuple[list[Any], dict[str, Any]]:
    """The chosen problems and the run's metadata; a name from the other split says which flag picks it."""
    from lego_prover.problems import load_benchmark, load_problems, select, unknown_names

    wanted = _problem_names(names)
    hint = ""
    if problems_file is not None:
        problems = load_problems(problems_file, what="--problems-file")
        meta = {"benchmark": "file", "problems_file": str(problems_file)}
        where = str(problems_file)
    else:
        problems = load_benchmark(benchmark, split, data_dir=settings.data_dir, cache_dir=settings.cache_dir)
        meta = {"benchmark": benchmark, "split": split}
        where = f"the {split} split"
        unknown = unknown_names(problems, wanted or [])
        other = "test" if split == "valid" else "valid"
        if unknown:
            try:
                elsewhere = [n for n in unknown if not unknown_names(
                    load_benchmark(benchmark, other, data_dir=settings.data_dir, cache_dir=settings.cache_dir), [n])]
            except LegoProverError:
                elsewhere = []
            if elsewhere:
                hint = (f" ({', '.join(elsewhere)} {'is' if len(elsewhere) == 1 else 'are'} in the {other} split: "
                        f"pass {split_flag.format(other)})")
    chosen = select(problems, wanted, where=where, hint=hint)
    if not chosen:
        raise ProblemFileError(f"no problems in {where}.")
    return chosen, meta


def _default_run_dir(prefix: str) -> Path:
    import time

    return Path("runs") / f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def eval_cmd(
    benchmark: Annotated[Benchmark | None, typer.Option(help="Benchmark name (default: minif2f).")] = None,
    split: Annotated[Split | None, typer.Option(help="Which split of the benchmark (default: valid).")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", "--benchmark-dir", help="Folder with valid.jsonl and test.jsonl (default: data_dir, else the download cache; --benchmark-dir is the same).")] = None,
    problems: Annotated[str | None, typer.Option(help="Comma-separated problem names (default: all problems of the split or file).")] = None,
    problems_file: Annotated[Path | None, typer.Option(help="Your own problems (jsonl) instead of a benchmark (then no --benchmark, --split or --data-dir).")] = None,
    attempts: Annotated[int | None, typer.Option(help=f"Attempts per problem, 1 to {MAX_ATTEMPTS:,} (prover.attempts, default 100).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Where the run is stored (default: runs/<benchmark>-<split>-<time>).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --run-dir; finished attempts are not redone.")] = False,
    informal: Annotated[Informal | None, typer.Option(help="Informal proofs: the problem's (human), the LLM's (generated), or both alternating (prover.informal).")] = None,
    method: Annotated[Method | None, typer.Option(help="lego (default), dsp (Draft, Sketch, Prove; no library) or hammer (tactics and Sledgehammer only, no LLM) (prover.method).")] = None,
    library: Annotated[bool | None, typer.Option("--library/--no-library", help="lego: retrieve skills and harvest lemmas; --no-library is the ablation without them (prover.library).")] = None,
    hammer_first: Annotated[bool | None, typer.Option("--hammer-first/--no-hammer-first", help="lego, dsp: try tactics and Sledgehammer on each problem before its first LLM attempt (prover.hammer_first, default on).")] = None,
    evolvers: Annotated[int, typer.Option(min=0, help="Evolver tasks running beside the provers (sharing budgets and Isabelle).")] = 0,
    model: Annotated[str | None, typer.Option(help="LLM model (llm.model).")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint (llm.base_url).")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Stop starting attempts past this many USD (budget.max_cost_usd).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Token budget for the run (budget.max_tokens).")] = None,
    time_budget: Annotated[float | None, typer.Option("--time-budget", metavar="SECONDS", min=1, help="Stop starting attempts after this many seconds of wall time (of this invocation; --resume continues) (budget.max_wall_s).")] = None,
    problem_time_budget: Annotated[float | None, typer.Option("--problem-time-budget", metavar="SECONDS", min=1, help="Wall seconds for one problem's hammer pass: tactics, then Sledgehammer with what is left (hammer.problem_budget_s).")] = None,
    replay: Annotated[str | None, typer.Option("--replay", metavar="SOURCE", help="Answer every LLM call from recorded conversations: a run directory of ours or a .jsonl of LEGO-Prover's published format; no model is called (llm.replay).")] = None,
    ray: Annotated[str | None, typer.Option("--ray", help="Check proofs on a Ray cluster: auto or its ADDRESS (run.ray_address).")] = None,
) -> None:
    """Run the prover on miniF2F (or your problems) and store every attempt.

    Attempts interleave across problems; a problem stops when solved. Each attempt is in
    RUN_DIR/attempts.jsonl before it is counted, solved proofs are in RUN_DIR/solved/, and
    --resume continues a stopped or killed run. Everything the run needs is checked before
    anything is written. If the LLM endpoint or Isabelle fails every call, the run stops
    (exit code 4) and --resume picks up from there. Afterwards: 'lego-prover report RUN_DIR'.

    Example:

        lego-prover eval --split valid --data-dir ../shared/minif2f \\
          --problems mathd_algebra_104,mathd_algebra_109 --attempts 2 \\
          --run-dir runs/first

    Baselines and ablations: --method dsp, --method hammer, --no-library, --evolvers 0,
    --informal generated; then 'lego-prover compare RUN_DIR RUN_DIR ...'.
    Trading time for solves: --time-budget for the run, --problem-time-budget for
    each problem's hammer pass; the report plots solved against wall time.

    Example (the same problems with Draft, Sketch, Prove, to compare):

        lego-prover eval --split valid --data-dir ../shared/minif2f \\
          --problems mathd_algebra_104,mathd_algebra_109 --attempts 2 \\
          --method dsp --run-dir runs/first-dsp

    --replay SOURCE answers every LLM call from recorded conversations (a run directory of
    ours, or LEGO-Prover's published run) instead of a model; everything else runs for real.

    Example (LEGO-Prover's own answers, checked by this Isabelle):

        lego-prover eval --split valid --data-dir ../shared/minif2f \\
          --replay ../shared/llm-replies/lego-prover/valid.jsonl \\
          --problems mathd_algebra_104,mathd_algebra_109 --no-hammer-first \\
          --run-dir runs/first-replay
    """

    def body() -> None:
        from lego_prover.preflight import Preflight
        from lego_prover.progress import RichProgress
        from lego_prover.run.evaluate import run_eval

        settings = cli_settings({"data_dir": str(data_dir) if data_dir else None, "prover.attempts": attempts,
                                 "prover.informal": informal.value if informal else None, "llm.model": model,
                                 "llm.base_url": base_url, "budget.max_cost_usd": max_cost,
                                 "budget.max_tokens": max_tokens, "prover.method": method.value if method else None,
                                 "prover.library": library, "prover.hammer_first": hammer_first,
                                 "run.ray_address": ray, "llm.replay": replay, "budget.max_wall_s": time_budget,
                                 "hammer.problem_budget_s": problem_time_budget}, flags=RUN_FLAGS,
                                resumed_run=run_dir if resume and run_dir is not None else None)
        _require_ray(settings)
        if resume and run_dir is None:
            raise BadInputError("--resume needs --run-dir (the run to continue).")
        given = {"--benchmark": benchmark.value if benchmark else None, "--split": split.value if split else None,
                 "--data-dir": str(data_dir) if data_dir else None}
        # a resumed run continues with what it was started with: its settings, benchmark and split
        started = run_meta(run_dir) if resume and run_dir is not None else {}
        _refuse_ignored_choices(given, problems_file, started, run_dir)
        bench, which = (benchmark or Benchmark.minif2f).value, (split or Split.valid).value
        own_file = problems_file
        if started.get("benchmark") == "file":
            own_file = problems_file or Path(str(started["problems_file"]))
        elif started:
            bench, which = str(started.get("benchmark") or bench), str(started.get("split") or which)
        check = Preflight(settings)
        chosen: list[Any] = []
        meta: dict[str, Any] = {}
        with check.step():
            chosen, meta = _problems_for_run(settings, bench, which, own_file, problems)
        target = run_dir or _default_run_dir(f"{bench}-{which}" if own_file is None else "problems")
        check.run_dir(target, resume=resume)
        from lego_prover.prover.methods import uses_library, uses_llm

        needs = [check.isabelle, check.prompts]
        if uses_llm(settings):          # hammer needs no LLM
            needs.insert(0, check.llm)
        if uses_library(settings) or evolvers:  # dsp, hammer and --no-library never open the library
            needs += [check.embedding, check.library]
        for need in needs:
            need()
        announce(check.notes)
        check.raise_if_missing("eval")
        with RichProgress(err) as progress:
            summary = asyncio.run(run_eval(settings, chosen, run_dir=target, resume=resume, meta=meta,
                                           progress=progress, evolvers=evolvers))
        _stop_if_service_failed(summary, "eval", target)
        _print_run_summary(summary, target)
        if summary.get("stopped_by_budget"):
            err.print(Text(f"stopped: {summary['stopped_by_budget']}; continue with "
                           f"'lego-prover eval --resume --run-dir {target}'", style="yellow"), soft_wrap=True)
            raise typer.Exit(3)

    guarded(body)


def _refuse_ignored_choices(given: dict[str, str | None], problems_file: Path | None, started: dict[str, Any],
                            run_dir: Path | None) -> None:
    """A flag that would be ignored is refused: --split beside --problems-file (the file gives the
    problems), or another split than a resumed run was started with (it keeps its own)."""
    flags = [f"{flag} {value}" for flag, value in given.items() if value is not None]
    if problems_file is not None and flags:
        raise BadInputError(f"{' and '.join(flags)} choose{'s' if len(flags) == 1 else ''} benchmark problems, but "
                            f"--problems-file {problems_file} gives the problems; drop one or the other.")
    if started.get("benchmark") == "file" and flags:
        raise BadInputError(f"the run in {run_dir} was started on --problems-file {started.get('problems_file')}, and "
                            f"a resumed run keeps its problems; drop {' and '.join(flags)}.")
    for flag, key in (("--benchmark", "benchmark"), ("--split", "split")):
        if started and given[flag] is not None and started.get(key) and given[flag] != started[key]:
            raise BadInputError(f"the run in {run_dir} was started with {flag} {started[key]}, and a resumed run "
                                f"keeps its {key}; drop {flag} {given[flag]}.")


RUN_FLAGS = {"data_dir": "--data-dir", "prover.attempts": "--attempts", "prover.informal": "--informal",
             "prover.method": "--method", "prover.library": "--library/--no-library",
             "prover.hammer_first": "--hammer-first/--no-hammer-first", "run.ray_address": "--ray",
             "llm.model": "--model", "llm.base_url": "--base-url", "budget.max_cost_usd": "--max-cost",
             "budget.max_tokens": "--max-tokens", "llm.replay": "--replay", "budget.max_wall_s": "--time-budget",
             "hammer.problem_budget_s": "--problem-time-budget"}


def _stop_if_service_failed(summary: dict[str, Any], command: str, run_dir: Path) -> None:
    """A broken service is never a result: one line, what finished is kept, exit code 4."""
    why = summary.get("stopped_by_service")
    if not why:
        return
    kept = (f"{summary.get('attempts', 0)} finished attempts kept, {summary.get('solved', 0)} solved"
            if command == "eval" else f"{summary.get('steps', 0)} steps kept")
    raise ServiceError(f"stopped: {why}; then continue with 'lego-prover {command} --resume --run-dir {run_dir}' "
                       f"({kept}).")


def evolve(
    steps: Annotated[int, typer.Option(min=1, help="Evolver steps to run (a resumed run counts its earlier steps).")] = 50,
    for_: Annotated[str | None, typer.Option("--for", help="Target problems as BENCHMARK:SPLIT, e.g. minif2f:valid.")] = None,
    problems: Annotated[str | None, typer.Option(help="Comma-separated problem names: only these targets (default: all).")] = None,
    problems_file: Annotated[Path | None, typer.Option(help="Target problems from your own jsonl file instead of --for.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with valid.jsonl and test.jsonl (default: data_dir, else the download cache).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Where the run is stored (default: runs/evolve-<time>).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the evolve run in --run-dir.")] = False,
    max_cost: Annotated[float | None, typer.Option(help="Budget in USD (budget.max_cost_usd).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Token budget (budget.max_tokens).")] = None,
    replay: Annotated[str | None, typer.Option("--replay", metavar="SOURCE", help="Answer every LLM call from recorded conversations: a run directory of ours (its evolver.jsonl); no model is called (llm.replay).")] = None,
    ray: Annotated[str | None, typer.Option("--ray", help="Check proofs on a Ray cluster: auto or its ADDRESS (run.ray_address).")] = None,
) -> None:
    """Grow the skill library offline: evolve skills and prove open requests, aimed at target problems.

    Each step either evolves the least-evolved skill along one direction (identify key
    concepts, parameterize, scale complexity, extend dimensions) or proves the open
    request tried least (evolver.directional_share sets the mix). Every candidate is
    checked by Isabelle; verified lemmas join the library with their lineage.

    Example:

        lego-prover evolve --steps 10 --for minif2f:valid \\
          --data-dir ../shared/minif2f --run-dir runs/evolve-first --max-cost 5
    """

    def body() -> None:
        from lego_prover.preflight import Preflight
        from lego_prover.progress import RichProgress
        from lego_prover.run.evaluate import run_evolve

        settings = cli_settings({"data_dir": str(data_dir) if data_dir else None,
                                 "budget.max_cost_usd": max_cost, "budget.max_tokens": max_tokens,
                                 "run.ray_address": ray, "llm.replay": replay}, flags=RUN_FLAGS,
                                resumed_run=run_dir if resume and run_dir is not None else None)
        _require_ray(settings)
        if resume and run_dir is None:
            raise BadInputError("--resume needs --run-dir (the run to continue).")
        started = run_meta(run_dir) if resume and run_dir is not None else {}
        target_for, target_file = for_, problems_file
        if target_for is None and target_file is None and started:  # a resumed run keeps its target problems
            if started.get("problems_file"):
                target_file = Path(str(started["problems_file"]))
            elif started.get("benchmark") and started.get("split"):
                target_for = f"{started['benchmark']}:{started['split']}"
        if (target_for is None) == (target_file is None):
            raise BadInputError("give the target problems: --for minif2f:valid or --problems-file FILE.jsonl.")
        if target_file is not None and data_dir is not None:  # the file gives the problems: --data-dir would be ignored
            raise BadInputError(f"--data-dir {data_dir} chooses benchmark problems, but --problems-file {target_file} "
                                "gives the problems; drop one or the other.")
        check = Preflight(settings)
        chosen: list[Any] = []
        meta: dict[str, Any] = {}
        with check.step():
            if target_for is not None:
                bench, sep, split = target_for.partition(":")
                if bench not in {b.value for b in Benchmark} or (sep and split not in {s.value for s in Split}):
                    raise BadInputError(f"--for {target_for!r} is not BENCHMARK:SPLIT; use minif2f:valid or minif2f:test.")
                chosen, meta = _problems_for_run(settings, bench, split or "valid", None, problems,
                                                 split_flag=f"--for {bench}:{{}}")
            else:
                chosen, meta = _problems_for_run(settings, "", "", target_file, problems)
        target = run_dir or _default_run_dir("evolve")
        check.run_dir(target, resume=resume)
        for need in (check.llm, check.isabelle, check.embedding, check.library, check.prompts):
            need()
        announce(check.notes)
        check.raise_if_missing("evolve")
        with RichProgress(err, label="evolver steps") as progress:
            summary = asyncio.run(run_evolve(settings, chosen, run_dir=target, resume=resume, steps=steps,
                                             meta=meta, progress=progress))
        _stop_if_service_failed(summary, "evolve", target)
        out.print(f"{summary['steps']} steps · {summary['added']} skills added · "
                  f"{summary['requests_closed']} requests proved", highlight=False, markup=False)
        for key, row in sorted(summary["by_direction"].items()):
            out.print(f"  {key}: {row['steps']} steps, {row['added']} added", highlight=False, markup=False)
        if summary.get("stopped_by_budget"):
            err.print(Text(f"stopped: {summary['stopped_by_budget']}; continue with "
                           f"'lego-prover evolve --resume --run-dir {target}'", style="yellow"), soft_wrap=True)
            raise typer.Exit(3)

    guarded(body)


def _require_ray(settings: Settings) -> None:
    """With run.ray_address set, a missing Ray is one line now, before anything starts."""
    if settings.run.ray_address:
        from lego_prover.run.cluster import import_ray

        import_ray()


def _print_run_summary(summary: dict[str, Any], run_dir: Path) -> None:
    total = summary.get("usage", {}).get("total", {})
    out.print(f"{summary['solved']}/{summary['problems']} solved "
              f"({100 * summary['pass_rate']:.1f}%) in {summary['attempts']} attempts · "
              f"tokens {total.get('prompt_tokens', 0) + total.get('completion_tokens', 0):,} · "
              f"${total.get('cost_usd', 0):.2f}", highlight=False, markup=False)
    trusting = summary.get("solved_relying_on_trusted_oracles") or []
    if trusting:
        out.print(f"{len(trusting)} of the solved rest on an oracle you trust (isabelle.trusted_oracles); without "
                  f"them {summary['solved_without_trusted_oracles']}/{summary['problems']}", highlight=False,
                  markup=False)
    if summary.get("replay"):
        out.print(f"{summary['replay']['note']}; {summary['replay']['no_recorded_answer']} attempt(s) with no "
                  "recorded answer", highlight=False, markup=False)
    first = summary.get("solved_by_hammer_first") or 0
    if first:
        rest = summary["excluding_hammer_first"]
        out.print(f"{first} solved by the hammer pass before any LLM attempt; without them "
                  f"{rest['solved']}/{rest['problems']} ({100 * rest['pass_rate']:.1f}%)", highlight=False, markup=False)
    hammer = summary.get("hammer")
    if hammer and summary.get("method") == "hammer":
        seconds, cpu = hammer["seconds_per_problem"], summary.get("isabelle_cpu_s")
        out.print(f"hammer: {hammer['solved_by_tactic']} by a tactic, {hammer['solved_by_sledgehammer']} by "
                  f"Sledgehammer · seconds per problem: median {seconds['median']}, p95 {seconds['p95']} · "
                  f"Isabelle check time {hammer['isabelle_check_s']:.1f} s · Isabelle CPU "
                  + (f"{cpu:.1f} s" if cpu is not None else "not measured (a server lego-prover did not start)"),
                  highlight=False, markup=False)
    out.print(f"report: lego-prover report {run_dir}", highlight=False, markup=False)
