"""Choosing the library skills a prompt shows: request hits first, then statement hits,
deduplicated, at most ``skills_in_prompt``, within a token budget."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from lego_prover.config import ProverSettings
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import Skill
from lego_prover.tokens import count_tokens


@dataclass(frozen=True)
class Retrieved:
    skills: tuple[Skill, ...]
    tokens: int

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.skills]

    def render(self) -> str:
        if not self.skills:
            return "(none yet)"
        return "\n\n".join(f"```isabelle\n{s.text.strip()}\n```" for s in self.skills)


async def retrieve(library: SkillLibrary | None, statement: str, requests: Sequence[str],
                   settings: ProverSettings) -> Retrieved:
    if library is None or settings.skills_in_prompt == 0:
        return Retrieved((), 0)

    def search() -> list[Skill]:
        ordered: list[Skill] = []
        for request in requests:
            ordered.extend(h.skill for h in library.query(request, settings.k_request))
        ordered.extend(h.skill for h in library.query(statement, settings.k_statement))
        return ordered

    candidates = await asyncio.to_thread(search)
    chosen: list[Skill] = []
    seen: set[str] = set()
    tokens = 0
    for skill in candidates:
        if skill.name in seen or len(chosen) >= settings.skills_in_prompt:
            continue
        cost = count_tokens(skill.text)
        if tokens + cost > settings.skill_token_budget:
            continue  # a smaller one further down may still fit
        seen.add(skill.name)
        chosen.append(skill)
        tokens += cost
    if chosen:
        await asyncio.to_thread(library.record_retrieved, [s.name for s in chosen])
    return Retrieved(tuple(chosen), tokens)
