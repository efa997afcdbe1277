"""User-facing errors: one sentence saying what is wrong and what to do.

The CLI prints ``str(error)`` and exits with ``error.exit_code``; tracebacks appear only
with ``--debug``.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class LegoProverError(Exception):
    """An error a user can fix; the message says how."""

    exit_code = 2


class BadInputError(LegoProverError):
    """A file, folder or value the user named cannot be used as given."""


class ConfigError(LegoProverError):
    """The configuration file, environment or flags are invalid."""


class ProblemFileError(LegoProverError):
    """A problem file is missing or malformed."""


class IsabelleNotFoundError(LegoProverError):
    """No Isabelle installation was found."""


class IsabelleServerError(LegoProverError):
    """The Isabelle server could not be started, reached or kept alive."""


class LLMError(LegoProverError):
    """The LLM endpoint refused a request in a way retries cannot fix."""


class LLMRequestRefusedError(ConfigError):
    """The endpoint refused a parameter we sent (HTTP 400 naming it): a setting to change, not a dead
    service. It stops the run at once (exit code 2) and is never retried; ``setting`` says what fixes it."""

    def __init__(self, message: str, *, parameter: str, setting: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.setting = setting


class ServiceError(LegoProverError):
    """A service (the LLM endpoint or Isabelle) failed: not the proof's fault.

    An attempt it interrupts is recorded as an infrastructure failure, never as a proof
    failure, and is redone on resume. ``fatal`` means every further call will fail the
    same way (a refused API key, a model server process that exited): stop at once.
    """

    exit_code = 4
    service = "service"

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class LLMUnavailableError(ServiceError, LLMError):
    """The LLM endpoint is unreachable, kept failing after its retries, or refused us outright."""

    service = "llm"


class IsabelleUnavailableError(ServiceError):
    """Isabelle failed a check for reasons of its own (crash, lost connection, FAILED task)."""

    service = "isabelle"


class BudgetExhausted(LegoProverError):
    """A budget (tokens, cost, calls, time) is spent; new work is not started."""

    exit_code = 3


class MissingExtraError(LegoProverError):
    """An optional extra is needed; the message names the pip install to run."""


def first_in_group(group: BaseExceptionGroup[BaseException], kind: type[E]) -> E | None:
    """The first exception of ``kind`` in a (nested) exception group, as a task group raises them."""
    for exc in group.exceptions:
        if isinstance(exc, kind):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = first_in_group(exc, kind)
            if found is not None:
                return found
    return None
