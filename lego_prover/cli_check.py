"""`check` and `check-examples`: one proof file, or the shipped examples, through the guard and Isabelle."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lego_prover.cli_support import announce, cli_checker, cli_settings, err, guarded, out
from lego_prover.config import Settings
from lego_prover.errors import BadInputError, IsabelleUnavailableError, ProblemFileError
from lego_prover.isabelle.verdict import FailureKind
from lego_prover.render import mark_line


def check(
    theory: Annotated[Path, typer.Argument(metavar="THEORY_FILE", help="Theory file: a whole theory, or just lemmas and the theorem.")],
    problem: Annotated[str | None, typer.Option(help="Problem name whose formal statement the theorem must keep.")] = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", "--benchmark-dir", help="Folder with valid.jsonl and test.jsonl, as for eval (default: data_dir, else the miniF2F cache; --benchmark-dir is the same).")] = None,
    problems_file: Annotated[Path | None, typer.Option(help="A jsonl problem file to look --problem up in.")] = None,
    statement_file: Annotated[Path | None, typer.Option(help="File holding the exact formal statement instead of --problem.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable verdict on stdout.")] = False,
    guard_only: Annotated[bool, typer.Option(help="Only run the soundness guard; do not start Isabelle.")] = False,
    repair: Annotated[bool, typer.Option(help="Replace sledgehammer placeholders by the first tactic that works.")] = True,
) -> None:
    """Check one proof with Isabelle: soundness guard, repair, then the real check.

    Example:

        lego-prover check examples/mathd_numbertheory_81.thy \\
          --problem mathd_numbertheory_81 --data-dir ../shared/minif2f
    """

    def body() -> None:
        from lego_prover.inputs import read_text
        from lego_prover.isabelle.context import TheoryContext
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
            prob = _find_problem(problem, settings, data_dir, problems_file)
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
        if verdict.failure is FailureKind.SERVER:  # a broken service is never a verdict about the proof
            raise IsabelleUnavailableError(f"Isabelle failed during the check ({verdict.reason}); nothing was "
                                           "decided about the proof: check it again.")
        if as_json:
            out.print_json(json.dumps(verdict_json(verdict)))
        else:
            print_verdict(out, verdict, statement_checked=statement_checked)
        raise typer.Exit(0 if verdict.verified else 1)

    guarded(body)


async def _check(settings: Settings, text: str, context: Any, repair: bool) -> Any:
    async with cli_checker(settings, repairs=repair) as checker:
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


def _find_problem(name: str, settings: Settings, data_dir: Path | None, problems_file: Path | None) -> Any:
    from lego_prover.inputs import existing_dir
    from lego_prover.problems import load_problems, minif2f_cache_dir

    if problems_file is not None:
        files = [problems_file]
    else:
        if data_dir is not None:
            existing_dir(data_dir, "--data-dir")
        folder = data_dir or settings.data_dir or minif2f_cache_dir(settings.cache_dir)
        files = [folder / "valid.jsonl", folder / "test.jsonl"]
        if not any(f.is_file() for f in files):
            raise ProblemFileError(f"no valid.jsonl/test.jsonl in {folder}; pass --data-dir or --problems-file.")
    for f in files:
        if problems_file is not None or f.is_file():
            for p in load_problems(f, what="--problems-file" if problems_file is not None else "problem file"):
                if p.name == name:
                    return p
    raise ProblemFileError(f"problem {name!r} not found in {', '.join(str(f) for f in files)}.")



def check_examples() -> None:
    """Check every in-context example proof shipped in prompts/examples with Isabelle.

    The examples are our own worked problems; this is how anyone with Isabelle confirms
    that each one verifies.

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
        announce(check.notes)
        check.raise_if_missing("check-examples")
        results = asyncio.run(_check_examples(settings, check_all_examples))
        bad = [r for r in results if not r.verified]
        for r in results:
            out.print(mark_line(r.verified, f"{r.kind}/{r.name}: {r.reason}"), soft_wrap=True)
        out.print(f"{len(results) - len(bad)}/{len(results)} examples verified", highlight=False)
        failed = [f"{r.kind}/{r.name}" for r in results if r.service_failed]
        if failed:  # a broken service is never a verdict about an example
            raise IsabelleUnavailableError(f"Isabelle failed while checking {len(failed)} example(s) ({', '.join(failed)}); "
                                           "nothing was decided about them: run check-examples again.")
        raise typer.Exit(1 if bad else 0)

    guarded(body)


async def _check_examples(settings: Settings, check_all: Any) -> Any:
    from lego_prover.prover.prompts import PromptLibrary

    async with cli_checker(settings) as checker:
        return await check_all(PromptLibrary.load(settings.prompts_dir), checker, tuple(settings.isabelle.imports))
