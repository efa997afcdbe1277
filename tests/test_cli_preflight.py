"""Preflight, all at once, before anything is written: `eval`, `evolve`, `verify-results`,
`check-examples` and `skills import` check everything they need first and name every
missing thing in one go; a command that cannot start leaves no run directory, library or
cache behind and names no run directory.

The `isabelle` executable some tests put on PATH is a test double that only answers
`isabelle version` and `isabelle getenv` (it checks nothing).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from tests.conftest import MINIF2F_DIR

runner = CliRunner()
needs_minif2f = pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")
EVAL = ["eval", "--data-dir", str(MINIF2F_DIR), "--problems", "mathd_algebra_104,mathd_algebra_109",
        "--attempts", "2", "--run-dir", "run"]


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return tmp_path


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def missing(output: str) -> list[str]:
    lines = output.splitlines()
    if lines and lines[0].startswith("error: 'lego-prover"):
        return [line.removeprefix("  - ") for line in lines[1:] if line.startswith("  - ")]
    return [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]


@needs_minif2f
def test_eval_names_the_key_and_isabelle_together_and_writes_nothing(place: Path) -> None:
    before = tree(place)
    result = runner.invoke(app, EVAL)
    assert result.exit_code == 2
    got = missing(result.output)
    assert len(got) == 2 and got[0].startswith("no API key") and got[1].startswith("Isabelle was not found")
    assert "run directory" not in result.output, "no run directory is named before one exists"
    assert tree(place) == before, "no run directory, skills_db or cache left behind"


@needs_minif2f
def test_evolve_checks_the_same_things(place: Path) -> None:
    before = tree(place)
    result = runner.invoke(app, ["evolve", "--for", "minif2f:valid", "--data-dir", str(MINIF2F_DIR), "--steps", "3"])
    assert result.exit_code == 2
    assert [m.split(" ")[0] for m in missing(result.output)] == ["no", "Isabelle"]
    assert tree(place) == before


@needs_minif2f
def test_every_kind_of_missing_thing_is_listed(place: Path) -> None:
    (place / "work" / "afile").write_text("")
    (place / "work" / "lego-prover.toml").write_text(
        '[llm]\nlocal_model = "missing.gguf"\nlocal_backend = "llama_cpp"\n'
        f'[skills]\nembedding_model = "{place / "no-model"}"\ndb_path = "afile/skills_db"\n')
    result = runner.invoke(app, [*EVAL[:-2], "--run-dir", "afile/run", "--problems", "mathd_algebra_478"])
    assert result.exit_code == 2
    text = "\n".join(missing(result.output))
    for needle in ("mathd_algebra_478 is in the test split", "run directory afile/run cannot be created",
                   "missing.gguf", "Isabelle was not found", f"embedding model folder (skills.embedding_model) "
                   f"{place / 'no-model'} does not exist", "skill library folder (skills.db_path) afile/skills_db"):
        assert needle in text, (needle, result.output)


def test_verify_results_checks_the_run_and_isabelle(place: Path) -> None:
    result = runner.invoke(app, ["verify-results", "runs/nothing"])
    assert result.exit_code == 2
    assert missing(result.output) == [
        "run directory runs/nothing does not exist.",
        missing(result.output)[1]] and "Isabelle was not found" in missing(result.output)[1]


def test_skills_import_checks_before_opening_the_library(place: Path) -> None:
    (place / "work" / "skills.jsonl").write_text('{"name": "a", "text": "lemma a: \\"x = x\\" by simp"}\n')
    before = tree(place)
    result = runner.invoke(app, ["skills", "import", "skills.jsonl"])
    assert result.exit_code == 2 and "Isabelle was not found" in result.output
    assert tree(place) == before, "no skills_db created for an import that cannot run"


def test_check_examples_checks_isabelle_first(place: Path) -> None:
    result = runner.invoke(app, ["check-examples"])
    assert result.exit_code == 2 and missing(result.output)[0].startswith("Isabelle was not found")


@pytest.fixture
def isabelle_without_heap(place: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `isabelle` test double on PATH: a version, an empty heaps folder, nothing else."""
    bin_dir = place / "fake-isabelle" / "bin"
    bin_dir.mkdir(parents=True)
    heaps = place / "fake-isabelle" / "heaps"
    heaps.mkdir()
    script = bin_dir / "isabelle"
    script.write_text(f'#!/bin/sh\ncase "$1" in\n  version) echo Isabelle2022;;\n  getenv) echo {heaps};;\n'
                      '  *) echo "test double: no $1" >&2; exit 2;;\nesac\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    return bin_dir


@needs_minif2f
def test_an_unbuilt_heap_is_a_note_not_a_blocker(place: Path, isabelle_without_heap: Path) -> None:
    result = runner.invoke(app, EVAL)
    assert result.exit_code == 2
    assert "note: the session heap HOL-Number_Theory is not built yet: the first check builds it" in result.output
    assert missing(result.output) == [missing(result.output)[0]] and "no API key" in missing(result.output)[0]


@needs_minif2f
def test_an_llm_endpoint_nobody_listens_on_is_named_before_the_run(place: Path) -> None:
    from lego_prover.llm.local_server import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    result = runner.invoke(app, [*EVAL, "--base-url", dead])
    assert result.exit_code == 2
    got = missing(result.output)
    assert got[0].startswith(f"the LLM endpoint {dead} does not accept connections (Connection refused); "
                             "start the server or fix llm.base_url"), got
    assert "no API key" not in result.output, "a local endpoint needs no key"
