"""What every CLI command shares: consoles, global options, settings, one-line errors.

``LegoTyper`` is the typer app class of every command group. Its commands print a usage
error (unknown option, bad value, missing argument) as one ``error:`` line with exit
code 2, like every other error; accept the global ``--config FILE`` and ``--debug`` after
the command too (``lego-prover eval --config x.toml``); show no ``<bool>`` placeholder for
flags; and end their --help with their exit codes (``cli_exit_codes``).

Help is plain text, not rich markup: ``[local]`` in a help text is shown as ``[local]``,
and at any width from 50 columns every word, flag, path and setting name is shown whole
(wrapped between words, never split at a hyphen, never cut with an ellipsis as rich's
option table does at 80 columns).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.2x carries its own copy of click; its exceptions are those raised
    from typer._click import core as click_core
    from typer._click import exceptions as click_exceptions
    from typer._click import formatting as click_formatting
except ImportError:  # pragma: no cover - an older typer runs on click itself
    from click import core as click_core  # type: ignore[no-redef]
    from click import exceptions as click_exceptions  # type: ignore[no-redef]
    from click import formatting as click_formatting  # type: ignore[no-redef]

from lego_prover.cli_exit_codes import exit_codes_help
from lego_prover.config import Settings, load_settings
from lego_prover.errors import BadInputError, LegoProverError

if TYPE_CHECKING:
    from lego_prover.isabelle.checker import Checker

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# soft_wrap: a line longer than the terminal is left to the terminal, never broken by us,
# so a path, a proof step or a goal copied from the output is exactly what was printed.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class _State:
    config: Path | None = None
    debug: bool = False


state = _State()


def cli_settings(overrides: dict[str, Any] | None = None, flags: dict[str, str] | None = None,
                 resumed_run: Path | None = None) -> Settings:
    """Settings with the command's flags on top; ``flags`` names the flag of each dotted key,
    so a value that fails validation is reported as the flag the person typed.
    ``resumed_run``: a run directory whose stored settings are the bottom layer."""
    return load_settings(state.config, {k: v for k, v in (overrides or {}).items() if v is not None},
                         flag_names=flags, run_layer=run_settings_layer(resumed_run) if resumed_run else None)


def run_settings_layer(run_dir: Path) -> tuple[str, dict[str, Any]] | None:
    """The settings a run was started with (RUN_DIR/config.json), or None for a new run."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{path} cannot be read ({exc}); it is the run's settings, so it cannot be resumed as is.") from None
    if not isinstance(data, dict):
        raise BadInputError(f"{path} holds no settings; the run cannot be resumed as is.")
    # a budget limits one invocation: the resume of a run stopped by its budget gets a new one
    data.pop("budget", None)
    return f"the run's settings {path}", data


def run_meta(run_dir: Path) -> dict[str, Any]:
    """RUN_DIR/run.json (what was run), or {} when there is none."""
    try:
        data = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


# --------------------------------------------------------------------------- the typer classes

GLOBAL_OPTIONS_WITH_VALUE = ("--config", "-c")
GLOBAL_FLAGS = ("--debug",)
GLOBAL_EPILOG = "Global options may also follow the command: --config FILE (settings), --debug (tracebacks)."


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """Move ``--config FILE``/``-c FILE``/``--config=FILE``/``--debug`` in front of the command.

    Only the root group knows them; moving them lets a person type them anywhere (up to
    a ``--``, after which everything is an argument).
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in GLOBAL_OPTIONS_WITH_VALUE and i + 1 < len(args):
            front += [arg, args[i + 1]]
            i += 2
            continue
        if arg.startswith("--config=") or arg in GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


@contextlib.contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """A usage error becomes one ``error:`` line naming the help to read, and exit code 2."""
    try:
        yield
    except click_exceptions.NoArgsIsHelpError:
        raise  # `lego-prover` alone prints the help
    except click_exceptions.UsageError as exc:
        where = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
        message = exc.format_message().rstrip(". ") + where + "."
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def _no_bool_placeholder(params: list[click_core.Parameter]) -> list[click_core.Parameter]:
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""  # typer would show <bool> after --resume/--no-resume
    return params


def reflow_help(text: str | None) -> str | None:
    """Prose paragraphs become one line each (the terminal wraps them); indented lines, the
    examples, are kept exactly, so a pasted example is the command as written."""
    if not text:
        return text
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(p if p.startswith(" ") else " ".join(p.split()) for p in paragraphs)


def wrap_help(text: str, width: int, indent: str = "") -> str:
    """Help text at ``width`` columns: prose wrapped between words only (a flag such as
    --no-library, a path or a setting name is never split, even if it overflows), an
    indented paragraph (an example) kept line for line."""
    wrapper = textwrap.TextWrapper(width, initial_indent=indent, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False)
    paragraphs = [p for p in inspect.cleandoc(text).split("\n\n") if p.strip()]
    return "\n\n".join("\n".join(indent + line for line in p.splitlines()) if p.startswith(" ")
                        else wrapper.fill(" ".join(p.split())) for p in paragraphs)


class LegoHelpFormatter(click_formatting.HelpFormatter):
    """click's plain help layout with ``wrap_help`` in place of click's wrapping, which
    splits words at hyphens (``[default: no-`` / ``resume]``)."""

    def write_text(self, text: str) -> None:
        self.write(wrap_help(text, max(self.width - self.current_indent, 20), " " * self.current_indent) + "\n")

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        if not rows:
            return
        first_col = min(max(len(first) for first, _ in rows), col_max) + col_spacing
        left = " " * (self.current_indent + first_col)
        for first, second in rows:
            self.write(" " * self.current_indent + first)
            if not second:
                self.write("\n")
                continue
            # a name longer than the column gets its description on the next line
            self.write(" " * (first_col - len(first)) if len(first) <= first_col - col_spacing else "\n" + left)
            lines = wrap_help(second, max(self.width - len(left), 20)).splitlines()
            self.write("\n".join([lines[0], *(left + line for line in lines[1:])]) + "\n")


class LegoContext(click_core.Context):
    formatter_class = LegoHelpFormatter


def _first_paragraph(text: str | None) -> str | None:
    """A command's line in its group's list: its first paragraph whole (click would cut it at 45
    characters with '...')."""
    return text.split("\n\n")[0] if text else None


class LegoCommand(TyperCommand):
    context_class = LegoContext

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow_help(self.help)
        self.short_help = self.short_help or _first_paragraph(self.help)
        self.epilog = self.epilog or GLOBAL_EPILOG

    def get_params(self, ctx: click_core.Context) -> list[click_core.Parameter]:
        return _no_bool_placeholder(super().get_params(ctx))

    def format_epilog(self, ctx: click_core.Context, formatter: click_formatting.HelpFormatter) -> None:
        """The command's exit codes, then the global options."""
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(exit_codes_help(_command_name(ctx)))
        super().format_epilog(ctx, formatter)


def _command_name(ctx: click_core.Context) -> str:
    """``skills import`` for ``lego-prover skills import``, however the program was called
    (``python -m lego_prover`` too): the names below the root."""
    names: list[str] = []
    while ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(names)


class LegoGroup(TyperGroup):
    context_class = LegoContext

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = reflow_help(self.help)
        self.short_help = self.short_help or _first_paragraph(self.help)

    def get_params(self, ctx: click_core.Context) -> list[click_core.Parameter]:
        return _no_bool_placeholder(super().get_params(ctx))

    def parse_args(self, ctx: click_core.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoist_global_options(args)
        with one_line_usage_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click_core.Context) -> Any:
        with one_line_usage_errors():
            return super().invoke(ctx)


class LegoTyper(typer.Typer):
    """A typer app whose groups and commands are ``LegoGroup``/``LegoCommand``."""

    def __init__(self, **kwargs: Any) -> None:
        # plain help: rich would read [local] as markup and cut long words with an ellipsis
        kwargs.setdefault("rich_markup_mode", None)
        super().__init__(cls=LegoGroup, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", LegoCommand)
        decorator: Callable[[F], F] = super().command(*args, **kwargs)
        return decorator


def announce(notes: list[str]) -> None:
    """Preflight notes: what is not missing but worth knowing, one line each on stderr."""
    for note in notes:
        err.print(Text(f"note: {note}", style="yellow"), soft_wrap=True)


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body: user errors become one line and an exit code."""
    try:
        return fn()
    except LegoProverError as exc:
        if state.debug:
            raise
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print(Text("interrupted", style="yellow"))
        raise typer.Exit(130) from None


@contextlib.asynccontextmanager
async def cli_checker(settings: Settings, *, repairs: bool = True) -> AsyncIterator[Checker]:
    """A checker on its own session pool, start-up progress on stderr; purges finish before it closes.
    Tactics this machine's Isabelle cannot run are left out first, with one warning, unless
    ``repairs`` is False (the caller never repairs, so no tactic list is used)."""
    from lego_prover.isabelle.checker import Checker
    from lego_prover.isabelle.sessions import SessionPool
    from lego_prover.isabelle.tools import fit_to_installation

    if repairs:
        settings, warning = await asyncio.to_thread(fit_to_installation, settings)
        if warning:
            err.print(Text(warning, style="yellow"), soft_wrap=True)
    async with SessionPool(settings.isabelle, on_progress=lambda m: err.print(Text(m, style="dim"), soft_wrap=True)) as pool:
        yield Checker(pool, settings.isabelle)
        await pool.drain()
