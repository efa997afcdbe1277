"""The ``lego-prover`` command line. Thin: parse, build objects from config, call one function."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lego_prover.cli_skills import skills_app
from lego_prover.cli_support import cli_settings, err, guarded, out, state
from lego_prover.config import Settings
from lego_prover.errors import LegoProverError, LLMError, ProblemFileError

app = typer.Typer(
    name="lego-prover",
    help=(
        "A LEGO-Prover-style theorem prover for Isabelle with a growing library of verified lemmas.\n\n"
        "Every proof is checked by a real Isabelle server. Start with 'lego-prover doctor' to see what is "
        "installed; 'lego-prover check FILE.thy --problem NAME --benchmark-dir DIR' checks one proof.\n\n"
        "Settings come from defaults < ./lego-prover.toml (or --config) < LEGO_PROVER_* variables < flags."
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
    benchmark_dir: Annotated[Path | None, typer.Option(help="Folder with valid.jsonl/test.jsonl (default: the miniF2F cache).")] = None,
    problems_file: Annotated[Path | None, typer.Option(help="A jsonl problem file to look --problem up in.")] = None,
    statement_file: Annotated[Path | None, typer.Option(help="File holding the exact formal statement instead of --problem.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable verdict on stdout.")] = False,
    guard_only: Annotated[bool, typer.Option(help="Only run the soundness guard; do not start Isabelle.")] = False,
    repair: Annotated[bool, typer.Option(help="Replace sledgehammer placeholders by the first tactic that works.")] = True,
) -> None:
    """Check one proof with Isabelle: soundness guard, repair, then the real check.

    Exit code 0 only when the theory verified with the theorem's statement unchanged;
    1 when it did not; 2 for usage or environment errors (e.g. no Isabelle found).

    Example: lego-prover check proof.thy --problem mathd_algebra_478 --benchmark-dir ../shared/minif2f
    """

    def body() -> None:
        from lego_prover.isabelle.checker import TheoryContext
        from lego_prover.isabelle.guard import SoundnessGuard
        from lego_prover.isabelle.theory import BlockKind, split_blocks
        from lego_prover.render import print_guard, print_verdict, verdict_json

        settings = cli_settings()
        if not theory.is_file():
            raise ProblemFileError(f"theory file {theory} does not exist.")
        text = theory.read_text(encoding="utf-8")
        if problem and statement_file:
            raise LegoProverError("give --problem or --statement-file, not both.")
        statement_checked = True
        if problem:
            prob = _find_problem(problem, settings, benchmark_dir, problems_file)
            context = TheoryContext.for_problem(prob, settings.isabelle)
        elif statement_file:
            statement = statement_file.read_text(encoding="utf-8").strip()
            goals = [b for b in split_blocks(statement) if b.kind is BlockKind.LEMMA and b.name]
            if not goals:
                raise LegoProverError(f"{statement_file} holds no 'theorem NAME: ...' statement.")
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
    from lego_prover.isabelle.checker import Checker
    from lego_prover.isabelle.sessions import SessionPool

    async with SessionPool(settings.isabelle, on_progress=lambda m: err.print(f"[dim]{m}[/]")) as pool:
        verdict = await Checker(pool, settings.isabelle).check(text, context, repair=repair)
        await pool.drain()
        return verdict


def _last_goal_name(text: str) -> str | None:
    from lego_prover.isabelle.lexer import LexError
    from lego_prover.isabelle.theory import BlockKind, parse_theory

    try:
        goals = [b for b in parse_theory(text).blocks if b.kind is BlockKind.LEMMA and b.name]
    except (LexError, ValueError):
        return None
    return goals[-1].name if goals else None


def _find_problem(name: str, settings: Settings, benchmark_dir: Path | None, problems_file: Path | None) -> Any:
    from lego_prover.problems import load_problems, minif2f_cache_dir

    if problems_file is not None:
        files = [problems_file]
    else:
        folder = benchmark_dir or settings.data_dir or minif2f_cache_dir(settings.cache_dir)
        files = [folder / "valid.jsonl", folder / "test.jsonl"]
        if not any(f.is_file() for f in files):
            raise ProblemFileError(f"no valid.jsonl/test.jsonl in {folder}; pass --benchmark-dir or --problems-file.")
    for f in files:
        if f.is_file():
            for p in load_problems(f):
                if p.name == name:
                    return p
    raise ProblemFileError(f"problem {name!r} not found in {', '.join(str(f) for f in files)}.")


# --------------------------------------------------------------------------- doctor


@app.command()
def doctor() -> None:
    """Show what is found and what is missing (Isabelle, session heap, embedding model, LLM endpoint)."""

    def body() -> None:
        from lego_prover.doctor import run_doctor
        from lego_prover.render import print_findings

        findings = run_doctor(cli_settings())
        print_findings(out, findings)
        raise typer.Exit(0 if all(f.ok for f in findings) else 1)

    guarded(body)


@app.command("download-minif2f")
def download_minif2f_cmd(
    cache_dir: Annotated[Path | None, typer.Option(help="Where to put it (default: the cache dir from config).")] = None,
) -> None:
    """Download miniF2F (facebookresearch/miniF2F) and convert it to jsonl in the cache."""

    def body() -> None:
        from lego_prover.problems import download_minif2f

        settings = cli_settings()
        target = download_minif2f(cache_dir or settings.cache_dir)
        out.print(f"miniF2F written to {target}")

    guarded(body)


@app.command("serve-model")
def serve_model(
    model: Annotated[str, typer.Argument(help="A GGUF file (llama.cpp) or a Hugging Face model id/folder (vLLM).")],
    backend: Annotated[str, typer.Option(help="auto (GGUF -> llama_cpp, else vllm), llama_cpp or vllm.")] = "auto",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    name: Annotated[str | None, typer.Option(help="Model name clients send (default: the file or folder name).")] = None,
    start_timeout: Annotated[float, typer.Option(help="Seconds to wait for the server to answer.")] = 600.0,
) -> None:
    """Serve a local model on 127.0.0.1 with an OpenAI-compatible API until Ctrl-C.

    Prints the settings that point lego-prover at it. To let 'eval' start and stop the
    server itself instead, set llm.local_model (and llm.local_backend) in the config.

    Example: lego-prover serve-model ~/models/qwen2.5-7b-instruct-q4_k_m.gguf --port 8080
    """

    def body() -> None:
        import time

        from lego_prover.llm.local_server import LocalModelServer

        settings = cli_settings()
        settings.cache_dir.mkdir(parents=True, exist_ok=True)
        log_path = settings.cache_dir / "model-server.log"
        server = LocalModelServer.for_model(model, backend=backend, port=port, served_name=name,
                                            start_timeout_s=start_timeout, log_path=log_path)
        err.print(f"starting {' '.join(server.command[1:4])} ... (log: {log_path})")
        with server:
            out.print(f"serving {server.served_name!r} at {server.base_url}\n"
                      f"use it with:  LEGO_PROVER_LLM__BASE_URL={server.base_url} "
                      f"LEGO_PROVER_LLM__MODEL={server.served_name} lego-prover ...\n"
                      "press Ctrl-C to stop", highlight=False)
            while server.running:
                time.sleep(1.0)
            raise LLMError(f"the model server stopped on its own; see {log_path}")

    guarded(body)


@app.command("config")
def show_config() -> None:
    """Print the effective settings (all layers merged) as TOML-like JSON."""

    def body() -> None:
        from lego_prover.config import settings_to_toml_dict

        out.print_json(json.dumps(settings_to_toml_dict(cli_settings())))

    guarded(body)


def main() -> None:
    try:
        app()
    except LegoProverError as exc:  # raised while typer parses, before _guarded
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
