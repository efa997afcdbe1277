"""What every CLI command shares: consoles, global options, settings, one-line errors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from lego_prover.config import Settings, load_settings
from lego_prover.errors import LegoProverError

if TYPE_CHECKING:
    from lego_prover.isabelle.checker import Checker

T = TypeVar("T")

out = Console()
err = Console(stderr=True)


class _State:
    config: Path | None = None
    debug: bool = False


state = _State()


def cli_settings(overrides: dict[str, Any] | None = None) -> Settings:
    return load_settings(state.config, {k: v for k, v in (overrides or {}).items() if v is not None})


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
        err.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None


@contextlib.asynccontextmanager
async def cli_checker(settings: Settings) -> AsyncIterator[Checker]:
    """A checker on its own session pool, start-up progress on stderr; purges finish before it closes."""
    from lego_prover.isabelle.checker import Checker
    from lego_prover.isabelle.sessions import SessionPool

    async with SessionPool(settings.isabelle, on_progress=lambda m: err.print(f"[dim]{m}[/]")) as pool:
        yield Checker(pool, settings.isabelle)
        await pool.drain()
