"""A pool of Isabelle sessions for concurrent checks.

The pool owns (or connects to) one server, builds the session heap once under a file lock,
starts ``workers`` sessions, each on its own connection, and lends them out for checks.
It recycles a session after ``recycle_after`` checks or when the server's memory grows,
restarts a dead server or session, and shuts everything down on exit.

A check that hit its limit while a tactic was still running poisons its session: a real
server keeps running the runaway tactic after ``use_theories`` returns (purging and
cancelling do not stop it), and every later check in that session then times out. Such a
worker is taken out of rotation at once and gets a fresh session. On a server we own, the
pool knows each session's processes (``session_process``) and ends the runaway's alone, so
the other sessions' checks go on undisturbed; only where that does not give a working
session is the whole server restarted. A session whose processes are not known (a server we
only connect to) is stopped with ``session_stop``. A check that hit its limit therefore
leaves the pool as healthy as it was, and with one check per session (the default) a check
never shares its session's ML thread with a runaway: its time limit measures its own work.

Usage::

    async with SessionPool(settings.isabelle) as pool:
        async with pool.worker() as worker:
            reply = await worker.use_theories(master_dir, ["T_ab12"], deadline_s=70)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from lego_prover.config import IsabelleSettings
from lego_prover.errors import IsabelleServerError
from lego_prover.isabelle.client import (
    ConnectionLost,
    IsabelleConnection,
    ServerFault,
    SessionGone,
    TaskReply,
    TaskTimeout,
)
from lego_prover.isabelle.heaplock import HeapLock
from lego_prover.isabelle.server import (
    IsabelleServer,
    ServerAddress,
    find_isabelle,
    process_tree_rss_bytes,
)
from lego_prover.isabelle.session_process import (
    kill_trees,
    server_process_roots,
    session_process_roots,
)
from lego_prover.isabelle.verdict import commands_left
from lego_prover.isabelle.versions import (
    is_server_fault,
    is_session_gone,
    is_session_listing,
    session_options,
)

log = logging.getLogger(__name__)

ServerFactory = Callable[[], Awaitable[IsabelleServer]]
_INTERRUPTS = (asyncio.CancelledError, KeyboardInterrupt)
ProgressHandler = Callable[[str], None]


@dataclass
class Worker:
    """One session on its own connection."""

    index: int
    connection: IsabelleConnection
    session_id: str
    checks: int = 0
    in_flight: int = 0
    retiring: bool = False
    retire_reason: str = ""   # why it retires early (its session was gone); "" = it did its share of checks
    poisoned: str = ""        # why this session must not take more checks (a runaway tactic)
    task_left_open: bool = False  # a use_theories did not end when cancelled: never session_stop under it
    restarting: bool = False
    processes: tuple[int, ...] = ()   # its session's process trees on a server we own (to end a runaway alone)

    async def use_theories(self, master_dir: Path, theories: list[str], *, settings: IsabelleSettings,
                           deadline_s: float | None = None, check_limit_s: float | None = None,
                           patient: bool = False) -> TaskReply:
        """``patient``: no watchdog short of the check limit, for a command known to run long
        without a status change but to end by itself (Sledgehammer, bounded by its timeout);
        ending it early would leave it running and the session poisoned.

        Raises ``SessionGone`` when the server no longer knows this worker's session (the
        worker retires) and ``ServerFault`` when the server failed inside; neither is a
        verdict about the theory. ``TaskTimeout`` past ``deadline_s``.
        """
        limit = check_limit_s if check_limit_s is not None else settings.check_limit_s
        check_delay = 0.1
        arg = {
            "session_id": self.session_id,
            "theories": theories,
            "master_dir": str(master_dir),
            "watchdog_timeout": limit if patient else min(settings.watchdog_timeout_s, limit),
            "check_delay": check_delay,
            "check_limit": max(1, int(limit / check_delay)),
            "unicode_symbols": False,
        }
        deadline = deadline_s if deadline_s is not None else settings.client_deadline_s
        try:
            reply = await self.connection.run_task("use_theories", arg, deadline_s=deadline)
        except TaskTimeout:
            self.poisoned = "a check ran past its client deadline"
            self.task_left_open = self.connection.closed  # closed = the cancel was not confirmed
            raise
        # a FAILED task of a known class is no verdict about the theory: the caller recovers
        message = str(reply.payload.get("message") or "")
        if not reply.finished and is_session_gone(message):
            self.retiring, self.retire_reason = True, "its session was gone from the server"
            raise SessionGone(message)
        if not reply.finished and is_server_fault(message):
            raise ServerFault(message)
        if left_running(reply):
            self.poisoned = "a check hit its limit while a command was still running"
        return reply


def left_running(reply: TaskReply) -> bool:
    """Did the check end (limit or watchdog) with commands still running or waiting?"""
    return reply.finished and commands_left(reply.payload)


class SessionPool:
    def __init__(
        self,
        settings: IsabelleSettings,
        *,
        server_factory: ServerFactory | None = None,
        on_progress: ProgressHandler | None = None,
        lock_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self._server_factory = server_factory or self._default_server
        self._on_progress = on_progress or (lambda message: log.info("%s", message))
        self._lock_dir = lock_dir or settings.work_dir
        self._server: IsabelleServer | None = None
        self._workers: list[Worker] = []
        self._slots: asyncio.Queue[Worker] = asyncio.Queue()
        self._restart_lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()   # one session start at a time: its new processes are its own
        self._management: IsabelleConnection | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._parked: dict[int, list[Worker]] = {}   # slots of workers being restarted
        self.isabelle_name = ""
        self.generation = 0     # bumped on every server restart
        self.restarts: list[str] = []                # why each session or server was restarted

    # ------------------------------------------------------------------ lifecycle

    async def _default_server(self) -> IsabelleServer:
        if self.settings.server:
            return IsabelleServer(ServerAddress.parse(self.settings.server))
        exe = find_isabelle(self.settings.home)
        return await IsabelleServer.start(exe, log_dir=self.settings.work_dir / "logs",
                                          timeout_s=self.settings.start_timeout_s)

    async def start(self) -> None:
        self._server = await self._server_factory()
        self._management = await self._server.connect()
        self.isabelle_name = self._management.isabelle_name
        await self._build_heap()
        for i in range(self.settings.workers):
            worker = await self._start_worker(i)
            self._workers.append(worker)
            for _ in range(self.settings.checks_per_worker):
                self._slots.put_nowait(worker)

    async def _build_heap(self) -> None:
        """Build the session heap once; other lego-prover processes wait on the lock (``heaplock``)."""
        assert self._management is not None
        lock = HeapLock(self._lock_dir / f"build-{self.settings.session}.lock")
        session = self.settings.session
        await lock.acquire(on_wait=lambda pid: self._on_progress(
            f"waiting for another lego-prover{f' (PID {pid})' if pid else ''} to finish building {session} ..."))
        try:
            self._on_progress(f"checking the {self.settings.session} heap (the first build takes a long time, once) ...")

            def note(body: dict[str, Any]) -> None:
                message = str(body.get("message") or "")
                if message and not is_session_listing(message):
                    self._on_progress(message)

            reply = await self._management.run_task(
                "session_build",
                {"session": self.settings.session, "dirs": self.settings.session_dirs, "options": []},
                deadline_s=None, on_note=note)
            if not reply.finished or not reply.payload.get("ok", False):
                raise IsabelleServerError(
                    f"building the Isabelle session {self.settings.session} failed: "
                    f"{reply.payload.get('message') or reply.payload}; run "
                    f"'isabelle build -b {self.settings.session}' to see why")
        finally:
            lock.release()

    async def _start_worker(self, index: int) -> Worker:
        worker = Worker(index, await self._connect(), "")
        await self._start_session(worker)
        return worker

    async def _connect(self) -> IsabelleConnection:
        assert self._server is not None
        return await self._server.connect()

    async def _start_session(self, worker: Worker) -> None:
        options = session_options(self.settings.consolidate_delay_s, self.settings.threads)
        pid = self._server.pid if self._server is not None and self._server.owned else None
        async with self._start_lock:
            before = server_process_roots(pid) if pid else set()
            reply = await worker.connection.run_task(
                "session_start",
                {"session": self.settings.session, "dirs": self.settings.session_dirs, "options": options},
                deadline_s=self.settings.start_timeout_s)
            worker.processes = session_process_roots(pid, before) if pid else ()
        session_id = reply.payload.get("session_id")
        if not reply.finished or not isinstance(session_id, str):
            raise IsabelleServerError(
                f"could not start Isabelle session {self.settings.session}: {reply.payload.get('message') or reply.payload}")
        worker.session_id = session_id
        worker.checks = 0
        worker.retiring = False
        worker.retire_reason = ""

    async def close(self, *, interrupted: bool = False) -> None:
        """Stop the sessions and the server we own. ``interrupted`` (Ctrl-C) with a server we
        own: no orderly session stops or shutdown request, which a busy server (a heap build)
        may not answer for a long time; its process tree is ended at once. The sessions on a
        server we only connect to are always stopped: they would outlive us there."""
        for task in list(self._background):
            task.cancel()
        orderly = not (interrupted and self._server is not None and self._server.owned)
        for worker in self._workers:
            if orderly:
                with contextlib.suppress(Exception):
                    await worker.connection.run_task("session_stop", {"session_id": worker.session_id}, deadline_s=20)
            await worker.connection.close()
        self._workers.clear()
        if self._management is not None:
            await self._management.close()
        if self._server is not None:
            await self._server.stop(interrupted=interrupted)
            self._server = None

    async def __aenter__(self) -> SessionPool:
        try:
            await self.start()
        except BaseException as exc:
            await self.close(interrupted=isinstance(exc, _INTERRUPTS))
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await asyncio.shield(self.close(interrupted=isinstance(exc, _INTERRUPTS)))

    # ------------------------------------------------------------------ lending

    @contextlib.asynccontextmanager
    async def worker(self) -> AsyncIterator[Worker]:
        worker = await self._healthy_slot()
        worker.in_flight += 1
        try:
            yield worker
        finally:
            worker.in_flight -= 1
            worker.checks += 1
            if worker.checks >= self.settings.recycle_after or self._memory_high():
                worker.retiring = True
            self._release(worker)

    async def _healthy_slot(self) -> Worker:
        """A slot of a worker that may take a check; slots of sick workers wait for their restart."""
        while True:
            worker = await self._slots.get()
            if worker.poisoned or worker.retiring:
                self._release(worker)
                continue
            return worker

    def _release(self, worker: Worker) -> None:
        if not (worker.poisoned or worker.retiring):
            self._slots.put_nowait(worker)
            return
        self._parked.setdefault(worker.index, []).append(worker)
        if worker.in_flight == 0 and not worker.restarting:
            # off the caller's path: its result is ready; the slots come back after the restart
            worker.restarting = True
            self._spawn(self._restart_worker(worker))

    async def _restart_worker(self, worker: Worker) -> None:
        """Give the worker a new session. Under the restart lock: a server restart gives every
        worker a new session, and the two must never act on one worker at once (a recycle that
        read the old id could stop the session the restart had just started)."""
        session = worker.session_id
        escalate: tuple[bool, str] | None = None
        try:
            async with self._restart_lock:
                since = self.generation
                if worker.session_id == session:   # else a server restart already gave it a new one
                    escalate = await self._recycle(worker)
            if escalate is not None:
                force, reason = escalate
                await self.recover(force=force, reason=reason, since=since)
        except (IsabelleServerError, OSError) as exc:
            # the next check on it fails and goes through recover(), which reports a dead server
            log.warning("could not restart Isabelle session %d: %s", worker.index, exc)
        finally:
            worker.restarting = False
            worker.poisoned = ""
            worker.retiring = False
            for slot in self._parked.pop(worker.index, []):
                self._slots.put_nowait(slot)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _memory_high(self) -> bool:
        pid = self._server.pid if self._server is not None else None
        if pid is None:
            return False
        return process_tree_rss_bytes(pid) > self.settings.max_server_rss_gb * 2**30

    async def _recycle(self, worker: Worker) -> tuple[bool, str] | None:
        """Give a worker a fresh session (a runaway tactic, a lost session, memory and
        document-model growth); called under the restart lock.

        A session running away (or under a task that did not end when cancelled) on a server
        we own has its own processes ended (``session_process``): the other sessions' checks
        go on undisturbed. Where those processes are not known, or ending them does not give
        a working session, the server must be restarted, which ends every process it started:
        the answer is then ``(force, reason)`` for ``recover``, which the caller runs once the
        lock is free.
        """
        reason = worker.poisoned or worker.retire_reason or f"recycled after {worker.checks} checks"
        log.info("restarting Isabelle session %d: %s", worker.index, reason)
        owned = self._server is not None and self._server.owned
        runaway = worker.poisoned or worker.task_left_open
        if runaway and worker.processes and owned and await self._end_alone(worker, reason):
            return None
        if worker.task_left_open and owned:
            worker.task_left_open = False
            return True, "a check did not end when cancelled"
        self.restarts.append(reason)
        stopped = False
        try:
            reply = await self._stop_session(worker)
            stopped = reply.finished
        except (IsabelleServerError, OSError) as exc:
            log.warning("session_stop failed for Isabelle session %d: %s", worker.index, exc)
        await worker.connection.close()
        if worker.poisoned and not stopped and owned:
            return True, "a session running a runaway tactic did not stop"
        try:
            worker.connection = await self._connect()
            await self._start_session(worker)
            worker.poisoned = ""
        except (IsabelleServerError, OSError):
            return False, ""
        return None

    async def _end_alone(self, worker: Worker, reason: str) -> bool:
        """End this session's processes and start a new session; False: it did not work out."""
        killed = kill_trees(worker.processes)
        worker.processes = ()
        log.info("ended %d processes of Isabelle session %d", killed, worker.index)
        try:
            await worker.connection.close()
            worker.connection = await self._connect()
            with contextlib.suppress(IsabelleServerError, OSError):   # its prover is gone: a formality
                await worker.connection.run_task("session_stop", {"session_id": worker.session_id},
                                                 deadline_s=self.settings.session_stop_timeout_s)
            await self._start_session(worker)
        except (IsabelleServerError, OSError) as exc:
            log.warning("a new session after ending a runaway failed (%s); restarting the server", exc)
            return False
        self.restarts.append(f"{reason} (its session's processes were ended)")
        worker.poisoned = ""
        worker.task_left_open = False
        return True

    async def _stop_session(self, worker: Worker) -> TaskReply:
        if worker.connection.closed:  # a client deadline closed it: stop the session from a new one
            worker.connection = await self._connect()
        return await worker.connection.run_task("session_stop", {"session_id": worker.session_id},
                                                deadline_s=self.settings.session_stop_timeout_s)

    async def recover(self, *, force: bool = False, reason: str = "", since: int | None = None) -> None:
        """Restart a dead server, or reconnect and restart dead sessions.

        Workers are updated in place, so a check that failed with a lost connection can
        retry on the same worker object. Concurrent callers share one restart, and so do
        callers that saw a failure of the server generation ``since`` (``self.generation`` when
        their check began) once it has been replaced. ``force`` restarts a server we own even
        when it still answers; ``reason`` says why, to the person.
        """
        generation = self.generation if since is None else since
        async with self._restart_lock:
            if generation != self.generation:
                return
            reason = reason or ("a runaway session" if force else "the Isabelle server or a session died")
            self._on_progress(f"restarting Isabelle: {reason}")
            if force:
                self.restarts.append(f"server restarted: {reason}")
            if force or not await self._server_answers():
                if self._server is not None:
                    with contextlib.suppress(Exception):
                        await self._server.stop()
                self._server = await self._server_factory()
                if self._management is not None:
                    await self._management.close()
                self._management = await self._server.connect()
            for worker in self._workers:
                await worker.connection.close()
                worker.connection = await self._connect()
                await self._start_session(worker)
                worker.poisoned = ""
                worker.task_left_open = False
            self.generation += 1

    async def _server_answers(self) -> bool:
        if self._server is None or not self._server.alive():
            return False
        try:
            probe = await self._server.connect(timeout_s=5.0)
        except (IsabelleServerError, OSError):
            return False
        try:
            await probe.command("echo", "ping", timeout_s=5.0)
            return True
        except (IsabelleServerError, OSError):
            return False
        finally:
            await probe.close()

    # ------------------------------------------------------------------ purging

    def purge_later(self, worker: Worker, master_dir: Path, theories: list[str],
                    then: Callable[[], None] | None = None) -> None:
        """Purge checked theories on the management connection, off the verify path."""

        async def purge() -> None:
            try:
                if self._management is not None and not self._management.closed:
                    await self._management.command(
                        "purge_theories",
                        {"session_id": worker.session_id, "theories": theories, "master_dir": str(master_dir)},
                        timeout_s=120)
            except (IsabelleServerError, OSError) as exc:
                log.debug("purge failed: %s", exc)
            finally:
                if then is not None:
                    then()

        self._spawn(purge())

    async def drain(self) -> None:
        """Wait for background purges (tests and clean shutdown)."""
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    @property
    def server(self) -> IsabelleServer | None:
        return self._server


__all__ = ["ConnectionLost", "SessionPool", "Worker"]
