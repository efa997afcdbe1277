"""The skill library on real Chroma: only verified text gets in, dedup, lineage, counters,
requests, problems, concurrent writers, and the real embedding model end to end."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from lego_prover.config import SkillSettings
from lego_prover.isabelle.checker import Checker
from lego_prover.skills.library import LibraryBusyError, SkillLibrary
from lego_prover.skills.records import NotVerifiedError, Origin, VerificationRecord
from tests.fakes.fake_isabelle import Script
from tests.fakes.hash_embedder import HashEmbedder
from tests.skill_helpers import verify

AMGM = 'lemma amgm_two:\n  fixes a b :: real\n  shows "a^2 + b^2 >= 2*a*b"\n  by (smt (verit) sum_squares_bound)'
MOD = 'lemma mod_three_sq:\n  fixes n :: nat\n  shows "n^2 mod 3 = 0 \\<or> n^2 mod 3 = 1"\n  by (induct n) auto'
USES = ('lemma cube_pos:\n  fixes x :: real\n  assumes "x > 0"\n  shows "x^3 > 0"\n  using assms by simp\n\n'
        'lemma cube_plus_one:\n  fixes x :: real\n  assumes "x > 0"\n  shows "x^3 + 1 > 1"\n  using cube_pos assms by simp')
FROM_PROBLEM = Origin("problem", problem="mathd_algebra_1", attempt=2)



@pytest.fixture
def library(tmp_path: Path) -> SkillLibrary:
    return SkillLibrary.open(SkillSettings(db_path=tmp_path / "db"), HashEmbedder())


def test_a_record_cannot_be_made_by_setting_a_flag() -> None:
    with pytest.raises(NotVerifiedError):
        VerificationRecord("x", "lemma x: True", "lemma x: True by simp", (), "Isabelle2022", "HOL", (), "", "T")


async def test_a_verified_lemma_enters_with_its_origin_and_verification(library: SkillLibrary, checker: Checker,
                                                                      script: Script) -> None:
    (record,) = await verify(checker, script, AMGM)
    result = library.add(record, FROM_PROBLEM)
    assert result.added and result.name == "amgm_two"
    skill = library.get("amgm_two")
    assert skill is not None and skill.text == AMGM and skill.origin == FROM_PROBLEM
    assert skill.statement.startswith("lemma amgm_two") and skill.session == record.session
    assert skill.isabelle == record.isabelle and skill.verified_at and len(skill.content_hash) == 64


async def test_a_lemma_keeps_the_lemmas_it_depends_on(library: SkillLibrary, checker: Checker,
                                                      script: Script) -> None:
    records = await verify(checker, script, USES)
    assert [r.name for r in records] == ["cube_pos", "cube_plus_one"]
    assert records[1].requires == ("cube_pos",)
    assert records[1].text.startswith("lemma cube_pos") and records[1].text.endswith("using cube_pos assms by simp")
    assert records[0].text == USES.split("\n\n")[0]


async def test_a_lemma_leaves_the_comment_written_after_it_behind(checker: Checker, script: Script) -> None:
    # real answers follow a copied lemma with a remark to the reader, which is not part of the lemma
    text = f"{AMGM}\n(* formal statement copy from the input *)\n\n{MOD}"
    records = await verify(checker, script, text)
    assert [r.text for r in records] == [AMGM, MOD]


async def test_exact_duplicates_are_rejected_with_the_existing_name(library: SkillLibrary, checker: Checker,
                                                                   script: Script) -> None:
    (record,) = await verify(checker, script, AMGM)
    library.add(record, FROM_PROBLEM)
    (again,) = await verify(checker, script, AMGM.replace("\n  by", "\n      by"))  # whitespace only
    result = library.add(again, Origin("evolver", direction="parameterize", parent="x"))
    assert (result.added, result.reason, result.existing) == (False, "exact_duplicate", "amgm_two")
    assert library.count() == 1


async def test_near_duplicate_statements_are_rejected(library: SkillLibrary, checker: Checker,
                                                      script: Script) -> None:
    (record,) = await verify(checker, script, AMGM)
    library.add(record, FROM_PROBLEM)
    (near,) = await verify(checker, script, AMGM.replace("amgm_two", "amgm_two'").replace("smt (verit)", "nlinarith"))
    result = library.add(near, FROM_PROBLEM)
    assert result.reason == "near_duplicate" and result.existing == "amgm_two" and result.similarity >= 0.85
    (other,) = await verify(checker, script, MOD)
    assert library.add(other, FROM_PROBLEM).added


async def test_a_name_clash_gets_a_fresh_name_everywhere_in_the_text(library: SkillLibrary, checker: Checker,
                                                                   script: Script) -> None:
    (first,) = await verify(checker, script, AMGM)
    library.add(first, FROM_PROBLEM)
    (clash,) = await verify(checker, script, MOD.replace("mod_three_sq", "amgm_two"))
    result = library.add(clash, FROM_PROBLEM)
    assert result.added and result.name == "amgm_two_2"
    skill = library.get("amgm_two_2")
    assert skill is not None and skill.text.startswith("lemma amgm_two_2:")


async def test_counters_really_update(library: SkillLibrary, checker: Checker, script: Script) -> None:
    (record,) = await verify(checker, script, AMGM)
    library.add(record, FROM_PROBLEM)
    library.record_retrieved(["amgm_two", "amgm_two"])   # one retrieval per prompt
    library.record_retrieved(["amgm_two"])
    library.record_used(["amgm_two"], verbatim=True)
    library.record_evolved("amgm_two")
    skill = library.get("amgm_two")
    assert skill is not None
    assert (skill.times_retrieved, skill.times_used, skill.times_used_verbatim, skill.times_evolved) == (2, 1, 1, 1)


async def test_query_ranks_by_similarity_and_filters(library: SkillLibrary, checker: Checker,
                                                     script: Script) -> None:
    for text, origin in ((AMGM, FROM_PROBLEM), (MOD, Origin("evolver", direction="parameterize", parent="amgm_two"))):
        (record,) = await verify(checker, script, text)
        library.add(record, origin)
    hits = library.query('fixes n :: nat shows "n^2 mod 3 = 1"', k=2)
    assert [h.skill.name for h in hits] == ["mod_three_sq", "amgm_two"] and hits[0].score > hits[1].score
    assert [h.skill.name for h in library.query("n^2 mod 3", k=5, origin="problem")] == ["amgm_two"]
    assert library.query("n^2 mod 3", k=5, min_usage=1) == []
    assert [h.skill.name for h in library.query("n^2 mod 3", k=1, exclude=["mod_three_sq"])] == ["amgm_two"]


def test_requests_are_deduplicated_tried_and_closed(library: SkillLibrary) -> None:
    made = library.add_requests(['lemma "x^2 >= (0::real)"', 'lemma  "x^2 >= (0::real)"', 'lemma "a+b = b+a"'],
                                source="mathd_algebra_1")
    assert len(made) == 2 and all(r.open for r in made)
    first = library.least_tried_request()
    assert first is not None
    library.record_request_attempt(first.id)
    second = library.least_tried_request()
    assert second is not None and second.id != first.id
    library.close_request(first.id, "sq_nonneg")
    closed = library.get_request(first.id)
    assert closed is not None and closed.solved_by == "sq_nonneg" and closed.attempts == 1 and not closed.open
    assert [r.id for r in library.requests(open_only=True)] == [second.id]


def test_problems_are_stored_once_and_queried_unsolved(library: SkillLibrary) -> None:
    assert library.add_problems([("p1", 'theorem p1: "(2::nat) + 2 = 4"'), ("p2", 'theorem p2: "x mod 3 = 1"')]) == 2
    assert library.add_problems([("p1", 'theorem p1: "(2::nat) + 2 = 4"')]) == 0
    library.mark_problem_solved("p1")
    assert [name for name, _, _ in library.query_problems("2 + 2 = 4", k=5)] == ["p2"]


async def test_stats_count_by_origin_and_growth(library: SkillLibrary, checker: Checker, script: Script) -> None:
    for text, origin in ((AMGM, FROM_PROBLEM), (MOD, Origin("evolver", direction="scale_complexity", parent="a"))):
        (record,) = await verify(checker, script, text)
        library.add(record, origin)
    library.record_used(["mod_three_sq"], verbatim=False)
    stats = library.stats()
    assert stats["skills"] == 2 and stats["by_origin"] == {"problem": 1, "evolver": 1}
    assert stats["by_direction"] == {"scale_complexity": 1} and stats["evolved_used_in_proofs"] == 1
    assert stats["growth"][-1]["total"] == 2


def test_the_library_survives_reopening(tmp_path: Path) -> None:
    settings = SkillSettings(db_path=tmp_path / "db")
    with SkillLibrary.open(settings, HashEmbedder()) as library:
        library.add_requests(['lemma "True"'], source="p")
    assert len(SkillLibrary.open(settings, HashEmbedder(), writer=False).requests()) == 1


# ----------------------------------------------------------------- concurrency

SEED = {"name": "shared", "statement": 'lemma shared: "True"', "text": 'lemma shared: "True" by simp',
        "isabelle": "Isabelle-test", "session": "HOL"}


def _records(worker: int, n: int) -> list[VerificationRecord]:
    return [VerificationRecord.from_trusted_export(
        {"name": f"w{worker}_l{i}", "statement": f'lemma w{worker}_l{i}: "x{worker} * {i} = {i} * x{worker}"',
         "text": f'lemma w{worker}_l{i}: "x{worker} * {i} = {i} * x{worker}" by simp',
         "isabelle": "Isabelle-test", "session": "HOL"}, isabelle="Isabelle-test", session="HOL")
        for i in range(n)]


def _write(settings: SkillSettings, worker: int, n: int) -> None:
    with SkillLibrary.open(settings, HashEmbedder(), lock_dir=settings.db_path.parent) as library:
        for i, record in enumerate(_records(worker, n)):
            library.add(record, Origin("problem", problem=f"w{worker}", attempt=i))
            library.record_retrieved(["shared"])


def _census(settings: SkillSettings) -> tuple[int, int]:
    library = SkillLibrary.open(settings, HashEmbedder(), writer=False)
    shared = library.get("shared")
    return library.count(), shared.times_retrieved if shared else -1


def _run_writers(settings: SkillSettings, workers: int, n: int) -> tuple[int, int]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as seeder:
        seeder.apply(_seed, (settings,))
    jobs = [ctx.Process(target=_write, args=(settings, w, n)) for w in range(workers)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(180)
        assert job.exitcode == 0, "a writer process failed"
    with ctx.Pool(1) as reader:
        return reader.apply(_census, (settings,))


def _seed(settings: SkillSettings) -> None:
    with SkillLibrary.open(settings, HashEmbedder(), lock_dir=settings.db_path.parent) as library:
        library.add(VerificationRecord.from_trusted_export(SEED, isabelle="Isabelle-test", session="HOL"),
                    FROM_PROBLEM)


def test_many_threads_in_one_process_lose_nothing(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with SkillLibrary.open(SkillSettings(db_path=tmp_path / "db", dedup_threshold=1.0), HashEmbedder()) as library:
        library.add(VerificationRecord.from_trusted_export(SEED, isabelle="Isabelle-test", session="HOL"),
                    FROM_PROBLEM)

        def work(worker: int) -> None:
            for record in _records(worker, 10):
                library.add(record, FROM_PROBLEM)
                library.record_retrieved(["shared"])

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(work, range(8)))
        shared = library.get("shared")
        assert library.count() == 81 and shared is not None and shared.times_retrieved == 80


def test_a_second_writing_process_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    settings = SkillSettings(db_path=tmp_path / "db")
    with SkillLibrary.open(settings, HashEmbedder()):
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as other, pytest.raises(LibraryBusyError, match="open for writing by another process"):
            other.apply(_open_for_writing, (settings,))
        assert SkillLibrary.open(settings, HashEmbedder(), writer=False).count() == 0   # readers still welcome


def _open_for_writing(settings: SkillSettings) -> None:
    SkillLibrary.open(settings, HashEmbedder())


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """A real Chroma server (the `chroma` CLI that ships with chromadb) on a free port."""
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    from lego_prover.llm.local_server import free_port

    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(exe).exists():
        pytest.skip("the chroma CLI is not installed")
    port = free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(tmp_path / "server-db"), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://localhost:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
                break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("chroma run did not answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_writer_processes_sharing_a_chroma_server_lose_nothing(tmp_path: Path, chroma_server: str) -> None:
    """4 processes each add 10 lemmas and bump one shared counter 10 times, all live."""
    settings = SkillSettings(db_path=tmp_path / "unused", chroma_url=chroma_server, dedup_threshold=1.0)
    count, retrieved = _run_writers(settings, workers=4, n=10)
    assert (count, retrieved) == (41, 40)


# ----------------------------------------------------------------- the real model


@pytest.mark.slow
async def test_the_real_embedding_model_retrieves_the_related_lemma(tmp_path: Path, checker: Checker,
                                                                    script: Script) -> None:
    library = SkillLibrary.open(SkillSettings(db_path=tmp_path / "db"))
    for text in (AMGM, MOD, USES):
        for record in await verify(checker, script, text):
            library.add(record, FROM_PROBLEM)
    hits = library.query('theorem: fixes k :: nat shows "k^2 mod 3 \\<noteq> 2"', k=1)
    assert hits[0].skill.name == "mod_three_sq"
    hits = library.query('fixes y :: real assumes "y > 0" shows "y^3 + 2 > 0"', k=1)
    assert hits[0].skill.name.startswith("cube_")


def test_a_store_refuses_an_other_embedding_model(tmp_path: Path) -> None:
    from lego_prover.errors import ConfigError

    class OtherModel(HashEmbedder):
        def get_config(self) -> dict[str, object]:
            return {"model": "/models/other-model"}

    settings = SkillSettings(db_path=tmp_path / "db")
    with SkillLibrary.open(settings, HashEmbedder()):
        pass
    with pytest.raises(ConfigError, match="built with the embedding model 'test_hash_embedder'"):
        SkillLibrary.open(settings, OtherModel())
