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
    # each program, as `isabelle getenv` names it: none of these paths exists
    assert "✗ tactic tool CSDP: ISABELLE_CSDP is not set; runs leave out `by sos`" in result.output
    assert "✗ Sledgehammer prover e: E_HOME=/c/e holds no executable eprover-ho or eprover" in result.output
    assert "✗ Sledgehammer prover z3: Z3_SOLVER=/c/z3 is not an executable file" in result.output

    (tmp_path / "lego-prover.toml").write_text('[isabelle]\nsledgehammer_provers = "cvc5 e"\n')
    result = CliRunner().invoke(app, ["doctor"])
    assert "has no cvc5" in result.output


def test_ctrl_c_during_a_heap_build_ends_check_at_once_in_one_line_and_leaves_no_lock(fake_home: Path,
                                                                                     tmp_path: Path) -> None:
    """The stand-in's build never ends and its server ignores `shutdown` while it runs: an
    orderly shutdown waited 20 s for it. Ctrl-C must not."""
    import signal
    import subprocess

    from tests.process_tree import alive

    (tmp_path / "proof.thy").write_text('theorem t: "True"\n  by simp\n')
    (tmp_path / "statement.thy").write_text('theorem t: "True"\n')
    env = {**os.environ, "ISABELLE_HOME": str(fake_home), "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "FAKE_ISABELLE_BUILD": "hang",
           # an installation with CSDP (any executable stands in), so the first lines are the build's
           "FAKE_ISABELLE_ENV": json.dumps({"ISABELLE_CSDP": sys.executable})}
    proc = subprocess.Popen([sys.executable, "-m", "lego_prover", "check", "proof.thy", "--statement-file",
                             "statement.thy"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stderr is not None
    progress = [proc.stderr.readline() for _ in range(2)]
    assert progress[1].startswith("Building HOL-Number_Theory"), progress
    tree = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _runs_under(p, tmp_path)]
    proc.send_signal(signal.SIGINT)
    try:
        _, rest = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("check did not end within 10 s of Ctrl-C") from None
    assert proc.returncode == 130
    assert rest.splitlines() == ["interrupted"], rest
    assert list((tmp_path / "cache").rglob("*.lock")) == [], "no build lock left behind"
    assert len(tree) >= 3 and [pid for pid in tree if alive(pid)] == [], "the server's process tree ended"


def _runs_under(proc_dir: Path, folder: Path) -> bool:
    """Whether the process's command line names ``folder`` (the stand-in server logs into it)."""
    try:
        return str(folder) in (proc_dir / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
