"""How results look to people (rich) and to machines (JSON)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.text import Text

from lego_prover.doctor import Finding
from lego_prover.isabelle.guard import GuardResult
from lego_prover.isabelle.verdict import Verdict


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    data = asdict(verdict)
    data["failure"] = verdict.failure.value if verdict.failure else None
    for err in data["errors"]:
        err["kind"] = err["kind"].value if hasattr(err["kind"], "value") else err["kind"]
    for block in data["blocks"]:
        for err in block["errors"]:
            err["kind"] = err["kind"].value if hasattr(err["kind"], "value") else err["kind"]
    return data


def mark_line(ok: bool, text: str) -> Text:
    """``✓ text`` or ``✗ text``; the text is shown exactly as given (never read as markup)."""
    return Text.assemble(("✓ " if ok else "✗ ", "green" if ok else "red"), text)


def _indented(label: str, text: str) -> Text:
    lines = text.strip("\n").splitlines() or [""]
    return Text("\n".join([f"    {label}{lines[0]}", *(f"    {' ' * len(label)}{line}" for line in lines[1:])]))


def print_verdict(console: Console, verdict: Verdict, *, statement_checked: bool) -> None:
    """One line per block, then the verdict. Isabelle's messages, steps and goals appear in
    full and exactly as Isabelle wrote them (``[of a]``, ``[simp]`` included)."""
    for block in verdict.blocks:
        if block.origin == "check":
            continue
        name = (block.name or f"<{block.kind}>") + (" (preamble)" if block.origin == "preamble" else "")
        if block.verified:
            console.print(mark_line(True, f"{name}: verified" + (f" (uses {', '.join(block.depends_on)})"
                                                                   if block.depends_on else "")), soft_wrap=True)
            continue
        if block.errors:
            error = block.errors[0]
            message = error.message.strip("\n")
            first, _, rest = message.partition("\n")
            console.print(mark_line(False, f"{name}: line {error.line}: {first}"), soft_wrap=True)
            if rest:
                console.print(_indented("", rest), soft_wrap=True)
            if error.step:
                console.print(_indented("step: ", error.step), soft_wrap=True)
            if error.goal and error.goal.strip() not in message:
                console.print(_indented("goal: ", error.goal), soft_wrap=True)
        elif block.oracles:
            console.print(mark_line(False, f"{name}: depends on oracles: {', '.join(block.oracles)}"), soft_wrap=True)
        else:
            console.print(mark_line(False, f"{name}: not verified" + (f" (uses {', '.join(block.depends_on)})"
                                                                        if block.depends_on else "")), soft_wrap=True)
    for line in verdict.repairs:
        console.print(Text(f"repaired: {line}", style="dim"), soft_wrap=True)
    if not statement_checked:
        console.print(Text.assemble(("note:", "yellow"), " no --problem or --statement-file given: the theorem's "
                                    "statement was not compared."), soft_wrap=True)
    if verdict.verified:
        console.print(Text.assemble(("VERIFIED", "bold green"), f" {verdict.target or ''} in {verdict.elapsed_s:.1f}s "
                                    f"({verdict.isabelle}, session {verdict.session})"), soft_wrap=True)
    else:
        kind = verdict.failure.value if verdict.failure else "failed"
        console.print(Text.assemble(("NOT VERIFIED", "bold red"), f" ({kind}): {verdict.reason}"), soft_wrap=True)


def print_guard(console: Console, result: GuardResult) -> None:
    if result.ok:
        blocks = len(result.blocks)
        console.print(Text.assemble(("guard: accepted", "bold green"), f" ({blocks} block{'s' if blocks != 1 else ''})"))
        return
    for rejection in result.rejections:
        console.print(mark_line(False, str(rejection)), soft_wrap=True)
    console.print(Text("guard: rejected", style="bold red"))


def print_findings(console: Console, findings: list[Finding]) -> None:
    """One line per finding, its fix under it; nothing is cut or wrapped (paths stay whole)."""
    for f in findings:
        console.print(Text.assemble(("✓ " if f.ok else "✗ ", "green" if f.ok else "red"), (f.name, "bold"),
                                    f": {f.detail}"), soft_wrap=True)
        if f.fix and not f.ok:
            console.print(Text.assemble("    ", ("fix: ", "yellow"), f.fix), soft_wrap=True)
