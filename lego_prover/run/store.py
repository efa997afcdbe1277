"""The run directory: everything a run did, written durably, readable by people and tools.

Layout::

    RUN_DIR/
      run.json          what was run (benchmark, split, problems, attempts, started, lego-prover version)
      config.json       the settings used (secrets are never in settings: keys live in the environment)
      attempts.jsonl    one line per finished prover attempt, fsync'ed before the next is counted
      evolver.jsonl     one line per evolver step
      solved/NAME.thy   each solved problem's verified theory, exactly as Isabelle checked it
      summary.json      totals, per problem, usage; rewritten as the run goes

A killed run (kill -9 included) leaves at worst a torn last line, which ``open`` drops;
``--resume`` then skips every attempt already recorded.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lego_prover.errors import LegoProverError
from lego_prover.prover.attempt import AttemptRecord

ATTEMPTS = "attempts.jsonl"
EVOLVER = "evolver.jsonl"


class RunDirError(LegoProverError):
    """The run directory cannot be used as asked."""


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_jsonl(path: Path, *, repair: bool = False) -> Iterator[dict[str, Any]]:
    """Complete lines only; with ``repair`` a torn last line (a kill mid-write) is cut off the file."""
    if not path.exists():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if repair and end < len(data):
        with path.open("r+b") as f:
            f.truncate(end)
    for raw in data[:end].splitlines():
        if raw.strip():
            try:
                yield json.loads(raw)
            except json.JSONDecodeError:
                continue  # a corrupt line is skipped, never fatal: its attempt is redone


class RunStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.records: list[AttemptRecord] = []
        self.evolver_steps: list[dict[str, Any]] = []

    @staticmethod
    def check(path: Path, *, resume: bool) -> None:
        """Raise unless ``path`` can be used: new without ``resume``, an existing run with it."""
        existing = path / "run.json"
        if path.exists() and not path.is_dir():
            raise RunDirError(f"the run directory {path} is a file; choose another --run-dir")
        if existing.exists() and not resume:
            raise RunDirError(f"{path} already holds a run; pass --resume to continue it, or choose another --run-dir")
        if resume and not existing.exists():
            raise RunDirError(f"{path} holds no run to resume (no run.json)")

    @classmethod
    def open(cls, path: Path, meta: dict[str, Any], settings_json: dict[str, Any], *, resume: bool) -> RunStore:
        """Create a run directory, or reopen one with ``resume``; never silently mix two runs."""
        cls.check(path, resume=resume)
        existing = path / "run.json"
        path.mkdir(parents=True, exist_ok=True)
        (path / "solved").mkdir(exist_ok=True)
        store = cls(path)
        if resume:
            old = json.loads(existing.read_text(encoding="utf-8"))
            if old.get("kind") != meta.get("kind"):
                raise RunDirError(f"{path} holds a {old.get('kind')} run, not {meta.get('kind')}")
            store.records = [AttemptRecord.from_json(r) for r in _read_jsonl(path / ATTEMPTS, repair=True)]
            store.evolver_steps = list(_read_jsonl(path / EVOLVER, repair=True))
            meta = {**old, "resumed": [*old.get("resumed", []), meta.get("started")]}
        write_atomic(existing, json.dumps(meta, indent=2))
        write_atomic(path / "config.json", json.dumps(settings_json, indent=2, default=str))
        return store

    def meta(self) -> dict[str, Any]:
        return dict(json.loads((self.path / "run.json").read_text(encoding="utf-8")))

    # ------------------------------------------------------------------ attempts

    def done(self) -> set[tuple[str, int]]:
        """Attempts that finished: a budget or infrastructure interruption is not finished (it is redone)."""
        return {(r.problem, r.attempt) for r in self.records if r.finished}

    def solved(self) -> dict[str, AttemptRecord]:
        out: dict[str, AttemptRecord] = {}
        for r in self.records:
            if r.solved and r.problem not in out:
                out[r.problem] = r
        return out

    def append(self, record: AttemptRecord) -> None:
        """Write the attempt durably (and its theory when solved) before it is counted."""
        with self._lock:
            if record.solved:
                write_atomic(self.path / "solved" / f"{record.problem}.thy", record.theory)
            self._append_line(ATTEMPTS, record.to_json())
            self.records.append(record)

    def append_evolver(self, step: dict[str, Any]) -> None:
        with self._lock:
            self._append_line(EVOLVER, step)
            self.evolver_steps.append(step)

    def _append_line(self, name: str, data: dict[str, Any]) -> None:
        with (self.path / name).open("a", encoding="utf-8") as f:
            f.write(json.dumps(data, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def write_summary(self, summary: dict[str, Any]) -> None:
        with self._lock:
            write_atomic(self.path / "summary.json", json.dumps(summary, indent=2, default=str))


def load_run(path: Path) -> tuple[dict[str, Any], list[AttemptRecord], list[dict[str, Any]], dict[str, Any]]:
    """(meta, attempts, evolver steps, summary) of a run directory, for reports and re-checks."""
    from lego_prover.inputs import existing_dir, read_text

    existing_dir(path, "run directory")
    if not (path / "run.json").is_file():
        raise RunDirError(f"{path} is not a run directory (no run.json); give the folder 'lego-prover eval' wrote")
    try:
        meta = json.loads(read_text(path / "run.json", "run file"))
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path / 'run.json'} is not valid JSON ({exc.msg}); the run directory is damaged") from None
    attempts = [AttemptRecord.from_json(r) for r in _read_jsonl(path / ATTEMPTS)]
    steps = list(_read_jsonl(path / EVOLVER))
    summary_path = path / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    return meta, attempts, steps, summary
