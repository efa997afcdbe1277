"""What ``recheck_losses.py`` and ``check_lego_finals.py`` share: read a run's records, skip
what an earlier (cut-off) pass already wrote, check the rest at once on the configured
sessions, and append one JSON line per check as it finishes, so a killed pass loses nothing.

    rows = read_jsonl(run_dir / "attempts.jsonl")
    done = checked(out)                            # {(problem, attempt)} already in ``out``
    asyncio.run(check_each(todo, check_one, out))  # check_one(item, checker, settings) -> row
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lego_prover.config import IsabelleSettings, load_settings
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.sessions import SessionPool

Item = TypeVar("Item")
Row = dict[str, Any]


def read_jsonl(path: Path) -> list[Row]:
    """Every non-blank line of ``path``, parsed."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def checked(out: Path) -> set[tuple[str, int]]:
    """(problem, attempt) of every row ``out`` already holds; none when it does not exist."""
    return {(r["problem"], r["attempt"]) for r in read_jsonl(out)} if out.exists() else set()


async def check_each(todo: Sequence[Item], check_one: Callable[[Item, Checker, IsabelleSettings], Awaitable[Row]],
                     out: Path) -> None:
    """Run ``check_one`` on every item at once (the pool bounds how many run), under the
    environment's settings (``LEGO_PROVER_*``), appending each row to ``out`` as it comes."""
    settings = load_settings().isabelle
    async with SessionPool(settings) as pool:
        checker = Checker(pool, settings)

        async def one(item: Item) -> None:
            row = await check_one(item, checker, settings)
            with out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{row['problem']} #{row['attempt']}: {'VERIFIED' if row['verified'] else row['failure']} "
                  f"({row['wall_s']} s)", flush=True)

        await asyncio.gather(*(one(item) for item in todo))
        await pool.drain()
