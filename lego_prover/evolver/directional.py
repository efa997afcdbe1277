"""The directional transformer: evolve the least-evolved skill along one of four directions."""

from __future__ import annotations

import asyncio

from lego_prover.evolver.common import EvolverBase, EvolverStep, targets_text
from lego_prover.isabelle.context import TheoryContext
from lego_prover.skills.records import Origin

DIRECTIONS = ("identify_key_concepts", "parameterize", "scale_complexity", "extend_dimensions")


def render_examples(examples: list) -> str:  # type: ignore[type-arg]
    return "\n\n".join(f"####################\n\n## Lemma\n```isabelle\n{e['skill']}\n```\n\n## Answer\n"
                       f"```isabelle\n{e['evolved']}\n```" for e in examples)


class DirectionalTransformer(EvolverBase):
    async def step(self, index: int, direction: str, record: EvolverStep) -> bool:
        """Returns False when the library has no skill to evolve."""
        picked = await asyncio.to_thread(self._library.least_evolved, 1)
        if not picked:
            return False
        skill = picked[0]
        await asyncio.to_thread(self._library.record_evolved, skill.name)
        record.kind, record.direction, record.parent = "directional", direction, skill.name
        k = self._evolver.targets
        problems = await asyncio.to_thread(self._library.query_problems, skill.statement, k)
        requests = await asyncio.to_thread(self._library.query_requests, skill.statement, k)
        record.targets = [name for name, _, _ in problems] + [r.id for r, _ in requests]
        messages = self._prompts.render(
            f"evolver/{direction}", rules=self._prompts.text("evolver/rules"),
            examples=render_examples(self._examples(direction)), skill=skill.text.strip(),
            targets=targets_text(problems, requests))
        candidates = await self._sample(messages, f"evolver:{direction}", index, record)
        origin = Origin("evolver", direction=direction, parent=skill.name)
        context = TheoryContext(self._imports, reserved_names=frozenset())
        for code in candidates:
            await self._check_and_add(code, context, origin, record)
        return True
