"""Start a checker in a child process, stop that process some way, and see what survives.

Used by the fake-executable tests and by the real-Isabelle tier alike: the child starts its
own Isabelle server (through ``isabelle.home``), checks one lemma, prints the PIDs of the
server's whole process tree, then ends as ``mode`` says.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DRIVER = """
import asyncio, json, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from lego_prover.config import IsabelleSettings
from lego_prover.isabelle.checker import Checker
from lego_prover.isabelle.context import TheoryContext
from lego_prover.isabelle.reaper import descendants
from lego_prover.isabelle.sessions import SessionPool

async def main():
    settings = IsabelleSettings(home=Path({home!r}), work_dir=Path({work!r}), workers=1, session={session!r},
                                sledgehammer=False, imports=["Main"])
    async with SessionPool(settings) as pool:
        verdict = await Checker(pool, settings).check('lemma lifetime_probe: "True" by simp',
                                                      TheoryContext(imports=("Main",)))
        tree = [pool.server.pid, *descendants(pool.server.pid)]
        print(json.dumps({{"verified": verdict.verified, "reason": verdict.reason, "tree": tree}}), flush=True)
        if {mode!r} == "crash":
            raise RuntimeError("a bug of ours")
        if {mode!r} == "exit":
            return
        await asyncio.sleep(3600)

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    """Running (a zombie no longer runs anything)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].split()[0] != "Z"


def run_and_stop(home: Path, work: Path, mode: str, *, session: str = "HOL", start_timeout_s: float = 300,
                 env: dict[str, str] | None = None) -> tuple[dict[str, object], list[int]]:
    """Run the driver until it printed its tree, stop it by ``mode``; return (report, survivors).

    ``mode``: ``exit`` (normal end), ``crash`` (an exception), ``sigint`` (Ctrl-C),
    ``sigterm`` (e.g. ``timeout``), ``sigkill`` (``kill -9``).
    """
    work.mkdir(parents=True, exist_ok=True)
    driver = work / "driver.py"
    driver.write_text(DRIVER.format(root=str(ROOT), home=str(home), work=str(work), session=session, mode=mode))
    # Ctrl-C as a terminal delivers it: a test run started in the background (nohup, `&` in a
    # script) inherits SIGINT ignored, and the driver would never see the signal we send
    proc = subprocess.Popen([sys.executable, str(driver)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None
    deadline = time.monotonic() + start_timeout_s
    line = ""
    while time.monotonic() < deadline and not line:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError(f"the checker process ended early: {proc.stderr.read() if proc.stderr else ''}")
    report = json.loads(line)
    tree = [int(p) for p in report["tree"]]  # type: ignore[union-attr]
    signals = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}
    if mode in signals:
        os.kill(proc.pid, signals[mode])
    proc.wait(timeout=120)
    gone_by = time.monotonic() + 30
    while time.monotonic() < gone_by and any(alive(p) for p in tree):
        time.sleep(0.1)
    return report, [p for p in tree if alive(p)]
