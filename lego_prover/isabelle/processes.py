"""The operating system's process table, read once: what the Isabelle server's tree holds.

Usage::

    table = ProcessTable.read()             # empty where there is no Linux /proc
    table.subtree(server_pid)               # the server and every descendant, parents first
    table[pid].name, table[pid].fields      # "poly", /proc/PID/stat fields after the name

The server's CPU time (``run.cpu``), its memory (``server.process_tree_rss_bytes``) and the
processes of one session (``session_process``) are all walks of this one table. The reaper
reads /proc on its own: it is a standard-library script that starts in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    name: str                  # the command name, as /proc/PID/stat gives it (at most 15 bytes)
    fields: tuple[str, ...]    # the stat fields after the name: state, ppid, ..., utime (11), stime (12), ...


def read_process(pid: int, proc: Path = PROC) -> Process | None:
    """One process's /proc entry; None when it is gone or cannot be read."""
    try:
        raw = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the name is in parentheses and may hold spaces and parentheses: it ends at the last ")"
    fields = tuple(raw[raw.rfind(")") + 2:].split())
    return Process(pid, int(fields[1]), raw[raw.find("(") + 1:raw.rfind(")")], fields)


class ProcessTable(Mapping[int, Process]):
    """Every process readable at one moment, with its parent links."""

    def __init__(self, processes: Mapping[int, Process]) -> None:
        self._processes = dict(processes)
        self._children: dict[int, list[int]] = {}
        for pid, process in self._processes.items():
            self._children.setdefault(process.ppid, []).append(pid)

    @classmethod
    def read(cls, proc: Path = PROC) -> ProcessTable:
        if not proc.is_dir():
            return cls({})
        found = (read_process(int(e.name), proc) for e in proc.iterdir() if e.name.isdigit())
        return cls({p.pid: p for p in found if p is not None})

    def __getitem__(self, pid: int) -> Process:
        return self._processes[pid]

    def __iter__(self) -> Iterator[int]:
        return iter(self._processes)

    def __len__(self) -> int:
        return len(self._processes)

    def children(self, pid: int) -> list[int]:
        return list(self._children.get(pid, ()))

    def subtree(self, pid: int) -> list[int]:
        """``pid`` and its descendants, each after its parent (a PID reused into a loop is visited once)."""
        out: list[int] = []
        seen: set[int] = set()
        stack = [pid]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            out.append(current)
            stack.extend(self._children.get(current, ()))
        return out
