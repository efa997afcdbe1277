"""The Isabelle server process: find the installation, start a uniquely named server on a
free loopback port, or connect to a running one; shut down only what we started.

Usage::

    exe = find_isabelle(settings.isabelle.home)
    server = await IsabelleServer.start(exe, log_dir=Path("logs"))
    conn = await server.connect()
    ...
    await server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from lego_prover.errors import IsabelleNotFoundError, IsabelleServerError
from lego_prover.isabelle import reaper
from lego_prover.isabelle.client import IsabelleConnection
from lego_prover.isabelle.processes import PROC, ProcessTable
from lego_prover.isabelle.protocol import Banner, ProtocolError, parse_banner

INSTALL_HINT = (
    "install Isabelle2020 or newer (the newest release is best) from https://isabelle.in.tum.de/installation.html and "
    "set ISABELLE_HOME to its folder (or put its bin/ on PATH, or set isabelle.home in lego-prover.toml)"
)


def find_isabelle(home: Path | None = None, *, environ: dict[str, str] | None = None) -> Path:
    """The ``isabelle`` executable: ``home`` setting, then ``$ISABELLE_HOME``, then PATH."""
    env = os.environ if environ is None else environ
    candidates: list[tuple[str, Path]] = []
    if home is not None:
        candidates.append(("isabelle.home", Path(home).expanduser()))
    if env.get("ISABELLE_HOME"):
        candidates.append(("ISABELLE_HOME", Path(env["ISABELLE_HOME"]).expanduser()))
    for source, base in candidates:
        exe = base / "bin" / "isabelle"
        if exe.is_file() and os.access(exe, os.X_OK):
            return exe
        raise IsabelleNotFoundError(f"{source}={base} has no executable bin/isabelle; {INSTALL_HINT}.")
    found = shutil.which("isabelle", path=env.get("PATH"))
    if found:
        return Path(found)
    raise IsabelleNotFoundError(f"Isabelle was not found; {INSTALL_HINT}.")


async def isabelle_version(exe: Path, *, timeout_s: float = 60.0) -> str:
    """``isabelle version`` (e.g. ``Isabelle2022``)."""
    proc = await asyncio.create_subprocess_exec(
        str(exe), "version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise IsabelleServerError(f"'{exe} version' did not answer in {timeout_s:.0f}s") from None
    if proc.returncode != 0:
        raise IsabelleServerError(f"'{exe} version' failed: {err.decode(errors='replace').strip()[:200]}")
    return out.decode().strip()


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int
    password: str

    @classmethod
    def parse(cls, spec: str) -> ServerAddress:
        """``HOST:PORT:PASSWORD`` (the password may itself contain no colon)."""
        parts = spec.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            raise IsabelleServerError(
                f"isabelle.server must be 'HOST:PORT:PASSWORD', got {spec!r}")
        return cls(parts[0], int(parts[1]), parts[2])


class IsabelleServer:
    """A server we started (and will stop), or one we only connect to."""

    def __init__(self, address: ServerAddress, *, process: asyncio.subprocess.Process | None = None,
                 name: str | None = None) -> None:
        self.address = address
        self.name = name
        self._process = process
        self._lifeline: int | None = None   # write end of the reaper's lifeline; closing it ends the tree

    @classmethod
    async def start(cls, exe: Path, *, log_dir: Path, timeout_s: float = 120.0,
                    name: str | None = None) -> IsabelleServer:
        """Spawn ``isabelle server`` under a unique name; the OS picks the port.

        The server runs under the reaper (``reaper.py``): whatever ends lego-prover (Ctrl-C,
        SIGTERM, ``kill -9``, a crash), the server's JVM and every Poly/ML process it
        started end with it.
        """
        name = name or f"lego-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        log_dir.mkdir(parents=True, exist_ok=True)
        lifeline_read, lifeline_write = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, reaper.__file__, "--lifeline", str(lifeline_read), "--",
                str(exe), "server", "-n", name, "-L", str(log_dir / f"{name}.log"),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                # Own session: a terminal's Ctrl-C reaches only us, and we shut the server
                # down in order; if we die instead, the reaper sees the lifeline close.
                start_new_session=True, pass_fds=(lifeline_read,))
        except OSError:
            os.close(lifeline_write)
            raise
        finally:
            os.close(lifeline_read)
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), timeout_s)
        except TimeoutError:
            await _terminate(proc)
            os.close(lifeline_write)
            raise IsabelleServerError(f"'isabelle server' printed no banner in {timeout_s:.0f}s") from None
        text = line.decode(errors="replace")
        try:
            banner: Banner = parse_banner(text)
        except ProtocolError:
            err = b""
            if proc.stderr is not None:
                with contextlib.suppress(TimeoutError):
                    err = await asyncio.wait_for(proc.stderr.read(2000), 2.0)
            await _terminate(proc)
            os.close(lifeline_write)
            raise IsabelleServerError(
                f"'isabelle server' did not start: {text.strip() or err.decode(errors='replace').strip()}") from None
        # A live server of the same name makes `isabelle server` print *its* banner and exit.
        await asyncio.sleep(0.3)
        if proc.returncode is not None:
            os.close(lifeline_write)
            raise IsabelleServerError(f"another Isabelle server already uses the name {name!r}")
        server = cls(ServerAddress(banner.host, banner.port, banner.password), process=proc, name=name)
        server._lifeline = lifeline_write
        return server

    @property
    def owned(self) -> bool:
        return self._process is not None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is None or self._process.returncode is None

    async def connect(self, *, timeout_s: float = 30.0) -> IsabelleConnection:
        return await IsabelleConnection.open(self.address.host, self.address.port, self.address.password,
                                             timeout_s=timeout_s)

    async def stop(self, *, timeout_s: float = 20.0, interrupted: bool = False) -> None:
        """Shut down a server we started: ``shutdown``, then end its whole process tree.

        ``interrupted``: no ``shutdown`` request (a server busy building a heap may not act
        on it for a long time); the reaper ends the tree at once.
        """
        if self._process is None:
            return
        try:
            if self._process.returncode is None and not interrupted:
                with contextlib.suppress(Exception):
                    conn = await self.connect(timeout_s=5.0)
                    with contextlib.suppress(Exception):
                        await conn.command("shutdown", timeout_s=5.0)
                    await conn.close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._process.wait(), timeout_s)
            await _terminate(self._process)  # the reaper ends the tree on SIGTERM
        finally:
            if self._lifeline is not None:  # however stop ends, the reaper sees the lifeline close
                with contextlib.suppress(OSError):
                    os.close(self._lifeline)
                self._lifeline = None
            _close_pipes(self._process)


async def _terminate(proc: asyncio.subprocess.Process) -> None:
    """Stop a process we spawned, by its PID only."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 10.0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def _close_pipes(proc: asyncio.subprocess.Process) -> None:
    """Close the pipes of a process that has exited, now, while the event loop still runs.

    Left to the garbage collector after ``asyncio.run`` returned, the transport would try to
    close itself on the closed loop ("Exception ignored ... Event loop is closed"), and
    would kill a process still running. So only an exited process is closed here; one still
    running (stop was cancelled) is left to the reaper, whose lifeline has been closed.
    """
    transport = getattr(proc, "_transport", None)  # asyncio keeps no public handle on it
    if proc.returncode is not None and transport is not None:
        transport.close()


def process_tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and its descendants (Linux /proc; 0 elsewhere)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for p in ProcessTable.read().subtree(pid):
        try:
            total += int((PROC / str(p) / "statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue    # ended meanwhile
    return total
