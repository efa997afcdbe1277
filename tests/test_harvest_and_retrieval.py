"""Harvest after a check (skills in, requests in, usage counted verbatim or modelled) and
retrieval for a prompt (request hits first, deduplicated, within the token budget)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lego_prover.config import ProverSettings, SkillSettings
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import TheoryContext
from lego_prover.prover.harvest import Harvester
from lego_prover.prover.retrieval import retrieve
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import Origin
from lego_prover.tokens import count_tokens
from tests.fakes import replies
from tests.fakes.fake_isabelle import Script
from tests.fakes.hash_embedder import HashEmbedder
from tests.skill_helpers import IMPORTS, verify

SKILL = 'lemma sq_le_sq_add:\n  fixes a b :: real\n  shows "a^2 <= a^2 + b^2"\n  by simp'
MOD = 'lemma mod_two_cases:\n  fixes n :: nat\n  shows "n mod 2 = 0 \\<or> n mod 2 = 1"\n  by auto'
STATEMENT = 'theorem t:\n  fixes x y :: real\n  shows "x^2 <= x^2 + y^2 + 1"'



@pytest.fixture
async def library(tmp_path: Path, checker: Checker, script: Script) -> SkillLibrary:
    lib = SkillLibrary.open(SkillSettings(db_path=tmp_path / "db"), HashEmbedder())
    for text in (SKILL, MOD):
        (record,) = await verify(checker, script, text)
        lib.add(record, Origin("problem", problem="earlier", attempt=0))
    return lib


async def solve(checker: Checker, script: Script, body: str) -> object:
    script.queue.append(replies.verified())
    return await checker.check(body, TheoryContext(IMPORTS, target="t", statement=STATEMENT))


async def test_a_copied_skill_counts_as_used_verbatim(library: SkillLibrary, checker: Checker,
                                                      script: Script) -> None:
    verdict = await solve(checker, script, f"{SKILL}\n\n{STATEMENT}\n  using sq_le_sq_add by smt")
    retrieved = await retrieve(library, STATEMENT, [], ProverSettings())
    result = await Harvester(library, IMPORTS).harvest(verdict, target="t",  # type: ignore[arg-type]
                                                       origin=Origin("problem", problem="t", attempt=1),
                                                       retrieved=retrieved.skills, solved=True)
    assert {"name": "sq_le_sq_add", "mode": "verbatim"} in result.used
    assert result.duplicates == ["sq_le_sq_add"] and not result.added   # the copy is not a new skill
    skill = library.get("sq_le_sq_add")
    assert skill is not None and (skill.times_used, skill.times_used_verbatim) == (1, 1)
    assert skill.times_retrieved == 1


async def test_an_adapted_lemma_counts_the_skill_as_modelled(library: SkillLibrary, checker: Checker,
                                                             script: Script) -> None:
    adapted = SKILL.replace("sq_le_sq_add", "sq_le_sq_add_one").replace('b^2"', 'b^2 + 1"')
    verdict = await solve(checker, script, f"{adapted}\n\n{STATEMENT}\n  using sq_le_sq_add_one by simp")
    retrieved = await retrieve(library, STATEMENT, [], ProverSettings())
    result = await Harvester(library, IMPORTS).harvest(verdict, target="t",  # type: ignore[arg-type]
                                                       origin=Origin("problem", problem="t", attempt=1),
                                                       retrieved=retrieved.skills, solved=True)
    assert {"name": "sq_le_sq_add", "mode": "modelled"} in result.used
    skill = library.get("sq_le_sq_add")
    assert skill is not None and (skill.times_used, skill.times_used_verbatim) == (1, 0)


async def test_failed_lemmas_become_requests_and_unsolved_attempts_count_no_use(
        library: SkillLibrary, checker: Checker, script: Script) -> None:
    body = f"{SKILL}\n\nlemma helper_fails:\n  shows \"(3::nat) < 2\"\n  by simp\n\n{STATEMENT}\n  by simp"
    script.queue.append(replies.error_at('by simp\n\ntheorem', "Failed to finish proof"))
    verdict = await checker.check(body, TheoryContext(IMPORTS, target="t", statement=STATEMENT))
    retrieved = await retrieve(library, STATEMENT, [], ProverSettings())
    result = await Harvester(library, IMPORTS).harvest(verdict, target="t", origin=Origin("problem", problem="t"),
                                                       retrieved=retrieved.skills, solved=verdict.verified)
    assert len(result.new_requests) == 1 and not result.used
    (request,) = library.requests()
    assert "helper_fails" in request.statement and request.source == "t"


async def test_retrieval_puts_request_hits_first_and_respects_the_budget(library: SkillLibrary) -> None:
    settings = ProverSettings(k_request=1, k_statement=2, skills_in_prompt=4)
    got = await retrieve(library, STATEMENT, ['lemma r: fixes m :: nat shows "m mod 2 = 0 \\<or> m mod 2 = 1"'],
                         settings)
    assert got.names == ["mod_two_cases", "sq_le_sq_add"]
    tight = ProverSettings(skill_token_budget=count_tokens(SKILL))
    assert (await retrieve(library, STATEMENT, [], tight)).names == ["sq_le_sq_add"]
    assert (await retrieve(library, STATEMENT, [], ProverSettings(skills_in_prompt=0))).names == []
