"""Help that works when pasted: every command's --help shows an example, unbroken at 80
columns, that parses with the real command and names real things (problems of the named
split, files that exist, values among the choices, run directories an earlier example
writes); the examples that need neither Isabelle nor an LLM are run, the others are run
up to the point where only Isabelle or the LLM is missing. No <bool> placeholders.

Paths are read as in the README: from the root of a clone next to ../shared/minif2f.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.problems import load_problems
from tests.conftest import MINIF2F_DIR

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
ROOT_COMMAND = typer.main.get_command(app)


def commands(group: Any = ROOT_COMMAND, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from commands(command, (*path, name))


ALL = list(commands())


def examples(help_text: str) -> list[list[str]]:
    """The commands under each 'Example...:' line, continuation lines joined."""
    lines = help_text.splitlines()
    found: list[list[str]] = []
    for i, line in enumerate(lines):
        if not line.startswith("Example"):
            continue
        block: list[str] = []
        for follow in lines[i + 1:]:
            if not follow.strip():
                if block:
                    break
                continue
            if not follow.startswith("    "):
                break
            block.append(follow.strip())
        found.append(block)
    return found


def example_argv(block: list[str]) -> list[str]:
    """The arguments of the example, up to a shell redirection (``> lego-prover.toml``)."""
    argv = shlex.split(" ".join(line.removesuffix("\\").strip() for line in block))
    assert argv[0] == "lego-prover"
    return argv[1:argv.index(">")] if ">" in argv else argv[1:]


EXAMPLES = [(path, example_argv(block), block) for path, command in ALL for block in examples(command.help or "")]
BY_COMMAND: dict[tuple[str, ...], list[list[str]]] = {}
for _path, _argv, _ in EXAMPLES:
    BY_COMMAND.setdefault(_path, []).append(_argv)


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(p) or "lego-prover" for p, _ in ALL])
def test_every_command_has_an_example_that_survives_an_80_column_terminal(path: tuple[str, ...], command: Any) -> None:
    blocks = examples(command.help or "")
    assert blocks, f"'lego-prover {' '.join(path)} --help' has no example"
    shown = runner.invoke(app, [*path, "--help"], terminal_width=80).output
    for block in blocks:
        for line in block:
            assert line in shown, f"example line cut or wrapped in --help: {line!r}"
    assert "<bool>" not in shown


@pytest.mark.parametrize(("path", "argv", "block"), EXAMPLES, ids=[" ".join(a[:3]) for _, a, _ in EXAMPLES])
def test_the_example_parses_with_the_real_command(path: tuple[str, ...], argv: list[str], block: list[str]) -> None:
    assert not path or tuple(argv[:len(path)]) == path, f"the example of {path} runs {argv}"
    context = ROOT_COMMAND.make_context("lego-prover", list(argv))
    group: Any = ROOT_COMMAND
    args = [*context._protected_args, *context.args]
    while hasattr(group, "commands") and args:
        name, command, rest = group.resolve_command(context, args)
        context = command.make_context(name, rest, parent=context)  # types, choices, ranges, required
        args = [*context._protected_args, *context.args] if hasattr(command, "commands") else []
        group = command
    assert not args, f"unparsed arguments {args}"


def option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def resolve(path: str) -> Path:
    return Path(path).expanduser() if path.startswith("~") else ROOT / path


# the examples are pasted from the root of a clone: they need the clone's own ../shared
needs_minif2f = pytest.mark.skipif(not (ROOT.parent / "shared" / "minif2f").is_dir(),
                                   reason="../shared/minif2f is not present next to this clone")


@needs_minif2f
@pytest.mark.parametrize(("path", "argv", "block"), EXAMPLES, ids=[" ".join(a[:3]) for _, a, _ in EXAMPLES])
def test_the_example_names_real_things(path: tuple[str, ...], argv: list[str], block: list[str]) -> None:
    data = option(argv, "--data-dir") or option(argv, "--benchmark-dir")
    if data is not None:
        # the clone's ../shared, whichever folder LEGO_TEST_SHARED_DIR points the tests at
        assert resolve(data).resolve() == (ROOT.parent / "shared" / "minif2f").resolve(), "the README's data folder"
    split = option(argv, "--split") or "valid"
    target = option(argv, "--for")
    if target is not None:
        split = target.split(":")[1]
    names = option(argv, "--problems")
    if names is not None:
        known = {p.name for p in load_problems(MINIF2F_DIR / f"{split}.jsonl")}
        assert set(names.split(",")) <= known, f"--problems names a problem outside the {split} split"
    if argv[0] == "check":
        assert resolve(argv[1]).is_file(), f"{argv[1]} is not in the repository"
        everything = load_problems(MINIF2F_DIR / "valid.jsonl") + load_problems(MINIF2F_DIR / "test.jsonl")
        assert option(argv, "--problem") in {p.name for p in everything}
    if argv[0] in ("report", "verify-results", "compare"):
        written = {option(a, "--run-dir") for a in BY_COMMAND[("eval",)]}
        read = [a for a in argv[1:] if not a.startswith("-") and a != option(argv, "--out")]
        assert read and set(read) <= written, "reads the run directories the eval examples write"
    if argv[:2] == ["skills", "import"]:
        assert argv[2] in {a[2] for a in BY_COMMAND[("skills", "export")]}, "imports what the export example writes"
    if argv[0] == "serve-model":  # the one example that needs a file of the reader's own, and says so
        assert "of yours" in (ROOT_COMMAND.commands["serve-model"].help or "")


@pytest.fixture
def readme_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository root as working folder, no Isabelle, no API key, a fresh cache and library."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("LEGO_PROVER_SKILLS__DB_PATH", str(tmp_path / "skills_db"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / "empty.toml").write_text("")
    return tmp_path


@needs_minif2f
@pytest.mark.parametrize("path", [("eval",), ("evolve",), ("check",)])
def test_the_example_runs_up_to_what_needs_isabelle_or_an_llm(readme_machine: Path, path: tuple[str, ...]) -> None:
    argv = BY_COMMAND[path][0]
    config = ["--config", str(readme_machine / "empty.toml")]
    if path == ("check",):
        result = runner.invoke(app, [*config, *argv, "--guard-only"])
        assert result.exit_code == 0 and "guard: accepted" in result.output, result.output
        return
    result = runner.invoke(app, [*config, *argv])
    assert result.exit_code == 2
    missing = [line for line in result.output.splitlines() if line.startswith("  - ")]
    assert len(missing) == 2, result.output
    assert "no API key" in missing[0] and "Isabelle was not found" in missing[1], "nothing else is wrong with it"
    assert not (ROOT / "runs").exists() or not any((ROOT / "runs").iterdir())


@pytest.mark.parametrize("path", [("config",), ("doctor",), ("skills", "stats"), ("skills", "list")])
def test_the_examples_that_need_no_service_run(readme_machine: Path, path: tuple[str, ...]) -> None:
    from lego_prover.config import SkillSettings
    from lego_prover.skills.library import SkillLibrary

    SkillLibrary.open(SkillSettings(db_path=readme_machine / "skills_db")).close()
    (argv,) = BY_COMMAND[path]
    result = runner.invoke(app, ["--config", str(readme_machine / "empty.toml"), *argv])
    assert result.exit_code in ((0, 1) if path == ("doctor",) else (0,)), result.output
