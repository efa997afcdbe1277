"""The live progress bar of long runs: solved / attempted / remaining, tokens, cost, rate."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text


class RichProgress:
    def __init__(self, console: Console, label: str = "attempts") -> None:
        self._console = console
        self._label = label
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console, transient=False)
        self._task: Any = None
        self._started = time.monotonic()
        self._done_at_start = 0
        self._attempted = 0
        self._said_out_of_tokens = False

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, total: int, done: int, solved: int) -> None:
        self._done_at_start = done
        self._attempted = done
        self._task = self._progress.add_task(self._label, total=total, completed=done,
                                             status=f"solved {solved}")

    def attempt(self, record: Any, solved: int, tracker: Any) -> None:
        self._attempted += 1
        total = tracker.total
        minutes = max(1e-9, (time.monotonic() - self._started) / 60)
        rate = (self._attempted - self._done_at_start) / minutes
        status = (f"solved {solved} · tokens {total.prompt_tokens + total.completion_tokens:,} · "
                  f"${total.cost_usd:.2f} · {rate:.1f}/min")
        if self._task is not None:
            self._progress.update(self._task, advance=1, status=status)
        if record.solved:
            where = "the hammer pass" if record.attempt < 0 else f"attempt {record.attempt}"
            self._console.print(Text.assemble(("✓ ", "green"), f"{record.problem} ({where})"))
        elif record.failure == "out_of_tokens_reasoning":   # the same fix every time: said once
            if not self._said_out_of_tokens:
                self._said_out_of_tokens = True
                self._console.print(Text.assemble(("! ", "yellow"), f"{record.problem} attempt {record.attempt}: "
                                                  f"{record.reason} (further ones are counted in the report)"),
                                    soft_wrap=True)
        elif record.failure in ("crash", "llm", "infrastructure"):
            self._console.print(Text.assemble(("! ", "yellow"), f"{record.problem} attempt {record.attempt}: "
                                              f"{record.reason}"), soft_wrap=True)

    def advance(self, status: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, advance=1, status=status)

    def note(self, message: str) -> None:
        self._console.print(Text(message, style="dim"), soft_wrap=True)
