"""Reading LLM answers: the Isabelle code of a proof, and a decomposition's plan and requests.

LLM text is untrusted: these functions only cut text out; whether it is acceptable is the
soundness guard's decision, and whether it is true is Isabelle's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lego_prover.isabelle.lexer import LexError
from lego_prover.isabelle.theory import BlockKind, parse_theory, split_blocks

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n(.*?)(?:```|\Z)", re.S)
_START = re.compile(r"^\s*(lemma|theorem|corollary|proposition)\b", re.M)


def extract_isabelle(text: str) -> str:
    """The Isabelle code in an answer: the fenced block(s), else from the first lemma/theorem on.

    Several fenced blocks are joined in order (models sometimes put each lemma in its own).
    A wrapping ``theory ... begin ... end`` is removed: we build the theory ourselves.
    """
    blocks = [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "isabelle", "isar", "thy")]
    code = "\n\n".join(b.strip() for b in blocks if b.strip())
    if not code:
        m = _START.search(text)
        code = text[m.start():].strip() if m else ""
    if re.match(r"\s*theory\b", code):
        try:
            parsed = parse_theory(code)
            code = "\n\n".join(b.text for b in parsed.blocks)
        except (LexError, ValueError):
            pass
    return code.strip()


@dataclass(frozen=True)
class Decomposition:
    structured_proof: str
    requests: tuple[str, ...]


def parse_decomposition(text: str, *, max_requests: int) -> Decomposition:
    """Split a decomposer answer into its structured proof and its lemma requests.

    Requests are lemma statements; anything with a proof attached has the proof dropped
    (a request is a statement to be proved), "N/A" means none, at most ``max_requests``.
    """
    parts = re.split(r"^#+\s*Requests?\b.*$", text, maxsplit=1, flags=re.M | re.I)
    plan = re.sub(r"^#+\s*Structured proof\b.*$", "", parts[0], flags=re.M | re.I).strip()
    requests: list[str] = []
    if len(parts) > 1:
        raw = "\n\n".join(body for _, body in _FENCE.findall(parts[1])) or parts[1]
        if raw.strip().upper().strip(".") != "N/A":
            try:
                for block in split_blocks(raw.strip()):
                    if block.kind is BlockKind.LEMMA and block.statement.strip():
                        requests.append(block.statement.strip())
            except (LexError, ValueError):
                pass
    unique = list(dict.fromkeys(requests))
    return Decomposition(plan, tuple(unique[:max_requests]))
