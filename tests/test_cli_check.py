"""`lego-prover check` and `doctor` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from tests.conftest import MINIF2F_DIR
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Script

runner = CliRunner()
needs_minif2f = pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")

PROOF = 'theorem mathd_numbertheory_81:\n  "71 mod 3 = (2::nat)"\n  by simp\n'


@pytest.fixture
def proof_file(tmp_path: Path) -> Path:
    path = tmp_path / "proof.thy"
    path.write_text(PROOF)
    return path


@pytest.fixture(autouse=True)
def no_isabelle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


@needs_minif2f
def test_guard_only_accepts_a_clean_proof(proof_file: Path) -> None:
    result = runner.invoke(app, ["check", str(proof_file), "--problem", "mathd_numbertheory_81",
                                 "--benchmark-dir", str(MINIF2F_DIR), "--guard-only"])
    assert result.exit_code == 0, result.output
    assert "accepted" in result.output


@needs_minif2f
def test_guard_only_rejects_a_changed_statement_with_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.thy"
    path.write_text(PROOF.replace("(2::nat)", "(1::nat)"))
    result = runner.invoke(app, ["check", str(path), "--problem", "mathd_numbertheory_81",
                                 "--benchmark-dir", str(MINIF2F_DIR), "--guard-only", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["rejections"][0]["code"] == "statement_changed"


def test_missing_isabelle_is_a_one_line_error_with_exit_2(proof_file: Path) -> None:
    result = runner.invoke(app, ["check", str(proof_file)])
    assert result.exit_code == 2
    assert "Isabelle was not found" in result.output and "ISABELLE_HOME" in result.output
    assert "Traceback" not in result.output


def test_a_broken_config_file_is_a_clear_error(proof_file: Path, tmp_path: Path) -> None:
    (tmp_path / "lego-prover.toml").write_text("[isabelle]\nworkers = 'many'\n")
    result = runner.invoke(app, ["check", str(proof_file)])
    assert result.exit_code == 2
    assert "isabelle.workers" in result.output


@needs_minif2f
def test_check_reports_per_block_verdicts_from_the_server(proof_file: Path, tmp_path: Path) -> None:
    script = Script(default=replies.verified())
    with FakeIsabelleServer(script) as fake:
        (tmp_path / "lego-prover.toml").write_text(
            f'[isabelle]\nserver = "127.0.0.1:{fake.port}:{fake.password}"\nwork_dir = "{tmp_path / "w"}"\n')
        result = runner.invoke(app, ["check", str(proof_file), "--problem", "mathd_numbertheory_81",
                                     "--benchmark-dir", str(MINIF2F_DIR), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert verdict["verified"] is True and verdict["target"] == "mathd_numbertheory_81"


@needs_minif2f
def test_check_exits_1_and_names_the_failing_line(proof_file: Path, tmp_path: Path) -> None:
    script = Script(default=replies.error_at("by simp", "Failed to finish proof\\<^here>:\ngoal (1 subgoal):\n 1. 71 mod 3 = 2"))
    with FakeIsabelleServer(script) as fake:
        (tmp_path / "lego-prover.toml").write_text(
            f'[isabelle]\nserver = "127.0.0.1:{fake.port}:{fake.password}"\nwork_dir = "{tmp_path / "w"}"\n')
        result = runner.invoke(app, ["check", str(proof_file), "--problem", "mathd_numbertheory_81",
                                     "--benchmark-dir", str(MINIF2F_DIR)])
    assert result.exit_code == 1
    assert "NOT VERIFIED" in result.output and "Failed to finish proof" in result.output


def test_doctor_names_each_missing_piece_with_its_fix() -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "Isabelle" in result.output and "fix:" in result.output
    assert "embedding model" in result.output


def test_serve_model_without_the_backend_extra_is_one_line_naming_the_install(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve-model", str(tmp_path / "m.gguf"), "--backend", "vllm"])
    if "is not installed" not in result.output:
        pytest.skip("vllm is installed here")
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "pip install 'lego-prover[vllm]'" in result.output


def test_doctor_checks_a_configured_local_model_instead_of_probing(tmp_path: Path) -> None:
    (tmp_path / "lego-prover.toml").write_text(f'[llm]\nlocal_model = "{tmp_path / "absent.gguf"}"\n')
    result = runner.invoke(app, ["doctor"])
    assert "local model" in result.output and "no such file" in result.output


WHOLE_THEORY = """theory Mine
  imports Complex_Main
begin

(* a helper first *)
lemma two_ok: "(2::nat) = 2"
  by simp

theorem mathd_numbertheory_81:
  "71 mod 3 = (2::nat)"
  by simp

end
"""


@needs_minif2f
def test_check_names_the_line_of_the_users_file_not_of_the_assembled_theory(tmp_path: Path) -> None:
    path = tmp_path / "whole.thy"
    path.write_text(WHOLE_THEORY)
    failing_line = WHOLE_THEORY.splitlines().index("  by simp", 7) + 1  # the theorem's `by simp`: line 11
    script = Script(default=replies.error_at("by simp", "Failed to finish proof", occurrence=2))
    with FakeIsabelleServer(script) as fake:
        (tmp_path / "lego-prover.toml").write_text(
            f'[isabelle]\nserver = "127.0.0.1:{fake.port}:{fake.password}"\nwork_dir = "{tmp_path / "w"}"\n')
        result = runner.invoke(app, ["check", str(path), "--problem", "mathd_numbertheory_81",
                                     "--benchmark-dir", str(MINIF2F_DIR), "--json"])
    assert result.exit_code == 1, result.output
    (err,) = json.loads(result.stdout)["errors"]
    assert err["line"] == failing_line == 11
    assert err["theory_line"] != err["line"], "the checked theory has our own header and imports"


@needs_minif2f
def test_a_header_importing_less_than_the_session_is_accepted_and_ours_is_used(tmp_path: Path) -> None:
    path = tmp_path / "whole.thy"
    path.write_text(WHOLE_THEORY)
    result = runner.invoke(app, ["check", str(path), "--problem", "mathd_numbertheory_81",
                                 "--benchmark-dir", str(MINIF2F_DIR), "--guard-only"])
    assert result.exit_code == 0, result.output


@needs_minif2f
def test_a_header_importing_what_the_session_lacks_names_the_allowed_imports(tmp_path: Path) -> None:
    path = tmp_path / "whole.thy"
    path.write_text(WHOLE_THEORY.replace("Complex_Main", 'Complex_Main "HOL-Analysis.Analysis"'))
    result = runner.invoke(app, ["check", str(path), "--problem", "mathd_numbertheory_81",
                                 "--benchmark-dir", str(MINIF2F_DIR), "--guard-only", "--json"])
    assert result.exit_code == 1
    (rejection,) = json.loads(result.stdout)["rejections"]
    assert rejection["code"] == "imports_changed"
    assert "HOL-Analysis.Analysis" in rejection["message"] and "Complex_Main" in rejection["message"]


@pytest.mark.parametrize("flags", [["--guard-only"], ["--guard-only", "--json"], []])
def test_a_file_larger_than_a_proof_may_be_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 flags: list[str]) -> None:
    monkeypatch.setenv("LEGO_PROVER_ISABELLE__MAX_PROOF_BYTES", "200")
    statement = tmp_path / "statement.thy"
    statement.write_text(PROOF.split("\n  by")[0])
    path = tmp_path / "big.thy"
    path.write_text("(* " + "x" * 300 + " *)\n" + PROOF)
    result = runner.invoke(app, ["check", str(path), "--statement-file", str(statement), *flags])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert f"{path.stat().st_size:,} bytes" in line and "isabelle.max_proof_bytes = 200" in line
