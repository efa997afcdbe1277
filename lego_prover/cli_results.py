"""`report`, `compare` and `verify-results`: reading finished runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from lego_prover.cli_support import announce, cli_checker, cli_settings, err, guarded, out
from lego_prover.config import Settings
from lego_prover.errors import IsabelleUnavailableError
from lego_prover.isabelle.verdict import FailureKind
from lego_prover.render import mark_line


def report(run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory written by 'eval'.")]) -> None:
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


def compare(
    run_dirs: Annotated[list[Path], typer.Argument(metavar="RUN_DIR", help="Two or more run directories written by 'eval'.")],
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


def verify_results_cmd(run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory written by 'eval'.")]) -> None:
    """Re-check every solved proof of a run from its stored text, in a fresh Isabelle session.

    Each proof that no longer verifies is listed with the reason.

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
        announce(check.notes)
        check.raise_if_missing("verify-results")
        replays = asyncio.run(_verify(settings, run_dir, verify_results))
        broken = [r for r in replays if r.verdict is not None and r.verdict.failure is FailureKind.SERVER]
        if broken:  # a broken service is never a verdict about a proof
            raise IsabelleUnavailableError(f"Isabelle failed while replaying {broken[0].problem} "
                                           f"({broken[0].reason}); nothing was decided about it: run "
                                           f"'lego-prover verify-results {run_dir}' again.")
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
