"""Settings a person can use, through the CLI: --config anywhere, errors that name what was
typed (the flag, the variable, the file), the closest known key, no keys in files, and a
`lego-prover config` that pastes back into lego-prover.toml."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.cli_support import hoist_global_options
from lego_prover.config import load_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in [n for n in __import__("os").environ if n.startswith("LEGO_PROVER_")]:
        monkeypatch.delenv(name)
    return tmp_path


def error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


def test_config_may_follow_the_command(workspace: Path) -> None:
    (workspace / "mine.toml").write_text("[isabelle]\nworkers = 7\n")
    for argv in (["config", "--config", "mine.toml"], ["config", "-c", "mine.toml"], ["config", "--config=mine.toml"],
                 ["--config", "mine.toml", "config"], ["config", "--json", "--config", "mine.toml", "--debug"]):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, (argv, result.output)
        assert "workers = 7" in result.output or '"workers": 7' in result.output, argv


def test_config_after_a_subcommand_of_skills_is_read(workspace: Path) -> None:
    (workspace / "mine.toml").write_text(f'[skills]\ndb_path = "{workspace / "elsewhere"}"\n')
    result = runner.invoke(app, ["skills", "stats", "--config", "mine.toml"])
    assert result.exit_code == 2 and str(workspace / "elsewhere") in error_line(result.output)


def test_only_the_global_options_move_and_nothing_after_a_double_dash() -> None:
    assert hoist_global_options(["eval", "--attempts", "2", "--config", "x.toml", "--debug"]) == [
        "--config", "x.toml", "--debug", "eval", "--attempts", "2"]
    assert hoist_global_options(["skills", "query", "--", "--config"]) == ["skills", "query", "--", "--config"]


def test_no_command_defines_the_global_option_names() -> None:
    """Hoisting is only safe while no command has its own --config, -c or --debug."""
    import typer.main

    def walk(command: object) -> list[object]:
        subs = getattr(command, "commands", {})
        return [command, *(c for sub in subs.values() for c in walk(sub))]

    root = typer.main.get_command(app)
    for command in walk(root)[1:]:
        names = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}  # type: ignore[attr-defined]
        assert not names & {"--config", "-c", "--debug"}, command


@pytest.mark.parametrize(("argv", "expected"), [
    (["eval", "--attempts", "0"], "error: --attempts: Input should be greater than or equal to 1 (got 0)."),
    (["eval", "--max-cost", "-5"], "error: --max-cost: Input should be greater than 0 (got -5.0)."),
    (["eval", "--attempts", "two"], "error: Invalid value for '--attempts'"),
    (["eval", "--informal", "maybe"], "error: Invalid value for '--informal'"),
    (["eval", "--split", "train"], "error: Invalid value for '--split'"),
    (["eval", "--evolvers", "-1"], "error: Invalid value for '--evolvers'"),
])
def test_a_bad_flag_value_names_the_flag(argv: list[str], expected: str) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    line = error_line(result.output)
    assert line.startswith(expected), line
    assert "config (defaults)" not in line
    assert "--help" in line or "(got" in line


def test_a_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGO_PROVER_ISABELLE__WORKERS", "many")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert error_line(result.output).startswith("error: LEGO_PROVER_ISABELLE__WORKERS: Input should be a valid integer")


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("LEGO_PROVER_ISABELLE__REPAIR_TACTICS", "by simp", "error: LEGO_PROVER_ISABELLE__REPAIR_TACTICS: Input should be "
     "a valid list (got 'by simp'); a list in a variable is written as JSON: "
     "LEGO_PROVER_ISABELLE__REPAIR_TACTICS='[\"by simp\"]'."),
    ("LEGO_PROVER_LLM__PRICES", "cheap", "a table in a variable is written as JSON: LEGO_PROVER_LLM__PRICES="),
])
def test_a_list_or_table_from_the_environment_says_it_takes_json(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                  value: str, expected: str) -> None:
    monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    assert expected in error_line(result.output), "no hint that the variable takes JSON"


def test_the_json_the_hint_shows_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGO_PROVER_ISABELLE__REPAIR_TACTICS", '["by simp"]')
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    assert '"by simp"' in result.output


@pytest.mark.parametrize(("toml", "expected"), [
    ("[isabelle]\nwokers = 2\n", "unknown setting isabelle.wokers; did you mean isabelle.workers?"),
    ("[isabele]\nworkers = 2\n", "unknown setting isabele; did you mean isabelle?"),
    ("[prover]\nattemps = 3\n", "unknown setting prover.attemps; did you mean prover.attempts?"),
    ("[skills]\nzzz = 1\n", "unknown setting skills.zzz; known keys in [skills]: db_path, chroma_url"),
    ("[isabelle]\nworkers = 'many'\n", "isabelle.workers: Input should be a valid integer"),
])
def test_a_file_error_names_the_file_and_the_closest_key(workspace: Path, toml: str, expected: str) -> None:
    (workspace / "lego-prover.toml").write_text(toml)
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    line = error_line(result.output)
    assert f"config file {workspace / 'lego-prover.toml'}" in line and expected in line, line


@pytest.mark.parametrize("where", ["file", "environment"])
def test_an_api_key_in_settings_says_to_use_the_environment_variable(workspace: Path, where: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if where == "file":
        (workspace / "lego-prover.toml").write_text('[llm]\nmodel = "gpt-4o"\napi_key = "sk-secret"\n[isabele]\n')
    else:
        monkeypatch.setenv("LEGO_PROVER_LLM__API_KEY", "sk-secret")
    result = runner.invoke(app, ["config"])
    assert result.exit_code == 2
    line = error_line(result.output)
    assert "keys never go in settings" in line and "export OPENAI_API_KEY=" in line and "sk-secret" not in line


def test_config_prints_toml_that_loads_back_to_the_same_settings(workspace: Path) -> None:
    (workspace / "mine.toml").write_text(
        'data_dir = "/data/minif2f"\n[isabelle]\nworkers = 3\nrepair_tactics = ["by simp", "by (auto simp: field_simps)"]\n'
        '[llm]\nbase_url = "http://127.0.0.1:8080/v1"\nsupports_n = false\n'
        '[llm.prices."qwen2.5-7b"]\ninput_per_mtok = 0.1\n[budget]\nmax_cost_usd = 3.5\n')
    printed = runner.invoke(app, ["config", "--config", "mine.toml"])
    assert printed.exit_code == 0, printed.output
    (workspace / "lego-prover.toml").write_text(printed.output)
    assert load_settings(workspace / "lego-prover.toml") == load_settings(workspace / "mine.toml")
    assert "# max_tokens = 5000000" in printed.output, "an unset optional key is shown commented"
    assert "# home = " in printed.output and "max_cost_usd = 3.5" in printed.output


def test_every_commented_key_is_a_valid_example_once_uncommented(workspace: Path) -> None:
    printed = runner.invoke(app, ["config"]).output
    uncommented = re.sub(r"^# (\w+ = )", r"\1", printed, flags=re.M)
    assert uncommented != printed
    (workspace / "all.toml").write_text(uncommented)
    tomllib.loads(uncommented)
    settings = load_settings(workspace / "all.toml")
    assert settings.prover.concurrency == 24 and settings.llm.base_url == "http://127.0.0.1:8080/v1"


def test_config_json_stays_available_for_tools() -> None:
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["isabelle"]["workers"] == 2
