"""The lock that lets one lego-prover process at a time build a session heap.

Usage::

    lock = HeapLock(work_dir / "build-HOL-Number_Theory.lock")
    await lock.acquire(on_wait=lambda pid: print(f"waiting for PID {pid} ..."))
    try:
        ...  # session_build
    finally:
        lock.release()

The lock is an ``flock`` on the file: the kernel releases it however its holder ends
(Ctrl-C, a crash, ``kill -9``), so a file left behind by a process that is gone is never
held, and the next run takes it over at once. The file holds the holder's PID, for the
waiting message, and is removed on release. Waiting polls, so it ends at once when the
waiting task is cancelled (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Callable
from pathlib import Path


class HeapLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> int | None:
        """The PID written by the process that holds (or last held) the lock, if any."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def try_acquire(self) -> bool:
        """Take the lock if no live process holds it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            # The holder we waited for removes the file as it releases: then we locked a
            # file that is no longer there, and try again on the one that is.
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                current = None
            mine = os.fstat(fd)
            if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    async def acquire(self, *, on_wait: Callable[[int | None], None] | None = None, poll_s: float = 0.5) -> None:
        """Take the lock, waiting while another process holds it; ``on_wait(pid)`` is called
        once, when waiting starts, with the holder's PID."""
        waited = False
        while not self.try_acquire():
            if not waited and on_wait is not None:
                on_wait(self.holder())
            waited = True
            await asyncio.sleep(poll_s)

    def release(self) -> None:
        """Remove the file and let go of the lock (the file is removed first, while it is still ours)."""
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None
