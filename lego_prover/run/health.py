"""Is a service broken? A run stops instead of recording a dead endpoint as failed proofs.

Usage::

    health = ServiceHealth(limit=3)
    health.observe(record.failure == INFRASTRUCTURE, record.service, record.reason, record.service_fatal)
    if health.down:
        print(health.down.describe())      # "the LLM endpoint failed 3 attempts in a row: ..."

The run stops at once on a fatal failure (the endpoint refused the API key, the local
model server process exited) and after ``limit`` infrastructure failures in a row with no
finished attempt or step in between (an endpoint or Isabelle failing every call). A
transient failure between successes does not stop it: it is recorded and redone on resume.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICE_NAMES = {"llm": "the LLM endpoint", "isabelle": "Isabelle"}
SERVICE_FIXES = {
    "llm": "check that the endpoint answers ('lego-prover doctor' probes it)",
    "isabelle": "check Isabelle with 'lego-prover doctor'",
}


@dataclass(frozen=True)
class ServiceDown:
    service: str          # "llm" | "isabelle"
    reason: str           # the last failure, as the service reported it
    failures: int         # infrastructure failures (in a row, when the breaker tripped)
    fatal: bool
    in_a_row: bool = True

    def describe(self) -> str:
        """One sentence: what failed, and how to fix it."""
        name = SERVICE_NAMES.get(self.service, self.service)
        if self.fatal:
            return self.reason.rstrip(". ")
        reason = self.reason.rstrip(". ")
        fix = SERVICE_FIXES.get(self.service, "fix it")
        times = "once" if self.failures == 1 else f"{self.failures} times{' in a row' if self.in_a_row else ''}"
        if reason.lower().startswith(name.lower()):  # "the LLM endpoint X kept failing ...", "Isabelle task failed ..."
            return f"{reason} ({times}); {fix}"
        return f"{name} failed {times}: {reason}; {fix}"


class ServiceHealth:
    def __init__(self, limit: int = 3) -> None:
        self._limit = limit
        self._streak = 0
        self.down: ServiceDown | None = None

    def observe(self, failed: bool, service: str = "", reason: str = "", fatal: bool = False) -> ServiceDown | None:
        """One finished attempt or step: ``failed`` when a service failed it. Returns ``down`` once tripped."""
        if self.down is not None:
            return self.down
        if not failed:
            self._streak = 0
            return None
        self._streak += 1
        if fatal or self._streak >= self._limit:
            self.down = ServiceDown(service, reason, self._streak, fatal)
        return self.down
