"""``lego-prover compare RUN_DIR RUN_DIR ...``: runs side by side, at equal attempts and at equal cost.

Usage::

    md_path, html_path = write_comparison([Path("runs/dsp"), Path("runs/lego")], Path("runs/compare"))

What it shows, over the problems every run attempted (with the same statement):

* solved against attempts per problem (k = 0 is the hammer pass before the first LLM
  attempt), and solved against tokens and against cost, one curve per run;
* cost-matched pass rates: each run's solved count at the spend of the cheapest run (the
  one that spent least, among runs that spent anything). A run's spend grows in the order
  its attempts and evolver steps finished (attempts.jsonl, evolver.jsonl); "solved at
  spend S" counts the problems solved by records that finished while the run had spent
  at most S. A hammer-pass solve costs nothing itself and counts once its record finished;
  every figure is also given without the problems the hammer pass solved;
* problems solved by one run and not by another;
* the library's real use: for each solved proof, the retrieved skills it used verbatim,
  modelled on, or ignored; distinct skills ever used against skills added.

Runs made with different models (per role, where roles had their own), statements, problem
sets, Isabelle versions or sessions, or trusted oracles are flagged at the top of the
report; so is a run with calls to a model of no known price (then runs are matched by
tokens only: a partial cost would flatter it). Tokens include reasoning tokens, and cost
prices cached prompt tokens at the cached rate, as the runs recorded them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lego_prover.errors import LegoProverError
from lego_prover.llm.replay import replay_note
from lego_prover.prover.attempt import AttemptRecord
from lego_prover.run.report import STYLE, markdown_to_html, png_base64
from lego_prover.run.scheduler import FIRST_PASS
from lego_prover.run.store import load_run
from lego_prover.run.summary import step_calls, summarize

EPSILON = 1e-9


@dataclass(frozen=True)
class RunView:
    """One run directory as the comparison reads it."""

    label: str
    path: Path
    meta: dict[str, Any]
    config: dict[str, Any]
    attempts: list[AttemptRecord]
    steps: list[dict[str, Any]]

    @classmethod
    def load(cls, path: Path, label: str) -> RunView:
        meta, attempts, steps, _ = load_run(path)
        config_path = path / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        return cls(label, path, meta, config, attempts, steps)

    def _setting(self, section: str, key: str, default: Any = None) -> Any:
        return (self.config.get(section) or {}).get(key, default)

    @property
    def method(self) -> str:
        return str(self.meta.get("method") or self._setting("prover", "method", "lego"))

    @property
    def model(self) -> str | None:
        """The model, or each model with its roles when roles had models of their own."""
        if self.method == "hammer":
            return None
        models = self.meta.get("models")
        if models:
            by_model: dict[str, list[str]] = {}
            for role, name in models.items():
                by_model.setdefault(str(name), []).append(role)
            if len(by_model) > 1:
                return "; ".join(f"{m} ({', '.join(roles)})" for m, roles in by_model.items())
        model = self.meta.get("model") or self._setting("llm", "model")
        return str(model) if model else None

    @property
    def unpriced_models(self) -> list[str]:
        """Models of this run's calls that had no price: their cost is missing from the run's cost."""
        calls = [c for a in self.attempts for c in a.calls] + step_calls(self.steps)
        return sorted({c.model for c in calls if c.model and c.cost_usd is None and not c.cached})

    @property
    def problems(self) -> list[str]:
        return list(self.meta.get("problems") or sorted({a.problem for a in self.attempts}))

    @property
    def statements(self) -> dict[str, str]:
        return dict(self.meta.get("statements") or {})

    @property
    def isabelle_versions(self) -> list[str]:
        return sorted({a.isabelle for a in self.attempts if a.isabelle})

    @property
    def trusted_oracles(self) -> list[str]:
        return sorted(self._setting("isabelle", "trusted_oracles", []) or [])   # a missing key: none trusted

    @property
    def isabelle_setup(self) -> str:
        imports = self._setting("isabelle", "imports", [])
        return (f"session {self._setting('isabelle', 'session', '?')}, header_mode "
                f"{self._setting('isabelle', 'header_mode', 'fixed')}, imports {' '.join(imports or [])}")

    @property
    def max_attempts(self) -> int:
        return int(self.meta.get("attempts") or max((a.attempt + 1 for a in self.attempts), default=1))


@dataclass(frozen=True)
class SpendPoint:
    """After one finished record: the run's spend so far and the problems solved so far."""

    tokens: int
    cost: float
    solved: int
    solved_by_first_pass: int


def spend_curve(run: RunView, problems: set[str]) -> list[SpendPoint]:
    """The run's spend and solved count, record by record, in the order records finished."""
    events: list[tuple[str, int, int, float, AttemptRecord | None]] = []
    for i, r in enumerate(run.attempts):
        events.append((r.finished_at, i, r.prompt_tokens + r.completion_tokens, r.cost_usd, r))
    for j, s in enumerate(run.steps):
        tokens = int(s.get("prompt_tokens", 0)) + int(s.get("completion_tokens", 0))
        events.append((str(s.get("finished_at", "")), len(run.attempts) + j, tokens, float(s.get("cost_usd", 0.0)),
                       None))
    events.sort(key=lambda e: (e[0], e[1]))
    tokens, cost = 0, 0.0
    solved: set[str] = set()
    first: set[str] = set()
    curve = []
    for _, _, t, c, record in events:
        tokens += t
        cost += c
        if record is not None and record.solved and record.problem in problems and record.problem not in solved:
            solved.add(record.problem)
            if record.attempt == FIRST_PASS:
                first.add(record.problem)
        curve.append(SpendPoint(tokens, cost, len(solved), len(first)))
    return curve


def solved_within(curve: Sequence[SpendPoint], budget: float, key: str) -> SpendPoint:
    """The last point of the curve whose spend (``tokens`` or ``cost``) is at most ``budget``."""
    best = SpendPoint(0, 0.0, 0, 0)
    for point in curve:
        if float(getattr(point, key)) <= budget + EPSILON:
            best = point
        else:
            break
    return best


@dataclass(frozen=True)
class CostMatch:
    key: str                         # tokens | cost
    reference: str                   # the run that spent least (of those that spent anything)
    budget: float
    at_budget: dict[str, SpendPoint]


def cost_matched(curves: dict[str, list[SpendPoint]], key: str) -> CostMatch | None:
    """Each run's solved count at the spend of the cheapest run that spent anything."""
    totals = {label: float(getattr(curve[-1], key)) if curve else 0.0 for label, curve in curves.items()}
    spenders = {label: total for label, total in totals.items() if total > EPSILON}
    if not spenders:
        return None
    reference = min(spenders, key=lambda label: (spenders[label], label))
    budget = spenders[reference]
    return CostMatch(key, reference, budget, {label: solved_within(curve, budget, key) for label, curve in curves.items()})


@dataclass(frozen=True)
class Comparison:
    runs: list[RunView]
    problems: list[str]                  # compared: attempted by every run, with one statement
    flags: list[str]
    summaries: dict[str, dict[str, Any]]
    curves: dict[str, list[SpendPoint]]
    by_tokens: CostMatch | None
    by_cost: CostMatch | None
    solved: dict[str, set[str]]


def labels_for(paths: Sequence[Path]) -> list[str]:
    """Run directory names, made unique with their parents where two are the same."""
    names = [p.resolve().name for p in paths]
    out = []
    for p, name in zip(paths, names, strict=True):
        out.append(name if names.count(name) == 1 else f"{p.resolve().parent.name}/{name}")
    if len(set(out)) != len(out):
        out = [str(p) for p in paths]
    return out


def compare_runs(paths: Sequence[Path]) -> Comparison:
    if len(paths) < 2:
        raise LegoProverError("compare needs at least two run directories")
    if len({p.resolve() for p in paths}) != len(paths):
        raise LegoProverError("a run directory is given twice; compare different runs")
    runs = [RunView.load(p, label) for p, label in zip(paths, labels_for(paths), strict=True)]
    flags: list[str] = []
    common = set(runs[0].problems)
    for run in runs[1:]:
        common &= set(run.problems)
    if any(set(run.problems) != common for run in runs):
        flags.append("the runs attempted different problems: compared on the "
                     f"{len(common)} they share ({'; '.join(f'{r.label}: {len(r.problems)}' for r in runs)})")
    differing = sorted(n for n in common
                       if len({run.statements[n] for run in runs if n in run.statements}) > 1)
    if differing:
        flags.append(f"{len(differing)} problem(s) have different statements in different runs and are left out: "
                     + ", ".join(differing))
    problems = sorted(common - set(differing))
    _flag_differences(flags, "models", {r.label: r.model for r in runs if r.model is not None})
    _flag_differences(flags, "Isabelle versions",
                      {r.label: ", ".join(r.isabelle_versions) for r in runs if r.isabelle_versions})
    _flag_differences(flags, "Isabelle sessions and imports", {r.label: r.isabelle_setup for r in runs})
    _flag_differences(flags, "trusted oracles", {r.label: ", ".join(r.trusted_oracles) or "none" for r in runs})
    for r in runs:
        replay = r.meta.get("replay") or next(({"note": replay_note(a.replayed_from)} for a in r.attempts
                                              if a.replayed_from), None)
        if replay:
            flags.append(f"{r.label}: {replay.get('note')}: its cost and time are not those of a model")
    for r in runs:
        calls = [c for a in r.attempts for c in a.calls]
        cached = sum(1 for c in calls if c.cached)
        if cached:
            flags.append(f"{cached} of {len(calls)} LLM calls of {r.label} were answered from the response cache "
                         "and cost nothing: its cost is understated (llm.cache = false for comparison runs)")
        if r.meta.get("library_skills_at_start"):
            flags.append(f"{r.label} started with {r.meta['library_skills_at_start']} skills already in its library "
                         "(from earlier runs or imports)")
    wanted = set(problems)
    summaries, curves, solved = {}, {}, {}
    for run in runs:
        summaries[run.label] = summarize([a for a in run.attempts if a.problem in wanted], problems,
                                         max_attempts=run.max_attempts)
        curves[run.label] = spend_curve(run, wanted)
        solved[run.label] = {n for n, p in summaries[run.label]["per_problem"].items() if p["solved"]}
    by_cost = cost_matched(curves, "cost")
    uncosted = [r.label for r in runs if r.method != "hammer" and curves[r.label] and curves[r.label][-1].tokens
                and not curves[r.label][-1].cost and not r.unpriced_models]
    if by_cost is not None and uncosted:
        flags.append("no cost is known for " + ", ".join(uncosted) + " (no price for its model): matched by tokens only")
        by_cost = None
    partly = {r.label: r.unpriced_models for r in runs if r.unpriced_models}
    if partly:
        flags.append("no price is known for " + "; ".join(f"{', '.join(m)} (in {label})" for label, m in partly.items())
                     + ": those calls are missing from the cost, so runs are matched by tokens only "
                     "(add [llm.prices.\"MODEL\"])")
        by_cost = None
    return Comparison(runs, problems, flags, summaries, curves, cost_matched(curves, "tokens"), by_cost, solved)


def _flag_differences(flags: list[str], what: str, values: dict[str, str]) -> None:
    if len(set(values.values())) > 1:
        flags.append(f"{what} differ: " + "; ".join(f"{label}: {value}" for label, value in values.items()))


# ---------------------------------------------------------------------------- Markdown


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "—"


def render_markdown(c: Comparison) -> str:
    n = len(c.problems)
    lines = ["# lego-prover comparison", ""]
    if c.flags:
        lines += ["> **These runs are not directly comparable:**", ""]
        lines += [f"- ⚠ {flag}" for flag in c.flags]
        lines += ["", "> The numbers below are set side by side anyway; read them with the warnings above.", ""]
    else:
        lines += ["Same model (where an LLM was used), statements, Isabelle version and session, and trusted "
                  "oracles in every run.", ""]
    lines += ["## Runs", "", "| run | method | model | attempts | hammer first | library | evolvers | informal | "
              "feedback rounds | Isabelle | directory |", "|---|---|---|---:|---|---|---:|---|---:|---|---|"]
    for r in c.runs:
        prover = r.config.get("prover") or {}
        lines.append(f"| {r.label} | {r.method} | {r.model or '—'} | {r.max_attempts} | "
                     f"{'—' if r.method == 'hammer' else _yes(r.meta.get('hammer_first', prover.get('hammer_first')))} | "
                     f"{_yes(r.meta.get('library', r.method == 'lego'))} | {r.meta.get('evolvers', 0)} | "
                     f"{prover.get('informal', '?') if r.method != 'hammer' else '—'} | "
                     f"{prover.get('feedback_rounds', '?') if r.method != 'hammer' else '—'} | "
                     f"{', '.join(r.isabelle_versions) or '—'} | {r.path} |")
    lines += ["", f"## Solved ({n} problems compared)", "",
              "| run | solved | rate | on trusted oracles | by the hammer pass | by LLM attempts | "
              "rate without hammer-pass problems | attempts | tokens | of which reasoning | of which cached prompt | "
              "cost |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in c.runs:
        s = c.summaries[r.label]
        first, rest = s["solved_by_hammer_first"], s["excluding_hammer_first"]
        by_llm = sum(1 for p in s["per_problem"].values() if p["solved"] and p["solved_by"] != "hammer")
        trusting = len(s["solved_relying_on_trusted_oracles"])
        plain = s["solved_without_trusted_oracles"]
        oracles = f"{trusting} (without them {plain}, {_pct(plain, n)})" if trusting else "0"
        lines.append(f"| {r.label} | {s['solved']} | {_pct(s['solved'], n)} | {oracles} | {first} | {by_llm} | "
                     f"{rest['solved']}/{rest['problems']} ({_pct(rest['solved'], rest['problems'])}) | "
                     f"{s['attempts']} | {s['tokens']:,} | {s['reasoning_tokens']:,} | {s['cached_tokens']:,} | "
                     f"${s['cost_usd']:.4f}{' (partial: unpriced calls)' if r.unpriced_models else ''} |")
    lines += ["", "## Cost-matched pass rates", ""]
    lines += _cost_matched_lines(c)
    lines += ["", "## Solved against attempts per problem", ""]
    marks = sorted({0, 1, 2, 4, 8, 16, 17, 32, 50, 64, 100} | {r.max_attempts for r in c.runs})
    marks = [k for k in marks if k <= max(r.max_attempts for r in c.runs)]
    lines += ["| run | " + " | ".join(f"k={k}" for k in marks) + " |", "|---|" + "---:|" * len(marks)]
    for r in c.runs:
        curve = _pass_curve(c.summaries[r.label])
        lines.append(f"| {r.label} | " + " | ".join(str(curve[min(k, len(curve) - 1)]) for k in marks) + " |")
    lines += ["", "k = 0: solved by the hammer pass before any LLM attempt. A run with fewer attempts keeps its last value.",
              "", "## Solved by one run and not by another", "",
              "| solved by ↓, not by → | " + " | ".join(r.label for r in c.runs) + " |",
              "|---|" + "---:|" * len(c.runs)]
    for a in c.runs:
        cells = ["—" if a is b else str(len(c.solved[a.label] - c.solved[b.label])) for b in c.runs]
        lines.append(f"| {a.label} | " + " | ".join(cells) + " |")
    lines.append("")
    for a in c.runs:
        for b in c.runs:
            only = sorted(c.solved[a.label] - c.solved[b.label])
            if a is not b and only:
                lines.append(f"- solved by {a.label}, not by {b.label}: {', '.join(only)}")
    lines += ["", "## The library's real use", ""]
    lines += _library_lines(c)
    return "\n".join(lines) + "\n"


def _yes(value: Any) -> str:
    return "—" if value is None else ("yes" if value else "no")


def _pass_curve(summary: dict[str, Any]) -> list[int]:
    """Solved within k attempts per problem for k = 0 (the hammer pass) .. max."""
    return [summary["solved_by_hammer_first"], *(p["solved"] for p in summary["pass_at_k"])]


def _cost_matched_lines(c: Comparison) -> list[str]:
    n = len(c.problems)
    if c.by_tokens is None:
        return ["No run spent any tokens: nothing to match."]
    lines = ["Each run's solved count at the spend of the cheapest run that spent anything: the problems solved "
             "by records that finished while the run had spent at most that much, in the order its records "
             "finished (a hammer-pass solve itself costs nothing).", ""]
    for match in (c.by_tokens, c.by_cost):
        if match is None:
            continue
        amount = f"{int(match.budget):,} tokens" if match.key == "tokens" else f"${match.budget:.4f}"
        lines += [f"At the spend of **{match.reference}** ({amount}):", "",
                  f"| run | total spent | solved at {amount} | rate | without hammer-pass problems |",
                  "|---|---:|---:|---:|---:|"]
        for r in c.runs:
            curve = c.curves[r.label]
            total = curve[-1] if curve else SpendPoint(0, 0.0, 0, 0)
            spent = f"{total.tokens:,} tokens" if match.key == "tokens" else f"${total.cost:.4f}"
            at = match.at_budget[r.label]
            first = c.summaries[r.label]["solved_by_hammer_first"]
            rest = n - first
            lines.append(f"| {r.label} | {spent} | {at.solved} | {_pct(at.solved, n)} | "
                         f"{at.solved - at.solved_by_first_pass}/{rest} ({_pct(at.solved - at.solved_by_first_pass, rest)}) |")
        lines.append("")
    return lines


def _library_lines(c: Comparison) -> list[str]:
    lines: list[str] = []
    wanted = set(c.problems)
    users = [r for r in c.runs if r.method == "lego" and r.meta.get("library", True)]
    if not users:
        return ["No run used the skill library."]
    for r in users:
        added = {name for a in r.attempts for name in a.skills_added}
        added |= {name for s in r.steps for name in s.get("added", [])}
        firsts: dict[str, AttemptRecord] = {}
        for a in sorted(r.attempts, key=lambda a: a.attempt):
            if a.solved and a.problem in wanted and a.problem not in firsts:
                firsts[a.problem] = a
        llm_solved = {p: a for p, a in firsts.items() if a.method == "lego"}
        used = {u["name"] for a in llm_solved.values() for u in a.skills_used}
        retrieved = {name for a in r.attempts for name in a.retrieved}
        using = sum(1 for a in llm_solved.values() if a.skills_used)
        lines += [f"### {r.label}", "",
                  f"- skills added: {len(added)} ({sum(len(a.skills_added) for a in r.attempts)} by the prover, "
                  f"{sum(len(s.get('added', [])) for s in r.steps)} by the evolver); distinct skills ever retrieved: "
                  f"{len(retrieved)}; **distinct skills ever used in a solved proof: {len(used)}**",
                  f"- solved proofs from LLM attempts: {len(llm_solved)}; of these {using} used a retrieved skill "
                  "(verbatim or modelled on it)", ""]
        if llm_solved:
            lines += ["| problem | retrieved | used verbatim | modelled on | ignored |", "|---|---:|---|---|---|"]
            for problem, a in sorted(llm_solved.items()):
                verbatim = [u["name"] for u in a.skills_used if u["mode"] == "verbatim"]
                modelled = [u["name"] for u in a.skills_used if u["mode"] == "modelled"]
                ignored = [name for name in a.retrieved if name not in set(verbatim) | set(modelled)]
                lines.append(f"| {problem} | {len(a.retrieved)} | {', '.join(verbatim) or '—'} | "
                             f"{', '.join(modelled) or '—'} | {', '.join(ignored) or '—'} |")
            lines.append("")
    return lines


# ---------------------------------------------------------------------------- plots and files


def _plots(c: Comparison) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots: dict[str, str] = {}
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for r in c.runs:
        passes = _pass_curve(c.summaries[r.label])
        ax.plot(range(len(passes)), passes, label=r.label, marker="." if len(passes) < 30 else None)
    ax.set_xlabel("attempts per problem (k; 0 = the hammer pass)")
    ax.set_ylabel(f"solved (of {len(c.problems)})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    plots["Solved against attempts per problem"] = png_base64(fig)
    for key, match, label in (("tokens", c.by_tokens, "tokens spent"), ("cost", c.by_cost, "cost spent (USD)")):
        if key == "cost" and match is None:
            continue
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        for r in c.runs:
            curve = c.curves[r.label]
            xs = [0.0, *(float(getattr(p, key)) for p in curve)]
            ys = [0, *(p.solved for p in curve)]
            ax.step(xs, ys, where="post", label=r.label, marker="o" if len(curve) <= 1 or xs[-1] == 0 else None)
        if match is not None:
            ax.axvline(match.budget, color="#999", linestyle="--", linewidth=1)
        ax.set_xlabel(label)
        ax.set_ylabel(f"solved (of {len(c.problems)})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        plots[f"Solved against {label}" + (f" (dashed: the spend of {match.reference})" if match else "")] = png_base64(fig)
    return plots


def render_html(c: Comparison, plots: dict[str, str]) -> str:
    figures = "\n".join(f'<figure><img alt="{html.escape(t)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(t)}</figcaption></figure>" for t, data in plots.items())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>lego-prover comparison</title>"
            f"<style>{STYLE}</style></head><body>{markdown_to_html(render_markdown(c))}<h2>Plots</h2>{figures}"
            "</body></html>\n")


def write_comparison(paths: Sequence[Path], out_dir: Path) -> tuple[Path, Path]:
    comparison = compare_runs(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, html_path = out_dir / "compare.md", out_dir / "compare.html"
    md_path.write_text(render_markdown(comparison), encoding="utf-8")
    html_path.write_text(render_html(comparison, _plots(comparison)), encoding="utf-8")
    return md_path, html_path
