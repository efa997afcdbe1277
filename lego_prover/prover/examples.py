"""Checking the shipped in-context examples with Isabelle (``lego-prover check-examples``)."""

from __future__ import annotations

from dataclasses import dataclass

from lego_prover.isabelle.context import CheckerProtocol, TheoryContext
from lego_prover.isabelle.theory import BlockKind, split_blocks
from lego_prover.isabelle.verdict import FailureKind, Verdict
from lego_prover.prover.prompts import PromptLibrary


@dataclass(frozen=True)
class ExampleResult:
    kind: str
    name: str
    verified: bool
    reason: str
    service_failed: bool = False  # Isabelle failed: nothing was decided about the example


async def check_all_examples(prompts: PromptLibrary, checker: CheckerProtocol,
                             imports: tuple[str, ...]) -> list[ExampleResult]:
    """Every example's Isabelle text, checked exactly as written (no repair; dsp sketches: repaired)."""
    results = []
    for ex in prompts.examples("prover"):
        goals = [b for b in split_blocks(ex["formal_statement"]) if b.kind is BlockKind.LEMMA and b.name]
        target = goals[0].name if goals else None
        context = TheoryContext(imports, "", target, ex["formal_statement"])
        verdict = await checker.check(ex["isabelle_proof"], context, repair=False)
        results.append(ExampleResult("prover", ex.name, verdict.verified, verdict.reason,
                                   _server_failed(verdict)))
    for ex in prompts.examples_in("dsp/examples"):
        # a sketch's steps are `sledgehammer` placeholders by design: repaired as in a dsp run
        goals = [b for b in split_blocks(ex["formal_statement"]) if b.kind is BlockKind.LEMMA and b.name]
        context = TheoryContext(imports, "", goals[0].name if goals else None, ex["formal_statement"])
        verdict = await checker.check(ex["sketch"], context, repair=True)
        results.append(ExampleResult("dsp", ex.name, verdict.verified, verdict.reason,
                                   _server_failed(verdict)))
    for ex in prompts.examples("evolver"):
        for part in ("skill", "evolved"):
            verdict = await checker.check(ex[part], TheoryContext(imports), repair=False)
            results.append(ExampleResult("evolver", f"{ex.name}:{part}", verdict.verified, verdict.reason,
                                   _server_failed(verdict)))
    return results


def _server_failed(verdict: Verdict) -> bool:
    return verdict.failure is FailureKind.SERVER
