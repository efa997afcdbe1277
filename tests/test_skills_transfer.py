"""Export (one loadable theory; jsonl with records), import (re-verified), and the `skills` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.config import SkillSettings
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.theory import BlockKind, parse_theory
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import Origin
from lego_prover.skills.transfer import export_jsonl, export_theory, import_jsonl
from tests.fakes import replies
from tests.fakes.fake_isabelle import Script
from tests.fakes.hash_embedder import HashEmbedder
from tests.skill_helpers import IMPORTS, verify

BASE = 'lemma sq_nonneg_real:\n  fixes x :: real\n  shows "x^2 >= 0"\n  by simp'
USER_A = BASE + '\n\nlemma sum_sq_nonneg:\n  fixes x y :: real\n  shows "x^2 + y^2 >= 0"\n  using sq_nonneg_real by (simp add: add_nonneg_nonneg)'
USER_B = BASE + '\n\nlemma three_sq_nonneg:\n  fixes a :: real\n  assumes "a^2 <= 0"\n  shows "a = 0"\n  using sq_nonneg_real assms by (smt (verit) power_zero_numeral zero_eq_power2)'
OTHER_HELPER = 'lemma sq_nonneg_real:\n  fixes n :: int\n  shows "n^2 >= 0"\n  by simp\n\nlemma int_sq_plus_one:\n  fixes n :: int\n  shows "n^2 + 1 > 0"\n  using sq_nonneg_real by (smt (verit))'



async def filled(tmp_path: Path, checker: Checker, script: Script, embedder: object = None) -> SkillLibrary:
    library = SkillLibrary.open(SkillSettings(db_path=tmp_path / "db"), embedder or HashEmbedder())
    for text, names in ((USER_A, ["sum_sq_nonneg"]), (USER_B, ["three_sq_nonneg"]),
                        (OTHER_HELPER, ["int_sq_plus_one"])):
        for record in await verify(checker, script, text, names):
            assert library.add(record, Origin("problem", problem="p", attempt=0)).added
    return library


async def test_the_exported_theory_has_each_lemma_once_dependencies_first(tmp_path: Path, checker: Checker,
                                                                          script: Script) -> None:
    library = await filled(tmp_path, checker, script)
    text = export_theory(library.all_skills(), IMPORTS, "Skills")
    parsed = parse_theory(text)
    assert parsed.header is not None and parsed.header.name == "Skills" and parsed.has_end
    names = [b.name for b in parsed.blocks if b.kind is BlockKind.LEMMA]
    assert len(names) == len(set(names)), f"a lemma name occurs twice: {names}"
    assert names.index("sq_nonneg_real") < names.index("sum_sq_nonneg") < names.index("three_sq_nonneg")
    # the int helper shares a name with the real one: renamed within its skill, references included
    clash = next(b for b in parsed.blocks if b.name == "int_sq_plus_one")
    assert "sq_nonneg_real_v2" in clash.text and "sq_nonneg_real_v2" in names


async def test_import_re_verifies_every_lemma(tmp_path: Path, checker: Checker, script: Script) -> None:
    library = await filled(tmp_path, checker, script)
    dump = tmp_path / "skills.jsonl"
    assert export_jsonl(library.all_skills(), dump) == 3
    target = SkillLibrary.open(SkillSettings(db_path=tmp_path / "db2"), HashEmbedder())
    script.queue.extend([replies.verified(), replies.error_at("by simp", "Failed to finish proof"), replies.verified()])
    report = await import_jsonl(target, dump, checker, imports=IMPORTS)
    assert len(report.added) == 2 and [name for name, _ in report.failed] == ["three_sq_nonneg"]
    assert {s.name for s in target.all_skills()} == set(report.added)


async def test_trusted_records_need_the_same_isabelle_and_session(tmp_path: Path, checker: Checker,
                                                                  script: Script) -> None:
    library = await filled(tmp_path, checker, script)
    dump = tmp_path / "skills.jsonl"
    export_jsonl(library.all_skills(), dump)
    submitted = len(script.queue)
    target = SkillLibrary.open(SkillSettings(db_path=tmp_path / "db2"), HashEmbedder())
    skill = library.all_skills()[0]
    same = await import_jsonl(target, dump, checker, imports=IMPORTS, trust_records=True,
                              isabelle=skill.isabelle, session=skill.session)
    assert len(same.added) == 3 and len(script.queue) == submitted   # nothing was re-checked
    other = SkillLibrary.open(SkillSettings(db_path=tmp_path / "db3"), HashEmbedder())
    changed = await import_jsonl(other, dump, checker, imports=IMPORTS, trust_records=True,
                                 isabelle="Isabelle2099", session=skill.session)
    assert not changed.added and all("without --trust-records" in why for _, why in changed.failed)


# ----------------------------------------------------------------- CLI (real embedding model)

runner = CliRunner()


@pytest.mark.slow
async def test_the_skills_commands_show_what_is_stored(tmp_path: Path, checker: Checker, script: Script,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from lego_prover.skills.embedder import Embedder

    library = await filled(tmp_path, checker, script, embedder=Embedder())
    library.record_used(["sum_sq_nonneg"], verbatim=True)
    library.close()
    (tmp_path / "lego-prover.toml").write_text(f'[skills]\ndb_path = "{tmp_path / "db"}"\n')

    result = runner.invoke(app, ["skills", "query", 'shows "a^2 + b^2 >= 0"', "-k", "1", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert [h["name"] for h in hits] == ["sum_sq_nonneg"] and 0 < hits[0]["score"] <= 1

    shown = runner.invoke(app, ["skills", "show", "sum_sq_nonneg"])
    assert shown.exit_code == 0 and "using sq_nonneg_real" in shown.output and "used 1" in shown.output
    missing = runner.invoke(app, ["skills", "show", "nope"])
    assert missing.exit_code == 2 and "no skill named 'nope'" in missing.output

    listed = json.loads(runner.invoke(app, ["skills", "list", "--sort", "usage", "--json"]).stdout)
    assert listed[0]["name"] == "sum_sq_nonneg" and len(listed) == 3

    stats = json.loads(runner.invoke(app, ["skills", "stats", "--json"]).stdout)
    assert stats["skills"] == 3 and stats["by_origin"] == {"problem": 3} and stats["used_in_proofs"] == 1

    assert runner.invoke(app, ["skills", "export", str(tmp_path / "Lib.thy")]).exit_code == 0
    assert parse_theory((tmp_path / "Lib.thy").read_text()).header.name == "Lib"  # type: ignore[union-attr]
    assert runner.invoke(app, ["skills", "export", str(tmp_path / "lib.jsonl"), "--format", "jsonl"]).exit_code == 0
    assert len((tmp_path / "lib.jsonl").read_text().splitlines()) == 3


async def test_trusted_records_still_pass_the_soundness_guard(tmp_path: Path, checker: Checker,
                                                               script: Script) -> None:
    library = await filled(tmp_path, checker, script)
    skill = library.all_skills()[0]
    dump = tmp_path / "forged.jsonl"
    forged = {"name": "evil", "text": 'lemma evil: "False" sorry',
              "verification": {"name": "evil", "statement": 'lemma evil: "False"', "text": 'lemma evil: "False" sorry',
                               "isabelle": skill.isabelle, "session": skill.session}}
    dump.write_text(json.dumps(forged) + "\n")
    target = SkillLibrary.open(SkillSettings(db_path=tmp_path / "db2"), HashEmbedder())
    report = await import_jsonl(target, dump, checker, imports=IMPORTS, trust_records=True,
                                isabelle=skill.isabelle, session=skill.session)
    assert not report.added and report.failed[0][0] == "evil" and "skipped_proof" in report.failed[0][1]
    assert target.count() == 0


async def test_a_trusted_record_longer_than_a_proof_may_be_is_refused(tmp_path: Path, checker: Checker,
                                                                     script: Script) -> None:
    library = await filled(tmp_path, checker, script)
    skill = library.all_skills()[0]
    text = 'lemma padded: "True"\n  (* ' + "padding " * 200 + "*)\n  by simp"
    dump = tmp_path / "padded.jsonl"
    dump.write_text(json.dumps({"name": "padded", "text": text, "verification": {
        "name": "padded", "statement": 'lemma padded: "True"', "text": text,
        "isabelle": skill.isabelle, "session": skill.session}}) + "\n")
    target = SkillLibrary.open(SkillSettings(db_path=tmp_path / "db2"), HashEmbedder())
    report = await import_jsonl(target, dump, checker, imports=IMPORTS, trust_records=True,
                                isabelle=skill.isabelle, session=skill.session, max_proof_bytes=1_000)
    assert not report.added and report.failed[0][0] == "padded" and "too_large" in report.failed[0][1]
    assert target.count() == 0
