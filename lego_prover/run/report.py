"""``lego-prover report RUN_DIR``: a Markdown summary and a self-contained HTML page with plots.

Usage::

    paths = write_report(Path("runs/minif2f-valid-20261122"))   # report.md, report.html

Plots (matplotlib, embedded as PNG data): pass rate vs attempts (pass@k), solved by
problem source, tokens and cost per solved problem, library growth over the run, and
lemma reuse (solved proofs that used retrieved skills).

Tokens and cost by role, model and component come from the stored calls (reasoning and
cached tokens included); a model with no known price is named, not counted as free.
"""

from __future__ import annotations

import atexit
import base64
import html
import io
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from lego_prover.llm.prices import CHECKED as PRICES_CHECKED
from lego_prover.llm.usage import UNRECORDED
from lego_prover.prover.attempt import OUT_OF_TOKENS_REASONING, OUTCOME_NAMES
from lego_prover.run.store import load_run
from lego_prover.run.summary import replay_summary, summarize


def png_base64(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _pyplot() -> Any:
    """matplotlib with its font cache in a temporary folder: a report writes its two files, no cache."""
    if "matplotlib" not in sys.modules and "MPLCONFIGDIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="lego-prover-mpl-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["MPLCONFIGDIR"] = folder
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plots(summary: dict[str, Any], attempts: list[Any], steps: list[dict[str, Any]]) -> dict[str, str]:
    plt = _pyplot()

    plots: dict[str, str] = {}
    curve = summary["pass_at_k"]
    if curve:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.plot([c["k"] for c in curve], [100 * c["rate"] for c in curve], marker="." if len(curve) < 30 else None)
        ax.set_xlabel("attempts per problem (k)")
        ax.set_ylabel("solved (%)")
        ax.set_title("pass@k")
        ax.grid(alpha=0.3)
        plots["Pass rate vs attempts"] = png_base64(fig)
    over_time = summary.get("solved_over_time") or []
    if over_time:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        xs = [0.0] + [t / 60 for t, _ in over_time]
        ys = [0] + [n for _, n in over_time]
        ax.step(xs, ys, where="post")
        ax.set_xlabel("wall time since the run started (minutes)")
        ax.set_ylabel("problems solved")
        ax.grid(alpha=0.3)
        plots["Solved against wall time"] = png_base64(fig)
    sources = summary["by_source"]
    if sources:
        names = sorted(sources)
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(names) + 1.2))
        ax.barh(names, [sources[n]["problems"] for n in names], color="#ddd", label="problems")
        ax.barh(names, [sources[n]["solved"] for n in names], color="#3a7", label="solved")
        ax.set_xlabel("problems")
        ax.legend(loc="lower right")
        plots["Solved by problem source"] = png_base64(fig)
    solved = {n: p for n, p in summary["per_problem"].items() if p["solved"]}
    if solved:
        names = sorted(solved, key=lambda n: solved[n]["prompt_tokens"] + solved[n]["completion_tokens"])
        fig, ax = plt.subplots(figsize=(6, 0.25 * len(names) + 1.4))
        ax.barh(names, [solved[n]["prompt_tokens"] + solved[n]["completion_tokens"] for n in names], color="#47a")
        ax.set_xlabel("tokens spent on the problem (all its attempts)")
        ax2 = ax.twiny()
        ax2.plot([solved[n]["cost_usd"] for n in names], names, "o", color="#c63", markersize=3)
        ax2.set_xlabel("cost (USD)", color="#c63")
        plots["Tokens and cost per solved problem"] = png_base64(fig)
    events = sorted([(r.finished_at, len(r.skills_added), "prover") for r in attempts] +
                    [(s.get("finished_at", ""), len(s.get("added", [])), "evolver") for s in steps])
    if any(n for _, n, _ in events):
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for who, color in (("prover", "#47a"), ("evolver", "#a4a")):
            total, xs, ys = 0, [], []
            for i, (_, n, w) in enumerate(events):
                if w == who:
                    total += n
                xs.append(i + 1)
                ys.append(total)
            ax.plot(xs, ys, label=f"added by the {who}", color=color)
        ax.set_xlabel("attempts and evolver steps, in order")
        ax.set_ylabel("skills added")
        ax.legend()
        ax.grid(alpha=0.3)
        plots["Library growth during the run"] = png_base64(fig)
    if solved:
        used = summary["solved_using_retrieved_skills"]
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar(["used retrieved skills", "did not"], [used, len(solved) - used], color=["#3a7", "#bbb"])
        ax.set_ylabel("solved problems")
        plots["Lemma reuse"] = png_base64(fig)
    return plots


def render_markdown(meta: dict[str, Any], summary: dict[str, Any]) -> str:
    usage = summary.get("usage", {}).get("total", {})
    lines = [f"# lego-prover run: {meta.get('benchmark', '?')} {meta.get('split', '')}".rstrip(), ""]
    replay = summary.get("replay")
    if meta.get("replay") or replay:
        note = (replay or meta["replay"]).get("note")
        lines += [f"> **Replayed**: {note}."
                  + (f" {replay['no_recorded_answer']} attempt(s) ended with no recorded answer; the usage of "
                     f"{replay['usage_estimated_calls']} of {replay['calls']} calls was not recorded in the source "
                     "and is estimated with the tokenizer." if replay else ""), ""]
    lines += [f"- started {meta.get('started', '?')}, lego-prover {meta.get('version', '?')}, "
              f"{meta.get('attempts', '?')} attempts per problem, {meta.get('evolvers', 0)} evolvers",
              f"- method {meta.get('method', 'lego')}"
              + (" without the library" if meta.get("method", "lego") == "lego" and not meta.get("library", True) else "")
              + (", the hammer pass before each problem's first LLM attempt" if meta.get("hammer_first") else ""),
              f"- **solved {summary['solved']} / {summary['problems']} ({100 * summary['pass_rate']:.1f}%)** "
              f"in {summary['attempts']} attempts" + oracle_note(summary),
              f"- tokens {summary['tokens']:,}, cost ${summary['cost_usd']:.4f}"
              + (f"; per solved problem {summary['tokens_per_solved']:,} tokens, ${summary['cost_per_solved_usd']:.4f}"
                 if summary["solved"] else ""),
              _usage_line(usage) if usage else "",
              _models_line(meta),
              f"- lemma reuse: {summary['solved_using_retrieved_skills']} of {summary['solved']} solved proofs used "
              "retrieved skills",
              f"- library: {summary['skills_added_by_prover']} skills added by the prover, "
              f"{summary['skills_added_by_evolver']} by the evolver ({summary['evolver_steps']} steps, "
              f"{summary['requests_solved_by_evolver']} requests proved)",
              ""]
    trusting = summary.get("solved_relying_on_trusted_oracles") or []
    if trusting:
        lines += [f"> {len(trusting)} solved problem(s) relied on oracles you listed as trusted "
                  f"(isabelle.trusted_oracles): {', '.join(trusting)}. Isabelle did not prove them from "
                  "first principles alone.", ""]
    lines += _cost_warnings(summary)
    lines += [f"- LLM: {note}" for note in summary.get("llm_notes") or []]
    lines += _hammer_lines(summary)
    if summary.get("stopped_by_budget"):
        lines += [f"> stopped by a budget: {summary['stopped_by_budget']}", ""]
    if summary.get("stopped_by_service"):
        lines += [f"> stopped because a service failed: {summary['stopped_by_service']}", ""]
    interrupted = summary.get("interrupted") or {}
    if interrupted:
        lines += [f"- not counted (redone on resume): {', '.join(f'{n} {k}' for k, n in sorted(interrupted.items()))}"
                  + (f" (infrastructure: {', '.join(f'{n} {k}' for k, n in sorted(summary['infrastructure_failures'].items()))})"
                     if summary.get("infrastructure_failures") else ""), ""]
    lines += ["## pass@k", "", "| k | solved | rate |", "|---:|---:|---:|"]
    curve = summary["pass_at_k"]
    marks = sorted({1, 2, 4, 8, 16, 32, 50, 64, 100, len(curve)} & set(range(1, len(curve) + 1)))
    lines += [f"| {k} | {curve[k - 1]['solved']} | {100 * curve[k - 1]['rate']:.1f}% |" for k in marks]
    lines += ["", "## By source", "", "| source | problems | solved |", "|---|---:|---:|"]
    lines += [f"| {s} | {v['problems']} | {v['solved']} |" for s, v in sorted(summary["by_source"].items())]
    lines += ["", "## Outcomes of attempts", "", "| outcome | attempts |", "|---|---:|"]
    lines += [f"| {OUTCOME_NAMES.get(k, k)} | {v} |" for k, v in sorted(summary["failures"].items(), key=lambda kv: -kv[1])]
    if summary.get("evolver_by_direction"):
        library = summary.get("library") or {}
        lines += ["", "## Evolver", "", "| direction / kind | steps | skills added |", "|---|---:|---:|"]
        lines += [f"| {d} | {v['steps']} | {v['added']} |" for d, v in sorted(summary["evolver_by_direction"].items())]
        if "evolved_used_in_proofs" in library:
            lines += ["", f"Evolved skills in the library that later appeared in verified proofs: "
                          f"{library['evolved_used_in_proofs']} of {library.get('by_origin', {}).get('evolver', 0)}."]
    lines += usage_tables(summary.get("usage", {}))
    lines += ["", "## Problems", "", "| problem | solved at | attempts | tokens | cost | retrieved skills used |",
              "|---|---:|---:|---:|---:|---|"]
    for name, p in sorted(summary["per_problem"].items()):
        at = ("hammer pass" if p["solved_at_attempt"] < 0 else str(p["solved_at_attempt"] + 1)) if p["solved"] else "—"
        lines.append(f"| {name} | {at} | {p['attempts']} | {p['prompt_tokens'] + p['completion_tokens']:,} | "
                     f"${p['cost_usd']:.4f} | {', '.join(p['used_skills'])} |")
    return "\n".join(line for line in lines if line is not None) + "\n"


def oracle_note(summary: dict[str, Any]) -> str:
    """Beside a pass rate: how many solves rest on an oracle the user chose to trust, and the rate without them."""
    trusting = summary.get("solved_relying_on_trusted_oracles") or []
    if not trusting:
        return "; none rests on an oracle you chose to trust"
    plain, n = summary.get("solved_without_trusted_oracles", 0), max(1, summary["problems"])
    return (f"; {len(trusting)} of them rest on an oracle you chose to trust, without which "
            f"{plain} / {summary['problems']} ({100 * plain / n:.1f}%)")


def _usage_line(total: dict[str, Any]) -> str:
    return (f"- LLM calls {total.get('calls', 0)} ({total.get('cached_calls', 0)} from the cache), attempts and "
            f"evolver: prompt {total.get('prompt_tokens', 0):,} tokens ({total.get('cached_tokens', 0):,} of them "
            f"cached), completion {total.get('completion_tokens', 0):,} ({total.get('reasoning_tokens', 0):,} of them "
            f"reasoning), cost ${total.get('cost_usd', 0):.4f}")


def _models_line(meta: dict[str, Any]) -> str:
    models = meta.get("models")
    if models:   # role -> model, when roles have models of their own
        by_model: dict[str, list[str]] = {}
        for role, model in models.items():
            by_model.setdefault(str(model), []).append(role)
        return "- models: " + "; ".join(f"{m} ({', '.join(roles)})" for m, roles in by_model.items())
    return f"- model {meta['model']}" if meta.get("model") else ""


def _cost_warnings(summary: dict[str, Any]) -> list[str]:
    """Cost figures that are not the whole cost, and answers cut off by the token limit."""
    lines = []
    unpriced = summary.get("unpriced_models") or []
    if unpriced:
        by_model = summary.get("usage", {}).get("by_model", {})
        counts = ", ".join(f"{m} ({by_model.get(m, {}).get('unpriced_calls', 0)} calls, "
                           f"{by_model.get(m, {}).get('prompt_tokens', 0) + by_model.get(m, {}).get('completion_tokens', 0):,} "
                           "tokens)" for m in unpriced)
        lines += [f"> **No price is known for {counts}**: their cost is not in the cost figures, which understate "
                  "the run's cost. Add [llm.prices.\"MODEL\"] (USD per million tokens) to price them.", ""]
    short = summary.get("out_of_tokens_reasoning") or {}
    if short.get("attempts") or short.get("evolver_steps"):
        fixes = sorted({r.split("; ", 1)[1] for r in short.get("reasons", []) if "; " in r})
        lines += [f"> {short.get('attempts', 0)} attempts and {short.get('evolver_steps', 0)} evolver steps "
                  f"{OUTCOME_NAMES[OUT_OF_TOKENS_REASONING]}: the limit was reached before any answer. "
                  + ("To give the model room: " + "; ".join(fixes) + "." if fixes else ""), ""]
    return lines


def _tokens(tally: dict[str, Any], key: str) -> str:
    return f"{tally.get(key, 0):,}"


def _reasoning(tally: dict[str, Any]) -> str:
    """Reasoning tokens, or that the endpoint showed reasoning but did not count it."""
    if not tally.get("reasoning_tokens") and tally.get("reasoning_calls"):
        return "not reported"
    return _tokens(tally, "reasoning_tokens")


def _cost(tally: dict[str, Any], model: str = "") -> str:
    if model == UNRECORDED:
        return "—"
    unpriced = tally.get("unpriced_calls", 0)
    if unpriced and unpriced >= tally.get("calls", 0) - tally.get("cached_calls", 0):
        return "no price"
    return f"${tally.get('cost_usd', 0):.4f}" + (f" + {unpriced} unpriced calls" if unpriced else "")


def usage_tables(usage: dict[str, Any]) -> list[str]:
    """Tokens and cost by role, by model and by component, from the stored calls."""
    if not usage.get("by_model"):
        return []
    head = "| calls | prompt | cached | completion | reasoning | cost |"
    rule = "---:|---:|---:|---:|---:|---:|"
    models_by_role = usage.get("models_by_role", {})
    lines = ["", "## Usage by role", "", f"| role | model | {head[2:]}", f"|---|---|{rule}"]
    lines += [f"| {role} | {', '.join(models_by_role.get(role, []))} | {t['calls']} | {_tokens(t, 'prompt_tokens')} | "
              f"{_tokens(t, 'cached_tokens')} | {_tokens(t, 'completion_tokens')} | {_reasoning(t)} | {_cost(t)} |"
              for role, t in usage.get("by_role", {}).items()]
    lines += ["", "## Usage by model", "", f"| model | {head[2:]}", f"|---|{rule}"]
    lines += [f"| {m} | {t['calls']} | {_tokens(t, 'prompt_tokens')} | {_tokens(t, 'cached_tokens')} | "
              f"{_tokens(t, 'completion_tokens')} | {_reasoning(t)} | {_cost(t, m)} |"
              for m, t in usage.get("by_model", {}).items()]
    lines += ["", f"Prompt tokens include the cached ones (priced at the cached rate), completion tokens the reasoning "
                  f"ones (priced as output). Prices: llm.prices, else the built-in table checked {PRICES_CHECKED} "
                  "(sources in lego_prover/llm/prices.py)."]
    lines += ["", "## Tokens by component", "", f"| component | {head[2:]}", f"|---|{rule}"]
    lines += [f"| {c} | {t['calls']} | {_tokens(t, 'prompt_tokens')} | {_tokens(t, 'cached_tokens')} | "
              f"{_tokens(t, 'completion_tokens')} | {_reasoning(t)} | {_cost(t)} |"
              for c, t in usage.get("by_component", {}).items()]
    return lines


def _hammer_lines(summary: dict[str, Any]) -> list[str]:
    """The hammer pass's share (and every figure without it), and the hammer's time per problem."""
    lines = []
    first = summary.get("solved_by_hammer_first") or 0
    if first:
        rest = summary["excluding_hammer_first"]
        lines.append(f"- {first} solved by the hammer pass before any LLM attempt (no tokens); without these "
                     f"problems: **{rest['solved']} / {rest['problems']} ({100 * rest['pass_rate']:.1f}%)**")
    hammer = summary.get("hammer")
    if hammer:
        seconds = hammer["seconds_per_problem"]
        cpu = summary.get("isabelle_cpu_s")
        lines.append(f"- hammer: {hammer['solved']} / {hammer['problems']} solved ({hammer['solved_by_tactic']} by a "
                     f"tactic, {hammer['solved_by_sledgehammer']} by Sledgehammer); seconds per problem: median "
                     f"{seconds['median']}, p95 {seconds['p95']}, max {seconds['max']}; Isabelle check time "
                     f"{hammer['isabelle_check_s']:.1f} s; Isabelle CPU time "
                     + (f"{cpu:.1f} s (the whole run)" if cpu is not None else
                        "not measured (the Isabelle server was not started by lego-prover)"))
        closed = hammer.get("closed_by") or {}
        if closed:
            lines.append("- closed by: " + ", ".join(f"`{k}` {v}" for k, v in closed.items()))
    over_time = summary.get("solved_over_time") or []
    if over_time and len(over_time) > 1:
        marks = [over_time[min(len(over_time) - 1, math.ceil(q * len(over_time)) - 1)] for q in (0.5, 0.9, 1.0)]
        lines.append("- solved against wall time: " + "; ".join(
            f"{n} solved after {_duration(t)}" for t, n in dict.fromkeys(map(tuple, marks))))
    return [*lines, ""] if lines else []


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def markdown_to_html(md: str) -> str:
    """Enough Markdown for our own report: headings, bullets, tables, quotes, bold."""
    out: list[str] = []
    in_table = in_list = False
    for line in md.splitlines():
        esc = html.escape(line)
        esc = _bold(esc)
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-:"):
                continue
            if not in_table:
                out.append("<table>")
                in_table = True
                out.append("<tr>" + "".join(f"<th>{_bold(html.escape(c))}</th>" for c in cells) + "</tr>")
            else:
                out.append("<tr>" + "".join(f"<td>{_bold(html.escape(c))}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{esc[2:]}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if line.startswith("### "):
            out.append(f"<h3>{esc[4:]}</h3>")
        elif line.startswith("## "):
            out.append(f"<h2>{esc[3:]}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{esc[2:]}</h1>")
        elif line.startswith("&gt; "):
            out.append(f"<blockquote>{esc[5:]}</blockquote>")
        elif line.strip():
            out.append(f"<p>{esc}</p>")
    if in_table:
        out.append("</table>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


def _bold(text: str) -> str:
    parts = text.split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.2rem .6rem;text-align:right}
td:first-child,th:first-child{text-align:left}h2{margin-top:2rem;border-bottom:1px solid #eee}
figure{margin:1rem 0}figcaption{color:#555;font-size:.9rem}blockquote{color:#a50}"""


def render_html(meta: dict[str, Any], summary: dict[str, Any], plots: dict[str, str]) -> str:
    figures = "\n".join(f'<figure><img alt="{html.escape(t)}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(t)}</figcaption></figure>" for t, data in plots.items())
    body = markdown_to_html(render_markdown(meta, summary))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>lego-prover report</title>"
            f"<style>{STYLE}</style></head><body>{body}<h2>Plots</h2>{figures}</body></html>\n")


def write_report(run_dir: Path) -> tuple[Path, Path]:
    meta, attempts, steps, stored = load_run(run_dir)
    problems = list(meta.get("problems") or sorted({a.problem for a in attempts}))
    sources = {n: p.get("source", "") for n, p in stored.get("per_problem", {}).items()}
    summary = summarize(attempts, problems, max_attempts=int(meta.get("attempts") or 1), sources=sources,
                        evolver_steps=steps, library=stored.get("library"))
    summary["stopped_by_budget"] = stored.get("stopped_by_budget")
    summary["isabelle_cpu_s"] = stored.get("isabelle_cpu_s")
    summary["stopped_by_service"] = stored.get("stopped_by_service")
    summary["llm_notes"] = stored.get("llm_notes") or []
    if meta.get("replay"):
        summary["replay"] = replay_summary(str(meta["replay"].get("source", "?")), attempts)
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    md_path.write_text(render_markdown(meta, summary), encoding="utf-8")
    html_path.write_text(render_html(meta, summary, _plots(summary, attempts, steps)), encoding="utf-8")
    return md_path, html_path
