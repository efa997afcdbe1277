"""What a check is about, and what a checker offers: plain data shared by every checker.

``TheoryContext`` (imports, trusted preamble, target and its exact statement),
``Submission`` (one raw round trip), ``CheckOptions`` (per-check changes) and
``CheckerProtocol`` (what the prover, evolver and library call). The local ``Checker``,
the repair engine and the remote checkers all depend on this module, never on each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from lego_prover.config import IsabelleSettings
from lego_prover.isabelle.client import TaskReply
from lego_prover.isabelle.guard import GuardContext
from lego_prover.isabelle.theory import AssembledTheory, parse_header, split_blocks
from lego_prover.isabelle.verdict import Verdict


class ProblemLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def formal_statement(self) -> str: ...
    @property
    def header(self) -> str: ...
    @property
    def preamble(self) -> str: ...


@dataclass(frozen=True)
class TheoryContext:
    """What surrounds an LLM-written body: our imports, a trusted preamble, the target."""

    imports: tuple[str, ...]
    preamble: str = ""
    target: str | None = None
    statement: str | None = None
    reserved_names: frozenset[str] = frozenset()

    @classmethod
    def for_problem(cls, problem: ProblemLike, settings: IsabelleSettings,
                    reserved_names: frozenset[str] = frozenset()) -> TheoryContext:
        """Imports by ``settings.header_mode``; the problem's preamble; its exact statement."""
        imports: tuple[str, ...] = tuple(settings.imports)
        if settings.header_mode == "problem" and problem.header.strip():
            imports = parse_header(problem.header)[0].imports
        return cls(imports, problem.preamble, problem.name, problem.formal_statement, reserved_names)

    def guard_context(self) -> GuardContext:
        preamble_names = frozenset(b.name for b in split_blocks(self.preamble) if b.name) if self.preamble.strip() else frozenset()
        return GuardContext(self.target, self.statement, self.imports, self.reserved_names | preamble_names)


@dataclass(frozen=True)
class Submission:
    """One raw round trip to Isabelle (internal: repair variants use it without the guard)."""

    assembled: AssembledTheory
    reply: TaskReply | None
    verdict: Verdict
    isabelle_s: float = 0.0     # the time it held its Isabelle slot (waiting for a slot not counted)


@dataclass(frozen=True)
class CheckOptions:
    """Per-check changes to the checker's settings (plain data: it travels to remote checkers)."""

    check_limit_s: float | None = None             # cap on the final check; None: isabelle.check_limit_s
    repair_tactics: tuple[str, ...] | None = None  # None: isabelle.repair_tactics; (): Sledgehammer only
    sledgehammer_timeout_s: float | None = None    # None: isabelle.sledgehammer_timeout_s


class CheckerProtocol(Protocol):
    """What the prover, evolver and library need from a checker (tests pass doubles)."""

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict: ...

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict: ...
