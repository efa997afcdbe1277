"""Tactics whose program this Isabelle lacks are left out of a run, with one warning, and
`doctor` names every program the tactic lists and Sledgehammer call.

Without CSDP every `by sos` fails, after running ("Prover failed: return code is 127"; one
real answer took 201 s to fail that way). The installation is what ``isabelle getenv``
says; here it is a given dict, with programs made in tmp_path. No real Isabelle runs.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.config import DEFAULT_REPAIR_TACTICS, Settings, load_settings
from lego_prover.doctor import Finding, check_tools, doctor_settings
from lego_prover.isabelle import tools as tools_module
from lego_prover.isabelle.tools import (
    PROVER_TOOLS,
    VERIT,
    Dropped,
    Tools,
    drop_warning,
    fit_tactics,
    installed_provers,
    read_tools,
    runnable_tactics,
)
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Outcome, Script, Submitted

NO_CSDP = "sos needs CSDP: ISABELLE_CSDP is not set"


def program(folder: Path, name: str, *, executable: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def tools(**environment: str) -> Tools:
    return Tools.from_environment(environment)


# ----------------------------------------------------------------------------- the filter


def test_without_csdp_by_sos_is_left_out_of_the_default_list_with_its_reason() -> None:
    kept, dropped = runnable_tactics(DEFAULT_REPAIR_TACTICS, tools())
    assert kept == [t for t in DEFAULT_REPAIR_TACTICS if t != "by sos"]
    assert dropped == [Dropped("by sos", NO_CSDP)]


def test_with_csdp_every_default_tactic_is_kept(tmp_path: Path) -> None:
    csdp = program(tmp_path / "bin", "csdp")
    assert runnable_tactics(DEFAULT_REPAIR_TACTICS, tools(ISABELLE_CSDP=str(csdp))) == (DEFAULT_REPAIR_TACTICS, [])


def test_a_csdp_setting_that_names_no_executable_drops_by_sos_and_says_so(tmp_path: Path) -> None:
    csdp = program(tmp_path / "bin", "csdp", executable=False)
    _, dropped = runnable_tactics(["by sos"], tools(ISABELLE_CSDP=str(csdp)))
    assert dropped == [Dropped("by sos", f"sos needs CSDP: ISABELLE_CSDP={csdp} is not an executable file")]
    _, dropped = runnable_tactics(["by sos"], tools(ISABELLE_CSDP=str(tmp_path / "absent")))
    assert dropped[0].reason.endswith("is not an executable file")


def test_a_bare_command_name_is_looked_up_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program(tmp_path / "bin", "csdp")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert runnable_tactics(["by sos"], tools(ISABELLE_CSDP="csdp")) == (["by sos"], [])


@pytest.mark.parametrize("tactic", [
    "by (my_method foo)",              # a method we know nothing about
    "by (rule sos_cert_lemma)",        # sos inside a longer name
    'by (simp add: "sos")',            # in a string
    "by auto (* sos or smt *)",        # in a comment
    "by (unclosed",                    # not readable: the checker says what is wrong
    "by sos_cert",                     # a method of Sum_of_Squares that needs no CSDP
])
def test_tactics_that_call_no_known_program_are_kept(tactic: str) -> None:
    assert runnable_tactics([tactic], tools()) == ([tactic], [])


def test_smt_needs_the_solver_it_names_and_z3_when_it_names_none(tmp_path: Path) -> None:
    z3 = program(tmp_path / "z3", "z3")
    only_z3 = tools(Z3_SOLVER=str(z3))
    kept, dropped = runnable_tactics(["by smt", "by (smt (z3) h0)", "by (smt (cvc5, best) h0)"], only_z3)
    assert kept == ["by smt", "by (smt (z3) h0)"]
    assert dropped == [Dropped("by (smt (cvc5, best) h0)", "smt (cvc5) needs cvc5: CVC5_SOLVER is not set")]
    assert runnable_tactics(["by (smt h0)"], tools())[1] == [Dropped("by (smt h0)", "smt needs Z3: Z3_SOLVER is not set")]


def test_a_tactic_that_needs_two_missing_programs_names_both() -> None:
    _, dropped = runnable_tactics(["by (sos | smt (verit))"], tools())
    assert dropped == [Dropped("by (sos | smt (verit))",
                               f"{NO_CSDP}; smt (verit) needs veriT: ISABELLE_VERIT is not set")]


def test_verit_is_found_by_the_setting_this_release_reads_or_the_older_one(tmp_path: Path) -> None:
    verit = program(tmp_path / "veriT", "veriT")
    for setting in ("ISABELLE_VERIT", "VERIT_SOLVER"):
        found = tools(**{setting: str(verit)})[VERIT]
        assert found.runs and found.describe() == f"{setting}={verit} runs"
        assert runnable_tactics(["by (smt (verit) h0)"], tools(**{setting: str(verit)}))[1] == []
    assert installed_provers({"ISABELLE_VERIT": str(verit)}) == ("verit",)


def test_installed_provers_are_read_from_isabelle_settings_in_the_tables_order() -> None:
    env = {"E_HOME": "/c/e", "Z3_SOLVER": "/c/z3/z3", "CVC4_SOLVER": "/c/cvc4", "VAMPIRE_HOME": ""}
    assert installed_provers(env) == ("cvc4", "z3", "e")


def test_doctor_reads_the_setting_of_every_sledgehammer_prover() -> None:
    assert {name for tool in PROVER_TOOLS.values() for name in tool.settings} <= set(doctor_settings())


# ----------------------------------------------------------------------------- a run's settings


def test_a_run_leaves_the_tactic_out_of_both_lists_and_reports_it_once() -> None:
    settings = load_settings(None, {"hammer.tactics": ["by sos", "by simp"]}, environ={}, cwd=Path("/"))
    fitted, dropped = fit_tactics(settings, tools())
    assert fitted.isabelle.repair_tactics == [t for t in DEFAULT_REPAIR_TACTICS if t != "by sos"]
    assert fitted.hammer.tactics == ["by simp"]
    assert dropped == [Dropped("by sos", NO_CSDP)]
    assert drop_warning(dropped) == (
        "warning: this Isabelle cannot run `by sos` (sos needs CSDP: ISABELLE_CSDP is not set); left out of the "
        "tactic lists for this run ('lego-prover doctor' shows every tool)")


def test_an_unset_hammer_list_stays_unset_and_follows_the_fitted_repair_list() -> None:
    unset = Settings().model_copy(update={"hammer": Settings().hammer.model_copy(update={"tactics": None})})
    fitted, _ = fit_tactics(unset, tools())
    assert fitted.hammer.tactics is None and "by sos" not in fitted.isabelle.repair_tactics


def test_the_hammers_own_list_is_fitted_too() -> None:
    fitted, _ = fit_tactics(Settings(), tools())
    assert fitted.hammer.tactics is not None and "by sos" not in fitted.hammer.tactics
    assert "by auto" in fitted.hammer.tactics


def test_an_installation_that_is_not_known_changes_nothing() -> None:
    settings = Settings()
    assert fit_tactics(settings, None) == (settings, [])


@pytest.mark.parametrize("overrides", [{"isabelle.server": "127.0.0.1:9:pw"}, {"run.ray_address": "auto"}],
                         ids=["a server we did not start", "a Ray cluster"])
def test_checks_that_run_on_another_machine_keep_the_lists(overrides: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def no_getenv(*args: object) -> dict[str, str]:
        raise AssertionError("the installation of another machine cannot be read here")

    monkeypatch.setattr(tools_module, "isabelle_getenv", no_getenv)
    settings = load_settings(None, overrides, environ={}, cwd=Path("/"))
    assert read_tools(settings) is None


# ----------------------------------------------------------------------------- doctor


def by_name(findings: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in findings}


def test_doctor_shows_csdp_with_its_setting_and_path_when_it_runs(tmp_path: Path) -> None:
    csdp = program(tmp_path / "bin", "csdp")
    found = by_name(check_tools({"ISABELLE_CSDP": str(csdp)}, Settings()))
    assert found["tactic tool CSDP"] == Finding("tactic tool CSDP", True,
                                                f"ISABELLE_CSDP={csdp} runs; needed by `by sos`")


def test_doctor_says_which_tactics_a_missing_csdp_leaves_out_and_how_to_fix_it() -> None:
    found = by_name(check_tools({"ISABELLE_CSDP": ""}, Settings()))
    assert found["tactic tool CSDP"] == Finding(
        "tactic tool CSDP", False, "ISABELLE_CSDP is not set; runs leave out `by sos`",
        "install CSDP and set ISABELLE_CSDP in Isabelle's settings ($ISABELLE_HOME_USER/etc/settings), "
        "or take `by sos` off the tactic lists")


def test_doctor_names_the_smt_solver_of_a_hammer_tactic(tmp_path: Path) -> None:
    z3 = program(tmp_path / "z3", "z3")
    settings = load_settings(None, {"isabelle.repair_tactics": ["by auto"], "hammer.tactics": ["by (smt h0)"]},
                             environ={}, cwd=Path("/"))
    found = by_name(check_tools({"Z3_SOLVER": str(z3)}, settings))
    assert found["tactic tool Z3"].ok and found["tactic tool Z3"].detail == f"Z3_SOLVER={z3} runs; needed by `by (smt h0)`"
    assert "tactic tool CSDP" not in found, "no tactic in the lists calls it"


def test_doctor_says_when_no_tactic_needs_a_program() -> None:
    settings = load_settings(None, {"isabelle.repair_tactics": ["by auto", "by simp"], "hammer.tactics": ["by auto"]},
                             environ={}, cwd=Path("/"))
    assert by_name(check_tools({}, settings))["tactic tools"] == Finding(
        "tactic tools", True, "none needed: every tactic in the lists runs inside Isabelle")


def test_doctor_checks_the_program_of_every_prover_sledgehammer_will_use(tmp_path: Path) -> None:
    eprover = program(tmp_path / "e", "eprover")
    (tmp_path / "vampire").mkdir()
    environment = {"E_HOME": str(tmp_path / "e"), "VAMPIRE_HOME": str(tmp_path / "vampire")}
    found = by_name(check_tools(environment, Settings()))
    assert found["Sledgehammer provers"].detail == "e vampire (Isabelle's default: the installed ones)"
    assert found["Sledgehammer prover e"] == Finding("Sledgehammer prover e", True,
                                                     f"E_HOME={tmp_path / 'e'}: {eprover} runs")
    vampire = found["Sledgehammer prover vampire"]
    assert not vampire.ok and vampire.detail == f"VAMPIRE_HOME={tmp_path / 'vampire'} holds no executable vampire"
    assert vampire.fix.endswith("or set isabelle.sledgehammer_provers without vampire")

    only_e = load_settings(None, {"isabelle.sledgehammer_provers": "e"}, environ={}, cwd=Path("/"))
    assert "Sledgehammer prover vampire" not in by_name(check_tools(environment, only_e)), "not used, not shown"


def vampire(folder: Path, says: str) -> Path:
    """A stand-in Vampire that prints ``says`` whatever it is asked, and the options it got."""
    path = program(folder, "vampire")
    path.write_text(f"#!/bin/sh\necho \"$@\" > {folder / 'args'}\necho '{says}'\n")
    return path


def test_doctor_runs_vampire_as_sledgehammer_calls_it(tmp_path: Path) -> None:
    vampire(tmp_path / "new", "User error: output_axiom_names is not a valid option")
    environment = {"VAMPIRE_HOME": str(tmp_path / "new"), "VAMPIRE_VERSION": "4.8"}
    found = by_name(check_tools(environment, Settings()))["Sledgehammer prover vampire"]
    assert not found.ok, "a Vampire that rejects Sledgehammer's options fails every slice"
    assert found.detail.endswith("VAMPIRE_VERSION=4.8: User error: output_axiom_names is not a valid option")
    assert "--schedule snake_slh" in (tmp_path / "new" / "args").read_text(), "4.8 gets the newer options"

    vampire(tmp_path / "old", "% Refutation found. Thanks to Tanya!")
    environment = {"VAMPIRE_HOME": str(tmp_path / "old"), "VAMPIRE_VERSION": "4.2.2"}
    assert by_name(check_tools(environment, Settings()))["Sledgehammer prover vampire"].ok
    assert "--mode casc" in (tmp_path / "old" / "args").read_text(), "before 4.8: the older options"


def test_doctor_lists_no_prover_when_sledgehammer_is_off() -> None:
    settings = load_settings(None, {"isabelle.sledgehammer": False}, environ={}, cwd=Path("/"))
    found = by_name(check_tools({"E_HOME": "/e"}, settings))
    assert found["Sledgehammer provers"] == Finding("Sledgehammer provers", True,
                                                    "not used (isabelle.sledgehammer = false)")
    assert not [name for name in found if name.startswith("Sledgehammer prover ")]


# ----------------------------------------------------------------------------- one warning per run

STATEMENTS = {f"tools_{i}": f'theorem tools_{i}:\n  fixes x :: nat\n  shows "x + {i} = {i} + x"' for i in range(3)}


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_server: FakeIsabelleServer,
          script: Script) -> list[str]:
    """A workspace on the fake server, on an installation without CSDP; what it was sent."""
    sent: list[str] = []

    def judge(sub: Submitted) -> dict[str, Any]:
        sent.append(sub.text)
        messages = [*replies.oracle_messages(sub.text), {"kind": "error", "message": "Failed to finish proof",
                                                         "pos": replies.position(sub.text, "theorem")}]
        return replies.payload(sub, messages, replies.status(failed=1))

    script.default = Outcome(judge)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # the checks go to the fake server; the installation read at the start is one without CSDP
    monkeypatch.setattr(tools_module, "read_tools", lambda settings: tools())
    (tmp_path / "problems.jsonl").write_text(
        "".join(json.dumps({"name": n, "formal_statement": s}) + "\n" for n, s in STATEMENTS.items()))
    (tmp_path / "lego-prover.toml").write_text(
        f'[isabelle]\nserver = "127.0.0.1:{fake_server.port}:{fake_server.password}"\n'
        f'work_dir = "{tmp_path / "isa"}"\nworkers = 1\nchecks_per_worker = 2\nsledgehammer = false\n'
        'repair_tactics = ["by simp", "by sos", "by auto"]\n')
    return sent


def test_a_hammer_run_without_csdp_warns_once_and_never_sends_by_sos(place: list[str]) -> None:
    result = CliRunner().invoke(app, ["eval", "--method", "hammer", "--problems-file", "problems.jsonl",
                                      "--run-dir", "run"])
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert shown.count("cannot run") == 1
    assert "warning: this Isabelle cannot run `by sos` (sos needs CSDP: ISABELLE_CSDP is not set)" in shown
    assert len(place) >= len(STATEMENTS) * 2, "every problem was tried"
    assert not [text for text in place if "sos" in text]
    assert any("by simp" in text for text in place) and any("by auto" in text for text in place)
    stored = json.loads((Path("run") / "config.json").read_text())   # the run's record: the list it really used
    assert stored["isabelle"]["repair_tactics"] == ["by simp", "by auto"]


def test_check_without_csdp_warns_once_and_repairs_without_by_sos(place: list[str], tmp_path: Path) -> None:
    (tmp_path / "proof.thy").write_text(f"{STATEMENTS['tools_1']}\n  sledgehammer\n")
    result = CliRunner().invoke(app, ["check", "proof.thy"])
    assert result.exit_code == 1, result.output
    assert " ".join(result.output.split()).count("warning: this Isabelle cannot run `by sos`") == 1
    assert place and not [text for text in place if "sos" in text]


def test_check_without_repair_uses_no_tactic_and_warns_about_none(place: list[str], tmp_path: Path) -> None:
    (tmp_path / "proof.thy").write_text(f"{STATEMENTS['tools_1']}\n  by simp\n")
    result = CliRunner().invoke(app, ["check", "proof.thy", "--no-repair"])
    assert result.exit_code == 1, result.output
    assert "cannot run" not in result.output
    assert len(place) == 1, "one check, the text as written"
