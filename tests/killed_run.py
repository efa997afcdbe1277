"""Run a CLI command in a child process with the scripted LLM, and kill -9 it mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DRIVER = """
import sys
sys.path.insert(0, {root!r})
from contextlib import contextmanager
from lego_prover.run import evaluate
from lego_prover.cli import main
from tests.fakes.scripted_llm import ScriptedLLM
from {module} import {answer}

scripted = ScriptedLLM({answer}, delay_s={delay})

@contextmanager
def fake_open_llm(settings, tracker):
    scripted.tracker = tracker
    yield scripted

evaluate.open_llm = fake_open_llm
sys.argv = ["lego-prover", *{argv!r}]
main()
"""


def kill_when(workspace: Path, argv: list[str], *, answer: str, watch: Path, lines: int, delay: float = 0.15) -> None:
    """Start ``lego-prover ARGV`` (LLM answers from ``answer``, "module:function"), SIGKILL it
    once ``watch`` has ``lines`` lines."""
    module, function = answer.split(":")
    driver = workspace / "driver.py"
    driver.write_text(DRIVER.format(root=str(ROOT), module=module, answer=function, delay=delay, argv=argv))
    proc = subprocess.Popen([sys.executable, str(driver)], cwd=workspace, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and (not watch.exists() or len(watch.read_bytes().splitlines()) < lines):
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (code {proc.returncode}) before it could be killed")
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
