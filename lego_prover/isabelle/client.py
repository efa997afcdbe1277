"""A small asyncio client for the Isabelle server: one connection, many tasks.

isabelle-client opens a connection per call, so a timed-out ``use_theories`` can never be
cancelled (``cancel`` only sees tasks of its own connection). This client keeps one
connection per worker, demultiplexes NOTE/FINISHED/FAILED by task id, cancels on the same
connection, and closes the socket at a hard deadline, which makes the server cancel.

Usage::

    async with await IsabelleConnection.open("127.0.0.1", port, password) as conn:
        reply = await conn.run_task("session_start", {"session": "HOL"}, deadline_s=300)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from lego_prover.errors import IsabelleServerError
from lego_prover.isabelle.protocol import (
    SYNC_REPLIES,
    TASK_REPLIES,
    Message,
    ProtocolError,
    encode_command,
    parse_message,
    read_message,
)

log = logging.getLogger(__name__)

NoteHandler = Callable[[dict[str, Any]], None]


class ConnectionLost(IsabelleServerError):
    """The server closed the connection (crash, shutdown, or a wrong password)."""


class CommandError(IsabelleServerError):
    """The server answered ERROR to a command."""

    def __init__(self, command: str, argument: Any) -> None:
        detail = argument.get("message") if isinstance(argument, dict) else argument
        super().__init__(f"Isabelle server rejected '{command}': {detail}")
        self.argument = argument


class ServerFault(IsabelleServerError):
    """A task failed inside the server itself (a JVM exception): the server needs a restart."""


class SessionGone(IsabelleServerError):
    """The server no longer knows the session a task named (``No session '...'``): the worker
    needs a new session, the server is fine."""


class TaskTimeout(IsabelleServerError):
    """A task ran past its client-side deadline and was cancelled."""


@dataclass(frozen=True)
class TaskReply:
    """The end of an asynchronous task: FINISHED (``ok``) or FAILED, with its payload."""

    task: str
    finished: bool
    payload: dict[str, Any]
    notes: tuple[dict[str, Any], ...] = ()


@dataclass
class _Task:
    future: asyncio.Future[TaskReply]
    on_note: NoteHandler | None
    notes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Pending:
    future: asyncio.Future[Message]
    asynchronous: bool
    task: _Task | None = None   # set by the reader when an async command is accepted


class IsabelleConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, welcome: dict[str, Any]) -> None:
        self._reader = reader
        self._writer = writer
        self.welcome = welcome
        self._pending: deque[_Pending] = deque()
        self._tasks: dict[str, _Task] = {}
        self._write_lock = asyncio.Lock()
        self._closed = False
        self._failure: Exception | None = None
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def open(cls, host: str, port: int, password: str, *, timeout_s: float = 30.0) -> IsabelleConnection:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        except (OSError, TimeoutError) as exc:
            raise ConnectionLost(f"cannot reach the Isabelle server at {host}:{port}: {exc}") from exc
        writer.write(password.encode() + b"\n")
        await writer.drain()
        try:
            text = await asyncio.wait_for(read_message(reader), timeout_s)
        except (TimeoutError, ProtocolError, ConnectionError) as exc:
            writer.close()
            raise ConnectionLost(f"no welcome from the Isabelle server at {host}:{port}: {exc}") from exc
        if text is None:
            writer.close()
            raise ConnectionLost(
                f"the Isabelle server at {host}:{port} closed the connection at once: "
                "wrong password, or not an Isabelle server")
        msg = parse_message(text)
        if msg.name != "OK":
            writer.close()
            raise ConnectionLost(f"unexpected welcome from the Isabelle server: {text[:120]!r}")
        return cls(reader, writer, msg.argument if isinstance(msg.argument, dict) else {})

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def isabelle_name(self) -> str:
        return str(self.welcome.get("isabelle_name") or self.welcome.get("isabelle_id") or "unknown")

    # ------------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        error: Exception = ConnectionLost("the Isabelle server closed the connection")
        try:
            while True:
                text = await read_message(self._reader)
                if text is None:
                    break
                self._dispatch(parse_message(text))
        except (ProtocolError, ConnectionError) as exc:
            error = ConnectionLost(f"broken connection to the Isabelle server: {exc}")
        except asyncio.CancelledError:
            error = ConnectionLost("connection closed by lego-prover")
        self._fail_all(error)

    def _dispatch(self, msg: Message) -> None:
        if msg.name in SYNC_REPLIES:
            if not self._pending:
                log.warning("unsolicited %s from Isabelle server: %s", msg.name, msg.raw[:200])
                return
            pending = self._pending.popleft()
            if pending.asynchronous and msg.name == "OK" and msg.task:
                # register before anyone awaits, so an early FINISHED is never lost
                loop = asyncio.get_running_loop()
                pending.task = self._tasks[msg.task] = _Task(loop.create_future(), None)
            if not pending.future.done():
                pending.future.set_result(msg)
        elif msg.name == "NOTE":
            task = self._tasks.get(msg.task or "")
            if task is not None and isinstance(msg.argument, dict):
                task.notes.append(msg.argument)
                if task.on_note is not None:
                    try:
                        task.on_note(msg.argument)
                    except Exception:  # a progress callback must never break the protocol
                        log.exception("note handler failed")
            else:
                log.debug("NOTE %s", msg.raw[:200])
        elif msg.name in TASK_REPLIES:
            task = self._tasks.pop(msg.task or "", None)
            if task is None:
                log.debug("reply for unknown task: %s", msg.raw[:200])
                return
            payload = msg.argument if isinstance(msg.argument, dict) else {"message": msg.argument}
            if not task.future.done():
                task.future.set_result(TaskReply(msg.task or "", msg.name == "FINISHED", payload, tuple(task.notes)))
        else:
            log.warning("unknown message from Isabelle server: %s", msg.raw[:200])

    def _fail_all(self, error: Exception) -> None:
        self._closed = True
        self._failure = error
        while self._pending:
            fut = self._pending.popleft().future
            if not fut.done():
                fut.set_exception(error)
                fut.exception()  # a caller past its deadline no longer awaits it: no "never retrieved" noise
        for task in self._tasks.values():
            if not task.future.done():
                task.future.set_exception(error)
                task.future.exception()
        self._tasks.clear()

    # ------------------------------------------------------------------ writing

    async def _send(self, name: str, argument: Any, *, asynchronous: bool) -> Message:
        return (await self._send_pending(name, argument, asynchronous=asynchronous))[0]

    async def _send_pending(self, name: str, argument: Any, *, asynchronous: bool) -> tuple[Message, _Pending]:
        if self._closed:
            raise self._failure or ConnectionLost("connection to the Isabelle server is closed")
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        pending = _Pending(fut, asynchronous)
        async with self._write_lock:
            self._pending.append(pending)
            try:
                self._writer.write(encode_command(name, argument))
                await self._writer.drain()
            except ConnectionError as exc:
                self._fail_all(ConnectionLost(f"lost the Isabelle server while sending '{name}': {exc}"))
        return await fut, pending

    async def command(self, name: str, argument: Any = None, *, timeout_s: float = 120.0) -> Any:
        """A synchronous command: returns the OK argument, raises ``CommandError`` on ERROR."""
        try:
            msg = await asyncio.wait_for(self._send(name, argument, asynchronous=False), timeout_s)
        except TimeoutError as exc:
            raise IsabelleServerError(f"Isabelle server did not answer '{name}' in {timeout_s:.0f}s") from exc
        if msg.name == "ERROR":
            raise CommandError(name, msg.argument)
        return msg.argument

    async def start_task(self, name: str, argument: Any, *, on_note: NoteHandler | None = None) -> str:
        return (await self._start(name, argument, on_note))[0]

    async def _start(self, name: str, argument: Any, on_note: NoteHandler | None) -> tuple[str, _Task]:
        msg, pending = await self._send_pending(name, argument, asynchronous=True)
        if msg.name == "ERROR":
            raise CommandError(name, msg.argument)
        if msg.task is None or pending.task is None:
            raise IsabelleServerError(f"Isabelle server gave no task id for '{name}': {msg.raw[:120]!r}")
        pending.task.on_note = on_note
        for note in pending.task.notes:  # notes that arrived before we got here
            if on_note is not None:
                on_note(note)
        return msg.task, pending.task

    async def run_task(
        self,
        name: str,
        argument: Any,
        *,
        deadline_s: float | None = None,
        on_note: NoteHandler | None = None,
        cancel_grace_s: float = 5.0,
    ) -> TaskReply:
        """Run an asynchronous command to its end.

        Past ``deadline_s`` the task is cancelled on this connection; if the server does
        not confirm within ``cancel_grace_s``, the connection is closed (the server then
        cancels every task it started) and ``TaskTimeout`` is raised either way.
        """
        task_id, task = await self._start(name, argument, on_note)
        future = task.future
        try:
            return await asyncio.wait_for(asyncio.shield(future), deadline_s)
        except TimeoutError:
            with contextlib.suppress(IsabelleServerError, TimeoutError):
                await self.command("cancel", {"task": task_id}, timeout_s=cancel_grace_s)
                await asyncio.wait_for(asyncio.shield(future), cancel_grace_s)
            if not future.done():
                await self.close()
            raise TaskTimeout(f"'{name}' ran past its {deadline_s:.0f}s deadline and was cancelled") from None

    async def close(self) -> None:
        if not self._reader_task.done():
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader_task
        self._fail_all(ConnectionLost("connection closed by lego-prover"))
        with contextlib.suppress(Exception):
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), 2.0)

    async def __aenter__(self) -> IsabelleConnection:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
