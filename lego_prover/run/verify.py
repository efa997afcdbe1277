"""``lego-prover verify-results RUN_DIR``: replay every stored solved proof through Isabelle.

The proof is read back from ``solved/NAME.thy`` (exactly what Isabelle checked), its body
is checked again in a fresh session against the problem's statement as recorded in the
run, with no repair: a proof that no longer verifies is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lego_prover.isabelle.context import CheckerProtocol, TheoryContext
from lego_prover.isabelle.theory import checked_blocks
from lego_prover.isabelle.verdict import Verdict
from lego_prover.run.store import RunDirError, load_run


@dataclass(frozen=True)
class Replay:
    problem: str
    verified: bool
    reason: str
    verdict: Verdict | None


def stored_body(theory_text: str) -> str:
    """The checked theory minus our header, our ``thm_oracles`` lines and ``end``."""
    return "\n\n".join(b.text for b in checked_blocks(theory_text))


async def verify_results(run_dir: Path, checker: CheckerProtocol, imports: tuple[str, ...],
                         on_result: Callable[[Replay], None] | None = None) -> list[Replay]:
    meta, attempts, _, _ = load_run(run_dir)
    statements: dict[str, str] = meta.get("statements", {})
    preambles: dict[str, str] = meta.get("preambles", {})
    solved = sorted({a.problem for a in attempts if a.solved})
    out = []
    for name in solved:
        path = run_dir / "solved" / f"{name}.thy"
        if not path.is_file():
            replay = Replay(name, False, f"{path} is missing", None)
        elif name not in statements:
            raise RunDirError(f"{run_dir}/run.json does not record the statement of {name}; cannot re-check it")
        else:
            body = stored_body(path.read_text(encoding="utf-8"))
            context = TheoryContext(imports, preambles.get(name, ""), name, statements[name])
            verdict = await checker.check(body, context, repair=False)
            replay = Replay(name, verdict.verified, verdict.reason, verdict)
        out.append(replay)
        if on_result:
            on_result(replay)
    return out
