"""CPU time of a process tree (the Isabelle server we started, with its sessions and provers).

Usage::

    before = process_tree_cpu_s(pid)          # None where /proc is not available
    ...
    spent = process_tree_cpu_s(pid) - before

User plus system time of the process and every descendant alive now, plus what each of
them has collected from children that already ended (``cutime``/``cstime``), from Linux
``/proc``. A process that ended without being waited for by one of them is not counted.
"""

from __future__ import annotations

import os

from lego_prover.isabelle.processes import PROC, ProcessTable


def process_tree_cpu_s(pid: int) -> float | None:
    if not PROC.is_dir():
        return None
    table = ProcessTable.read()
    if pid not in table:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    # utime stime cutime cstime
    return sum(sum(int(f) for f in table[p].fields[11:15]) for p in table.subtree(pid)) / ticks
