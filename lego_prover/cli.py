"""The ``lego-prover`` command line: the app, its global options, and where each command lives.

Thin: each command parses its flags, builds objects from the settings and calls one
function. The commands are grouped by family in ``cli_check`` (check, check-examples),
``cli_run`` (eval, evolve), ``cli_results`` (report, compare, verify-results),
``cli_setup`` (doctor, download-minif2f, serve-model, config) and ``cli_skills``.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from lego_prover import __version__, cli_check, cli_results, cli_run, cli_setup
from lego_prover.cli_skills import skills_app
from lego_prover.cli_support import LegoTyper, state
from lego_prover.errors import LegoProverError

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
        "Exit codes: 0 done and the answer is yes, 1 done and the answer is no (not verified; doctor: something "
        "is missing), 2 bad input or a missing requirement, 3 a budget ran out, 4 a service (LLM endpoint, "
        "Isabelle) failed, 130 interrupted; 3 and 4 continue with --resume. Each command's --help ends with its "
        "own."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        print(f"lego-prover {__version__}")
        raise typer.Exit(0)


@app.callback()
def _global(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML settings file (default: ./lego-prover.toml if present).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print 'lego-prover X.Y.Z' and exit.")] = False,
) -> None:
    state.config = config
    state.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


app.command()(cli_check.check)
app.command("eval")(cli_run.eval_cmd)
app.command()(cli_run.evolve)
app.command()(cli_results.report)
app.command()(cli_results.compare)
app.command("verify-results")(cli_results.verify_results_cmd)
app.command("check-examples")(cli_check.check_examples)
app.command()(cli_setup.doctor)
app.command("download-minif2f")(cli_setup.download_minif2f_cmd)
app.command("serve-model")(cli_setup.serve_model)
app.command("config")(cli_setup.show_config)
app.add_typer(skills_app, name="skills")


def main() -> None:
    try:
        app()
    except LegoProverError as exc:  # raised while typer parses, before guarded()
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
