"""Nothing an Isabelle server starts outlives lego-prover, however lego-prover ends.

The ``isabelle`` here is a stand-in shaped like the real process tree (a wrapper that forks
a JVM, which starts an ML process in a session of its own); its server is the
protocol-level fake, which never judges a proof. The real-Isabelle tier runs the same
scenarios against a real server.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from tests.process_tree import ROOT, run_and_stop

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="process trees are read from Linux /proc")


@pytest.fixture
def fake_home(tmp_path: Path) -> Path:
    home = tmp_path / "Isabelle_fake"
    (home / "bin").mkdir(parents=True)
    exe = home / "bin" / "isabelle"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests" / "fakes" / "isabelle_cli.py"}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return home


@pytest.mark.parametrize("mode", ["exit", "crash", "sigint", "sigterm", "sigkill"])
def test_no_server_process_survives_lego_prover(fake_home: Path, tmp_path: Path, mode: str) -> None:
    report, survivors = run_and_stop(fake_home, tmp_path / "work", mode, start_timeout_s=60)
    assert report["verified"], report["reason"]
    tree = report["tree"]
    assert isinstance(tree, list) and len(tree) >= 4, "reaper, wrapper, JVM and the setsid'd ML process"
    assert survivors == [], f"still running after '{mode}': {survivors}"


def test_the_stand_in_really_orphans_its_ml_process_without_the_reaper(fake_home: Path, tmp_path: Path) -> None:
    """The stand-in must be as hard to clean up as the real thing, or the tests above prove nothing."""
    import signal
    import subprocess
    import time

    from tests.process_tree import alive

    server = subprocess.Popen([str(fake_home / "bin" / "isabelle"), "server", "-n", "x"], stdout=subprocess.PIPE,
                              start_new_session=True)
    assert server.stdout is not None and server.stdout.readline().startswith(b"server ")
    from lego_prover.isabelle.reaper import descendants

    tree = descendants(server.pid)
    os.kill(server.pid, signal.SIGKILL)  # what a parent-death signal does to the wrapper
    server.wait()
    time.sleep(0.5)
    orphans = [p for p in tree if alive(p)]
    try:
        assert orphans, "killing the wrapper alone should have left the JVM and ML process running"
    finally:
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)


def test_doctor_reports_release_unconfirmed_behaviour_and_provers(fake_home: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from lego_prover.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("ISABELLE_HOME", str(fake_home))
    monkeypatch.setenv("FAKE_ISABELLE_VERSION", "Isabelle2023")
    monkeypatch.setenv("COLUMNS", "250")  # one finding per line
    monkeypatch.setenv("FAKE_ISABELLE_ENV", json.dumps({"E_HOME": "/c/e", "Z3_SOLVER": "/c/z3"}))
    result = CliRunner().invoke(app, ["doctor"])
    assert "Isabelle2023" in result.output
    assert "not yet confirmed" in result.output and "oracle report format" in result.output
    assert "z3 e" in result.output

    (tmp_path / "lego-prover.toml").write_text('[isabelle]\nsledgehammer_provers = "cvc5 e"\n')
    result = CliRunner().invoke(app, ["doctor"])
    assert "has no cvc5" in result.output
