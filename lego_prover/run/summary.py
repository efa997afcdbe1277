"""What a run amounts to: per problem, pass@k, tokens and cost, library growth and reuse.

Only finished attempts (``AttemptRecord.finished``) are proof outcomes: an attempt cut
short by a budget or by a failing service (``failure == "infrastructure"``) counts in
``interrupted`` and in tokens and cost (they were spent), never in pass@k, per-problem
attempts or the outcome table.

Tokens are as the endpoint reported them: ``reasoning_tokens`` are part of the completion
tokens, ``cached_tokens`` part of the prompt tokens (priced at the cached rate). A model
with no known price is listed in ``unpriced_models``: its tokens count, its cost does not.
A replayed run (``replay_summary``) says where its answers came from, how many attempts its
source had no answer for, and how many calls' usage was counted with the tokenizer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from lego_prover.llm.replay import NO_RECORDED_ANSWER, replay_note
from lego_prover.llm.usage import usage_table
from lego_prover.prover.attempt import (
    INFRASTRUCTURE,
    OUT_OF_TOKENS_REASONING,
    AttemptRecord,
    LLMCallRecord,
)
from lego_prover.run.figures import excluding_first_pass, hammer_figures, solved_over_time
from lego_prover.run.scheduler import FIRST_PASS


def step_calls(steps: Sequence[dict[str, Any]]) -> list[LLMCallRecord]:
    """The LLM calls of evolver steps; a step stored before steps kept their calls counts as one
    call of unrecorded model with the step's totals."""
    out: list[LLMCallRecord] = []
    for step in steps:
        calls = step.get("llm_calls")
        if calls is not None:
            out += [LLMCallRecord(**c) for c in calls]
        elif step.get("calls"):
            component = f"evolver:{step['direction']}" if step.get("direction") else str(step.get("kind", "evolver"))
            out.append(LLMCallRecord(component, component, int(step.get("prompt_tokens", 0)),
                                     int(step.get("completion_tokens", 0)), "", False, ""))
    return out


def summarize(attempts: Sequence[AttemptRecord], problems: Sequence[str], *, max_attempts: int,
              sources: dict[str, str] | None = None, evolver_steps: Sequence[dict[str, Any]] = (),
              library: dict[str, Any] | None = None) -> dict[str, Any]:
    """``usage`` is computed from the stored calls (attempts and evolver steps): by component,
    role and model, with reasoning and cached tokens and the models that had no price."""
    by_problem: dict[str, list[AttemptRecord]] = defaultdict(list)
    finished = [r for r in attempts if r.finished]
    for record in finished:
        by_problem[record.problem].append(record)
    per_problem: dict[str, dict[str, Any]] = {}
    for name in problems:
        records = sorted(by_problem.get(name, []), key=lambda r: r.attempt)
        first = next((r for r in records if r.solved), None)
        per_problem[name] = {
            "solved": first is not None,
            "solved_at_attempt": first.attempt if first else None,
            "attempts": len(records),
            "prompt_tokens": sum(r.prompt_tokens for r in records),
            "completion_tokens": sum(r.completion_tokens for r in records),
            "cost_usd": round(sum(r.cost_usd for r in records), 6),
            "used_skills": [u["name"] for u in first.skills_used] if first else [],
            "trusted_oracles": list(first.trusted_oracles) if first else [],
            "solved_by": first.method if first else None,
            "source": (sources or {}).get(name, ""),
            "failures": dict(_count(r.failure or "solved" for r in records)),
        }
    solved = [n for n, p in per_problem.items() if p["solved"]]
    # a problem still solved when no oracle the user chose to trust is: some solve of it used none
    plain = {r.problem for r in finished if r.solved and not r.trusted_oracles}
    pass_at = []
    for k in range(1, max_attempts + 1):
        hits = sum(1 for p in per_problem.values() if p["solved"] and p["solved_at_attempt"] < k)
        pass_at.append({"k": k, "solved": hits, "rate": round(hits / max(1, len(problems)), 4)})
    tokens = sum(r.prompt_tokens + r.completion_tokens for r in attempts)  # spent, finished or not
    cost = sum(r.cost_usd for r in attempts)
    by_source: dict[str, dict[str, int]] = defaultdict(lambda: {"problems": 0, "solved": 0})
    for p in per_problem.values():
        by_source[p["source"] or "?"]["problems"] += 1
        by_source[p["source"] or "?"]["solved"] += int(p["solved"])
    reuse = [n for n in solved if per_problem[n]["used_skills"]]
    usage = usage_table([c for r in attempts for c in r.calls] + step_calls(evolver_steps))
    short = [r for r in finished if r.failure == OUT_OF_TOKENS_REASONING]
    short_steps = [s for s in evolver_steps if s.get("failure") == OUT_OF_TOKENS_REASONING]
    return {
        "problems": len(problems),
        "solved": len(solved),
        "pass_rate": round(len(solved) / max(1, len(problems)), 4),
        "attempts": len(finished),
        "interrupted": dict(_count(r.failure for r in attempts if not r.finished)),
        "infrastructure_failures": dict(_count(r.service or "?" for r in attempts if r.failure == INFRASTRUCTURE)),
        "tokens": tokens,
        "cost_usd": round(cost, 6),
        "reasoning_tokens": sum(r.reasoning_tokens for r in attempts),    # of tokens
        "cached_tokens": sum(r.cached_tokens for r in attempts),          # of tokens (prompt)
        "unpriced_models": usage["unpriced_models"],                      # their cost is not in cost_usd
        # answers that were all reasoning: the token limit came first; each reason names the setting
        "out_of_tokens_reasoning": {"attempts": len(short), "evolver_steps": len(short_steps),
                                    "reasons": sorted({str(x.reason) for x in short}
                                                      | {str(x.get("reason", "")) for x in short_steps})},
        "tokens_per_solved": round(tokens / len(solved)) if solved else None,
        "cost_per_solved_usd": round(cost / len(solved), 6) if solved else None,
        "solved_using_retrieved_skills": len(reuse),
        "solved_relying_on_trusted_oracles": sorted(n for n in solved if per_problem[n]["trusted_oracles"]),
        "solved_without_trusted_oracles": sum(1 for n in solved if n in plain),
        "attempts_solved": sum(1 for r in finished if r.solved),
        "attempts_solved_on_trusted_oracles": sum(1 for r in finished if r.solved and r.trusted_oracles),
        "reuse_share": round(len(reuse) / len(solved), 4) if solved else None,
        "skills_added_by_prover": sum(len(r.skills_added) for r in attempts),  # added is added
        "evolver_steps": len(evolver_steps),
        "skills_added_by_evolver": sum(len(s.get("added", [])) for s in evolver_steps),
        "requests_solved_by_evolver": sum(1 for s in evolver_steps if s.get("closed_request")),
        "evolver_by_direction": _by_direction(evolver_steps),
        "failures": dict(_count(r.failure or "solved" for r in finished)),
        "by_source": dict(by_source),
        "pass_at_k": pass_at,
        "per_problem": per_problem,
        "usage": usage,
        "library": library or {},
        # the hammer pass before a problem's first LLM attempt (prover.hammer_first): its solves, and
        # every figure without those problems; the hammer method's (or pass's) time per problem
        "solved_by_hammer_first": sum(1 for p in per_problem.values() if p["solved_at_attempt"] == FIRST_PASS),
        "excluding_hammer_first": excluding_first_pass(per_problem, max_attempts),
        "hammer": hammer_figures(attempts),
        "solved_over_time": solved_over_time(attempts),   # [seconds since the start, solved]
    }


def replay_summary(source: str, records: Sequence[AttemptRecord]) -> dict[str, Any]:
    """What a replay's summary says: the source, how many attempts ran out of recorded answers,
    and how many calls had their usage counted with the tokenizer rather than recorded."""
    calls = [c for r in records for c in r.calls]
    return {"source": source, "note": replay_note(source),
            "no_recorded_answer": sum(1 for r in records if r.failure == NO_RECORDED_ANSWER),
            "calls": len(calls), "usage_estimated_calls": sum(1 for c in calls if c.usage_estimated)}


def _by_direction(steps: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for s in steps:
        row = out.setdefault(s.get("direction") or s.get("kind", "?"), {"steps": 0, "added": 0})
        row["steps"] += 1
        row["added"] += len(s.get("added", []))
    return out


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out[v] += 1
    return out
