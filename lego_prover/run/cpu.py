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
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: split after its closing one
    return raw[raw.rfind(")") + 2:].split()


def process_tree_cpu_s(pid: int) -> float | None:
    if not PROC.is_dir():
        return None
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    ticks = os.sysconf("SC_CLK_TCK")
    total, stack, seen = 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        fields = _stat_fields(current)
        if fields is None:
            if current == pid:
                return None
            continue
        total += sum(int(f) for f in fields[11:15])   # utime stime cutime cstime
        stack.extend(children.get(current, []))
    return total / ticks
