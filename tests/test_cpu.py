"""The Isabelle server's CPU time is read from /proc for the server process and its descendants."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from lego_prover.isabelle.processes import PROC
from lego_prover.run.cpu import process_tree_cpu_s

BURN = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.4: pass\\ntime.sleep(30)"])
t = time.process_time()
while time.process_time() - t < 0.3: pass
print("burnt", flush=True)
time.sleep(30)
"""


@pytest.mark.skipif(not PROC.is_dir(), reason="no /proc on this system")
def test_cpu_time_counts_a_process_and_its_children() -> None:
    proc = subprocess.Popen([sys.executable, "-c", BURN], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "burnt"
        deadline, spent = time.monotonic() + 20, None
        while time.monotonic() < deadline:   # until the child has burnt its 0.4 s too (a busy machine is slower)
            spent = process_tree_cpu_s(proc.pid)
            if spent is not None and spent >= 0.65:
                break
            time.sleep(0.1)
        assert spent is not None and 0.65 <= spent < 5.0, spent
    finally:
        children = (PROC / str(proc.pid) / "task" / str(proc.pid) / "children").read_text().split()
        for pid in map(int, children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.wait()
    assert process_tree_cpu_s(proc.pid) is None, "a process that is gone has no CPU time to read"
