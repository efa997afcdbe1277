"""Help that reads whole: every command's --help, at 80 columns, shows every word of its
source text (no ellipsis, no word split at a hyphen, no line wider than the terminal),
keeps bracketed words such as ``[local]`` (rich markup would eat them), and ends with the
command's exit codes. ``--version`` prints the installed version.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from lego_prover import __version__
from lego_prover.cli import app
from lego_prover.cli_exit_codes import exit_codes_help
from tests.test_help_examples import ALL

runner = CliRunner()
COMMANDS = [(path, command) for path, command in ALL if path]
IDS = [" ".join(path) for path, _ in COMMANDS]
BRACKETED = re.compile(r"\[[^\[\]\s]+\]")


def help_at(path: tuple[str, ...], width: int = 80) -> str:
    result = runner.invoke(app, [*path, "--help"], terminal_width=width)
    assert result.exit_code == 0, result.output
    return result.output


def flat(text: str) -> str:
    return " ".join(text.split())


def source_texts(command: Any) -> list[str]:
    """What the source says: the command's help and each parameter's help."""
    return [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]


def test_the_source_has_bracketed_words_to_check() -> None:
    found = {m for _, c in COMMANDS for text in source_texts(c) for m in BRACKETED.findall(text)}
    assert {"[local]", "[vllm]"} <= found, "the bracket test below would check nothing"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_bracketed_words_in_the_source_are_shown_as_written(path: tuple[str, ...], command: Any) -> None:
    shown = flat(help_at(path))
    for text in source_texts(command):
        for word in BRACKETED.findall(text):
            assert word in shown, f"'lego-prover {' '.join(path)} --help' lost {word} (read as markup?)"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_help_reads_whole_at_80_columns(path: tuple[str, ...], command: Any) -> None:
    width = 80
    shown = help_at(path, width)
    name = f"'lego-prover {' '.join(path)} --help' at {width} columns"
    wide = [line for line in shown.splitlines() if len(line) > width]
    assert not wide, f"{name}: lines wider than the terminal: {wide}"
    assert "…" not in shown, f"{name}: a text is cut with an ellipsis"
    for text in source_texts(command):
        for paragraph in text.split("\n\n"):
            assert flat(paragraph) in flat(shown), f"{name}: not shown whole: {flat(paragraph)[:70]!r}"


def test_help_in_a_real_80_column_terminal_shows_the_descriptions_whole() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    shown = subprocess.run([sys.executable, "-m", "lego_prover", "eval", "--help"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert max(len(line) for line in shown.splitlines()) <= 80
    assert "…" not in shown
    # the six descriptions rich's option table cut at 80 columns
    for text in ("(default: runs/<benchmark>-<split>-<time>).", "(budget.max_cost_usd).", "(prover.hammer_first,",
                 "(budget.max_tokens).", "(run.ray_address).", "(prover.informal)."):
        assert text in flat(shown), f"cut at 80 columns: {text}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_help_ends_with_its_exit_codes(path: tuple[str, ...], command: Any) -> None:
    if hasattr(command, "commands"):
        return  # a group (skills) runs no command of its own
    assert flat(exit_codes_help(" ".join(path))) in flat(help_at(path))


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"lego-prover {__version__}\n"
    assert __version__ == importlib.metadata.version("lego-prover"), "the package and its metadata disagree"
