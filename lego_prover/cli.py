"""The ``lego-prover`` command line. Thin: parse, build objects from config, call one function."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from lego_prover.cli_skills import skills_app
from lego_prover.cli_support import (
    LegoTyper,
    cli_checker,
    cli_settings,
    err,
    guarded,
    out,
    run_meta,
    state,
)
from lego_prover.config import Settings
from lego_prover.errors import (
    BadInputError,
    LegoProverError,
    LLMError,
    ProblemFileError,
    ServiceError,
)
from lego_prover.render import mark_line

app = LegoTyper(
    name="lego-prover",
    help=(
        "A LEGO-Prover-style theorem prover for Isabelle with a growing library of verified lemmas.\n\n"
        "Every proof is checked by a real Isabelle server. Start with 'lego-prover doctor' to see what is "
        "installed; 'lego-prover eval' runs the prover on miniF2F and 'lego-prover report RUN_DIR' shows how "
        "it went; 'lego-prover check FILE.thy --problem NAME' checks one proof. Every command's --help ends "
        "with an example.\n\n"
        "Example:\n\n"
        "    lego-prover eval --split valid --data-dir ../shared/minif2f \\\n"
        "      --problems mathd_algebra_104,mathd_algebra_109 --attempts 2 \\\n"
        "      --run-dir runs/first\n\n"
        "Settings come from defaults < ./lego-prover.toml (or --config) < LEGO_PROVER_* variables < flags. "
        "Exit codes: 0 done, 1 not verified, 2 bad input or a missing requirement, 3 a budget ran out, "
        "4 a service (LLM endpoint, Isabelle) failed; 3 and 4 continue with --resume."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
@app.callback()
def _global(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML settings file (default: ./lego-prover.toml if present).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    state.config = config
    state.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


app.add_typer(skills_app, name="skills")


# --------------------------------------------------------------------------- check


@app.command()
def check(
    theory: Annotated[Path, typer.Argument(help="Theory file: a whole theory, or just lemmas and the theorem.")],
    problem: Annotated[str | None, typer.Option(help="Problem name whose formal statement the theorem must keep.")] = None,
    benchmark_dir: Annotated[Path | None, typer.Option(help="Folder with valid.jsonl and test.jsonl (default: data_dir, else the miniF2F cache).")] = None,
    problems_file: Annotated[Path | None, typer.Option(help="A jsonl problem file to look --problem up in.")] = None,
    statement_file: Annotated[Path | None, typer.Option(help="File holding the exact formal statement instead of --problem.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable verdict on stdout.")] = False,
    guard_only: Annotated[bool, typer.Option(help="Only run the soundness guard; do not start Isabelle.")] = False,
    repair: Annotated[bool, typer.Option(help="Replace sledgehammer placeholders by the first tactic that works.")] = True,
) -> None:
    """Check one proof with Isabelle: soundness guard, repair, then the real check.

    Exit code 0 only when the theory verified with the theorem's statement unchanged;
    1 when it did not; 2 for usage or environment errors (e.g. no Isabelle found).

    Example:

        lego-prover check examples/mathd_numbertheory_81.thy \\
          --problem mathd_numbertheory_81 --benchmark-dir ../shared/minif2f
    """

    def body() -> None:
        from lego_prover.inputs import read_text
        from lego_prover.isabelle.checker import TheoryContext
        from lego_prover.isabelle.guard import SoundnessGuard
        from lego_prover.isabelle.theory import BlockKind, split_blocks
        from lego_prover.render import print_guard, print_verdict, verdict_json

        settings = cli_settings()
        if problem and statement_file:
            raise BadInputError("give --problem or --statement-file, not both.")
        text = read_text(theory, "theory file", limit=(settings.isabelle.max_proof_bytes, "isabelle.max_proof_bytes"))
        if _last_goal_name(text) is None and not _has_blocks(text):
            raise BadInputError(f"{theory} holds no lemma or theorem to check; write the theorem (with its proof) "
                                "into it" + (f", keeping the statement of {problem}" if problem else "") + ".")
        statement_checked = True
        if problem:
            prob = _find_problem(problem, settings, benchmark_dir, problems_file)
            context = TheoryContext.for_problem(prob, settings.isabelle)
        elif statement_file:
            statement = read_text(statement_file, "statement file").strip()
            goals = [b for b in split_blocks(statement) if b.kind is BlockKind.LEMMA and b.name]
            if not goals:
                raise BadInputError(f"{statement_file} holds no 'theorem NAME: ...' statement.")
            context = TheoryContext(tuple(settings.isabelle.imports), "", goals[0].name, statement)
        else:
            statement_checked = False
            context = TheoryContext(tuple(settings.isabelle.imports), "", _last_goal_name(text), None)
        guard = SoundnessGuard(context.guard_context(), allow_placeholders=repair).check(text)
        if guard_only or not guard.ok:
            if as_json:
                out.print_json(json.dumps({"guard_ok": guard.ok, "rejections": [
                    {"code": r.code.value, "message": r.message, "line": r.line} for r in guard.rejections]}))
            else:
                print_guard(err if as_json else out, guard)
            raise typer.Exit(0 if guard.ok else 1)
        verdict = asyncio.run(_check(settings, text, context, repair))
        if as_json:
            out.print_json(json.dumps(verdict_json(verdict)))
        else:
            print_verdict(out, verdict, statement_checked=statement_checked)
        raise typer.Exit(0 if verdict.verified else 1)

    guarded(body)


async def _check(settings: Settings, text: str, context: Any, repair: bool) -> Any:
    async with cli_checker(settings) as checker:
        return await checker.check(text, context, repair=repair)


def _has_blocks(text: str) -> bool:
    from lego_prover.isabelle.lexer import LexError
    from lego_prover.isabelle.theory import parse_theory

    try:
        return bool(parse_theory(text).blocks)
    except (LexError, ValueError):
        return bool(text.strip())  # let the guard say what is wrong with it


def _last_goal_name(text: str) -> str | None:
    from lego_prover.isabelle.lexer import LexError
    from lego_prover.isabelle.theory import BlockKind, parse_theory

    try:
        goals = [b for b in parse_theory(text).blocks if b.kind is BlockKind.LEMMA and b.name]
    except (LexError, ValueError):
        return None
    return goals[-1].name if goals else None


def _find_problem(name: str, settings: Settings, benchmark_dir: Path | None, problems_file: Path | None) -> Any:
    from lego_prover.inputs import existing_dir
    from lego_prover.problems import load_problems, minif2f_cache_dir

    if problems_file is not None:
        files = [problems_file]
    else:
        if benchmark_dir is not None:
            existing_dir(benchmark_dir, "--benchmark-dir")
        folder = benchmark_dir or settings.data_dir or minif2f_cache_dir(settings.cache_dir)
        files = [folder / "valid.jsonl", folder / "test.jsonl"]
        if not any(f.is_file() for f in files):
            raise ProblemFileError(f"no valid.jsonl/test.jsonl in {folder}; pass --benchmark-dir or --problems-file.")
    for f in files:
        if problems_file is not None or f.is_file():
            for p in load_problems(f, what="--problems-file" if problems_file is not None else "problem file"):
                if p.name == name:
                    return p
    raise ProblemFileError(f"problem {name!r} not found in {', '.join(str(f) for f in files)}.")


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


def _announce(notes: list[str]) -> None:
    for note in notes:
        err.print(Text(f"note: {note}", style="yellow"), soft_wrap=True)


@app.command("eval")
def eval_cmd(
    benchmark: Annotated[Benchmark, typer.Option(help="Benchmark name.")] = Benchmark.minif2f,
    split: Annotated[Split, typer.Option(help="Which split of the benchmark.")] = Split.valid,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with valid.jsonl and test.jsonl (default: data_dir, else the download cache).")] = None,
    problems: Annotated[str | None, typer.Option(help="Comma-separated problem names (default: all problems of the split or file).")] = None,
    problems_file: Annotated[Path | None, typer.Option(help="Your own problems (jsonl) instead of a benchmark.")] = None,
    attempts: Annotated[int | None, typer.Option(help="Attempts per problem (prover.attempts, default 100).")] = None,
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

    Example (the same problems with Draft, Sketch, Prove, to compare):

        lego-prover eval --split valid --data-dir ../shared/minif2f \\
          --problems mathd_algebra_104,mathd_algebra_109 --attempts 2 \\
          --method dsp --run-dir runs/first-dsp
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
                                 "run.ray_address": ray}, flags=RUN_FLAGS,
                                resumed_run=run_dir if resume and run_dir is not None else None)
        _require_ray(settings)
        if resume and run_dir is None:
            raise BadInputError("--resume needs --run-dir (the run to continue).")
        # a resumed run continues with what it was started with: its settings, benchmark and split
        started = run_meta(run_dir) if resume and run_dir is not None else {}
        bench, which, own_file = benchmark.value, split.value, problems_file
        if started.get("benchmark") == "file":
            own_file = problems_file or Path(str(started["problems_file"]))
        elif started:
            bench, which = str(started.get("benchmark") or bench), str(started.get("split") or which)
        check = Preflight(settings)
        chosen: list[Any] = []
        meta: dict[str, Any] = {}
        with check.step():
            chosen, meta = _problems_for_run(settings, bench, which, own_file, problems)
        target = run_dir or _default_run_dir(f"{benchmark.value}-{split.value}" if problems_file is None else "problems")
        check.run_dir(target, resume=resume)
        from lego_prover.prover.methods import uses_library, uses_llm

        needs = [check.isabelle, check.prompts]
        if uses_llm(settings):          # hammer needs no LLM
            needs.insert(0, check.llm)
        if uses_library(settings) or evolvers:  # dsp, hammer and --no-library never open the library
            needs += [check.embedding, check.library]
        for need in needs:
            need()
        _announce(check.notes)
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


RUN_FLAGS = {"data_dir": "--data-dir", "prover.attempts": "--attempts", "prover.informal": "--informal",
             "prover.method": "--method", "prover.library": "--library/--no-library",
             "prover.hammer_first": "--hammer-first/--no-hammer-first", "run.ray_address": "--ray",
             "llm.model": "--model", "llm.base_url": "--base-url", "budget.max_cost_usd": "--max-cost",
             "budget.max_tokens": "--max-tokens"}


def _stop_if_service_failed(summary: dict[str, Any], command: str, run_dir: Path) -> None:
    """A broken service is never a result: one line, what finished is kept, exit code 4."""
    why = summary.get("stopped_by_service")
    if not why:
        return
    kept = (f"{summary.get('attempts', 0)} finished attempts kept, {summary.get('solved', 0)} solved"
            if command == "eval" else f"{summary.get('steps', 0)} steps kept")
    raise ServiceError(f"stopped: {why}; then continue with 'lego-prover {command} --resume --run-dir {run_dir}' "
                       f"({kept}).")


@app.command()
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
                                 "run.ray_address": ray}, flags=RUN_FLAGS,
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
        _announce(check.notes)
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


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory written by 'eval'.")]) -> None:
    """Write RUN_DIR/report.md and a self-contained RUN_DIR/report.html with plots.

    Pass rate vs attempts (pass@k), by problem source, tokens and cost per solved problem,
    library growth, and lemma reuse (solved proofs that used retrieved skills). Reads the
    run only: it needs no Isabelle, LLM or library.

    Example:

        lego-prover report runs/first
    """

    def body() -> None:
        from lego_prover.run.report import write_report

        md, page = write_report(run_dir)
        out.print(md.read_text(encoding="utf-8"), highlight=False, markup=False)
        out.print(f"written: {md} and {page}", highlight=False, markup=False)

    guarded(body)


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run directories written by 'eval'.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for compare.md and compare.html.")] = Path("."),
) -> None:
    """Compare runs: solved vs attempts, tokens and cost; cost-matched pass rates; library use.

    Writes OUT/compare.md and a self-contained OUT/compare.html with plots. Cost-matched:
    each run's solved count at the spend of the cheapest run. Runs made with different
    models, statements, Isabelle versions or trusted oracles are flagged in the report.

    Example (the runs of the two 'eval --help' examples):

        lego-prover compare runs/first runs/first-dsp --out runs/compare
    """

    def body() -> None:
        from lego_prover.run.compare import write_comparison

        md, page = write_comparison(run_dirs, out_dir)
        out.print(md.read_text(encoding="utf-8"), highlight=False, markup=False)
        out.print(f"written: {md} and {page}", highlight=False)

    guarded(body)


@app.command("verify-results")
def verify_results_cmd(run_dir: Annotated[Path, typer.Argument(help="A run directory written by 'eval'.")]) -> None:
    """Re-check every solved proof of a run from its stored text, in a fresh Isabelle session.

    Exit code 0 when all still verify, 1 when any does not (each is listed with the reason).

    Example:

        lego-prover verify-results runs/first
    """

    def body() -> None:
        from lego_prover.preflight import Preflight
        from lego_prover.run.verify import verify_results

        settings = cli_settings()
        check = Preflight(settings)
        check.existing_run(run_dir)
        check.isabelle()
        _announce(check.notes)
        check.raise_if_missing("verify-results")
        replays = asyncio.run(_verify(settings, run_dir, verify_results))
        bad = [r for r in replays if not r.verified]
        for r in bad:
            err.print(mark_line(False, f"{r.problem}: {r.reason}"), soft_wrap=True)
        out.print(f"{len(replays) - len(bad)}/{len(replays)} stored proofs verify again", highlight=False)
        raise typer.Exit(1 if bad else 0)

    guarded(body)


async def _verify(settings: Settings, run_dir: Path, verify: Any) -> Any:
    async with cli_checker(settings) as checker:
        return await verify(run_dir, checker, tuple(settings.isabelle.imports),
                            on_result=lambda r: err.print(mark_line(r.verified, r.problem), soft_wrap=True))


@app.command("check-examples")
def check_examples() -> None:
    """Check every in-context example proof shipped in prompts/examples with Isabelle.

    The examples are our own worked problems; this is how anyone with Isabelle confirms
    that each one verifies. Exit code 0 when all do.

    Example:

        lego-prover check-examples
    """

    def body() -> None:
        from lego_prover.preflight import Preflight
        from lego_prover.prover.examples import check_all_examples

        settings = cli_settings()
        check = Preflight(settings)
        check.prompts()
        check.isabelle()
        _announce(check.notes)
        check.raise_if_missing("check-examples")
        results = asyncio.run(_check_examples(settings, check_all_examples))
        bad = [r for r in results if not r.verified]
        for r in results:
            out.print(mark_line(r.verified, f"{r.kind}/{r.name}: {r.reason}"), soft_wrap=True)
        out.print(f"{len(results) - len(bad)}/{len(results)} examples verified", highlight=False)
        raise typer.Exit(1 if bad else 0)

    guarded(body)


async def _check_examples(settings: Settings, check_all: Any) -> Any:
    from lego_prover.prover.prompts import PromptLibrary

    async with cli_checker(settings) as checker:
        return await check_all(PromptLibrary.load(settings.prompts_dir), checker, tuple(settings.isabelle.imports))


# --------------------------------------------------------------------------- doctor


@app.command()
def doctor(
    ray: Annotated[str | None, typer.Option("--ray", help="Check every node of this Ray cluster (auto or ADDRESS) for Isabelle, heap and check slots.")] = None,
) -> None:
    """Show what is found and what is missing (Isabelle, session heap, embedding model, LLM endpoint).

    Each missing thing comes with its fix. Reads only: it creates nothing. Exit code 0
    when everything is in place, 1 otherwise. With --ray, every node of the cluster too.

    Example:

        lego-prover doctor
    """

    def body() -> None:
        from lego_prover.doctor import run_doctor
        from lego_prover.render import print_findings

        findings = run_doctor(cli_settings({"run.ray_address": ray}))
        print_findings(out, findings)
        raise typer.Exit(0 if all(f.ok for f in findings) else 1)

    guarded(body)


@app.command("download-minif2f")
def download_minif2f_cmd(
    cache_dir: Annotated[Path | None, typer.Option(help="Where to put it (default: cache_dir from the settings).")] = None,
) -> None:
    """Download miniF2F (facebookresearch/miniF2F) and convert it to jsonl in the cache.

    Needs network access; without it, pass --data-dir to the commands instead (a folder
    with valid.jsonl and test.jsonl).

    Example:

        lego-prover download-minif2f
    """

    def body() -> None:
        from lego_prover.inputs import writable_dir
        from lego_prover.problems import download_minif2f

        settings = cli_settings()
        target = writable_dir(cache_dir or settings.cache_dir, "--cache-dir" if cache_dir else "cache_dir")
        written = download_minif2f(target)
        out.print(f"miniF2F written to {written}", markup=False, highlight=False)

    guarded(body)


class ServeBackend(StrEnum):
    auto = "auto"
    llama_cpp = "llama_cpp"
    vllm = "vllm"


@app.command("serve-model")
def serve_model(
    model: Annotated[str, typer.Argument(help="A GGUF file (llama.cpp) or a Hugging Face model id/folder (vLLM).")],
    backend: Annotated[ServeBackend, typer.Option(help="auto: GGUF files to llama_cpp, anything else to vllm.")] = ServeBackend.auto,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    name: Annotated[str | None, typer.Option(help="Model name clients send (default: the file or folder name).")] = None,
    start_timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the server to answer.")] = 600.0,
) -> None:
    """Serve a local model on 127.0.0.1 with an OpenAI-compatible API until Ctrl-C.

    Prints the settings that point lego-prover at it. To let 'eval' start and stop the
    server itself instead, set llm.local_model (and llm.local_backend) in the config.
    Needs the extra of its backend: pip install 'lego-prover[local]' (llama.cpp, GGUF
    files) or 'lego-prover[vllm]' (an NVIDIA GPU).

    Example (with a GGUF file of yours):

        lego-prover serve-model ~/models/qwen2.5-7b-instruct-q4_k_m.gguf \\
          --port 8080
    """

    def body() -> None:
        import time

        from lego_prover.llm.local_server import LocalModelServer

        settings = cli_settings()
        log_path = settings.cache_dir / "model-server.log"
        server = LocalModelServer.for_model(str(Path(model).expanduser()) if model.startswith("~") else model,
                                            backend=backend.value, port=port, served_name=name,
                                            start_timeout_s=start_timeout, log_path=log_path)
        settings.cache_dir.mkdir(parents=True, exist_ok=True)  # only once the model and backend are known good
        err.print(f"starting {' '.join(server.command[1:4])} ... (log: {log_path})", markup=False, highlight=False)
        with server:
            out.print(f"serving {server.served_name!r} at {server.base_url}\n"
                      f"use it with:  LEGO_PROVER_LLM__BASE_URL={server.base_url} "
                      f"LEGO_PROVER_LLM__MODEL={server.served_name} lego-prover ...\n"
                      "press Ctrl-C to stop", highlight=False, markup=False)
            while server.running:
                time.sleep(1.0)
            raise LLMError(f"the model server stopped on its own; see {log_path}")

    guarded(body)


@app.command("config")
def show_config(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of TOML (unset keys left out).")] = False,
) -> None:
    """Print the effective settings (all layers merged) as TOML that can be saved as lego-prover.toml.

    Each key comes with its description; unset optional keys are shown commented out with
    an example value. Reads only: it creates no file.

    Example (a starting lego-prover.toml):

        lego-prover config > lego-prover.toml
    """

    def body() -> None:
        from lego_prover.config import settings_to_toml, settings_to_toml_dict

        settings = cli_settings()
        if as_json:
            out.print_json(json.dumps(settings_to_toml_dict(settings)))
        else:
            out.print(settings_to_toml(settings), markup=False, highlight=False, soft_wrap=True, end="")

    guarded(body)


def main() -> None:
    try:
        app()
    except LegoProverError as exc:  # raised while typer parses, before _guarded
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
