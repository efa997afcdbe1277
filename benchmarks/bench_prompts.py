"""Prompt size per attempt, lego and dsp side by side: the real prompts for every miniF2F valid problem.

    python benchmarks/bench_prompts.py [--data-dir ../shared/minif2f]

Counts cl100k_base tokens (``bpe-openai``, the tiktoken table shipped offline) of the
prompts one attempt sends, per component, with the default settings: decomposer and
formalizer always; the informal solver only for attempts with a generated informal proof;
the formalizer with 0 and with a full set of retrieved skills (stand-ins: our example
lemmas, within ``prover.skill_token_budget``); and one error-feedback round. Completions
are not counted (they depend on the model); the JSON line gives the means and the
per-attempt total for each case. The same for ``dsp``: the sketch prompt (with
``prover.sketch_examples`` worked examples), the draft prompt for a generated informal
proof, and one feedback round. Then a table of tokens per attempt, lego next to dsp.
(The ``hammer`` method and the hammer pass send no prompt at all.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lego_prover.config import load_settings
from lego_prover.problems import load_problems
from lego_prover.prover.attempt import Prover
from lego_prover.prover.dsp import DraftSketchProver
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.tokens import count_tokens


class _Unused:
    async def complete(self, *a: object, **k: object) -> list[object]:
        raise AssertionError("bench_prompts renders prompts only")

    async def check(self, *a: object, **k: object) -> object:
        raise AssertionError("bench_prompts renders prompts only")


def tokens(messages: list[dict[str, str]]) -> int:
    # ~4 tokens of chat framing per message, as OpenAI's accounting does
    return sum(count_tokens(m["content"]) + 4 for m in messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "minif2f")
    args = parser.parse_args()
    settings = load_settings(None, {}, environ={}, cwd=Path.cwd())
    prompts = PromptLibrary.load()
    prover = Prover(_Unused(), _Unused(), None, prompts, settings)  # type: ignore[arg-type]
    dsp = DraftSketchProver(_Unused(), _Unused(), prompts, settings)  # type: ignore[arg-type]
    p = settings.prover
    problems = load_problems(args.data_dir / "valid.jsonl")
    stand_ins = [ex["isabelle_proof"].split("\n\ntheorem")[0] for ex in prompts.examples("prover")]
    skills_text, used = [], 0
    for text in stand_ins:
        cost = count_tokens(text)
        if len(skills_text) < p.skills_in_prompt and used + cost <= p.skill_token_budget:
            skills_text.append(f"```isabelle\n{text}\n```")
            used += cost
    rows: dict[str, list[int]] = {k: [] for k in ("informal_solver", "decomposer", "formalizer_no_skills",
                                                  "formalizer_with_skills", "feedback_round",
                                                  "dsp_draft", "dsp_sketch")}
    for i, problem in enumerate(problems):
        rows["informal_solver"].append(tokens(prompts.render(
            "informal_solver", informal_statement=problem.informal_statement)))
        rows["decomposer"].append(tokens(prompts.render(
            "decomposer", max_requests=p.max_requests, examples=prover._decomposer_examples(i),
            informal_statement=problem.informal_statement, informal_proof=problem.informal_proof or "",
            formal_statement=problem.formal_statement)))
        plan = "Step 1. ...\n" * 6
        for key, skills in (("formalizer_no_skills", "(none yet)"), ("formalizer_with_skills", "\n\n".join(skills_text))):
            rows[key].append(tokens(prompts.render(
                "formalizer", skills=skills, examples=prover._formalizer_examples(i),
                informal_statement=problem.informal_statement, structured_proof=plan,
                formal_statement=problem.formal_statement)))
        rows["dsp_draft"].append(tokens(prompts.render("dsp/draft", informal_statement=problem.informal_statement)))
        rows["dsp_sketch"].append(tokens(prompts.render(
            "dsp/sketch", examples=dsp.sketch_examples(i), informal_statement=problem.informal_statement,
            informal_proof=problem.informal_proof or "", formal_statement=problem.formal_statement)))
        rows["feedback_round"].append(tokens(prompts.render(
            "feedback", proof=problem.formal_statement + "\n  by simp",
            errors="- Error in x at line 12: Failed to finish proof\n  goal: 1. ...")))
    means = {k: round(statistics.mean(v), 1) for k, v in rows.items()}
    # a feedback round resends the formalizer (sketch) conversation plus the feedback message
    per_attempt = means["decomposer"] + means["formalizer_with_skills"]
    dsp_attempt = means["dsp_sketch"]
    side_by_side = {
        "human informal proof": (per_attempt, dsp_attempt),
        "generated informal proof": (per_attempt + means["informal_solver"], dsp_attempt + means["dsp_draft"]),
        "human, one feedback round": (per_attempt + means["formalizer_with_skills"] + means["feedback_round"],
                                      2 * dsp_attempt + means["feedback_round"]),
    }
    print(json.dumps({
        "problems": len(problems), "mean_prompt_tokens": means,
        "skills_in_formalizer": len(skills_text), "skill_tokens": used,
        "sketch_examples": p.sketch_examples,
        "per_attempt_human_informal": round(per_attempt, 1),
        "per_attempt_generated_informal": round(per_attempt + means["informal_solver"], 1),
        "per_attempt_with_one_feedback_round": round(
            per_attempt + means["formalizer_with_skills"] + means["feedback_round"], 1),
        "per_attempt": {case: {"lego": round(lego, 1), "dsp": round(d, 1), "lego/dsp": round(lego / d, 2)}
                        for case, (lego, d) in side_by_side.items()},
    }))
    print(f"\n{'prompt tokens per attempt':<28}{'lego':>8}{'dsp':>8}{'lego/dsp':>10}")
    for case, (lego, d) in side_by_side.items():
        print(f"{case:<28}{lego:>8.0f}{d:>8.0f}{lego / d:>10.2f}")


if __name__ == "__main__":
    main()
