"""Exit codes, one voice: each command exits with exactly the codes of its row in
``cli_exit_codes.EXIT_CODES``, which is also what its --help ends with and what the
README's *Exit codes* table says.

Every (command, code) pair of the table has a scenario below that makes the command exit
with that code (and the table has a row for every command): a code added to a row without a
scenario, or a scenario whose command exits otherwise, fails here. Isabelle is the
protocol-level fake server and the LLM is scripted (neither judges a proof: each test says
what they answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner, Result

from lego_prover.cli import app
from lego_prover.cli_exit_codes import EXIT_CODES, exit_codes, exit_codes_text
from lego_prover.config import SkillSettings
from lego_prover.run import evaluate
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import Origin, VerificationRecord
from tests.conftest import MINIF2F_DIR
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Outcome, Script
from tests.fakes.scripted_llm import LLMCall, ScriptedLLM
from tests.test_eval_e2e import answer

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
PROBLEMS = "mathd_algebra_104,mathd_algebra_109"
PROOF = 'theorem toy: "(1::nat) + 1 = 2"\n  by simp\n'
GOOD = '{"name": "toy", "formal_statement": "theorem toy: \\"(1::nat) + 1 = 2\\""}\n'
Scenario = Callable[["Place"], Result]
SCENARIOS: dict[tuple[str, int], Scenario] = {}


def scenario(command: str, code: int) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        SCENARIOS[(command, code)] = fn
        return fn
    return register


class Place:
    """A folder with a config pointing at the fake Isabelle server, and what the test scripts."""

    def __init__(self, root: Path, fake: FakeIsabelleServer, script: Script, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self.fake, self.script, self.monkeypatch = root, fake, script, monkeypatch

    def run(self, *argv: str) -> Result:
        return runner.invoke(app, list(argv))

    def library_with_a_skill(self) -> None:
        text = 'lemma seed: "(1::nat) + 1 = 2"\n  by simp'
        with SkillLibrary.open(SkillSettings(db_path=self.root / "skills_db")) as library:
            library.add(VerificationRecord.from_trusted_export(
                {"name": "seed", "statement": text.split("\n")[0], "text": text, "isabelle": "t", "session": "t"},
                isabelle="t", session="t"), Origin("problem"))

    @contextmanager
    def scripted_llm(self, reply: Callable[[LLMCall], str] = answer) -> Iterator[ScriptedLLM]:
        llm = ScriptedLLM(reply)

        @contextmanager
        def fake_open_llm(settings: object, tracker: object) -> Iterator[ScriptedLLM]:
            llm.tracker = tracker  # type: ignore[assignment]
            yield llm

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(evaluate, "open_llm", fake_open_llm)
            yield llm


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server: FakeIsabelleServer, script: Script) -> Place:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("ISABELLE_HOME", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "unused-the-llm-is-scripted")
    (tmp_path / "lego-prover.toml").write_text(
        f'data_dir = "{MINIF2F_DIR}"\n'
        f'[isabelle]\nserver = "127.0.0.1:{fake_server.port}:{fake_server.password}"\n'
        f'work_dir = "{tmp_path / "isa"}"\nworkers = 1\nchecks_per_worker = 2\nsledgehammer = false\n'
        f'[skills]\ndb_path = "{tmp_path / "skills_db"}"\ndedup_threshold = 1.0\n'
        '[prover]\nconcurrency = 2\nfeedback_rounds = 0\nhammer_first = false\n'
        '[evolver]\nsamples = 1\nconcurrency = 1\n'
        '[llm.prices.scripted]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n')
    (tmp_path / "proof.thy").write_text(PROOF)
    (tmp_path / "sorry.thy").write_text('theorem toy: "(1::nat) + 1 = 2"\n  sorry\n')
    (tmp_path / "good.jsonl").write_text(GOOD)
    (tmp_path / "bad.toml").write_text("[isabelle\n")
    (tmp_path / "afile").write_text("")
    return Place(tmp_path, fake_server, script, monkeypatch)


def without_isabelle(place: Place) -> None:
    (place.root / "lego-prover.toml").write_text("")  # no server named, and none on PATH


def hammer_run(place: Place, *, solved: bool, run_dir: str = "run") -> None:
    """A finished run (the hammer method: no LLM) over good.jsonl."""
    place.script.default = replies.verified() if solved else replies.error_at("by", "Failed to finish proof")
    result = place.run("eval", "--problems-file", "good.jsonl", "--method", "hammer", "--run-dir", run_dir)
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- check

@scenario("check", 0)
def _check_verified(place: Place) -> Result:
    place.script.default = replies.verified()
    return place.run("check", "proof.thy", "--problem", "toy", "--problems-file", "good.jsonl")


@scenario("check", 1)
def _check_not_verified(place: Place) -> Result:
    return place.run("check", "sorry.thy", "--guard-only")


@scenario("check", 2)
def _check_bad_input(place: Place) -> Result:
    return place.run("check", "missing.thy")


@scenario("check", 4)
def _check_isabelle_failed(place: Place) -> Result:
    place.script.default = Outcome(kind="failed", message="out of memory")
    return place.run("check", "proof.thy")


# --------------------------------------------------------------------------- eval and evolve

needs_minif2f = pytest.mark.skipif(not MINIF2F_DIR.is_dir(), reason="../shared/minif2f is not present")


@scenario("eval", 0)
def _eval_finished_with_nothing_solved(place: Place) -> Result:
    place.script.default = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    with place.scripted_llm():
        result = place.run("eval", "--problems", PROBLEMS, "--attempts", "1", "--run-dir", "run")
    assert "0/2 solved" in result.output, "the scenario is a run that solved nothing"
    return result


@scenario("eval", 2)
def _eval_bad_input(place: Place) -> Result:
    return place.run("eval", "--problems-file", "good.jsonl", "--split", "test")


@scenario("eval", 3)
def _eval_budget(place: Place) -> Result:
    place.script.default = replies.error_at("by simp", "Failed to finish proof", occurrence=2)
    with place.scripted_llm():
        return place.run("eval", "--problems", PROBLEMS, "--attempts", "5", "--run-dir", "run", "--max-tokens", "1")


@scenario("eval", 4)
def _eval_service_failed(place: Place) -> Result:
    place.script.default = Outcome(kind="failed", message="out of memory")
    with place.scripted_llm():
        return place.run("eval", "--problems", PROBLEMS, "--attempts", "4", "--run-dir", "run")


def evolved(call: LLMCall) -> str:
    k = call.attempt
    return f'```isabelle\nlemma evolved_{k}:\n  shows "(2::nat) + {k} = {k} + 2"\n  by simp\n```'


@scenario("evolve", 0)
def _evolve_ran(place: Place) -> Result:
    place.library_with_a_skill()
    place.script.default = replies.verified()
    with place.scripted_llm(evolved):
        return place.run("evolve", "--steps", "2", "--for", "minif2f:valid", "--problems", PROBLEMS, "--run-dir", "run")


@scenario("evolve", 2)
def _evolve_bad_input(place: Place) -> Result:
    return place.run("evolve", "--for", "minif2f:train")


@scenario("evolve", 3)
def _evolve_budget(place: Place) -> Result:
    place.library_with_a_skill()
    place.script.default = replies.verified()
    with place.scripted_llm(evolved):
        return place.run("evolve", "--steps", "8", "--for", "minif2f:valid", "--problems", PROBLEMS,
                         "--run-dir", "run", "--max-tokens", "1")


@scenario("evolve", 4)
def _evolve_service_failed(place: Place) -> Result:
    place.library_with_a_skill()
    place.script.default = Outcome(kind="failed", message="out of memory")
    with place.scripted_llm(evolved):
        return place.run("evolve", "--steps", "8", "--for", "minif2f:valid", "--problems", PROBLEMS, "--run-dir", "run")


# --------------------------------------------------------------------------- reading runs

@scenario("report", 0)
def _report_written(place: Place) -> Result:
    hammer_run(place, solved=True)
    return place.run("report", "run")


@scenario("report", 2)
def _report_not_a_run(place: Place) -> Result:
    return place.run("report", ".")


@scenario("compare", 0)
def _compare_written(place: Place) -> Result:
    hammer_run(place, solved=True)
    hammer_run(place, solved=False, run_dir="run2")
    return place.run("compare", "run", "run2", "--out", "cmp")


@scenario("compare", 2)
def _compare_not_a_run(place: Place) -> Result:
    return place.run("compare", "missing", "missing")


@scenario("verify-results", 0)
def _verify_all_verify(place: Place) -> Result:
    hammer_run(place, solved=True)
    return place.run("verify-results", "run")


@scenario("verify-results", 1)
def _verify_one_does_not(place: Place) -> Result:
    hammer_run(place, solved=True)
    place.script.default = replies.error_at("by", "Failed to finish proof")
    return place.run("verify-results", "run")


@scenario("verify-results", 2)
def _verify_not_a_run(place: Place) -> Result:
    return place.run("verify-results", "missing")


@scenario("verify-results", 4)
def _verify_isabelle_failed(place: Place) -> Result:
    hammer_run(place, solved=True)
    place.script.default = Outcome(kind="failed", message="out of memory")
    return place.run("verify-results", "run")


# --------------------------------------------------------------------------- setup commands

@scenario("check-examples", 0)
def _examples_verify(place: Place) -> Result:
    place.script.default = replies.verified()
    return place.run("check-examples")


@scenario("check-examples", 1)
def _examples_do_not(place: Place) -> Result:
    place.script.default = replies.error_at("by", "Failed to finish proof")
    return place.run("check-examples")


@scenario("check-examples", 4)
def _examples_isabelle_failed(place: Place) -> Result:
    place.script.default = Outcome(kind="failed", message="out of memory")
    return place.run("check-examples")


@scenario("check-examples", 2)
def _examples_without_isabelle(place: Place) -> Result:
    without_isabelle(place)
    return place.run("check-examples")


@scenario("doctor", 0)
def _doctor_all_in_place(place: Place) -> Result:
    from tests.fakes.openai_server import FakeOpenAIServer

    with FakeOpenAIServer() as endpoint:
        place.monkeypatch.setenv("LEGO_PROVER_LLM__BASE_URL", endpoint.base_url)
        place.monkeypatch.setenv("LEGO_PROVER_LLM__MODEL", "test-model")
        return place.run("doctor")


@scenario("doctor", 1)
def _doctor_something_missing(place: Place) -> Result:
    without_isabelle(place)
    return place.run("doctor")


@scenario("doctor", 2)
def _doctor_bad_settings(place: Place) -> Result:
    return place.run("doctor", "--config", "bad.toml")


@scenario("download-minif2f", 0)
def _download_copied(place: Place) -> Result:
    (place.root / "mini").mkdir()
    for split in ("valid", "test"):
        (place.root / "mini" / f"{split}.jsonl").write_text(GOOD)
    return place.run("download-minif2f", "--prefer", "mini", "--cache-dir", "cache")


@scenario("download-minif2f", 2)
def _download_bad_input(place: Place) -> Result:
    return place.run("download-minif2f", "--cache-dir", "afile")


class FakeModelServer:
    """What serve-model uses of a model server, for the two ways it can stop."""

    def __init__(self, *, interrupt: bool) -> None:
        self.interrupt = interrupt
        self.command = ["python", "-m", "fake", "server"]
        self.served_name, self.base_url = "fake", "http://127.0.0.1:1/v1"

    def __enter__(self) -> FakeModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @property
    def running(self) -> bool:
        if self.interrupt:
            raise KeyboardInterrupt  # Ctrl-C while it serves
        return False                 # the process exited on its own


def serve_fake(place: Place, *, interrupt: bool) -> Result:
    from lego_prover.llm.local_server import LocalModelServer

    place.monkeypatch.setattr(LocalModelServer, "for_model", classmethod(lambda cls, *a, **k: FakeModelServer(interrupt=interrupt)))
    return place.run("serve-model", "model.gguf")


@scenario("serve-model", 0)
def _serve_stopped_with_ctrl_c(place: Place) -> Result:
    return serve_fake(place, interrupt=True)


@scenario("serve-model", 2)
def _serve_bad_input(place: Place) -> Result:
    return place.run("serve-model", "missing.gguf", "--backend", "llama_cpp")


@scenario("serve-model", 4)
def _serve_stopped_on_its_own(place: Place) -> Result:
    return serve_fake(place, interrupt=False)


@scenario("config", 0)
def _config_printed(place: Place) -> Result:
    return place.run("config")


@scenario("config", 2)
def _config_bad(place: Place) -> Result:
    return place.run("config", "--config", "bad.toml")


# --------------------------------------------------------------------------- skills

def _with_skill(argv: list[str]) -> Scenario:
    def run(place: Place) -> Result:
        place.library_with_a_skill()
        return place.run(*argv)
    return run


def _library_is_a_file(argv: list[str]) -> Scenario:
    def run(place: Place) -> Result:
        place.monkeypatch.setenv("LEGO_PROVER_SKILLS__DB_PATH", "afile")
        return place.run(*argv)
    return run


for _name, _argv in (("query", ["skills", "query", "one plus one"]), ("list", ["skills", "list"]),
                     ("stats", ["skills", "stats"]), ("show", ["skills", "show", "seed"]),
                     ("export", ["skills", "export", "out.jsonl", "--format", "jsonl"])):
    scenario(f"skills {_name}", 0)(_with_skill(_argv))
    scenario(f"skills {_name}", 2)(_library_is_a_file(_argv))


def exported(place: Place) -> None:
    place.library_with_a_skill()
    assert place.run("skills", "export", "skills.jsonl").exit_code == 0, "the suffix says jsonl"
    place.monkeypatch.setenv("LEGO_PROVER_SKILLS__DB_PATH", str(place.root / "other_db"))


@scenario("skills import", 0)
def _import_added(place: Place) -> Result:
    exported(place)
    place.script.default = replies.verified()
    return place.run("skills", "import", "skills.jsonl")


@scenario("skills import", 1)
def _import_failed(place: Place) -> Result:
    exported(place)
    place.script.default = replies.error_at("by", "Failed to finish proof")
    return place.run("skills", "import", "skills.jsonl")


@scenario("skills import", 4)
def _import_isabelle_failed(place: Place) -> Result:
    exported(place)
    place.script.default = Outcome(kind="failed", message="out of memory")
    return place.run("skills", "import", "skills.jsonl")


@scenario("skills import", 2)
def _import_empty(place: Place) -> Result:
    (place.root / "empty.jsonl").write_text("")
    return place.run("skills", "import", "empty.jsonl")


# --------------------------------------------------------------------------- Ctrl-C, for every command

@scenario("*", 130)
def _interrupted(place: Place) -> Result:
    from lego_prover import cli_support

    def interrupt(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    place.monkeypatch.setattr(cli_support, "load_settings", interrupt)  # every command reads its settings first
    return place.run("config")


# --------------------------------------------------------------------------- the tests

def all_commands(group: Any = None, path: tuple[str, ...] = ()) -> list[str]:
    group = group or typer.main.get_command(app)
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += all_commands(command, (*path, name))
        else:
            found.append(" ".join((*path, name)))
    return found


def test_every_command_has_a_row_and_every_row_a_command() -> None:
    assert sorted(EXIT_CODES) == sorted(all_commands())


def test_every_code_of_every_row_has_a_scenario() -> None:
    wanted = {(c, code) for c in EXIT_CODES for code in exit_codes(c) if code != 130}
    missing = wanted - set(SCENARIOS)
    extra = {key for key in SCENARIOS if key[0] != "*"} - wanted
    assert not missing, f"codes in the table that no scenario makes: {sorted(missing)}"
    assert not extra, f"scenarios of codes the table does not list: {sorted(extra)}"


def test_the_readme_table_is_the_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in EXIT_CODES:
        row = f"| `{command}` | {exit_codes_text(command)} |"
        assert row in readme, f"README's Exit codes row for {command} differs from cli_exit_codes: {row}"


SLOW = {"eval", "evolve"}  # they need the miniF2F statements the scripted LLM answers with


@pytest.mark.parametrize(("command", "code"), sorted(SCENARIOS), ids=[f"{c} {n}" for c, n in sorted(SCENARIOS)])
def test_the_command_exits_with_the_code_of_its_row(place: Place, command: str, code: int) -> None:
    if command in SLOW and not MINIF2F_DIR.is_dir():
        pytest.skip("../shared/minif2f is not present")
    result = SCENARIOS[(command, code)](place)
    assert result.exit_code == code, f"'{command}' exited {result.exit_code}, not {code}: {result.output}"
    if code in (2, 4):
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert errors, f"exit code {code} without an 'error:' line: {result.output}"
