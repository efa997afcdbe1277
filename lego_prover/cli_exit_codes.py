"""Every command's exit codes: one table, shown at the end of the command's --help and in the
README's *Exit codes* section (a test keeps the two equal and runs every code).

The scheme, for every command: 0 it did what was asked and the answer is yes; 1 it did
what was asked and the answer is no (not verified; doctor: something is missing; skills
import: a lemma failed its check); 2 it could not do what was asked (bad input, a
missing requirement, a parameter the LLM refuses: one line says what and how to fix it);
3 a budget ran out; 4 a service (the LLM endpoint, Isabelle, a model server) failed: not
an answer about any proof; 130 interrupted (Ctrl-C). A run that finished is 0 however
many problems it solved: its result is summary.json, and `eval && report` must report
exactly the runs that need a look.
"""

from __future__ import annotations

BAD_INPUT = "bad input or a missing requirement"
RUN_STOPPED = "bad input, a missing requirement or a parameter the LLM refuses"
BUDGET = "a budget ran out (continue with --resume)"
SERVICE = "the LLM endpoint or Isabelle failed (continue with --resume)"
INTERRUPTED = "interrupted (Ctrl-C)"
_READS = {0: "done", 2: "bad input, no library or bad settings"}

EXIT_CODES: dict[str, dict[int, str]] = {
    "check": {0: "verified, the theorem's statement unchanged (--guard-only: the guard accepted it)",
              1: "not verified (--guard-only: the guard rejected it)", 2: BAD_INPUT,
              4: "Isabelle failed during the check (nothing was decided)"},
    "eval": {0: "the run finished, whatever it solved (the results are in RUN_DIR/summary.json)",
             2: RUN_STOPPED, 3: BUDGET, 4: SERVICE},
    "evolve": {0: "the steps ran, whatever they added", 2: RUN_STOPPED, 3: BUDGET, 4: SERVICE},
    "report": {0: "the report was written", 2: "bad input (not a run directory)"},
    "compare": {0: "the comparison was written", 2: "bad input (not a run directory)"},
    "verify-results": {0: "every stored proof verifies again", 1: "a stored proof no longer verifies (each is listed)",
                       2: BAD_INPUT, 4: "Isabelle failed during the replay (nothing was decided)"},
    "check-examples": {0: "every example verifies", 1: "an example does not verify (each is listed)", 2: BAD_INPUT,
                       4: "Isabelle failed while checking an example (nothing was decided about it)"},
    "doctor": {0: "everything is in place", 1: "something is missing (each with its fix)", 2: "bad settings"},
    "download-minif2f": {0: "miniF2F was written", 2: "bad input, or no network (pass --data-dir to the commands instead)"},
    "serve-model": {0: "stopped with Ctrl-C", 2: "bad input, a missing extra, or the server did not start (its log says why)",
                    4: "the model server stopped on its own"},
    "config": {0: "the settings were printed", 2: "bad settings"},
    "skills query": _READS,
    "skills show": {0: "done", 2: "no such skill, no library or bad settings"},
    "skills list": _READS,
    "skills stats": _READS,
    "skills export": {0: "the library was written", 2: "bad input, no library or bad settings"},
    "skills import": {0: "every lemma was added or was there already", 1: "a lemma failed its check (each is listed)",
                      2: "bad input (an empty or malformed file) or a missing requirement",
                      4: "Isabelle failed while checking a lemma (nothing was decided about it)"},
}


# Ctrl-C is how serve-model is meant to stop: that is its 0, not an interruption
STOPPED_BY_CTRL_C = frozenset({"serve-model"})


def exit_codes(command: str) -> dict[int, str]:
    """``command``'s codes, 130 (Ctrl-C) included; a command missing from the table is a bug."""
    codes = EXIT_CODES[command]
    return codes if command in STOPPED_BY_CTRL_C else {**codes, 130: INTERRUPTED}


def exit_codes_text(command: str) -> str:
    """``0 verified; 1 not verified; ...``: as --help ends and as the README's table says."""
    return "; ".join(f"{code} {meaning}" for code, meaning in exit_codes(command).items())


def exit_codes_help(command: str) -> str:
    return f"Exit codes: {exit_codes_text(command)}."
