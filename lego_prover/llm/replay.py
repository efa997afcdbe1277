"""Answers from recorded conversations instead of a model: ``--replay SOURCE`` (``llm.replay``).

Usage::

    source = load_replay_source(Path("../shared/llm-replies/lego-prover/valid.jsonl"))  # or a run directory
    llm = ReplayLLM(source, tracker)
    (c,) = await llm.complete(messages, component="decomposer", problem="mathd_algebra_10", attempt=0)
    c.text, c.replayed, c.usage_estimated

Two kinds of source:

* a run directory of ours (``attempts.jsonl``, and ``evolver.jsonl`` for ``evolve``): every
  call of attempt ``k`` of a problem (evolver step ``k``) as it was recorded, with its
  model, usage and cost; a problem's attempt that was recorded more than once (an
  interrupted attempt redone on resume) answers with its last record;
* a JSONL file in the format of LEGO-Prover's published runs (one solved attempt a line:
  ``problem``, ``decomposer.answer``, ``formalizer.answer``, ``informal_mode``,
  ``informal_proof``): the ``k``-th line of a problem is its attempt ``k``. It has no
  usage: tokens are counted with the tokenizer (the prompt we built, the recorded
  answer) and the call is marked ``usage_estimated``.

Matching is by problem, attempt, role (``roles.role_of``) and order within the role, never
by similarity: the ``j``-th call of a role in an attempt gets the ``j``-th recorded answer
of that role in the same attempt, or raises ``NoRecordedAnswer``. That error is an
outcome of its own (``no recorded answer``): neither a proof failure nor a broken service,
and it never stops the run. No model, endpoint or response cache is touched.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from lego_prover.errors import BadInputError, LLMError
from lego_prover.llm.base import ChatMessage, Completion, Usage
from lego_prover.llm.roles import role_of
from lego_prover.llm.usage import UsageTracker
from lego_prover.tokens import count_tokens

NO_RECORDED_ANSWER = "no_recorded_answer"     # the attempt's outcome (``AttemptRecord.failure``)
JSONL_MODEL = "chatgpt (LEGO-Prover's recorded run)"   # the published runs do not say which model answered
EVOLVER_PROBLEM = ""                           # evolver calls are made for no problem: keyed by step


def replay_note(source: str) -> str:
    """The one line every record, summary, report and comparison of a replayed run carries."""
    return f"answers replayed from {source}; no model was called"


class NoRecordedAnswer(LLMError):
    """A call the source has no answer for: the attempt ends with the outcome ``no recorded answer``."""


@dataclass(frozen=True)
class RecordedCall:
    role: str
    text: str
    reasoning: str = ""
    finish_reason: str = "stop"
    model: str = ""
    usage: Usage | None = None        # None: the source has none, counted with the tokenizer


@dataclass(frozen=True)
class ReplaySource:
    path: str
    kind: str                                                   # "run" | "jsonl"
    conversations: Mapping[tuple[str, int], tuple[RecordedCall, ...]] = field(default_factory=dict)

    @property
    def note(self) -> str:
        return replay_note(self.path)

    def attempts(self, problem: str) -> int:
        """How many attempts of ``problem`` the source holds (attempt indexes 0..n-1)."""
        return self._attempts_by_problem.get(problem, 0)

    @cached_property
    def _attempts_by_problem(self) -> dict[str, int]:
        # Asked once per problem by the scheduler and the attempts cap: one pass, not one per problem.
        most: dict[str, int] = {}
        for problem, index in self.conversations:
            if index >= 0:
                most[problem] = max(most.get(problem, 0), index + 1)
        return most

    def problems(self) -> list[str]:
        return sorted({p for (p, _) in self.conversations if p != EVOLVER_PROBLEM})

    def describe(self) -> dict[str, Any]:
        return {"source": self.path, "kind": self.kind, "note": self.note,
                "problems": len(self.problems()), "conversations": len(self.conversations)}


def load_replay_source(path: Path) -> ReplaySource:
    """A run directory of ours or a JSONL file of LEGO-Prover's format; a one-line error otherwise."""
    if path.is_dir():
        if not (path / "attempts.jsonl").is_file() and not (path / "evolver.jsonl").is_file():
            raise BadInputError(f"the replay source {path} is a folder with no attempts.jsonl or evolver.jsonl; "
                                "give a run directory written by 'lego-prover eval' or 'evolve', or a .jsonl file")
        return ReplaySource(str(path), "run", _run_conversations(path))
    if not path.is_file():
        raise BadInputError(f"the replay source {path} does not exist; give a run directory or a .jsonl file "
                            "(--replay, llm.replay)")
    return ReplaySource(str(path), "jsonl", _jsonl_conversations(path))


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read the replay source {path}: {exc}") from None
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"{path} line {number} is not JSON ({exc.msg}); a replay source holds one JSON "
                                "object a line") from None
        if not isinstance(data, dict):
            raise BadInputError(f"{path} line {number} is not a JSON object")
        yield number, data


def _answer(data: dict[str, Any], key: str, path: Path, number: int) -> str:
    part = data.get(key)
    answer = part.get("answer") if isinstance(part, dict) else None
    if not isinstance(answer, str):
        raise BadInputError(f"{path} line {number} has no {key}.answer text; each line needs problem, "
                            "decomposer.answer and formalizer.answer (LEGO-Prover's published format)")
    return answer


def _jsonl_conversations(path: Path) -> dict[tuple[str, int], tuple[RecordedCall, ...]]:
    seen: dict[str, int] = defaultdict(int)
    out: dict[tuple[str, int], tuple[RecordedCall, ...]] = {}
    for number, data in _lines(path):
        problem = data.get("problem")
        if not isinstance(problem, str) or not problem:
            raise BadInputError(f"{path} line {number} names no problem (key 'problem')")
        calls = []
        informal = data.get("informal_proof")
        if data.get("informal_mode") == "generated" and isinstance(informal, str):
            calls.append(RecordedCall("informal_solver", informal, model=JSONL_MODEL))
        calls.append(RecordedCall("decomposer", _answer(data, "decomposer", path, number), model=JSONL_MODEL))
        calls.append(RecordedCall("formalizer", _answer(data, "formalizer", path, number), model=JSONL_MODEL))
        out[(problem, seen[problem])] = tuple(calls)
        seen[problem] += 1
    if not out:
        raise BadInputError(f"the replay source {path} holds no records")
    return out


def _recorded(call: Any) -> RecordedCall:
    if not isinstance(call, dict) or not isinstance(call.get("completion"), str):
        raise ValueError("a call without its answer")
    usage = None if call.get("usage_estimated") else Usage(
        int(call.get("prompt_tokens", 0)), int(call.get("completion_tokens", 0)),
        int(call.get("reasoning_tokens", 0)), int(call.get("cached_tokens", 0)))
    return RecordedCall(role_of(str(call.get("component", ""))), call["completion"], str(call.get("reasoning", "")),
                        str(call.get("finish_reason", "stop")), str(call.get("model", "")), usage)


def _run_conversations(path: Path) -> dict[tuple[str, int], tuple[RecordedCall, ...]]:
    out: dict[tuple[str, int], tuple[RecordedCall, ...]] = {}
    for name, key_of, calls_key in (("attempts.jsonl", lambda d: (d.get("problem"), d.get("attempt")), "calls"),
                                    ("evolver.jsonl", lambda d: (EVOLVER_PROBLEM, d.get("step")), "llm_calls")):
        file = path / name
        if not file.is_file():
            continue
        for number, data in _lines(file):
            problem, index = key_of(data)
            calls = data.get(calls_key) or []
            if not isinstance(problem, str) or not isinstance(index, int) or not isinstance(calls, list):
                raise BadInputError(f"{file} line {number} is not an attempt record of lego-prover")
            if not calls:
                continue            # the hammer pass, or an attempt that ended before any call
            try:
                out[(problem, index)] = tuple(_recorded(c) for c in calls)   # a later record of the same attempt wins
            except (ValueError, TypeError) as exc:
                raise BadInputError(f"{file} line {number}: {exc}; the run directory is damaged") from None
    if not out:
        raise BadInputError(f"the replay source {path} holds no recorded LLM call")
    return out


class ReplayLLM:
    """The ``LLM`` interface, answered from a ``ReplaySource``."""

    def __init__(self, source: ReplaySource, tracker: UsageTracker) -> None:
        self.source = source
        self._tracker = tracker
        self._next: dict[tuple[str, int, str], int] = defaultdict(int)
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        models = sorted({c.model for calls in self.source.conversations.values() for c in calls if c.model})
        return ", ".join(models) or "(recorded)"

    @property
    def notes(self) -> list[str]:
        return [self.source.note]

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        stop: Sequence[str] | None = None,
        component: str = "",
        problem: str = "",
        attempt: int = 0,
    ) -> list[Completion]:
        role = role_of(component)
        recorded = [c for c in self.source.conversations.get((problem, attempt), ()) if c.role == role]
        with self._lock:
            first = self._next[(problem, attempt, role)]
            self._next[(problem, attempt, role)] = first + n
        if first + n > len(recorded):
            whose = f"evolver step {attempt}" if problem == EVOLVER_PROBLEM else f"{problem} attempt {attempt}"
            raise NoRecordedAnswer(
                f"no recorded answer for call {first + 1} of the {role} in {whose} "
                f"({len(recorded)} recorded in {self.source.path})")
        self._tracker.reserve()
        prompt = "\n\n".join(m["content"] for m in messages)
        out = []
        for call in recorded[first:first + n]:
            usage = call.usage or Usage(count_tokens(prompt), count_tokens(call.text))
            self._tracker.record(call.model, usage, component=component, problem=problem,
                                 reasoned=bool(call.reasoning.strip()))
            out.append(Completion(call.text, call.finish_reason, usage, model=call.model, reasoning=call.reasoning,
                                  replayed=True, usage_estimated=call.usage is None))
        return out
