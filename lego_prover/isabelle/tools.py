"""The programs outside Isabelle that tactics and Sledgehammer call, and which tactics can run.

`by sos` calls CSDP (the program the Isabelle setting ``ISABELLE_CSDP`` names), `smt` an
SMT solver (Z3 unless the tactic names another), and each Sledgehammer prover its own
program. An official release bundles them; a hand-built or packaged Isabelle may lack some,
and then every try of such a tactic fails, after running: a real `by sos` without CSDP took
201 s to fail with "Prover failed: return code is 127". So a run reads the installation
once and leaves such tactics out of its tactic lists, with one warning.

Usage::

    tools = read_tools(settings)               # None: the checks run elsewhere (a server, a cluster)
    settings, dropped = fit_tactics(settings, tools)
    if dropped:
        print(drop_warning(dropped))          # one line for the whole run
    runnable_tactics(["by auto", "by sos"], tools)   # (["by auto"], [Dropped("by sos", "sos needs CSDP: ...")])
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lego_prover.config import Settings
from lego_prover.errors import LegoProverError
from lego_prover.isabelle.lexer import LexError, Token, TokenKind, tokenize


@dataclass(frozen=True)
class Tool:
    """A program Isabelle runs. The setting ``setting`` names the program itself, or, when
    ``programs`` is given, a folder that holds the first of them (as Sledgehammer finds E)."""

    name: str
    setting: str
    programs: tuple[str, ...] = ()
    other_settings: tuple[str, ...] = ()   # read when ``setting`` is not set (other releases)

    @property
    def settings(self) -> tuple[str, ...]:
        return (self.setting, *self.other_settings)


CSDP = Tool("CSDP", "ISABELLE_CSDP")
Z3 = Tool("Z3", "Z3_SOLVER")
CVC4 = Tool("cvc4", "CVC4_SOLVER")
CVC5 = Tool("cvc5", "CVC5_SOLVER")
# this snapshot's smt_systems.ML reads ISABELLE_VERIT (its own component); VERIT_SOLVER is older
VERIT = Tool("veriT", "ISABELLE_VERIT", other_settings=("VERIT_SOLVER",))

# Sledgehammer prover -> its program, as Isabelle's sledgehammer_atp_systems.ML (`exec`) and
# smt_systems.ML (`*_SOLVER`) find them. A prover whose setting is set is installed as far as
# Sledgehammer goes: its own default prover list is made of those, so an empty `provers`
# option is the safe default, and this table lets `doctor` say which ones it will use.
PROVER_TOOLS: dict[str, Tool] = {
    "cvc4": CVC4,
    "cvc5": CVC5,
    "z3": Z3,
    "verit": VERIT,
    "e": Tool("E", "E_HOME", ("eprover-ho", "eprover")),
    "spass": Tool("SPASS", "SPASS_HOME", ("SPASS",)),
    "vampire": Tool("Vampire", "VAMPIRE_HOME", ("vampire",)),
    "zipperposition": Tool("Zipperposition", "ZIPPERPOSITION_HOME", ("zipperposition",)),
    "iprover": Tool("iProver", "IPROVER_HOME", ("iproveropt", "iprover")),
    "leo2": Tool("LEO-II", "LEO2_HOME", ("leo.opt", "leo")),
    "leo3": Tool("Leo-III", "LEO3_HOME", ("leo3",)),
    "satallax": Tool("Satallax", "SATALLAX_HOME", ("satallax.opt", "satallax")),
}

# Proof methods that call a program. `smt` is read apart: `smt (cvc5) ...` names its solver,
# a bare `smt` uses HOL's default, `declare [[smt_solver = z3]]` in SMT.thy. Every other
# method of the default tactic list (auto, simp, blast, fastforce, force, presburger, arith,
# linarith) runs inside Isabelle.
METHOD_TOOLS: dict[str, Tool] = {"sos": CSDP}
SMT_SOLVERS: dict[str, Tool] = {"z3": Z3, "cvc4": CVC4, "cvc5": CVC5, "verit": VERIT}
SMT_DEFAULT = Z3

ALL_TOOLS: tuple[Tool, ...] = tuple(dict.fromkeys([CSDP, *PROVER_TOOLS.values()]))
TOOL_SETTINGS: tuple[str, ...] = tuple(dict.fromkeys(name for t in ALL_TOOLS for name in t.settings))


@dataclass(frozen=True)
class Found:
    """One tool as an installation has it: the setting's value and the program that runs."""

    tool: Tool
    value: str = ""      # "" = the setting is not set
    program: str = ""    # "" = nothing there runs
    setting: str = ""    # which of the tool's settings gave ``value``

    @property
    def runs(self) -> bool:
        return bool(self.program)

    def describe(self) -> str:
        """``ISABELLE_CSDP=/usr/bin/csdp runs``, ``E_HOME=/usr/bin: /usr/bin/eprover runs``,
        ``ISABELLE_CSDP is not set``, ..."""
        tool = self.tool
        if not self.value:
            return f"{tool.setting} is not set"
        where = f"{self.setting or tool.setting}={self.value}"
        if tool.programs:
            if self.runs:
                return f"{where}: {self.program} runs"
            return f"{where} holds no executable {' or '.join(tool.programs)}"
        return f"{where} runs" if self.runs else f"{where} is not an executable file"


def find_in(tool: Tool, environment: Mapping[str, str]) -> Found:
    """Where ``tool`` is, by the first of its settings that ``environment`` (``isabelle getenv``) sets."""
    setting = next((name for name in tool.settings if environment.get(name)), tool.setting)
    return find(tool, environment.get(setting, ""), setting=setting)


def installed_provers(environment: Mapping[str, str]) -> tuple[str, ...]:
    """Sledgehammer provers any of whose settings is non-empty in ``isabelle getenv`` output,
    in PROVER_TOOLS' order: ``installed_provers({"E_HOME": "/x", "Z3_SOLVER": "/y/z3"}) == ("z3", "e")``."""
    return tuple(prover for prover, tool in PROVER_TOOLS.items()
                 if any(environment.get(name) for name in tool.settings))


def find(tool: Tool, value: str, *, setting: str = "") -> Found:
    """Where ``tool`` is when its setting has ``value`` (as ``isabelle getenv`` prints it)."""
    if not value:
        return Found(tool)
    if tool.programs:
        candidates = [Path(value) / name for name in tool.programs]
    elif "/" in value:
        candidates = [Path(value)]
    else:  # a bare command name: Isabelle's bash finds it on PATH
        on_path = shutil.which(value)
        candidates = [Path(on_path)] if on_path else []
    program = next((p for p in candidates if p.is_file() and os.access(p, os.X_OK)), None)
    return Found(tool, value, str(program) if program else "", setting or tool.setting)


@dataclass(frozen=True)
class Tools:
    """What one Isabelle installation has: every known tool, as found there."""

    found: tuple[Found, ...]

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> Tools:
        return cls(tuple(find_in(tool, environment) for tool in ALL_TOOLS))

    def __getitem__(self, tool: Tool) -> Found:
        return next((f for f in self.found if f.tool == tool), Found(tool))


@dataclass(frozen=True)
class Dropped:
    """A tactic this installation cannot run, and why (``sos needs CSDP: ISABELLE_CSDP is not set``)."""

    tactic: str
    reason: str


def needed_tools(tactic: str) -> tuple[tuple[str, Tool], ...]:
    """The programs a tactic's methods call, each with the method as written: ``("sos", CSDP)``,
    ``("smt (cvc5)", CVC5)``. A word in a string or comment is no method."""
    try:
        tokens = [t for t in tokenize(tactic) if not t.is_blank]
    except LexError:
        return ()  # not a tactic we can read; the checker says what is wrong with it
    needs: list[tuple[str, Tool]] = []
    for i, token in enumerate(tokens):
        if token.kind is not TokenKind.WORD:
            continue
        if token.text in METHOD_TOOLS:
            needs.append((token.text, METHOD_TOOLS[token.text]))
        elif token.text == "smt":
            needs.append(_smt_solver(tokens[i + 1:]))
    return tuple(dict.fromkeys(needs))


def _smt_solver(after: Sequence[Token]) -> tuple[str, Tool]:
    if len(after) >= 2 and after[0].text == "(" and after[1].text in SMT_SOLVERS:
        return f"smt ({after[1].text})", SMT_SOLVERS[after[1].text]
    return "smt", SMT_DEFAULT


def runnable_tactics(tactics: Sequence[str], tools: Tools) -> tuple[list[str], list[Dropped]]:
    """The tactics this installation can run, in order, and the others with the reason.
    A tactic that calls no known program is kept."""
    kept: list[str] = []
    dropped: list[Dropped] = []
    for tactic in tactics:
        missing = [(method, tools[tool]) for method, tool in needed_tools(tactic) if not tools[tool].runs]
        if missing:
            dropped.append(Dropped(tactic, "; ".join(f"{method} needs {found.tool.name}: {found.describe()}"
                                                     for method, found in missing)))
        else:
            kept.append(tactic)
    return kept, dropped


def fit_tactics(settings: Settings, tools: Tools | None) -> tuple[Settings, list[Dropped]]:
    """``settings`` whose tactic lists (``isabelle.repair_tactics``, ``hammer.tactics``) hold only
    what ``tools`` can run; unchanged when ``tools`` is None (the installation is not known)."""
    if tools is None:
        return settings, []
    repair, dropped = runnable_tactics(settings.isabelle.repair_tactics, tools)
    hammer = settings.hammer.tactics
    if hammer is not None:
        hammer, more = runnable_tactics(hammer, tools)
        dropped += more
    if not dropped:
        return settings, []
    update: dict[str, object] = {"isabelle": settings.isabelle.model_copy(update={"repair_tactics": repair})}
    if hammer is not None:  # unset means "the repair list", which is fitted already
        update["hammer"] = settings.hammer.model_copy(update={"tactics": hammer})
    fitted = settings.model_copy(update=update)
    return fitted, list({d.tactic: d for d in dropped}.values())


def drop_warning(dropped: Sequence[Dropped]) -> str:
    """The one line a run prints about the tactics it left out."""
    tactics = ", ".join(f"`{d.tactic}`" for d in dropped)
    reasons = "; ".join(dict.fromkeys(d.reason for d in dropped))
    return (f"warning: this Isabelle cannot run {tactics} ({reasons}); left out of the tactic lists for this run "
            "('lego-prover doctor' shows every tool)")


def read_tools(settings: Settings) -> Tools | None:
    """This machine's installation, once per run; None where the checks do not run on it (a
    server named by ``isabelle.server``, the nodes of a Ray cluster) or it cannot be read:
    then nothing is left out, and a tactic that cannot run fails as before."""
    if settings.isabelle.server or settings.run.ray_address:
        return None
    from lego_prover.isabelle.server import find_isabelle

    try:
        exe = find_isabelle(settings.isabelle.home)
    except LegoProverError:
        return None
    environment = isabelle_getenv(exe, TOOL_SETTINGS)
    return Tools.from_environment(environment) if environment else None


# a problem any prover refutes at once: what a probe of the options, not of the prover, needs
TRIVIAL_TPTP = "fof(a, axiom, p).\nfof(c, conjecture, p).\n"


def probe_vampire(program: str, version: str, *, timeout_s: float = 20.0) -> str:
    """Whether the Vampire at ``program`` proves a trivial problem when called as Sledgehammer
    calls it for ``VAMPIRE_VERSION`` ``version``: "" when it does, else what it said (one line).

    Usage::

        probe_vampire("/opt/vampire/bin/vampire", "4.8")   # ""
        probe_vampire("/usr/local/bin/vampire", "4.8")     # "User error: output_axiom_names is not a valid option"
    """
    import tempfile

    from lego_prover.isabelle.versions import vampire_options

    with tempfile.TemporaryDirectory(prefix="lego-vampire-") as folder:
        problem = Path(folder) / "trivial.p"
        problem.write_text(TRIVIAL_TPTP, encoding="utf-8")
        try:
            done = subprocess.run([program, *vampire_options(version), "-t", "5", "--input_file", str(problem)],
                                  capture_output=True, text=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"it did not run: {exc}"
    out = done.stdout + done.stderr
    if "Refutation found" in out or "SZS status Theorem" in out:
        return ""
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    complaint = next((line for line in lines if "error" in line.lower()), lines[-1] if lines else "")
    return complaint or f"no proof and no output (exit code {done.returncode})"


def isabelle_getenv(exe: Path, names: Sequence[str]) -> dict[str, str]:
    """``isabelle getenv NAME...`` as a dict (empty on any failure)."""
    try:
        out = subprocess.run([str(exe), "getenv", *names], capture_output=True, text=True, timeout=60,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    pairs = (line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {k: v for k, v in pairs}


def fit_to_installation(settings: Settings) -> tuple[Settings, str]:
    """What a run does once, before its first check: ``settings`` without the tactics this
    machine's Isabelle cannot run, and the warning to print ("" when none was left out)."""
    fitted, dropped = fit_tactics(settings, read_tools(settings))
    return fitted, drop_warning(dropped) if dropped else ""
