"""Problems: the ``Problem`` record and loaders for miniF2F and users' own jsonl files.

Usage::

    problems = load_problems(Path("../shared/minif2f/valid.jsonl"))
    problems = load_benchmark("minif2f", "valid", data_dir=None)   # the downloaded cache

A user file is jsonl with at least ``name`` and ``formal_statement`` per line; ``header``,
``preamble``, ``informal_statement``, ``informal_proof``, ``split`` and ``source`` are optional.
"""

from __future__ import annotations

import difflib
import io
import json
import re
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lego_prover.errors import ProblemFileError

MINIF2F_ZIP_URL = "https://github.com/facebookresearch/miniF2F/archive/refs/heads/main.zip"
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_']*\Z")


@dataclass(frozen=True)
class Problem:
    name: str
    formal_statement: str
    header: str = ""
    preamble: str = ""
    informal_statement: str = ""
    informal_proof: str | None = None
    split: str = ""
    source: str = ""

    @property
    def has_informal_proof(self) -> bool:
        return bool(self.informal_proof and self.informal_proof.strip())


def _problem_from_record(record: object, where: str) -> Problem:
    if not isinstance(record, dict):
        raise ProblemFileError(f"{where}: expected a JSON object per line.")
    missing = [k for k in ("name", "formal_statement") if not isinstance(record.get(k), str) or not record[k].strip()]
    if missing:
        raise ProblemFileError(f"{where}: missing or empty field(s) {', '.join(missing)}.")
    name = record["name"]
    if not _NAME_RE.match(name):
        raise ProblemFileError(f"{where}: problem name {name!r} is not a valid Isabelle identifier.")
    source = record.get("source") or name.split("_", 1)[0]
    preamble = str(record.get("preamble") or "")
    if preamble.strip():
        from lego_prover.isabelle.guard import GuardContext, SoundnessGuard

        rejected = SoundnessGuard(GuardContext(None, None, ())).check_preamble(preamble)
        if rejected:
            raise ProblemFileError(f"{where}: the preamble of {name} is refused: {rejected[0]}")
    return Problem(
        name=name,
        formal_statement=record["formal_statement"],
        header=str(record.get("header") or ""),
        preamble=preamble,
        informal_statement=str(record.get("informal_statement") or ""),
        informal_proof=record.get("informal_proof") if isinstance(record.get("informal_proof"), str) else None,
        split=str(record.get("split") or ""),
        source=str(source),
    )


def load_problems(path: Path, *, what: str = "problem file") -> list[Problem]:
    """Problems from one jsonl file; a malformed line is an error naming its line number."""
    from lego_prover.inputs import read_text

    problems: list[Problem] = []
    seen: set[str] = set()
    for lineno, line in enumerate(read_text(path, what).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProblemFileError(f"{where}: not valid JSON ({exc.msg}).") from exc
        problem = _problem_from_record(record, where)
        if problem.name in seen:
            raise ProblemFileError(f"{where}: duplicate problem name {problem.name!r}.")
        seen.add(problem.name)
        problems.append(problem)
    return problems


def unknown_names(problems: Sequence[Problem], names: Iterable[str]) -> list[str]:
    known = {p.name for p in problems}
    return [n for n in names if n not in known]


def select(problems: Sequence[Problem], names: Iterable[str] | None, *, where: str = "the problems",
           hint: str = "") -> list[Problem]:
    """The named problems, in the given order; an unknown name is an error (with the closest known names)."""
    if names is None:
        return list(problems)
    by_name = {p.name: p for p in problems}
    wanted = [n.strip() for n in names if n.strip()]
    unknown = unknown_names(problems, wanted)
    if unknown:
        close = [m for n in unknown[:5] for m in difflib.get_close_matches(n, list(by_name), n=1, cutoff=0.8)]
        suggestion = f"; did you mean {', '.join(close)}?" if close and not hint else ""
        raise ProblemFileError(f"unknown problem(s) in {where}: {', '.join(unknown[:5])}{hint}{suggestion}"
                               + ("" if suggestion else "."))
    return [by_name[n] for n in wanted]


def minif2f_cache_dir(cache_dir: Path) -> Path:
    return cache_dir / "minif2f"


def load_benchmark(benchmark: str, split: str, *, data_dir: Path | None, cache_dir: Path) -> list[Problem]:
    if benchmark != "minif2f":
        raise ProblemFileError(f"unknown benchmark {benchmark!r}; use 'minif2f' or --problems FILE.")
    if split not in ("valid", "test"):
        raise ProblemFileError(f"unknown split {split!r}; use 'valid' or 'test'.")
    from lego_prover.inputs import existing_dir

    hint = "pass --data-dir pointing at a folder with valid.jsonl and test.jsonl"
    if data_dir is not None:
        existing_dir(data_dir, "data folder (--data-dir / data_dir)", hint=f"; {hint}")
    folder = data_dir or minif2f_cache_dir(cache_dir)
    path = folder / f"{split}.jsonl"
    if not path.is_file():
        raise ProblemFileError(f"{path} not found; run 'lego-prover download-minif2f' first, or {hint}.")
    return load_problems(path)


# ----------------------------------------------------------------------------- download


def download_minif2f(cache_dir: Path, *, url: str = MINIF2F_ZIP_URL, timeout_s: float = 60.0) -> Path:
    """Download facebookresearch/miniF2F and write ``valid.jsonl``/``test.jsonl`` into the cache."""
    target = minif2f_cache_dir(cache_dir)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            data = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ProblemFileError(
            f"could not download miniF2F from {url} ({exc}); without network access, pass --data-dir "
            "pointing at a folder with valid.jsonl and test.jsonl") from exc
    return convert_minif2f_zip(data, target)


def copy_minif2f(source: Path, cache_dir: Path) -> Path:
    """miniF2F from a folder already on this machine into the cache, each split read (and so
    checked) as a problem file first."""
    target = minif2f_cache_dir(cache_dir)
    texts = {}
    for split in ("valid", "test"):
        load_problems(source / f"{split}.jsonl", what="--prefer file")
        texts[split] = (source / f"{split}.jsonl").read_text(encoding="utf-8")
    target.mkdir(parents=True, exist_ok=True)
    for split, text in texts.items():
        (target / f"{split}.jsonl").write_text(text, encoding="utf-8")
    return target


def convert_minif2f_zip(data: bytes, target: Path) -> Path:
    """Turn the repository zip into our jsonl format (statements cut with the theory model)."""
    from lego_prover.isabelle.theory import parse_theory

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ProblemFileError("the miniF2F download is not a zip archive.") from exc
    files = {name: name for name in archive.namelist()}
    target.mkdir(parents=True, exist_ok=True)
    for split in ("valid", "test"):
        records = []
        for name in sorted(files):
            m = re.search(rf"/isabelle/{split}/([^/]+)\.thy$", name)
            if not m:
                continue
            text = archive.read(name).decode("utf-8")
            parsed = parse_theory(text)
            goals = [b for b in parsed.blocks if b.kind.value == "lemma" and b.name == m.group(1)]
            if not goals:
                continue
            goal = goals[0]
            preamble = "\n\n".join(b.text for b in parsed.blocks[: parsed.blocks.index(goal)])
            informal = _informal(archive, files, split, m.group(1))
            records.append({
                "name": m.group(1), "split": split, "source": m.group(1).split("_", 1)[0],
                "formal_statement": goal.statement, "header": parsed.header_text.strip(),
                "preamble": preamble, **informal,
            })
        with (target / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return target


def _informal(archive: zipfile.ZipFile, files: dict[str, str], split: str, name: str) -> dict[str, str | None]:
    for path in files:
        if path.endswith(f"/informal/{split}/{name}.json"):
            record = json.loads(archive.read(path))
            return {"informal_statement": record.get("informal_statement", ""),
                    "informal_proof": record.get("informal_proof")}
    return {"informal_statement": "", "informal_proof": None}
