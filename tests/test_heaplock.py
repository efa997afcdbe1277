"""The heap-build lock: one process builds at a time, a lock left by a process that is gone is
taken over at once, waiting ends when cancelled, and nothing is left behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lego_prover.isabelle.heaplock import HeapLock

ROOT = Path(__file__).resolve().parents[1]
HOLDER = """
import sys
sys.path.insert(0, {root!r})
from pathlib import Path
from lego_prover.isabelle.heaplock import HeapLock
lock = HeapLock(Path({path!r}))
print("held" if lock.try_acquire() else "busy", flush=True)
sys.stdin.readline()
lock.release()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock until its stdin is closed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER.format(root=str(ROOT), path=str(tmp_path / "build.lock"))],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def other_process_can_take(path: Path) -> bool:
    out = subprocess.run([sys.executable, "-c", HOLDER.format(root=str(ROOT), path=str(path))], input="\n",
                         capture_output=True, text=True, check=True).stdout
    return out.strip() == "held"


def test_a_released_lock_leaves_no_file_and_is_free_for_others_while_we_run(tmp_path: Path) -> None:
    lock = HeapLock(tmp_path / "build.lock")
    asyncio.run(lock.acquire())
    assert lock.held and lock.holder() == os.getpid()
    assert not other_process_can_take(lock.path)
    lock.release()
    assert not lock.path.exists()
    assert other_process_can_take(lock.path)


def test_a_lock_left_by_a_process_that_is_gone_is_taken_over_at_once(holder: subprocess.Popen[str],
                                                                    tmp_path: Path) -> None:
    path = tmp_path / "build.lock"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert path.exists() and HeapLock(path).holder() == holder.pid, "kill -9 leaves the file behind"
    lock = HeapLock(path)
    assert lock.try_acquire() and lock.holder() == os.getpid()
    lock.release()


def test_a_waiter_names_the_holder_takes_the_lock_when_released_and_stops_waiting_when_cancelled(
        holder: subprocess.Popen[str], tmp_path: Path) -> None:
    path = tmp_path / "build.lock"
    waits: list[int | None] = []

    async def scenario() -> None:
        cancelled = HeapLock(path)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(cancelled.acquire(on_wait=waits.append, poll_s=0.05), 0.3)
        assert not cancelled.held
        lock = HeapLock(path)
        waiting = asyncio.create_task(lock.acquire(poll_s=0.05))
        await asyncio.sleep(0.2)
        assert not waiting.done(), "the lock is still held by the other process"
        assert holder.stdin is not None
        holder.stdin.close()  # the holder releases and exits
        await asyncio.wait_for(waiting, 30)
        assert lock.held
        lock.release()

    asyncio.run(scenario())
    assert waits == [holder.pid], "one message, naming the holder"
