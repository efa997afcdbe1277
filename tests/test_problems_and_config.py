"""Problem loading (miniF2F and users' files) and the layered settings."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from lego_prover.config import load_settings
from lego_prover.errors import ConfigError, ProblemFileError
from lego_prover.isabelle.context import TheoryContext
from lego_prover.problems import (
    convert_minif2f_zip,
    download_minif2f,
    load_benchmark,
    load_problems,
    select,
)
from tests.conftest import MINIF2F_DIR

needs_minif2f = pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")


@needs_minif2f
def test_minif2f_loads_from_a_path_with_preambles() -> None:
    valid = load_benchmark("minif2f", "valid", data_dir=MINIF2F_DIR, cache_dir=Path("/nonexistent"))
    test = load_benchmark("minif2f", "test", data_dir=MINIF2F_DIR, cache_dir=Path("/nonexistent"))
    assert len(valid) == 244 and len(test) == 244
    with_preamble = {p.name for p in test if p.preamble}
    assert {"amc12a_2020_p4", "mathd_numbertheory_135", "mathd_numbertheory_764"} <= with_preamble
    assert all(p.has_informal_proof for p in valid)


@needs_minif2f
def test_problem_header_mode_takes_imports_from_the_problem() -> None:
    from lego_prover.config import IsabelleSettings

    (problem,) = select(load_problems(MINIF2F_DIR / "test.jsonl"), ["mathd_numbertheory_764"])
    fixed = TheoryContext.for_problem(problem, IsabelleSettings())
    own = TheoryContext.for_problem(problem, IsabelleSettings(header_mode="problem"))
    assert '"HOL-Number_Theory.Number_Theory"' in fixed.imports
    assert own.imports != fixed.imports and "inv_mod" in own.preamble
    assert "inv_mod" in own.guard_context().reserved_names


def test_a_malformed_line_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"name": "a", "formal_statement": "theorem a: \\"True\\""}\n{oops\n')
    with pytest.raises(ProblemFileError, match=r"mine.jsonl:2: not valid JSON"):
        load_problems(path)


def test_missing_fields_and_bad_names_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"name": "a"}\n')
    with pytest.raises(ProblemFileError, match="formal_statement"):
        load_problems(path)
    path.write_text('{"name": "a-b", "formal_statement": "theorem x: True"}\n')
    with pytest.raises(ProblemFileError, match="not a valid Isabelle identifier"):
        load_problems(path)


def test_a_preamble_may_define_but_not_axiomatize_or_run_ml(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    good = {"name": "p", "formal_statement": 'theorem p: "f 1 = 2"', "preamble": 'definition f :: "nat => nat" where "f n = n + 1"'}
    path.write_text(json.dumps(good) + "\n")
    assert load_problems(path)[0].preamble.startswith("definition")
    for bad, code in (('axiomatization where ax: "False"', "axiom"), ("ML \\<open>()\\<close>", "ml_code"),
                      ('lemma l: "False" sorry', "skipped_proof")):
        path.write_text(json.dumps({**good, "preamble": bad}) + "\n")
        with pytest.raises(ProblemFileError, match=rf"mine.jsonl:1: the preamble of p is refused: \[{code}\]"):
            load_problems(path)


def test_unknown_problem_names_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"name": "a", "formal_statement": "theorem a: \\"True\\""}\n')
    with pytest.raises(ProblemFileError, match="unknown problem"):
        select(load_problems(path), ["a", "zzz"])


def test_download_without_network_fails_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ProblemFileError, match=r"could not download miniF2F.*--data-dir"):
        download_minif2f(tmp_path, url="http://127.0.0.1:9/miniF2F.zip", timeout_s=2)


def test_the_repository_zip_is_converted_to_our_jsonl(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("miniF2F-main/isabelle/valid/toy_1.thy",
                    '(* by someone *)\ntheory toy_1 imports Complex_Main\nbegin\n\n'
                    'definition d :: nat where "d = 1"\n\ntheorem toy_1:\n  "d = (1::nat)"\n  sorry\n\nend\n')
        zf.writestr("miniF2F-main/informal/valid/toy_1.json",
                    json.dumps({"problem_name": "toy_1", "informal_statement": "d is one", "informal_proof": "by def"}))
    out = convert_minif2f_zip(buf.getvalue(), tmp_path / "m")
    (problem,) = load_problems(out / "valid.jsonl")
    assert problem.formal_statement == 'theorem toy_1:\n  "d = (1::nat)"'
    assert problem.preamble == 'definition d :: nat where "d = 1"'
    assert problem.header.startswith("theory toy_1") and problem.informal_proof == "by def"


def test_settings_layers_defaults_file_env_flags(tmp_path: Path) -> None:
    (tmp_path / "lego-prover.toml").write_text('[isabelle]\nworkers = 3\nsession = "HOL"\n[llm]\nmodel = "from-file"\n')
    env = {"LEGO_PROVER_ISABELLE__WORKERS": "5", "LEGO_PROVER_LLM__MODEL": "from-env"}
    s = load_settings(None, {"llm.model": "from-flag"}, environ=env, cwd=tmp_path)
    assert s.isabelle.session == "HOL"          # file over default
    assert s.isabelle.workers == 5              # env over file
    assert s.llm.model == "from-flag"           # flag over env
    (tmp_path / "empty").mkdir()
    assert load_settings(None, {}, environ={}, cwd=tmp_path / "empty").isabelle.workers == 2  # defaults


def test_typos_and_bad_values_are_one_line_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[isabelle]\nworkerz = 3\n")
    with pytest.raises(ConfigError, match=r"isabelle\.workerz"):
        load_settings(bad, environ={})
    bad.write_text("[isabelle\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
