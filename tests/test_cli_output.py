"""Output that tells the truth: Isabelle's, the LLM's and the user's text appears exactly as
written (``[of a]``, ``[simp]``, ``[local]`` are text, not markup), marks are symbols and not
literal markup, and `check` on a file with nothing to check says so.

Isabelle's replies come from the protocol-level fake server, scripted by each test (it
never judges a proof).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.config import SkillSettings
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import Origin, VerificationRecord
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script

runner = CliRunner()
STATEMENT = 'theorem sq:\n  fixes a b :: real\n  shows "a^2 + b^2 >= 2*a*b"\n'
PROOF = 'lemma helper[simp]: "(x::real)^2 >= 0"\n  by simp\n\n' + STATEMENT + "  using square_nonneg[of a] by simp\n"
MESSAGE = ("Failed to apply proof method\\<^here>:\nusing this:\n  square_nonneg[of a]\ngoal (1 subgoal):\n"
           " 1. 0 \\<le> a\\<^sup>2 \\<Longrightarrow> 2 * a * b \\<le> a\\<^sup>2 + b\\<^sup>2 [simp]")


@pytest.fixture(autouse=True)
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "statement.thy").write_text(STATEMENT)
    (tmp_path / "proof.thy").write_text(PROOF)
    return tmp_path


def assert_no_markup(output: str) -> None:
    for tag in ("[red]", "[/]", "[green]", "[bold", "[dim]", "[yellow]"):
        assert tag not in output, output


def test_isabelle_messages_steps_and_goals_appear_exactly_and_in_full(workspace: Path) -> None:
    script = Script(default=replies.error_at("by simp", MESSAGE, occurrence=2))
    with FakeIsabelleServer(script) as fake:
        (workspace / "lego-prover.toml").write_text(
            f'[isabelle]\nserver = "127.0.0.1:{fake.port}:{fake.password}"\nwork_dir = "{workspace / "w"}"\n'
            "sledgehammer = false\n")
        result = runner.invoke(app, ["check", "proof.thy", "--statement-file", "statement.thy"])
    assert result.exit_code == 1, result.output
    assert "✓ helper: verified" in result.output
    assert "✗ sq: line " in result.output and ": Failed to apply proof method:" in result.output
    assert "      square_nonneg[of a]\n" in result.output
    assert " 1. 0 \\<le> a\\<^sup>2 \\<Longrightarrow> 2 * a * b \\<le> a\\<^sup>2 + b\\<^sup>2 [simp]\n" in result.output
    assert "    step: by simp\n" in result.output
    assert_no_markup(result.output)


def test_a_guard_rejection_is_a_mark_and_the_rule_not_markup(workspace: Path) -> None:
    (workspace / "sorry.thy").write_text(STATEMENT + "  using square_nonneg[of a] sorry\n")
    result = runner.invoke(app, ["check", "sorry.thy", "--statement-file", "statement.thy", "--guard-only"])
    assert result.exit_code == 1
    assert result.output.startswith("✗ [skipped_proof] line 4: 'sorry' is not allowed in a proof\n")
    assert result.output.endswith("guard: rejected\n")
    assert_no_markup(result.output)


def test_an_accepted_guard_counts_its_blocks(workspace: Path) -> None:
    result = runner.invoke(app, ["check", "proof.thy", "--statement-file", "statement.thy", "--guard-only"])
    assert result.exit_code == 0 and result.output == "guard: accepted (2 blocks)\n"


def test_doctor_fixes_keep_their_brackets(workspace: Path) -> None:
    (workspace / "lego-prover.toml").write_text('[llm]\nlocal_model = "model.gguf"\nlocal_backend = "llama_cpp"\n')
    result = runner.invoke(app, ["doctor"])
    assert "pip install 'lego-prover[local]'" in result.output
    assert_no_markup(result.output)


def test_skill_text_and_names_appear_exactly(workspace: Path) -> None:
    text = 'lemma pow_pos[simp]:\n  fixes x :: real\n  shows "[x, x] ! 0 ^ 2 >= 0"\n  by simp'
    with SkillLibrary.open(SkillSettings(db_path=workspace / "skills_db")) as library:
        library.add(VerificationRecord.from_trusted_export(
            {"name": "pow_pos", "statement": text.rsplit("\n", 1)[0], "text": text, "isabelle": "Isabelle2022 [test]",
             "session": "HOL"}, isabelle="Isabelle2022 [test]", session="HOL"), Origin("import"))
    shown = runner.invoke(app, ["skills", "show", "pow_pos"])
    assert shown.exit_code == 0, shown.output
    assert 'shows "[x, x] ! 0 ^ 2 >= 0"' in shown.output and "lemma pow_pos[simp]:" in shown.output
    assert "Isabelle2022 [test] / HOL" in shown.output
    listed = runner.invoke(app, ["skills", "list"])
    assert listed.output.startswith("pow_pos  import · retrieved 0 · used 0 · added ")
    assert '\n    lemma pow_pos[simp]: fixes x :: real shows "[x, x] ! 0 ^ 2 >= 0"\n' in listed.output
    assert_no_markup(shown.output + listed.output)
