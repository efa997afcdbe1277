"""A checker that forwards to remote checkers (Ray actors on cluster nodes) and survives losing them.

Usage::

    checker = ForwardingChecker([remote_a, remote_b], on_lost=print)
    verdict = await checker.check(text, context)          # the same CheckerProtocol as Checker

Each remote runs the real ``Checker`` (guard, repair, Isabelle) on its own node, so the
verdicts, timeouts and repair are the ones of one machine; this class only decides where a
check runs and what happens when a remote goes away:

- **Placement**: a check goes to the remote with the most free capacity (its check slots
  minus the checks it has in flight); when every remote is full it waits for the first
  slot to free up, so no remote queues work that another could start now.
- **Failover**: a remote that is lost (``RemoteLost``) while it holds checks is dropped,
  and each of those checks is sent again to another remote. A check is a pure question
  about a text, so asking twice is safe; the caller sees one verdict. A remote that is
  only *unavailable* (``permanent=False``) is left out for ``retry_after_s`` and then used
  again.
- **A failing Isabelle**: a ``server`` verdict (the node's Isabelle failed even after the
  actor restarted it) rests that remote like an unavailable one and asks another, so a
  broken node cannot draw checks with its fast failures; when no other remote is ready,
  or after ``max_moves`` tries, that verdict is the answer.
- **No hang**: once no remote is left, every waiting and later check returns a verdict
  with ``FailureKind.SERVER`` (an infrastructure failure, not a proof failure) saying so.
  A check that loses ``max_moves`` remotes in a row gets the same verdict, so one text
  cannot take down the whole cluster.

Nothing here imports Ray: ``lego_prover.run.cluster`` wraps actor handles as remotes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from lego_prover.isabelle.context import CheckOptions, TheoryContext
from lego_prover.isabelle.verdict import FailureKind, Verdict

log = logging.getLogger(__name__)


class RemoteLost(Exception):
    """A remote checker died or cannot be reached; its check did not produce a verdict."""

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class RemoteChecker(Protocol):
    """One remote checker: a name for messages, its check slots, and the checker calls."""

    @property
    def name(self) -> str: ...

    @property
    def capacity(self) -> int: ...

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict: ...

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict: ...


@dataclass
class _Slot:
    remote: RemoteChecker
    index: int
    in_flight: int = 0
    done: int = 0
    lost: str | None = None          # why it was dropped for good
    back_at: float = 0.0             # unavailable until then (monotonic clock)

    def free(self) -> int:
        return self.remote.capacity - self.in_flight


@dataclass(frozen=True)
class RemoteStats:
    name: str
    capacity: int
    in_flight: int
    done: int
    lost: str | None


class ForwardingChecker:
    """``CheckerProtocol`` over remote checkers: most-free placement, failover, no hang."""

    def __init__(self, remotes: Sequence[RemoteChecker], *, on_lost: Callable[[str], None] = lambda m: None,
                 retry_after_s: float = 10.0, max_moves: int = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._slots = [_Slot(r, i) for i, r in enumerate(remotes)]
        self._on_lost = on_lost
        self._retry_after_s = retry_after_s
        self._max_moves = max_moves
        self._clock = clock
        self._changed: asyncio.Future[None] | None = None   # set when a slot frees or a remote is lost
        self.retried = 0                 # checks sent again after their remote was lost
        self.isabelle = ""
        self.session = ""

    # ------------------------------------------------------------------ CheckerProtocol

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        lost = Verdict(False, FailureKind.SERVER, "", "", text, context.target,
                       isabelle=self.isabelle, session=self.session)
        return await self._forward(lambda r: r.check(text, context, repair=repair, options=options), lost)

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        lost = replace(verdict, verified=False, failure=FailureKind.SERVER, blocks=(), errors=())
        return await self._forward(lambda r: r.confirm(verdict, context, names), lost)

    # ------------------------------------------------------------------ state

    @property
    def capacity(self) -> int:
        """Check slots of the remotes still in use."""
        return sum(s.remote.capacity for s in self._slots if s.lost is None)

    @property
    def alive(self) -> int:
        return sum(1 for s in self._slots if s.lost is None)

    @property
    def remotes(self) -> list[RemoteChecker]:
        return [s.remote for s in self._slots]

    def stats(self) -> list[RemoteStats]:
        return [RemoteStats(s.remote.name, s.remote.capacity, s.in_flight, s.done, s.lost) for s in self._slots]

    # ------------------------------------------------------------------ internals

    async def _forward(self, call: Callable[[RemoteChecker], Awaitable[Verdict]], lost: Verdict) -> Verdict:
        losses: list[str] = []
        server_failure: Verdict | None = None
        while len(losses) < self._max_moves:
            slot = await self._acquire()
            if slot is None:
                reason = "no checker is left on the Ray cluster"
                last = losses[-1] if losses else self._last_loss()
                return replace(lost, reason=f"{reason} (last one lost: {last})" if last else reason)
            try:
                verdict = await call(slot.remote)
            except RemoteLost as exc:
                losses.append(f"{slot.remote.name}: {exc.reason}")
                self._drop(slot, exc)
                self.retried += 1
                continue
            finally:
                self._release(slot)
            slot.done += 1
            if verdict.failure is FailureKind.SERVER:
                # that node's Isabelle failed even after the actor's own restart: rest the node
                # and ask another, or its fast failures would draw ever more checks to it
                losses.append(f"{slot.remote.name}: {verdict.reason}")
                server_failure = verdict
                self._drop(slot, RemoteLost(verdict.reason, permanent=False))
                if not self._any_ready():
                    return verdict      # nobody else to ask now: an infrastructure failure, at once
                self.retried += 1
                continue
            return verdict
        if server_failure is not None:
            return server_failure
        return replace(lost, reason=f"this check lost {len(losses)} checkers in a row; last: {losses[-1]}")

    async def _acquire(self) -> _Slot | None:
        while True:
            usable = [s for s in self._slots if s.lost is None]
            if not usable:
                return None
            now = self._clock()
            ready = [s for s in usable if s.back_at <= now and s.free() > 0]
            if ready:
                best = max(ready, key=lambda s: (s.free(), -s.in_flight, -s.index))
                best.in_flight += 1
                return best
            wake = [s.back_at - now for s in usable if s.back_at > now]
            if self._changed is None:
                self._changed = asyncio.get_running_loop().create_future()
            # one event loop thread: nothing changes between the look above and this wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._changed), min(wake) if wake else None)

    def _any_ready(self) -> bool:
        now = self._clock()
        return any(s.lost is None and s.back_at <= now for s in self._slots)

    def _signal(self) -> None:
        """Wake every waiting check: a slot was freed or a remote was lost."""
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None

    def _release(self, slot: _Slot) -> None:
        slot.in_flight -= 1
        self._signal()

    def _drop(self, slot: _Slot, exc: RemoteLost) -> None:
        if exc.permanent:
            if slot.lost is None:
                slot.lost = exc.reason
                self._on_lost(f"checker {slot.remote.name} was lost ({exc.reason}); its checks go to the "
                              f"other checkers; {self.alive} left with {self.capacity} check slots")
        else:
            slot.back_at = self._clock() + self._retry_after_s
            self._on_lost(f"checker {slot.remote.name} is unavailable ({exc.reason}); "
                          f"its checks go elsewhere, trying it again in {self._retry_after_s:.0f}s")
        self._signal()

    def _last_loss(self) -> str:
        lost = [f"{s.remote.name}: {s.lost}" for s in self._slots if s.lost]
        return lost[-1] if lost else ""
