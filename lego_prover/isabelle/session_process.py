"""The operating-system processes of one Isabelle session, so a runaway can be ended alone.

Usage::

    before = server_process_roots(server_pid)
    ... session_start ...
    mine = session_process_roots(server_pid, before)     # this session's Poly/ML process trees
    ...
    kill_trees(mine)                                      # ends the session and nothing else

A real server runs each session as processes of its JVM: the session's Poly/ML process and
its statistics process, each under a ``bash_process`` wrapper that the JVM started. A tactic
that runs away keeps that Poly/ML process busy, and neither ``purge_theories``, ``cancel``
nor ``session_stop`` ends it promptly; restarting the whole server would also end every
other session's check. Killing this session's process trees ends the runaway and leaves the
server and the other sessions as they were (the server sees its prover terminate).

Linux ``/proc`` only; elsewhere nothing is found and the pool falls back to restarting the
server it owns.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

PROC = Path("/proc")


def _table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command name) of every process we can read."""
    out: dict[int, tuple[int, str]] = {}
    if not PROC.is_dir():
        return out
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.find("(") + 1:raw.rfind(")")]
        fields = raw[raw.rfind(")") + 2:].split()
        out[int(entry.name)] = (int(fields[1]), name)
    return out


def _children(table: dict[int, tuple[int, str]]) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    return children


def _subtree(pid: int, children: dict[int, list[int]]) -> list[int]:
    out, stack = [], [pid]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children.get(current, []))
    return out


def _jvm(root: int, table: dict[int, tuple[int, str]], children: dict[int, list[int]]) -> int | None:
    return next((p for p in _subtree(root, children) if table.get(p, (0, ""))[1] == "java"), None)


def _jvm_children(server_pid: int) -> tuple[dict[int, tuple[int, str]], dict[int, list[int]], list[int]]:
    """The process table, its parent links, and the processes the server's JVM started directly."""
    table = _table()
    children = _children(table)
    jvm = _jvm(server_pid, table, children)
    return table, children, children.get(jvm, []) if jvm is not None else []


def server_process_roots(server_pid: int) -> set[int]:
    """The processes the server's JVM started directly (session wrappers, bash calls)."""
    return set(_jvm_children(server_pid)[2])


def session_process_roots(server_pid: int, before: set[int]) -> tuple[int, ...]:
    """The JVM's new process trees that run Poly/ML: the session started since ``before``.

    A prover that another session's Sledgehammer started meanwhile is a new tree too, but
    not one that runs ``poly``, so it is never taken for this session.
    """
    table, children, roots = _jvm_children(server_pid)
    new = [p for p in roots if p not in before]
    return tuple(sorted(p for p in new if any(table.get(q, (0, ""))[1] == "poly" for q in _subtree(p, children))))


def kill_trees(roots: tuple[int, ...]) -> int:
    """SIGKILL every process of the given trees (leaves first); the number that were alive."""
    table = _table()
    children = _children(table)
    killed = 0
    for root in roots:
        if root not in table:
            continue
        for pid in reversed(_subtree(root, children)):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed
