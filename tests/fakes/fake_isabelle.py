"""A protocol-level fake Isabelle server for tests. It never judges a proof.

It speaks the real wire protocol (password, framing, OK/ERROR, async tasks with
NOTE/FINISHED/FAILED, cancel on the same connection, cancel-on-close, session registry,
purge bookkeeping) and answers ``use_theories`` with *scripted* outcomes that a test
selects by the hash of the submitted text (theory name normalised) or, failing that, in
FIFO order, or with a default. What an outcome says about a proof is the test's decision.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import socketserver
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_THEORY_NAME_RE = re.compile(r"\btheory\s+T_[0-9a-f]+")


def normalised_hash(text: str) -> str:
    """Hash of a theory text with our random theory name replaced, so tests can key on it."""
    return hashlib.sha256(_THEORY_NAME_RE.sub("theory T_X", text, count=1).encode()).hexdigest()


def frame(payload: str) -> bytes:
    data = payload.encode()
    if len(data) > 100 or b"\n" in data:
        return str(len(data) + 1).encode() + b"\n" + data + b"\n"
    return data + b"\n"


@dataclass
class Submitted:
    """What the fake saw: a theory file as the server would read it."""

    theory: str
    node_name: str
    text: str


@dataclass
class Outcome:
    """A scripted reply to one use_theories.

    ``build(submitted) -> payload`` makes the FINISHED payload (``nodes``, ``ok``,
    ``errors``); ``kind`` is one of ``finished``, ``failed``, ``hang`` (runs until
    cancelled or the connection closes), ``crash`` (the whole server dies), ``drop``
    (this connection closes without a reply), ``runaway`` (replies like a check that hit
    its limit while a tactic ran, and, as a real Isabelle2020 did, leaves that tactic
    running in the session: every later check in the session then hits its limit with
    unprocessed commands, until the session is stopped), ``break`` (fails with
    ``message`` and leaves the whole server failing every later ``use_theories`` the same
    way, as a real server did once its JVM-wide event timer had died:
    ``java.lang.IllegalStateException: Timer already cancelled.``), ``stuck`` (ignores
    ``cancel`` and never answers: a task that does not end when cancelled).
    """

    build: Callable[[Submitted], dict[str, Any]] | None = None
    kind: str = "finished"
    delay_s: float = 0.0
    message: str = ""


@dataclass
class Script:
    by_hash: dict[str, Outcome] = field(default_factory=dict)
    by_marker: dict[str, Outcome] = field(default_factory=dict)   # a marker the test put in the text
    queue: deque[Outcome] = field(default_factory=deque)
    default: Outcome | None = None
    session_build_fails: bool = False
    # a heap build that never ends, not even when cancelled; while it runs, the server
    # acknowledges `shutdown` but does not act on it (what made Ctrl-C during a build slow)
    session_build_hangs: bool = False
    build_notes: list[str] = field(default_factory=list)   # messages sent before 'Building ...'
    start_delay_s: float = 0.0  # how long a session_start takes

    def pick(self, text: str) -> Outcome:
        key = normalised_hash(text)
        if key in self.by_hash:
            return self.by_hash[key]
        for marker, outcome in self.by_marker.items():
            if marker in text:
                return outcome
        if self.queue:
            return self.queue.popleft()
        if self.default is not None:
            return self.default
        raise LookupError("the fake Isabelle server has no scripted outcome for this theory")


class _State:
    def __init__(self, password: str, script: Script) -> None:
        self.password = password
        self.script = script
        self.lock = threading.Lock()
        self.sessions: dict[str, str] = {}          # id -> tmp dir
        self.stopped_sessions: list[str] = []
        self.loaded: set[str] = set()               # node names
        self.purged: list[str] = []
        self.submitted: list[Submitted] = []
        self.commands: list[tuple[str, Any]] = []
        self.cancelled: list[str] = []
        self.connections: list[socket.socket] = []
        self.max_concurrent_use_theories = 0
        self.running_use_theories = 0
        self.dead = False
        self.runaway_sessions: set[str] = set()     # sessions a scripted runaway tactic still occupies
        self.broken = ""                            # set by a `break` outcome: every later check fails so
        self.shutdown_requested = threading.Event()
        self.builds_running = 0


class _Handler(socketserver.StreamRequestHandler):
    server: _TCPServer

    def setup(self) -> None:
        super().setup()
        self.state = self.server.state
        self.write_lock = threading.Lock()
        self.tasks: dict[str, threading.Event] = {}
        with self.state.lock:
            self.state.connections.append(self.request)

    def send(self, text: str) -> None:
        with self.write_lock:
            try:
                self.wfile.write(frame(text))
                self.wfile.flush()
            except (OSError, ValueError):
                pass  # the client is gone

    def read_message(self) -> str | None:
        line = self.rfile.readline()
        if not line:
            return None
        stripped = line.rstrip(b"\r\n")
        if stripped.isdigit():
            return self.rfile.read(int(stripped)).decode().rstrip("\n")
        return stripped.decode()

    def handle(self) -> None:
        first = self.rfile.readline().decode().strip()
        if first != self.state.password:
            return  # the real server disconnects silently on a wrong password
        self.send('OK {"isabelle_id":"fake","isabelle_name":"Isabelle2022 (fake test server)"}')
        while True:
            text = self.read_message()
            if text is None:
                break
            self.dispatch(text)
        for event in self.tasks.values():  # closing a connection cancels its tasks
            event.set()

    def dispatch(self, text: str) -> None:
        if not text.strip():
            self.send('NOTE "Command \'help\' provides list of commands"')
            return
        m = re.match(r"([A-Za-z0-9_.]+)\s*(.*)\Z", text, re.S)
        assert m is not None
        name, rest = m.group(1), m.group(2)
        arg: Any = None
        if rest:
            try:
                arg = json.loads(rest)
            except json.JSONDecodeError:
                self.send("ERROR " + json.dumps({"kind": "error", "message": f"Malformed argument for command '{name}'", "argument": rest}))
                return
        with self.state.lock:
            self.state.commands.append((name, arg))
        sync = {"help": self.cmd_help, "echo": self.cmd_echo, "cancel": self.cmd_cancel,
                "purge_theories": self.cmd_purge, "shutdown": self.cmd_shutdown}
        tasks = {"session_build": self.task_build, "session_start": self.task_start,
                 "session_stop": self.task_stop, "use_theories": self.task_use}
        if name in sync:
            sync[name](arg)
        elif name in tasks:
            if name in ("session_stop", "use_theories") and not _is_uuid((arg or {}).get("session_id")):
                self.send("ERROR " + json.dumps({"kind": "error", "message": f"Bad argument for command '{name}'"}))
                return
            task = str(uuid.uuid4())
            cancel = threading.Event()
            self.tasks[task] = cancel
            self.send("OK " + json.dumps({"task": task}))
            threading.Thread(target=tasks[name], args=(task, arg, cancel), daemon=True).start()
        else:
            self.send(f"ERROR \"Bad command '{name}'\"")

    # sync commands
    def cmd_help(self, arg: Any) -> None:
        self.send("OK " + json.dumps(["cancel", "echo", "help", "purge_theories", "session_build",
                                      "session_start", "session_stop", "shutdown", "use_theories"]))

    def cmd_echo(self, arg: Any) -> None:
        self.send("OK " + json.dumps(arg))

    def cmd_cancel(self, arg: Any) -> None:
        event = self.tasks.get((arg or {}).get("task", ""))
        if event is not None:  # only tasks of this connection; unknown ids still get OK
            event.set()
            with self.state.lock:
                self.state.cancelled.append(arg["task"])
        self.send("OK")

    def cmd_purge(self, arg: Any) -> None:
        names = (arg or {}).get("theories") or []
        master = (arg or {}).get("master_dir") or ""
        purged = []
        with self.state.lock:
            for n in names:
                node = str(Path(master) / f"{n}.thy")
                if node in self.state.loaded:
                    self.state.loaded.discard(node)
                    self.state.purged.append(n)
                    purged.append({"node_name": node, "theory_name": f"Draft.{n}"})
        self.send("OK " + json.dumps({"purged": purged, "retained": []}))

    def cmd_shutdown(self, arg: Any) -> None:
        self.send("OK")
        if self.state.builds_running:
            return
        self.state.shutdown_requested.set()
        threading.Thread(target=self.server.die, daemon=True).start()

    # tasks
    def finish_task(self, task: str, payload: dict[str, Any], ok: bool = True) -> None:
        payload = {**payload, "task": task}
        self.send(("FINISHED " if ok else "FAILED ") + json.dumps(payload))
        self.tasks.pop(task, None)

    def task_build(self, task: str, arg: Any, cancel: threading.Event) -> None:
        for note in self.state.script.build_notes:
            self.send("NOTE " + json.dumps({"kind": "writeln", "message": note, "task": task}))
        self.send("NOTE " + json.dumps({"kind": "writeln", "message": f"Building {arg.get('session')} ...", "task": task}))
        if self.state.script.session_build_hangs:
            with self.state.lock:
                self.state.builds_running += 1
            threading.Event().wait()
        elif self.state.script.session_build_fails:
            self.finish_task(task, {"kind": "error", "message": "Session build failed", "ok": False, "return_code": 1}, ok=False)
        else:
            self.finish_task(task, {"ok": True, "return_code": 0, "sessions": [{"session": arg.get("session"), "ok": True}]})

    def task_start(self, task: str, arg: Any, cancel: threading.Event) -> None:
        cancel.wait(self.state.script.start_delay_s)
        sid = str(uuid.uuid4())
        with self.state.lock:
            self.state.sessions[sid] = f"/tmp/fake_isabelle/{sid}"
        self.finish_task(task, {"session_id": sid, "tmp_dir": f"/tmp/fake_isabelle/{sid}"})

    def task_stop(self, task: str, arg: Any, cancel: threading.Event) -> None:
        with self.state.lock:
            known = self.state.sessions.pop(arg["session_id"], None)
            if known:
                self.state.stopped_sessions.append(arg["session_id"])
                self.state.runaway_sessions.discard(arg["session_id"])
        if known is None:
            self.finish_task(task, {"kind": "error", "message": f"No session '{arg['session_id']}'"}, ok=False)
        else:
            self.finish_task(task, {"ok": True, "return_code": 0})

    def task_use(self, task: str, arg: Any, cancel: threading.Event) -> None:
        with self.state.lock:
            known = arg["session_id"] in self.state.sessions
        if not known:
            self.finish_task(task, {"kind": "error", "message": f"No session '{arg['session_id']}'"}, ok=False)
            return
        master = Path(arg.get("master_dir") or ".")
        name = arg["theories"][0]
        node = str(master / f"{name}.thy")
        text = Path(node).read_text()
        sub = Submitted(name, node, text)
        with self.state.lock:
            self.state.submitted.append(sub)
            self.state.loaded.add(node)
            self.state.running_use_theories += 1
            self.state.max_concurrent_use_theories = max(self.state.max_concurrent_use_theories,
                                                         self.state.running_use_theories)
        try:
            if self.state.broken:
                self.finish_task(task, {"kind": "error", "message": self.state.broken}, ok=False)
                return
            with self.state.lock:
                occupied = arg["session_id"] in self.state.runaway_sessions
            if occupied:  # the runaway of an earlier check holds the session: nothing gets processed
                cancel.wait(min(2.0, float(arg.get("check_limit") or 1) * float(arg.get("check_delay") or 0.5)))
                status = {"ok": True, "total": 5, "unprocessed": 4, "running": 0, "warned": 0, "failed": 0,
                          "finished": 1, "canceled": False, "consolidated": False, "percentage": 20}
                self.finish_task(task, {"ok": True, "errors": [], "nodes": [
                    {"node_name": node, "theory_name": f"Draft.{name}", "status": status, "messages": [],
                     "exports": []}]})
                return
            try:
                outcome = self.state.script.pick(text)
            except LookupError as exc:   # answered, not left hanging until the client's deadline
                self.finish_task(task, {"kind": "error", "message": f"fake Isabelle server: {exc}"}, ok=False)
                return
            if outcome.kind == "runaway":
                with self.state.lock:
                    self.state.runaway_sessions.add(arg["session_id"])
            self.send("NOTE " + json.dumps({"percentage": 50, "task": task, "message": f"theory Draft.{name} 50%",
                                            "kind": "writeln", "session": "", "theory": f"Draft.{name}"}))
            if outcome.kind == "crash":
                self.server.die()
                return
            if outcome.kind == "drop":
                self.request.close()
                return
            if outcome.kind == "stuck":
                self.state.shutdown_requested.wait(60)
                return
            if outcome.kind == "hang":
                cancel.wait(600)
                self.finish_task(task, {"kind": "error", "message": "Interrupt"}, ok=False)
                return
            if cancel.wait(outcome.delay_s):
                self.finish_task(task, {"kind": "error", "message": "Interrupt"}, ok=False)
                return
            if outcome.kind == "break":
                self.state.broken = outcome.message
            if outcome.kind in ("failed", "break"):
                self.finish_task(task, {"kind": "error", "message": outcome.message or "failed"}, ok=False)
                return
            assert outcome.build is not None
            try:
                payload = outcome.build(sub)
            except ValueError as exc:   # a scripted reply that does not fit this text (a needle it lacks)
                self.finish_task(task, {"kind": "error", "message": f"fake Isabelle server: {exc}"}, ok=False)
                return
            self.finish_task(task, payload)
        finally:
            with self.state.lock:
                self.state.running_use_theories -= 1


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: _State) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state

    def die(self) -> None:
        """Simulate the JVM dying: every connection sees EOF, all sessions are gone."""
        with self.state.lock:
            self.state.dead = True
            conns = list(self.state.connections)
            self.state.sessions.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        threading.Thread(target=self.shutdown, daemon=True).start()


class FakeIsabelleServer:
    """Start with ``with FakeIsabelleServer(script) as fake:``; ``fake.address`` to connect."""

    def __init__(self, script: Script | None = None, *, password: str | None = None) -> None:
        self.script = script or Script()
        self.state = _State(password or str(uuid.uuid4()), self.script)
        self._server = _TCPServer(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def password(self) -> str:
        return self.state.password

    @property
    def banner(self) -> str:
        return f'server "fake" = 127.0.0.1:{self.port} (password "{self.password}")'

    @property
    def alive(self) -> bool:
        return not self.state.dead

    def start(self) -> FakeIsabelleServer:
        self._thread.start()
        return self

    def crash(self) -> None:
        self._server.die()

    def stop(self) -> None:
        if not self.state.dead:
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeIsabelleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        time.sleep(0)
