"""``pytest -m isabelle --record-replies DIR``: every real reply becomes a replay recording.

Each file has the format of ``tests/test_recorded_replies.py``: the exact theory, Isabelle's
reply, and the verdict lego-prover gave (which the recording test then pinned), with the
test that made it as the note.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lego_prover.isabelle.client import TaskReply
from lego_prover.isabelle.theory import AssembledTheory
from lego_prover.isabelle.verdict import Verdict


class ReplyRecorder:
    def __init__(self, folder: Path, session: str) -> None:
        self._folder = folder
        self._session = session
        self.test = "unknown"
        self._count: dict[str, int] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, assembled: AssembledTheory, reply: TaskReply, verdict: Verdict) -> None:
        stem = re.sub(r"[^A-Za-z0-9_]+", "_", self.test).strip("_")[:80]
        n = self._count[stem] = self._count.get(stem, 0) + 1
        record: dict[str, Any] = {
            "theory": assembled.text, "target": assembled.target, "finished": reply.finished,
            "payload": {k: v for k, v in reply.payload.items() if k != "task"},
            "expected": "verified" if verdict.verified else (verdict.failure.value if verdict.failure else "?"),
            "note": f"recorded by {self.test}: {verdict.reason}",
            "isabelle": verdict.isabelle, "session": self._session,
            "trusted_oracles": list(verdict.trusted_oracles),   # what the verdict was allowed to rely on
        }
        (self._folder / f"{stem}_{n}.json").write_text(json.dumps(record, indent=1) + "\n")
