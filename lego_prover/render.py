"""How results look to people (rich) and to machines (JSON)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

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


def print_verdict(console: Console, verdict: Verdict, *, statement_checked: bool) -> None:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("")
    table.add_column("block")
    table.add_column("result")
    for block in verdict.blocks:
        if block.origin == "check":
            continue
        mark = "[green]✓[/]" if block.verified else "[red]✗[/]"
        if block.verified:
            result = "verified" + (f" (uses {', '.join(block.depends_on)})" if block.depends_on else "")
        elif block.errors:
            err = block.errors[0]
            result = f"line {err.line}: {err.message.splitlines()[0]}"
            if err.step:
                result += f"\n  step: {err.step.splitlines()[0]}"
            if err.goal:
                result += f"\n  goal: {err.goal.splitlines()[0][:200]}"
        elif block.oracles:
            result = f"depends on oracles: {', '.join(block.oracles)}"
        elif block.depends_on:
            result = f"not verified (uses {', '.join(block.depends_on)})"
        else:
            result = "not verified"
        table.add_row(mark, (block.name or f"<{block.kind}>") + (" [dim](preamble)[/]" if block.origin == "preamble" else ""), result)
    if verdict.blocks:
        console.print(table)
    for line in verdict.repairs:
        console.print(f"[dim]repaired: {line}[/]")
    if not statement_checked:
        console.print("[yellow]note:[/] no --problem or --statement-file given: the theorem's statement was not compared.")
    if verdict.verified:
        console.print(f"[bold green]VERIFIED[/] {verdict.target or ''} in {verdict.elapsed_s:.1f}s ({verdict.isabelle}, session {verdict.session})")
    else:
        kind = verdict.failure.value if verdict.failure else "failed"
        console.print(f"[bold red]NOT VERIFIED[/] ({kind}): {verdict.reason}", markup=True, highlight=False)


def print_guard(console: Console, result: GuardResult) -> None:
    if result.ok:
        console.print(f"[bold green]guard: accepted[/] ({len(result.blocks)} blocks)")
        return
    for rejection in result.rejections:
        console.print(f"[red]✗[/] {rejection}", highlight=False, markup=False)
    console.print("[bold red]guard: rejected[/]")


def print_findings(console: Console, findings: list[Finding]) -> None:
    table = Table(box=None, show_header=False, pad_edge=False)
    for f in findings:
        # escaped: a fix like "pip install 'lego-prover[ray]'" is not markup
        table.add_row("[green]✓[/]" if f.ok else "[red]✗[/]", f"[bold]{escape(f.name)}[/]", escape(f.detail))
        if f.fix and not f.ok:
            table.add_row("", "", f"[yellow]fix:[/] {escape(f.fix)}")
    console.print(table)
