"""Builders for scripted ``use_theories`` payloads. The *test* decides each outcome;
these helpers only put the messages at the right positions of the submitted text."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lego_prover.isabelle.symbols import SymbolIndex
from tests.fakes.fake_isabelle import Outcome, Submitted

_ORACLE_LINE_RE = re.compile(r"^thm_oracles (\S+)$", re.M)


def position(text: str, needle: str, occurrence: int = 1) -> dict[str, Any]:
    """Isabelle-style position (line, symbol offsets) of the n-th occurrence of ``needle``."""
    start = -1
    for _ in range(occurrence):
        start = text.index(needle, start + 1)
    index = SymbolIndex(text)
    offset = index.symbol_offset(start)
    end = index.symbol_offset(start + len(needle) - 1) + 1
    return {"line": text.count("\n", 0, start) + 1, "offset": offset, "end_offset": end, "file": "x.thy"}


def oracle_messages(text: str, oracles: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """One ``oracles:`` writeln per ``thm_oracles NAME`` line, listing the given oracles."""
    out = []
    for m in _ORACLE_LINE_RE.finditer(text):
        names = list((oracles or {}).get(m.group(1), []))
        body = "oracles:" + "".join(f"\n  {n}" for n in names)
        out.append({"kind": "writeln", "message": body, "pos": position(text, m.group(0))})
    return out


def status(*, failed: int = 0, running: int = 0, unprocessed: int = 0, consolidated: bool = True,
           canceled: bool = False) -> dict[str, Any]:
    return {"ok": failed == 0, "total": 10, "unprocessed": unprocessed, "running": running, "warned": 0,
            "failed": failed, "finished": 10 - failed - running - unprocessed, "canceled": canceled,
            "consolidated": consolidated, "percentage": 100 if consolidated else 50}


def payload(sub: Submitted, messages: list[dict[str, Any]], st: dict[str, Any]) -> dict[str, Any]:
    errors = [m for m in messages if m["kind"] == "error"]
    return {"ok": st["ok"], "errors": errors,
            "nodes": [{"node_name": sub.node_name, "theory_name": f"Draft.{sub.theory}", "status": st,
                       "messages": messages, "exports": []}]}


def verified(oracles: Mapping[str, Sequence[str]] | None = None) -> Outcome:
    """Scripted: Isabelle accepted everything (with the given oracles per lemma)."""
    return Outcome(lambda sub: payload(sub, oracle_messages(sub.text, oracles), status()))


def no_oracle_report() -> Outcome:
    """Scripted: consolidated and ok, but no thm_oracles output at all."""
    return Outcome(lambda sub: payload(sub, [], status()))


def error_at(needle: str, message: str, *, occurrence: int = 1, also: Callable[[Submitted], list[dict[str, Any]]] | None = None) -> Outcome:
    """Scripted: one error positioned at ``needle`` (every lemma still reports no oracles)."""

    def build(sub: Submitted) -> dict[str, Any]:
        msgs = oracle_messages(sub.text)
        msgs.append({"kind": "error", "message": message, "pos": position(sub.text, needle, occurrence)})
        if also:
            msgs.extend(also(sub))
        return payload(sub, msgs, status(failed=1))

    return Outcome(build)


def watchdog_stopped() -> Outcome:
    """Scripted: the watchdog stopped waiting while a tactic ran (ok, not consolidated)."""
    return Outcome(lambda sub: payload(sub, [], status(running=1, consolidated=False)))


def try_this(proof: str) -> Outcome:
    """Scripted: sledgehammer found ``proof``; positioned at the sledgehammer call."""

    def build(sub: Submitted) -> dict[str, Any]:
        pos = position(sub.text, "sledgehammer [")
        msgs = [{"kind": "writeln", "message": "Sledgehammering...", "pos": pos},
                {"kind": "writeln", "message": f"cvc5: Try this: {proof} (12 ms)", "pos": pos},
                *oracle_messages(sub.text)]
        return payload(sub, msgs, status())

    return Outcome(build)


def runaway() -> Outcome:
    """Scripted: the check limit hit while a tactic ran, and the tactic goes on running in the
    session (what a real Isabelle2020 did with a looping ``simp only``)."""
    return Outcome(lambda sub: payload(sub, [], status(running=1, unprocessed=3, consolidated=False)), kind="runaway")
