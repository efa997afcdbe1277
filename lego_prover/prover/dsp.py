"""The ``dsp`` method: Draft, Sketch, Prove (Jiang et al., 2023), as a baseline for ``lego``.

Usage::

    prover = DraftSketchProver(llm, checker, prompts, settings)
    record = await prover.attempt(problem, index=0)      # record.method == "dsp"

One attempt: an informal proof (the problem's own with ``prover.informal = human``, else a
*draft* written by the LLM from ``prompts/dsp/draft.md``), then a formal *sketch*
(``prompts/dsp/sketch.md`` with the worked examples of ``prompts/dsp/examples/``) whose
steps may be ``sledgehammer`` placeholders, then the checker: guard, the tactic list and
Sledgehammer for the placeholders, Isabelle. No decomposer, no requests, no library, no
evolver. Statement re-prompts and ``prover.feedback_rounds`` of error feedback are the same
steps as in ``lego`` (set ``prover.feedback_rounds = 0`` for the paper's DSP), so that the
two methods differ only in what the comparison is about.
"""

from __future__ import annotations

from typing import Any

from lego_prover.config import Settings
from lego_prover.isabelle.context import CheckerProtocol
from lego_prover.llm.base import LLM, ChatMessage
from lego_prover.problems import Problem
from lego_prover.prover.attempt import Prover, _Trace
from lego_prover.prover.prompts import PromptLibrary

EXAMPLES = "dsp/examples"


class DraftSketchProver(Prover):
    method = "dsp"
    informal_prompt = "dsp/draft"
    formalizer_prompt = "dsp/sketch"
    formalizer_component = "sketch"

    def __init__(self, llm: LLM, checker: CheckerProtocol, prompts: PromptLibrary, settings: Settings, *,
                 price: Any = None) -> None:
        super().__init__(llm, checker, None, prompts, settings, price=price)
        self._examples = prompts.examples_in(EXAMPLES)

    async def _first_prompt(self, problem: Problem, informal_proof: str, index: int,
                            trace: _Trace) -> list[ChatMessage]:
        return self._prompts.render(
            self.formalizer_prompt, examples=self.sketch_examples(index),
            informal_statement=problem.informal_statement or "(none given)",
            informal_proof=informal_proof or "(none given)", formal_statement=problem.formal_statement.strip())

    def sketch_examples(self, index: int) -> str:
        """``prover.sketch_examples`` worked examples, rotated per attempt as ``lego`` rotates its own."""
        parts = []
        for ex in self._rotated(self._prover.sketch_examples, index):
            parts.append(f"####################\n\n## Problem\n{ex['informal_statement']}\n\n## Informal proof\n"
                         f"{ex['informal_proof']}\n\n## Formal statement\n```isabelle\n{ex['formal_statement']}\n```"
                         f"\n\n## Formal sketch\n```isabelle\n{ex['sketch']}\n```")
        return "\n\n".join(parts)
