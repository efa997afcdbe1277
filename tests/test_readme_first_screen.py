"""The README's first screen: its first command works in a clone next to ../shared/minif2f
and in one without it (miniF2F then comes from the download), ends (without Isabelle or
an LLM) in exit code 2 naming only those, as the text before it says; "In five commands"
runs the venv's lego-prover and its eval is small and has a cost ceiling.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover import problems
from lego_prover.cli import app
from tests.conftest import MINIF2F_DIR

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
runner = CliRunner()


def first_command() -> list[list[str]]:
    """The first indented command of the README, split at its '&&'."""
    line = next(line.strip() for line in README.splitlines() if line.startswith("    bash scripts/install.sh"))
    return [shlex.split(part) for part in line.split("&&")]


def five_commands() -> list[list[str]]:
    section = README.split("## In five commands", 1)[1].split("\n## ", 1)[0]
    return [shlex.split(line.split("  #", 1)[0]) for line in section.splitlines() if line.startswith("    ")]


def test_the_text_before_the_first_command_says_what_a_bare_machine_shows() -> None:
    before = README.split("    bash scripts/install.sh", 1)[0]
    assert "exit code 2" in before and "not a failed install" in before


def test_the_first_command_installs_then_gets_minif2f_then_evaluates() -> None:
    install, download, evaluate = first_command()
    assert install == ["bash", "scripts/install.sh"]
    assert download == [".venv/bin/lego-prover", "download-minif2f", "--prefer", "../shared/minif2f"]
    assert evaluate[:2] == [".venv/bin/lego-prover", "eval"] and "--data-dir" not in evaluate, \
        "eval must read the cache that download-minif2f filled, in either layout"


@pytest.fixture
def bare_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LEGO_PROVER_SKILLS__DB_PATH", str(tmp_path / "skills_db"))
    (tmp_path / "empty.toml").write_text("")
    return tmp_path


def run_first_command(config: Path) -> tuple[int, str]:
    _, download, evaluate = first_command()
    got = runner.invoke(app, ["--config", str(config), *download[1:]])
    assert got.exit_code == 0, got.output
    result = runner.invoke(app, ["--config", str(config), *evaluate[1:]])
    return result.exit_code, result.output


def assert_only_isabelle_and_the_llm_are_missing(code: int, output: str) -> None:
    assert code == 2, output
    missing = [line for line in output.splitlines() if line.startswith("  - ")]
    assert len(missing) == 2 and "no API key" in missing[0] and "Isabelle was not found" in missing[1], output


@pytest.mark.skipif(not (ROOT.parent / "shared" / "minif2f").is_dir(), reason="no ../shared/minif2f next to this clone")
def test_in_a_clone_next_to_shared_the_first_command_copies_minif2f(bare_machine: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(problems, "download_minif2f", lambda *a, **k: pytest.fail("downloaded although ../shared has it"))
    assert_only_isabelle_and_the_llm_are_missing(*run_first_command(bare_machine / "empty.toml"))


@pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="no miniF2F to stand in for the download")
def test_in_a_clone_without_shared_the_first_command_downloads_minif2f(bare_machine: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    clone = bare_machine / "public" / "lego-prover"
    clone.mkdir(parents=True)
    monkeypatch.chdir(clone)  # nothing at ../shared
    downloads: list[Path] = []

    def download(cache_dir: Path) -> Path:  # the network, played by the shared copy
        downloads.append(cache_dir)
        shutil.copytree(MINIF2F_DIR, problems.minif2f_cache_dir(cache_dir), dirs_exist_ok=True)
        return problems.minif2f_cache_dir(cache_dir)

    monkeypatch.setattr(problems, "download_minif2f", download)
    assert_only_isabelle_and_the_llm_are_missing(*run_first_command(bare_machine / "empty.toml"))
    assert len(downloads) == 1


def test_five_commands_use_the_venv_and_a_small_capped_eval() -> None:
    commands = five_commands()
    assert len(commands) == 5
    assert all(c[0] == ".venv/bin/lego-prover" for c in commands), "a bare lego-prover needs the venv activated"
    (evaluate,) = [c for c in commands if c[1] == "eval"]
    attempts = int(evaluate[evaluate.index("--attempts") + 1])
    names = evaluate[evaluate.index("--problems") + 1].split(",")
    assert "--max-cost" in evaluate and float(evaluate[evaluate.index("--max-cost") + 1]) <= 1
    assert attempts * len(names) <= 20, "the pasted eval must be small; the full run is mentioned apart"
    assert re.search(r"--split valid --attempts 100 .*--max-cost", README), "the full run is still shown"
