"""A model per role: the informal solver, decomposer, formalizer, feedback, evolver and
request solver may each have their own model, endpoint and key variable.

Usage::

    role_of("sketch")                 # "formalizer": the component a call is labelled with -> its role
    llm = RoleRouter(main, {"formalizer": strong})
    await llm.complete(messages, component="formalizer")     # answered by ``strong``
    await llm.complete(messages, component="decomposer")     # by ``main``

Settings (``[llm.roles.ROLE]``, every key unset is the main ``[llm]`` one)::

    [llm.roles.formalizer]
    model = "gpt-5"
    reasoning_effort = "medium"
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lego_prover.config import ROLES, LLMSettings, RoleLLMSettings
from lego_prover.llm.base import LLM, ChatMessage, Completion

# the component labels of the calls (prover, dsp, evolver) and the role each belongs to
_ROLE_OF = {
    "informal_solver": "informal_solver", "draft": "informal_solver",
    "decomposer": "decomposer",
    "formalizer": "formalizer", "sketch": "formalizer",
    "feedback": "feedback",
    "request_solver": "request_solver",
}
OTHER = "other"


def role_of(component: str) -> str:
    if component.startswith("evolver"):        # evolver:DIRECTION
        return "evolver"
    return _ROLE_OF.get(component, OTHER)


def role_settings(main: LLMSettings, role: str) -> LLMSettings:
    """The main settings with the role's own keys over them (the main ones when the role has none)."""
    own: RoleLLMSettings | None = {str(k): v for k, v in main.roles.items()}.get(role)
    return main.model_copy(update=own.overrides()) if own is not None else main


def role_prefix(role: str) -> str:
    """Where a role's settings live, for messages that name the setting to change."""
    return f"llm.roles.{role}"


class RoleRouter:
    """One LLM interface over several models: each call goes to its role's model."""

    def __init__(self, main: LLM, by_role: Mapping[str, LLM]) -> None:
        unknown = set(by_role) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles: {sorted(unknown)}")
        self._main = main
        self._by_role = dict(by_role)

    @property
    def model(self) -> str:
        return self._main.model

    def for_component(self, component: str) -> LLM:
        return self._by_role.get(role_of(component), self._main)

    @property
    def notes(self) -> list[str]:
        """What each model's client adapted during the run (``OpenAIChat.notes``), each once."""
        clients = [self._main, *self._by_role.values()]
        return list(dict.fromkeys(n for c in clients for n in getattr(c, "notes", [])))

    def models(self) -> dict[str, str]:
        """Role -> model, for every role (the main model where a role has none of its own)."""
        return {role: self._by_role.get(role, self._main).model for role in ROLES}

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
        return await self.for_component(component).complete(
            messages, n=n, temperature=temperature, max_tokens=max_tokens, stop=stop, component=component,
            problem=problem, attempt=attempt)
