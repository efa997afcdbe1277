"""The request solver: prove the open lemma request tried least, with similar skills as examples."""

from __future__ import annotations

import asyncio

from lego_prover.evolver.common import EvolverBase, EvolverStep
from lego_prover.evolver.directional import render_examples
from lego_prover.isabelle.context import TheoryContext
from lego_prover.isabelle.theory import BlockKind, split_blocks
from lego_prover.skills.records import Origin


class RequestSolver(EvolverBase):
    async def step(self, index: int, record: EvolverStep) -> bool:
        """Returns False when no request is open."""
        request = await asyncio.to_thread(self._library.least_tried_request)
        if request is None:
            return False
        await asyncio.to_thread(self._library.record_request_attempt, request.id)
        record.kind, record.request = "request", request.id
        blocks = [b for b in split_blocks(request.statement) if b.kind is BlockKind.LEMMA]
        name = blocks[0].name if blocks and blocks[0].name else None
        hits = await asyncio.to_thread(self._library.query, request.statement, self._evolver.examples)
        skills = "\n\n".join(f"```isabelle\n{h.skill.text.strip()}\n```" for h in hits) or "(none yet)"
        messages = self._prompts.render(
            "evolver/request_solver", rules=self._prompts.text("evolver/rules"), skills=skills,
            examples=render_examples(self._examples("request")), request=request.statement.strip())
        candidates = await self._sample(messages, "request_solver", index, record)
        # the guard holds the candidate to the requested statement, as it holds a theorem
        context = TheoryContext(self._imports, target=name, statement=request.statement if name else None)
        origin = Origin("request", request=request.id)
        for code in candidates:
            verified, names = await self._check_and_add(code, context, origin, record)
            if verified and name and name in names:
                await asyncio.to_thread(self._library.close_request, request.id, names[name])
                record.closed_request = names[name]
                break
        return True
