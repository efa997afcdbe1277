"""``lego-prover skills ...``: look into, share and grow the skill library."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from lego_prover.cli_support import LegoTyper, cli_checker, cli_settings, err, guarded, out
from lego_prover.config import Settings
from lego_prover.errors import BadInputError, IsabelleUnavailableError
from lego_prover.render import mark_line

skills_app = LegoTyper(
    help=("The skill library: verified lemmas that later proofs retrieve and reuse.\n\n"
          "Stored under skills.db_path (default ./skills_db) or on a Chroma server (skills.chroma_url). "
          "Every entry was verified by Isabelle; 'skills import' re-verifies what it reads. "
          "query, show, list, stats and export only read: they create nothing.\n\n"
          "Example:\n\n    lego-prover skills stats"),
    no_args_is_help=True,
)


class Sort(StrEnum):
    usage = "usage"
    recent = "recent"
    name = "name"


class ExportFormat(StrEnum):
    thy = "thy"
    jsonl = "jsonl"


class OriginChoice(StrEnum):
    problem = "problem"
    evolver = "evolver"
    request = "request"
    import_ = "import"


def _library(settings: Settings, *, writer: bool = False) -> Any:
    """The library; a read-only look (the default) creates nothing and says so when there is none."""
    from lego_prover.skills.library import SkillLibrary

    return SkillLibrary.open(settings.skills, writer=writer, lock_dir=settings.cache_dir)


def _where(settings: Settings) -> str:
    return settings.skills.chroma_url or str(settings.skills.db_path.absolute())


def _skill_panel(skill: Any, score: float | None = None) -> Panel:
    title = Text.assemble((skill.name, "bold"), (f"  score {score:.3f}", "dim") if score is not None else "")
    subtitle = Text(f"{skill.origin.describe()} · retrieved {skill.times_retrieved} · used {skill.times_used}"
                    f" · {skill.isabelle or '?'} / {skill.session or '?'}")
    return Panel(Syntax(skill.text, "isabelle", word_wrap=True, theme="ansi_dark"), title=title,
                 subtitle=subtitle, title_align="left", subtitle_align="left")


@skills_app.command("query")
def query(
    text: Annotated[str, typer.Argument(metavar="TEXT", help="A formal statement, a lemma request, or just words.")],
    k: Annotated[int, typer.Option("-k", min=1, help="How many skills.")] = 5,
    origin: Annotated[OriginChoice | None, typer.Option(help="Only skills with this origin.")] = None,
    min_usage: Annotated[int, typer.Option(min=0, help="Only skills used in at least this many verified proofs.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Find the verified lemmas closest to TEXT (what the prover would retrieve).

    Reads only. An empty library is answered without loading the embedding model.

    Example:

        lego-prover skills query '"a^2 + b^2 >= 2*a*b"' -k 3
    """

    def body() -> None:
        if not text.strip():
            raise BadInputError("the query TEXT is empty; give a statement or some words, e.g. 'a^2 + b^2 >= 2*a*b'.")
        settings = cli_settings()
        library = _library(settings)
        if library.count() == 0:
            hits = []
            if not as_json:
                out.print(f"the skill library at {_where(settings)} is empty: nothing to query yet "
                          "('lego-prover eval' adds every lemma it proves)", markup=False, highlight=False)
                return
        else:
            hits = library.query(text, k, origin=origin.value if origin else None, min_usage=min_usage)
        if as_json:
            out.print_json(json.dumps([{"score": round(h.score, 4), **h.skill.as_dict()} for h in hits]))
            return
        if not hits:
            out.print("no skill matches these filters (see 'lego-prover skills stats')", markup=False)
        for hit in hits:
            out.print(_skill_panel(hit.skill, hit.score))

    guarded(body)


@skills_app.command("show")
def show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Skill name (as 'skills list' shows it).")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show one skill: its text, origin, verification and counters.

    Example (the most used skill):

        lego-prover skills show \\
          "$(lego-prover skills list --sort usage --limit 1 --names)"
    """

    def body() -> None:
        skill = _library(cli_settings()).get(name)
        if skill is None:
            raise BadInputError(f"no skill named {name!r}; 'lego-prover skills list' shows the names, "
                                f"'lego-prover skills query {name!r}' finds similar ones.")
        if as_json:
            out.print_json(json.dumps(skill.as_dict()))
            return
        out.print(_skill_panel(skill))
        out.print(f"verified {skill.verified_at} · added {skill.added_at} · hash {skill.content_hash[:16]}"
                  + (f" · requires {', '.join(skill.requires)}" if skill.requires else ""),
                  highlight=False, markup=False, soft_wrap=True)

    guarded(body)


@skills_app.command("list")
def list_skills(
    sort: Annotated[Sort, typer.Option(help="usage (most used first), recent (newest first) or name.")] = Sort.recent,
    limit: Annotated[int, typer.Option(min=0, help="Show at most this many (0 = all).")] = 50,
    names: Annotated[bool, typer.Option("--names", help="Only the names, one per line (for scripts).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List skills with origin and counters.

    Example:

        lego-prover skills list --sort usage --limit 10
    """

    def body() -> None:
        skills = _library(cli_settings()).all_skills()
        if sort is Sort.usage:
            skills.sort(key=lambda s: (-s.times_used, -s.times_retrieved, s.name))
        elif sort is Sort.recent:
            skills.sort(key=lambda s: (s.added_at, s.name), reverse=True)
        else:
            skills.sort(key=lambda s: s.name)
        shown = skills[:limit] if limit else skills
        if as_json:
            out.print_json(json.dumps([s.as_dict() for s in shown]))
            return
        if names:
            for s in shown:
                out.print(s.name, markup=False, highlight=False)
            return
        for s in shown:  # the statement whole, on its own line: nothing cut, nothing read as markup
            out.print(Text.assemble((s.name, "bold"), f"  {s.origin.describe()} · retrieved {s.times_retrieved} · "
                                    f"used {s.times_used} · added {s.added_at[:10]}"))
            out.print(Text("    " + " ".join(s.statement.split())))
        out.print(Text(f"{len(shown)} of {len(skills)} skills", style="dim"))

    guarded(body)


@skills_app.command("stats")
def stats(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Counts by origin and evolver direction, requests, reuse, and growth over time.

    Example:

        lego-prover skills stats
    """

    def body() -> None:
        data = _library(cli_settings()).stats()
        if as_json:
            out.print_json(json.dumps(data))
            return
        out.print(f"[bold]{data['skills']}[/] skills · {data['used_in_proofs']} used in verified proofs · "
                  f"retrieved {data['times_retrieved']} times")
        table = Table("origin", "skills", box=None, header_style="bold")
        for origin, n in sorted(data["by_origin"].items()):
            table.add_row(Text(origin), str(n))
        out.print(table)
        if data["by_direction"]:
            table = Table("evolver direction", "skills", box=None, header_style="bold")
            for direction, n in sorted(data["by_direction"].items()):
                table.add_row(Text(direction), str(n))
            out.print(table)
            out.print(f"evolved skills later used in verified proofs: {data['evolved_used_in_proofs']}")
        out.print(f"requests: {data['requests']} ({data['requests_open']} open, {data['requests_solved']} solved)"
                  f" · target problems: {data['problems']}")
        if data["growth"]:
            table = Table("date", "added", "total", box=None, header_style="bold")
            for row in data["growth"][-14:]:
                table.add_row(row["date"], str(row["added"]), str(row["total"]))
            out.print(table)

    guarded(body)


def export_format(target: Path, chosen: ExportFormat | None) -> ExportFormat:
    """The format ``--format`` names, else the one the file's suffix names; a mismatch is refused
    (a theory in ``x.jsonl`` or records in ``X.thy`` would only fail later, where they are read)."""
    by_suffix = {".thy": ExportFormat.thy, ".jsonl": ExportFormat.jsonl}.get(target.suffix.lower())
    if chosen is None:
        return by_suffix or ExportFormat.thy
    if by_suffix is not None and by_suffix is not chosen:
        raise BadInputError(f"--format {chosen.value} does not match the file name {target}; "
                            f"name it *.{chosen.value}, or leave --format out")
    return chosen


@skills_app.command("export")
def export(
    target: Annotated[Path, typer.Argument(metavar="FILE", help="Output file: Skills.thy (a theory) or skills.jsonl (records).")],
    chosen: Annotated[ExportFormat | None, typer.Option(
        "--format", help="thy: one Isabelle theory; jsonl: records. Default: from FILE's suffix (.jsonl, else thy).",
        show_default=False)] = None,
) -> None:
    """Write the whole library as one Isabelle theory (loadable, dependencies first) or as jsonl.

    The theory's name is the file's stem. The jsonl keeps each skill's verification record,
    so 'skills import --trust-records' can skip re-checking on the same Isabelle and session.

    Example (the suffix picks the format: Skills.thy writes one theory):

        lego-prover skills export skills.jsonl
    """

    def body() -> None:
        from lego_prover.inputs import new_file
        from lego_prover.skills.transfer import export_jsonl, export_theory

        settings = cli_settings()
        fmt = export_format(target, chosen)
        new_file(target, "export file")
        if fmt is ExportFormat.thy:
            stem = target.stem
            if not stem or not stem.replace("_", "a").isalnum() or not stem[0].isalpha():
                raise BadInputError(f"the theory name {stem!r} (the file's stem) must be an Isabelle identifier, "
                                    "e.g. Skills.thy.")
        skills = _library(settings).all_skills()
        if fmt is ExportFormat.jsonl:
            n = export_jsonl(skills, target)
        else:
            target.write_text(export_theory(skills, settings.isabelle.imports, target.stem), encoding="utf-8")
            n = len(skills)
        out.print(f"wrote {n} skills to {target}", markup=False, highlight=False)

    guarded(body)


@skills_app.command("import")
def import_(
    source: Annotated[Path, typer.Argument(metavar="FILE", help="A jsonl file written by 'skills export --format jsonl'.")],
    trust_records: Annotated[bool, typer.Option(help="Skip re-checking records verified by the same Isabelle version and session.")] = False,
) -> None:
    """Add lemmas from a jsonl file; each is re-verified by Isabelle before it is added.

    Example (the file 'skills export' wrote):

        lego-prover skills import skills.jsonl
    """

    def body() -> None:
        from lego_prover.preflight import Preflight
        from lego_prover.skills.transfer import read_jsonl

        settings = cli_settings()
        check = Preflight(settings)
        with check.step():
            read_jsonl(source)  # a missing or malformed file fails before Isabelle starts
        for need in (check.isabelle, check.embedding, check.library):
            need()
        check.raise_if_missing("skills import")
        report = asyncio.run(_import(settings, source, trust_records))
        out.print(f"added {len(report.added)} · duplicates {len(report.duplicates)} · failed {len(report.failed)}",
                  markup=False, highlight=False)
        for name, why in report.failed[:20]:
            err.print(Text("  ") + mark_line(False, f"{name}: {why}"), soft_wrap=True)
        if len(report.failed) > 20:
            err.print(f"  ... and {len(report.failed) - 20} more", markup=False, highlight=False)
        if report.undecided:  # a broken service is never a verdict about a lemma
            name, why = report.undecided[0]
            raise IsabelleUnavailableError(
                f"Isabelle failed while checking {len(report.undecided)} lemma(s) (first: {name}: {why}); nothing was "
                f"decided about them: run 'skills import {source}' again (lemmas already added count as duplicates).")
        raise typer.Exit(0 if not report.failed else 1)

    guarded(body)


async def _import(settings: Settings, source: Path, trust: bool) -> Any:
    from lego_prover.skills.transfer import import_jsonl

    with _library(settings, writer=True) as library:
        async with cli_checker(settings) as checker:
            return await import_jsonl(library, source, checker, imports=settings.isabelle.imports,
                                      trust_records=trust, isabelle=checker.isabelle, session=checker.session,
                                      max_proof_bytes=settings.isabelle.max_proof_bytes,
                                      on_progress=lambda name: err.print(Text(f"checked {name}", style="dim")))
