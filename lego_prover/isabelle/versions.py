"""What differs between Isabelle releases, in one place.

lego-prover supports Isabelle2020 and newer. Everything the checker reads from Isabelle's
output (message wording, the ``thm_oracles`` report, Sledgehammer's answers) and every
server option we send are kept here, with the releases on which each was confirmed against
a real server. Which provers an installation has is read in ``tools`` (``installed_provers``).

Usage::

    release = Release.parse("Isabelle2021-1")       # from `isabelle version` or the server welcome
    release.supported, release.unconfirmed()         # True, ("oracle report format", ...)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MINIMUM_YEAR = 2020

# ---------------------------------------------------------------------------- releases


@dataclass(frozen=True, order=True)
class Release:
    """An Isabelle release such as ``Isabelle2021-1`` (year 2021, revision 1)."""

    year: int
    revision: int = 0
    name: str = ""

    @classmethod
    def parse(cls, text: str) -> Release | None:
        """``Isabelle2021-1``, ``Isabelle2021-1: December 2021``, a welcome's ``isabelle_name``."""
        m = re.search(r"Isabelle(\d{4})(?:-(\d+))?", text or "")
        if not m:
            return None
        revision = int(m.group(2) or 0)
        return cls(int(m.group(1)), revision, f"Isabelle{m.group(1)}" + (f"-{revision}" if revision else ""))

    @property
    def supported(self) -> bool:
        return self.year >= MINIMUM_YEAR

    def unconfirmed(self) -> tuple[str, ...]:
        """Behaviours the checker relies on that no real server of this release confirmed."""
        return tuple(b for b, releases in CONFIRMED.items() if self.name not in releases)


# Behaviour -> releases on which a real server showed it (recorded replies in
# ../shared/isabelle and the real-Isabelle test tier). Add a release here only after
# `pytest -m isabelle` passed on it.
# The real tier has also passed on a development snapshot between Isabelle2024 and
# Isabelle2025 (`Isabelle2024-dev80789`); a snapshot is not a release, so it confirms
# nothing here for users of Isabelle2024 or Isabelle2025.
CONFIRMED: dict[str, frozenset[str]] = {
    "oracle report format (thm_oracles)": frozenset({"Isabelle2020"}),
    "error wording and positions": frozenset({"Isabelle2020"}),
    "Sledgehammer 'Try this' wording": frozenset({"Isabelle2020"}),
    "check limit and watchdog replies": frozenset({"Isabelle2020"}),
}

# ---------------------------------------------------------------------------- server options

# Options sent with session_start. `headless_consolidate_delay` exists since Isabelle2019;
# `threads` since long before; both are standard system options in every supported release.
SESSION_OPTIONS = ("headless_consolidate_delay", "threads")


def session_options(consolidate_delay_s: float, threads: int) -> list[str]:
    return [f"headless_consolidate_delay={consolidate_delay_s}", f"threads={threads}"]


# ---------------------------------------------------------------------------- message wording

# First words of errors that are about syntax, types or names rather than a failed tactic.
SYNTAX_ERROR_HEADS = (
    "outer syntax error", "inner syntax error", "type unification failed", "undefined fact",
    "undefined constant", "undefined type", "bad context", "illegal application",
    "unknown theory", "bad theory", "extra variables", "inner lexical error", "malformed",
    "bad name", "duplicate", "undefined method", "undefined attribute", "unknown",
)

# `session_build` on a real server (seen on Isabelle2024-dev80789) first lists every session
# it considers, twice, one NOTE per line ("Session HOL/HOL-Library (main timing)"), even when
# every heap is up to date. Progress shows the build, not this listing.
SESSION_LISTING_RE = re.compile(r"Session [^/\s]+/\S+(?: \([^)]*\))?")


def is_session_listing(message: str) -> bool:
    return SESSION_LISTING_RE.fullmatch(message.strip()) is not None


# A FAILED task whose message is a JVM exception is the server breaking, not the theory:
# a real server (Isabelle2024-dev80789, after sessions with runaway tactics were stopped)
# answered every later use_theories with "java.lang.IllegalStateException: Timer already
# cancelled." until it was restarted.
SERVER_FAULT_RE = re.compile(r"(?:java|javax|scala)\.[\w.$]*(?:Exception|Error)\b")


def is_server_fault(message: str) -> bool:
    return SERVER_FAULT_RE.match(message.strip()) is not None


# A FAILED task naming a session the server does not know (`Server.err_session`): it was
# stopped or lost (e.g. by a restart) while a worker still held its id.
SESSION_GONE_RE = re.compile(r"No session '[^']*'")


def is_session_gone(message: str) -> bool:
    return SESSION_GONE_RE.fullmatch(message.strip()) is not None


GOAL_RE = re.compile(r"goal \(\d+ subgoals?\):\s*(.*)", re.S)

# `thm_oracles NAME` prints "oracles:" and one oracle per line. Isabelle2020 prints base
# names (`skip_proof`); later releases may print qualified ones (`Pure.skip_proof`).
ORACLES_PREFIX = "oracles:"
_ORACLE_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_'.]*")


def oracle_names(report_body: str) -> tuple[str, ...]:
    return tuple(_ORACLE_NAME_RE.findall(report_body))


def oracle_matches(oracle: str, name: str) -> bool:
    """``Pure.skip_proof`` and ``skip_proof`` name the same oracle."""
    return oracle == name or oracle.rsplit(".", 1)[-1] == name.rsplit(".", 1)[-1]


# ---------------------------------------------------------------------------- proof syntax

# `smt (z3) ...` / `smt (verit) ...` name the solver since Isabelle2021; Isabelle2020's `smt`
# takes facts only (the solver was a configuration option, which the guard forbids).
SMT_SOLVER_ARGUMENT_SINCE = (2021, 0)
_SMT_WITH_SOLVER_RE = re.compile(r"\bsmt\s*\(\s*(z3|cvc4|cvc5|verit)\s*\)")


def syntax_hint(step: str, release: Release | None) -> str:
    """A hint for feedback when a failing step uses syntax this release does not have."""
    if release is None or not step:
        return ""
    if (release.year, release.revision) < SMT_SOLVER_ARGUMENT_SINCE and _SMT_WITH_SOLVER_RE.search(step):
        return (f"{release.name}'s smt method takes no solver argument: write `smt` (or `smt facts`) "
                "instead of `smt (z3)`")
    return ""


# ---------------------------------------------------------------------------- sledgehammer

# `"e": Try this: by (simp add: h0) (3 ms)` (Isabelle2020), `e: Try this: ... (0.4 ms)`,
# `Try this: by simp (12 ms)`; preplay timings may read `(> 1.0 s, timed out)` too.
# group 2: how long Sledgehammer's own replay of the proof took ("0.4 ms", "1.2 s"), or ">..." when it timed out
TRY_THIS_RE = re.compile(r"Try this:\s*(.+?)\s*\(([\d.]+\s*m?s|>[^)]*)\)", re.S)
NO_SUCH_PROVER_RE = re.compile(r"No such prover:\s*(\S+)")
# a fact printed with an empty selection, `numeral_Bit0(,)`: Isabelle2024-dev80789's Sledgehammer
# wrote such names (with minimize = false) into proofs that it cannot read back (outer syntax error)
UNREADABLE_FACT_RE = re.compile(r"[\w'.]\((\s*,)+\s*\)")

# The options Sledgehammer passes to Vampire (sledgehammer_atp_systems.ML of Isabelle2024-dev80789;
# not confirmed for other releases): the newer set when VAMPIRE_VERSION >= "4.8" in ML's string
# order, as Isabelle compares it. Vampire's 5.x snapshots reject --output_axiom_names ("User
# error: output_axiom_names is not a valid option"), so every Vampire slice fails with them.
VAMPIRE_OPTIONS_FROM_4_8 = ("--input_syntax", "tptp", "--proof", "tptp", "--output_axiom_names", "on",
                            "--mode", "portfolio", "--schedule", "snake_slh")
VAMPIRE_OPTIONS_BEFORE_4_8 = ("--proof", "tptp", "--output_axiom_names", "on", "--mode", "casc")


def vampire_options(version: str) -> tuple[str, ...]:
    """The options Sledgehammer passes to Vampire when ``VAMPIRE_VERSION`` is ``version``."""
    return VAMPIRE_OPTIONS_FROM_4_8 if version >= "4.8" else VAMPIRE_OPTIONS_BEFORE_4_8


def sledgehammer_call(timeout_s: float, provers: str, *, minimize: bool = False) -> str:
    """The placeholder replacement; no `provers` option means Isabelle's own default.

    Isabelle's own default minimizes a found proof's facts after the provers' time is up, for
    up to ``timeout_s`` more (measured: a 30 s call ran 58 s, 35 s without), and a call cut off
    then loses the proof it found; ``minimize = false`` keeps the prover's facts instead.
    """
    options = [f"timeout = {int(timeout_s)}"]
    if not minimize:
        options.append("minimize = false")
    if provers.strip():
        options.append(f'provers = "{" ".join(provers.split())}"')
    return f"sledgehammer [{', '.join(options)}] sorry"


def sledgehammer_timeouts(*, minimize: bool = False) -> int:
    """How many times its ``timeout`` a ``sledgehammer_call`` may spend: the provers', and
    with ``minimize`` the minimizer's again."""
    return 2 if minimize else 1


def sledgehammer_wall_s(timeout_s: float, *, minimize: bool = False) -> float:
    """How long a ``sledgehammer_call`` may take in Isabelle, the rest of its theory aside:
    its provers' time (and the minimizer's), the last prover slice that started within it,
    preplay."""
    return timeout_s * sledgehammer_timeouts(minimize=minimize) + 15
