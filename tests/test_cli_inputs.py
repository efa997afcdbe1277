"""Bad input gets one sentence and exit code 2, never a traceback: every argument of every
command that names a file or folder, and every value a person types.

Each case runs the command as typed, in a folder holding a few prepared files (a good
proof, a folder, a non-UTF-8 file, malformed JSON), with no Isabelle and no API key: the
input error must be reported (before any missing service), in one line saying what is
wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from tests.conftest import MINIF2F_DIR

runner = CliRunner()
needs_minif2f = pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")
DATA = str(MINIF2F_DIR)


@pytest.fixture(autouse=True)
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / "proof.thy").write_text('theorem t: "(1::nat) + 1 = 2"\n  by simp\n')
    (tmp_path / "empty.thy").write_text("")
    (tmp_path / "comments.thy").write_text("(* only a comment *)\n")
    (tmp_path / "latin1.thy").write_bytes('theorem t: "x = x" (* caf\xe9 *) by simp\n'.encode("latin-1"))
    (tmp_path / "adir").mkdir()
    (tmp_path / "bad.jsonl").write_text('{"name": "x", "formal_statement": \n')
    (tmp_path / "latin1.jsonl").write_bytes('{"name": "x", "formal_statement": "caf\xe9"}\n'.encode("latin-1"))
    (tmp_path / "good.jsonl").write_text('{"name": "toy", "formal_statement": "theorem toy: \\"(1::nat) = 1\\""}\n')
    (tmp_path / "nostatement.thy").write_text("lemma (* nothing named *)\n")
    (tmp_path / "nul.thy").write_text('theorem t: "(1::nat) + 1 = 2"\n  by simp\0\n')
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "blank.jsonl").write_text("\n  \n")
    (tmp_path / "notarun").mkdir()
    (tmp_path / "brokenrun").mkdir()
    (tmp_path / "brokenrun" / "run.json").write_text("{not json")
    (tmp_path / "bad.toml").write_text("[isabelle\n")
    return tmp_path


CASES: list[tuple[list[str], str]] = [
    # check
    (["check", "missing.thy"], "theory file missing.thy does not exist"),
    (["check", "adir"], "theory file adir is a folder, not a file"),
    (["check", "latin1.thy"], "theory file latin1.thy is not UTF-8 text (byte 0xe9 at offset"),
    (["check", "empty.thy"], "empty.thy holds no lemma or theorem to check"),
    (["check", "comments.thy", "--guard-only"], "comments.thy holds no lemma or theorem to check"),
    (["check", "proof.thy", "--statement-file", "missing.thy"], "statement file missing.thy does not exist"),
    (["check", "proof.thy", "--statement-file", "adir"], "statement file adir is a folder, not a file"),
    (["check", "proof.thy", "--statement-file", "latin1.thy"], "statement file latin1.thy is not UTF-8 text"),
    (["check", "proof.thy", "--statement-file", "nostatement.thy"], "holds no 'theorem NAME: ...' statement"),
    (["check", "proof.thy", "--problem", "t", "--statement-file", "proof.thy"], "give --problem or --statement-file"),
    (["check", "proof.thy", "--problem", "t", "--data-dir", "missing"], "--data-dir missing does not exist"),
    (["check", "proof.thy", "--problem", "t", "--data-dir", "proof.thy"], "--data-dir proof.thy is a file"),
    (["check", "proof.thy", "--problem", "t", "--data-dir", "adir"], "no valid.jsonl/test.jsonl in adir; pass --data-dir"),
    # --benchmark-dir, check's old name of --data-dir, still works
    (["check", "proof.thy", "--problem", "t", "--benchmark-dir", "adir"], "no valid.jsonl/test.jsonl in adir"),
    (["check", "nul.thy", "--guard-only"], "theory file nul.thy holds a NUL byte at line 2, column 10 (character 39)"),
    (["check", "proof.thy", "--statement-file", "nul.thy"], "statement file nul.thy holds a NUL byte at line 2"),
    (["check", "proof.thy", "--problem", "t", "--problems-file", "missing.jsonl"], "--problems-file missing.jsonl does not exist"),
    (["check", "proof.thy", "--problem", "t", "--problems-file", "adir"], "--problems-file adir is a folder"),
    (["check", "proof.thy", "--problem", "t", "--problems-file", "latin1.jsonl"], "--problems-file latin1.jsonl is not UTF-8"),
    (["check", "proof.thy", "--problem", "t", "--problems-file", "bad.jsonl"], "bad.jsonl:1: not valid JSON"),
    (["check", "proof.thy", "--problem", "nope", "--problems-file", "good.jsonl"], "problem 'nope' not found in good.jsonl"),
    # eval
    (["eval", "--data-dir", "missing"], "data folder (--data-dir / data_dir) missing does not exist"),
    (["eval", "--data-dir", "proof.thy"], "is a file, not a folder"),
    (["eval", "--data-dir", "adir"], "adir/valid.jsonl not found"),
    (["eval", "--problems-file", "missing.jsonl"], "--problems-file missing.jsonl does not exist"),
    (["eval", "--problems-file", "adir"], "--problems-file adir is a folder, not a file"),
    (["eval", "--problems-file", "latin1.jsonl"], "--problems-file latin1.jsonl is not UTF-8 text"),
    (["eval", "--problems-file", "bad.jsonl"], "bad.jsonl:1: not valid JSON"),
    (["eval", "--problems-file", "good.jsonl", "--problems", "nope"], "unknown problem(s) in good.jsonl: nope"),
    (["eval", "--problems-file", "good.jsonl", "--problems", ","], "--problems is empty"),
    (["eval", "--problems-file", "good.jsonl", "--run-dir", "proof.thy"], "the run directory proof.thy is a file"),
    (["eval", "--problems-file", "good.jsonl", "--run-dir", "proof.thy/run"], "proof.thy is a file"),
    (["eval", "--problems-file", "good.jsonl", "--resume"], "--resume needs --run-dir"),
    (["eval", "--problems-file", "good.jsonl", "--resume", "--run-dir", "notarun"], "notarun holds no run to resume"),
    (["eval", "--problems-file", "good.jsonl", "--base-url", "localhost:8080"], "llm.base_url must start with http"),
    (["eval", "--split", "train"], "Invalid value for '--split'"),
    (["eval", "--benchmark", "putnam"], "Invalid value for '--benchmark'"),
    (["eval", "--attempts", "0"], "--attempts: Input should be greater than or equal to 1"),
    (["eval", "--attempts", "99999999999999999999"],
     "--attempts: Input should be less than or equal to 10000 (got 99999999999999999999); bound a long run"),
    (["eval", "--problems-file", "good.jsonl", "--split", "test"],
     "--split test chooses benchmark problems, but --problems-file good.jsonl gives the problems; drop one"),
    (["eval", "--problems-file", "good.jsonl", "--benchmark", "minif2f", "--data-dir", "adir"],
     "--benchmark minif2f and --data-dir adir choose benchmark problems, but --problems-file good.jsonl"),
    (["eval", "--benchmark-dir", "missing"], "data folder (--data-dir / data_dir) missing does not exist"),
    (["eval", "--max-tokens", "0"], "--max-tokens: Input should be greater than or equal to 1"),
    (["eval", "--informal", "sometimes"], "Invalid value for '--informal'"),
    (["eval", "--evolvers", "-1"], "Invalid value for '--evolvers'"),
    (["eval", "--frobnicate"], "No such option: --frobnicate"),
    # evolve
    (["evolve"], "give the target problems"),
    (["evolve", "--for", "minif2f:valid", "--problems-file", "good.jsonl"], "give the target problems"),
    (["evolve", "--for", "minif2f:train"], "--for 'minif2f:train' is not BENCHMARK:SPLIT"),
    (["evolve", "--for", "putnam"], "--for 'putnam' is not BENCHMARK:SPLIT"),
    (["evolve", "--problems-file", "missing.jsonl"], "--problems-file missing.jsonl does not exist"),
    (["evolve", "--problems-file", "good.jsonl", "--problems", "nope"], "unknown problem(s) in good.jsonl: nope"),
    (["evolve", "--problems-file", "good.jsonl", "--steps", "0"], "Invalid value for '--steps'"),
    (["evolve", "--problems-file", "good.jsonl", "--resume"], "--resume needs --run-dir"),
    (["evolve", "--problems-file", "good.jsonl", "--data-dir", "adir"],
     "--data-dir adir chooses benchmark problems, but --problems-file good.jsonl gives the problems; drop one"),
    # report and verify-results
    (["report", "missing"], "run directory missing does not exist"),
    (["report", "proof.thy"], "run directory proof.thy is a file, not a folder"),
    (["report", "notarun"], "notarun is not a run directory (no run.json)"),
    (["report", "brokenrun"], "run.json is not valid JSON"),
    (["verify-results", "missing"], "run directory missing does not exist"),
    (["verify-results", "notarun"], "notarun is not a run directory (no run.json)"),
    (["report"], "Missing argument"),
    # skills
    (["skills", "query", ""], "the query TEXT is empty"),
    (["skills", "query", "x", "-k", "0"], "Invalid value for '-k'"),
    (["skills", "query", "x", "--origin", "space"], "Invalid value for '--origin'"),
    (["skills", "query", "x", "--min-usage", "-1"], "Invalid value for '--min-usage'"),
    (["skills", "list", "--limit", "-3"], "Invalid value for '--limit'"),
    (["skills", "list", "--sort", "size"], "Invalid value for '--sort'"),
    (["skills", "export", "adir"], "export file adir is a folder; give a file name"),
    (["skills", "export", "nofolder/Skills.thy"], "the folder of export file nofolder/Skills.thy does not exist"),
    (["skills", "export", "1st.thy"], "the theory name '1st' (the file's stem) must be an Isabelle identifier"),
    (["skills", "export", "x.txt", "--format", "csv"], "Invalid value for '--format'"),
    (["skills", "export", "skills.jsonl", "--format", "thy"],
     "--format thy does not match the file name skills.jsonl; name it *.thy, or leave --format out"),
    (["skills", "import", "missing.jsonl"], "skills file missing.jsonl does not exist"),
    (["skills", "import", "adir"], "skills file adir is a folder, not a file"),
    (["skills", "import", "latin1.jsonl"], "skills file latin1.jsonl is not UTF-8 text"),
    (["skills", "import", "bad.jsonl"], "bad.jsonl:1: not JSON"),
    (["skills", "import", "empty.jsonl"], "skills file empty.jsonl is empty: there is nothing to import"),
    (["skills", "import", "blank.jsonl"], "skills file blank.jsonl is empty: there is nothing to import"),
    # other commands
    (["download-minif2f", "--cache-dir", "proof.thy"], "--cache-dir proof.thy is a file, not a folder"),
    (["serve-model", "missing.gguf"], "the GGUF model file missing.gguf does not exist"),
    (["serve-model", "adir", "--backend", "llama_cpp"], "the GGUF model file adir is a folder"),
    (["serve-model", "x.gguf", "--backend", "ollama"], "Invalid value for '--backend'"),
    (["serve-model", "x.gguf", "--port", "70000"], "Invalid value for '--port'"),
    (["serve-model", "x.gguf", "--start-timeout", "0"], "Invalid value for '--start-timeout'"),
    (["--config", "missing.toml", "config"], "config file missing.toml does not exist"),
    (["config", "--config", "adir"], "config file adir is a folder, not a file"),
    (["config", "--config", "latin1.thy"], "config file latin1.thy is not UTF-8 text"),
    (["config", "--config", "bad.toml"], "config file bad.toml is not valid TOML"),
    (["no-such-command"], "No such command 'no-such-command'"),
]


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_is_one_sentence_and_exit_2(folder: Path, argv: list[str], expected: str) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert expected in result.output, result.output
    if not result.output.splitlines()[0].startswith("error: 'lego-prover"):  # not a preflight list
        assert result.output.strip() == errors[0], "one line only"


@needs_minif2f
def test_a_problem_from_the_other_split_says_which_flag_picks_it() -> None:
    result = runner.invoke(app, ["eval", "--split", "valid", "--data-dir", DATA, "--problems", "mathd_algebra_478"])
    assert result.exit_code == 2
    assert ("unknown problem(s) in the valid split: mathd_algebra_478 (mathd_algebra_478 is in the test split: "
            "pass --split test)") in result.output
    evolve = runner.invoke(app, ["evolve", "--for", "minif2f:valid", "--data-dir", DATA, "--problems", "mathd_algebra_478"])
    assert "pass --for minif2f:test" in evolve.output


@needs_minif2f
def test_a_misspelt_problem_name_gets_the_closest_one() -> None:
    result = runner.invoke(app, ["eval", "--data-dir", DATA, "--problems", "mathd_algbra_104"])
    assert "unknown problem(s) in the valid split: mathd_algbra_104; did you mean mathd_algebra_104?" in result.output


@needs_minif2f
def test_input_errors_and_missing_services_are_reported_together_before_anything_is_written(folder: Path) -> None:
    result = runner.invoke(app, ["eval", "--data-dir", DATA, "--problems", "nope", "--run-dir", "run"])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0] == "error: 'lego-prover eval' cannot start; 3 things to fix first:"
    assert "unknown problem(s) in the valid split: nope" in lines[1]
    assert "no API key: set the environment variable OPENAI_API_KEY" in lines[2]
    assert "Isabelle was not found" in lines[3]
    assert not (folder / "run").exists() and not (folder / "skills_db").exists() and not (folder / "cache").exists()


@pytest.mark.parametrize("argv", [["skills", "list"], ["skills", "stats"], ["skills", "query", "x"]])
def test_a_library_path_that_is_a_file_is_named_as_eval_names_it(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  argv: list[str]) -> None:
    monkeypatch.setenv("LEGO_PROVER_SKILLS__DB_PATH", "proof.thy")
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert result.output == "error: skill library folder (skills.db_path) proof.thy is a file, not a folder.\n", \
        "not the words eval's preflight uses for the same file"


def test_ray_auto_without_a_cluster_says_the_cluster_is_not_there(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = pytest.importorskip("ray._private.services", reason="Ray is not installed")
    # no cluster here, whatever else runs on this machine (another test's private cluster would be found)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    no_gcs: Any = lambda: []  # noqa: E731
    no_gcs.cache_clear = lambda: None  # ray.init clears the real one's cache
    monkeypatch.setattr(services, "find_gcs_addresses", no_gcs)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir=None: None)
    monkeypatch.setenv("OPENAI_API_KEY", "set")
    result = runner.invoke(app, ["eval", "--problems-file", "good.jsonl", "--ray", "auto"])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 1, f"one line, about the cluster only: {result.output}"
    assert lines[0].startswith("error: --ray auto: no Ray cluster is running here"), lines[0]
    assert "Isabelle was not found" not in result.output, "the checks run on the cluster's nodes, not here"
