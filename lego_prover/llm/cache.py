"""On-disk (sqlite) response cache: a repeated or resumed run reuses answers.

Keyed by model, messages, sampling parameters, sample index and attempt number, so the
k-th sample of a request is cached separately from the (k+1)-th, and two attempts that
happen to send the same prompt still get independent samples.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lego_prover.llm.base import ChatMessage, Completion, Usage


def cache_key(model: str, messages: Sequence[ChatMessage], *, temperature: float, max_tokens: int,
              stop: Sequence[str] | None, index: int, attempt: int = 0, extra: dict[str, Any] | None = None) -> str:
    """``extra``: further request settings that change the answer (``reasoning_effort``), when set."""
    fields: dict[str, Any] = {"model": model, "messages": list(messages), "temperature": temperature,
                              "max_tokens": max_tokens, "stop": list(stop or []), "index": index, "attempt": attempt}
    if extra:
        fields["extra"] = extra
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT NOT NULL)")

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        return Completion(data["text"], data["finish_reason"], Usage(**data["usage"]), data.get("model", ""),
                          cached=True, reasoning=data.get("reasoning", ""))

    def put(self, key: str, completion: Completion) -> None:
        value = json.dumps({"text": completion.text, "finish_reason": completion.finish_reason,
                            "model": completion.model, "reasoning": completion.reasoning,
                            "usage": asdict(completion.usage)})
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()
