"""Finding and ending one session's processes, on a process tree shaped like a real server's.

No Isabelle here: ``java`` is a shell script and ``poly`` a copy of ``sleep``, so the tree has
the shape ``session_process`` reads (server -> java -> wrapper -> poly). The real-server
test of the same behaviour is in test_isabelle_real.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lego_prover.isabelle.processes import PROC
from lego_prover.isabelle.session_process import (
    kill_trees,
    server_process_roots,
    session_process_roots,
)

pytestmark = pytest.mark.skipif(not PROC.is_dir() or sys.platform != "linux", reason="needs Linux /proc")


def alive(pid: int) -> bool:
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition: object, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A 'server' whose 'java' starts a prover tree at once and, once asked, a session's poly
    tree beside another prover tree (what a session start meets while Sledgehammer runs)."""
    shutil.copy(shutil.which("sleep") or "/bin/sleep", tmp_path / "poly")
    shutil.copy(shutil.which("sleep") or "/bin/sleep", tmp_path / "eprover")
    go = tmp_path / "go"
    java = tmp_path / "java"
    java.write_text(f"#!/bin/sh\ncd {tmp_path}\n(./eprover 60) &\n"
                    f"while [ ! -e {go} ]; do sleep 0.05; done\n"
                    "sh -c './poly 60; true' &\n(./eprover 60) &\nwait\n")
    java.chmod(0o755)
    proc = subprocess.Popen(["/bin/sh", "-c", f"{java}; true"])
    yield proc, go
    subprocess.run(["pkill", "-KILL", "-f", str(tmp_path)], check=False)
    proc.kill()
    proc.wait()


def children_of_java(server_pid: int) -> int:
    return len(server_process_roots(server_pid))


def test_a_session_is_its_new_poly_tree_not_a_prover_started_beside_it(
        server: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, go = server
    wait_for(lambda: children_of_java(proc.pid) == 1)
    before = server_process_roots(proc.pid)
    go.touch()
    wait_for(lambda: children_of_java(proc.pid) == 3)
    mine = session_process_roots(proc.pid, before)
    assert len(mine) == 1, "one new tree runs poly; the new prover tree is someone else's"
    others = server_process_roots(proc.pid) - set(mine)

    assert kill_trees(mine) >= 2, "the wrapper and the poly process under it"
    wait_for(lambda: not any(alive(p) for p in mine))
    assert all(alive(p) for p in others), "the other trees were left alone"


def test_nothing_is_found_or_killed_without_a_jvm() -> None:
    assert server_process_roots(999_999_999) == set()
    assert session_process_roots(999_999_999, set()) == ()
    assert kill_trees((999_999_999,)) == 0
