"""The process table the CPU, memory and session-process readers share, on a /proc written here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lego_prover.isabelle.processes import PROC, ProcessTable, read_process
from lego_prover.isabelle.server import process_tree_rss_bytes


def fake_proc(root: Path, processes: dict[int, tuple[int, str]]) -> Path:
    """A /proc with a stat file per process: ``pid -> (ppid, name)``; utime = pid, stime = 1."""
    for pid, (ppid, name) in processes.items():
        (root / str(pid)).mkdir(parents=True)
        fields = ["S", str(ppid)] + ["0"] * 9 + [str(pid), "1", "0", "0"] + ["0"] * 5
        (root / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")
    (root / "self").mkdir()          # not a process: ignored
    return root


def test_a_subtree_lists_each_process_after_its_parent_and_nothing_outside_it(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {1: (0, "init"), 10: (1, "isabelle"), 11: (10, "java"), 12: (11, "bash"),
                                13: (12, "poly"), 20: (1, "other")})
    table = ProcessTable.read(proc)
    tree = table.subtree(10)
    assert sorted(tree) == [10, 11, 12, 13]
    assert all(tree.index(table[p].ppid) < tree.index(p) for p in tree if p != 10)
    assert table.children(11) == [12] and table.subtree(99) == [99], "an unknown PID is its own subtree"


def test_a_name_with_spaces_and_parentheses_does_not_shift_the_fields(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, {7: (1, "a) (b c")})
    process = read_process(7, proc)
    assert process is not None and process.name == "a) (b c" and process.ppid == 1
    assert process.fields[11:13] == ("7", "1"), "utime and stime where /proc puts them"


def test_a_loop_of_parent_links_is_walked_once(tmp_path: Path) -> None:
    # PIDs are reused: a snapshot can hold a loop, which must not hang a walk
    table = ProcessTable.read(fake_proc(tmp_path, {5: (6, "x"), 6: (5, "y")}))
    assert sorted(table.subtree(5)) == [5, 6]


def test_no_proc_is_an_empty_table(tmp_path: Path) -> None:
    assert len(ProcessTable.read(tmp_path / "absent")) == 0
    assert read_process(1, tmp_path / "absent") is None



@pytest.mark.skipif(not PROC.is_dir(), reason="no /proc on this system")
def test_the_memory_of_a_tree_counts_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        alone = process_tree_rss_bytes(child.pid)
        assert alone > 1_000_000, "a Python interpreter holds megabytes"
        assert process_tree_rss_bytes(os.getpid()) > alone, "the test process's tree includes the child"
    finally:
        child.kill()
        child.wait()
