"""Commands that only read create nothing: no ./skills_db, no cache folder, no collection.

`skills query|show|list|stats|export`, `report`, `config` and `doctor` are run in an empty
folder with an empty cache home; afterwards both are still empty (report: only its two
files). A missing library is said to be missing; an empty one is answered without
loading the embedding model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.config import SkillSettings
from lego_prover.llm.local_server import free_port
from lego_prover.skills import embedder as embedder_module
from lego_prover.skills.library import SkillLibrary

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def empty_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder, an empty cache home, an LLM endpoint that answers nothing at once."""
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "cache").mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("LEGO_PROVER_LLM__BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    return tmp_path


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("argv", [
    ["skills", "query", "a^2 + b^2 >= 2*a*b"], ["skills", "show", "foo"], ["skills", "list"], ["skills", "stats"],
    ["skills", "export", "out.jsonl", "--format", "jsonl"],
])
def test_skills_commands_on_a_missing_library_say_so_and_create_nothing(empty_place: Path, argv: list[str]) -> None:
    before = tree(empty_place)
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert f"there is no skill library at {empty_place / 'work' / 'skills_db'}" in result.output
    assert tree(empty_place) == before


@pytest.mark.parametrize("argv", [["config"], ["config", "--json"], ["doctor"]])
def test_config_and_doctor_create_nothing(empty_place: Path, argv: list[str]) -> None:
    before = tree(empty_place)
    result = runner.invoke(app, argv)
    assert result.exit_code in (0, 1), result.output
    assert tree(empty_place) == before


def test_doctor_says_the_library_is_not_created_yet(empty_place: Path) -> None:
    result = runner.invoke(app, ["doctor"])
    assert "not created yet" in result.output


def test_an_empty_library_is_answered_without_loading_the_embedding_model(
        empty_place: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    SkillLibrary.open(SkillSettings(db_path=empty_place / "work" / "skills_db")).close()
    before = tree(empty_place)

    def no_model(self: object) -> None:
        raise AssertionError("the embedding model was loaded for an empty library")

    monkeypatch.setattr(embedder_module.Embedder, "_load", no_model)
    result = runner.invoke(app, ["skills", "query", "a^2 + b^2 >= 2*a*b"])
    assert result.exit_code == 0, result.output
    assert "is empty: nothing to query yet" in result.output
    assert json.loads(runner.invoke(app, ["skills", "query", "x", "--json"]).stdout) == []
    for argv in (["skills", "list"], ["skills", "stats"]):
        assert runner.invoke(app, argv).exit_code == 0
    assert tree(empty_place) == before


def test_a_query_in_a_fresh_process_answers_from_an_existing_library(empty_place: Path) -> None:
    """The real path of `skills query`: a new process, the real embedding model, no torch."""
    from lego_prover.skills.records import Origin, VerificationRecord

    db = empty_place / "work" / "skills_db"
    with SkillLibrary.open(SkillSettings(db_path=db)) as library:
        for name, statement in (("sq_ge", 'lemma sq_ge: fixes a b :: real shows "a^2 + b^2 >= 2*a*b"'),
                                ("mod_3", 'lemma mod_3: "(71::nat) mod 3 = 2"')):
            library.add(VerificationRecord.from_trusted_export(
                {"name": name, "statement": statement, "text": statement + " by simp", "isabelle": "t",
                 "session": "t"}, isabelle="t", session="t"), Origin("import"))
    out = subprocess.run([sys.executable, "-m", "lego_prover", "skills", "query", "a^2 + b^2 >= 2 * a * b", "-k", "1",
                          "--json"], capture_output=True, text=True, cwd=empty_place / "work",
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert [hit["name"] for hit in json.loads(out.stdout)] == ["sq_ge"]


def test_report_writes_its_two_files_and_nothing_else(empty_place: Path) -> None:
    run = empty_place / "work" / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"kind": "eval", "problems": ["p"], "attempts": 1}))
    (run / "attempts.jsonl").write_text("")
    before = tree(empty_place)
    result = subprocess.run([sys.executable, "-m", "lego_prover", "report", "run"], capture_output=True, text=True,
                            cwd=empty_place / "work",
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert sorted(set(tree(empty_place)) - set(before)) == ["work/run/report.html", "work/run/report.md"]
