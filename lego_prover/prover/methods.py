"""The methods ``lego``, ``dsp`` and ``hammer`` behind one attempt interface (``prover.method``).

Usage::

    method = make_method(settings, llm=llm, checker=checker, library=library, prompts=prompts)
    record = await method.attempt(problem, index)        # an AttemptRecord, whatever the method
    first = make_first_pass(settings, checker)           # the hammer pass before a problem's first
                                                         # LLM attempt (prover.hammer_first), or None

What each method needs: ``lego`` an LLM and, unless ``prover.library = false`` (the
no-library ablation), the skill library; ``dsp`` an LLM only; ``hammer`` neither.
"""

from __future__ import annotations

from typing import Any, Protocol

from lego_prover.config import Settings
from lego_prover.errors import ConfigError
from lego_prover.isabelle.context import CheckerProtocol
from lego_prover.llm.base import LLM
from lego_prover.problems import Problem
from lego_prover.prover.attempt import AttemptRecord, Prover
from lego_prover.prover.prompts import PromptLibrary
from lego_prover.skills.library import SkillLibrary

METHODS = ("lego", "dsp", "hammer")


class AttemptMethod(Protocol):
    """One attempt on one problem, recorded, never raised (a spent budget is recorded too)."""

    @property
    def method(self) -> str: ...

    async def attempt(self, problem: Problem, index: int) -> AttemptRecord: ...


def uses_llm(settings: Settings) -> bool:
    return settings.prover.method != "hammer"


def uses_library(settings: Settings) -> bool:
    return settings.prover.method == "lego" and settings.prover.library


def runs_first_pass(settings: Settings) -> bool:
    return settings.prover.method != "hammer" and settings.prover.hammer_first


def check_method_settings(settings: Settings, *, evolvers: int = 0) -> None:
    """Refuse combinations that cannot mean what they say, in one sentence each."""
    method = settings.prover.method
    if evolvers and method != "lego":
        raise ConfigError(f"--evolvers grows the skill library, which the {method} method does not use; "
                          "drop --evolvers or use --method lego")
    if evolvers and not settings.prover.library:
        raise ConfigError("--evolvers grows the skill library, which --no-library turns off; drop one of them")


def make_method(settings: Settings, *, llm: LLM | None, checker: CheckerProtocol, library: SkillLibrary | None,
                prompts: PromptLibrary, price: Any = None) -> AttemptMethod:
    method = settings.prover.method
    if method == "hammer":
        return _hammer(settings, checker, library)
    if llm is None:
        raise ValueError(f"the {method} method needs an LLM")
    if method == "dsp":
        from lego_prover.prover.dsp import DraftSketchProver

        return DraftSketchProver(llm, checker, prompts, settings, price=price)
    return Prover(llm, checker, library if settings.prover.library else None, prompts, settings, price=price)


def make_first_pass(settings: Settings, checker: CheckerProtocol,
                    library: SkillLibrary | None = None) -> AttemptMethod | None:
    return _hammer(settings, checker, library) if runs_first_pass(settings) else None


def _hammer(settings: Settings, checker: CheckerProtocol, library: SkillLibrary | None) -> AttemptMethod:
    from lego_prover.prover.hammer import HammerProver

    return HammerProver(checker, settings, library=library)
