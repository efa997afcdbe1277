"""User-facing errors: one sentence saying what is wrong and what to do.

The CLI prints ``str(error)`` and exits with ``error.exit_code``; tracebacks appear only
with ``--debug``.
"""

from __future__ import annotations


class LegoProverError(Exception):
    """An error a user can fix; the message says how."""

    exit_code = 2


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


class BudgetExhausted(LegoProverError):
    """A budget (tokens, cost, calls, time) is spent; new work is not started."""

    exit_code = 3


class MissingExtraError(LegoProverError):
    """An optional extra is needed; the message names the pip install to run."""
