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

from lego_prover.isabelle.processes import ProcessTable


def _jvm_children(server_pid: int) -> tuple[ProcessTable, list[int]]:
    """The process table and the processes the server's JVM started directly."""
    table = ProcessTable.read()
    jvm = next((p for p in table.subtree(server_pid) if p in table and table[p].name == "java"), None)
    return table, table.children(jvm) if jvm is not None else []


def server_process_roots(server_pid: int) -> set[int]:
    """The processes the server's JVM started directly (session wrappers, bash calls)."""
    return set(_jvm_children(server_pid)[1])


def session_process_roots(server_pid: int, before: set[int]) -> tuple[int, ...]:
    """The JVM's new process trees that run Poly/ML: the session started since ``before``.

    A prover that another session's Sledgehammer started meanwhile is a new tree too, but
    not one that runs ``poly``, so it is never taken for this session.
    """
    table, roots = _jvm_children(server_pid)
    new = [p for p in roots if p not in before]
    return tuple(sorted(p for p in new if any(q in table and table[q].name == "poly" for q in table.subtree(p))))


def kill_trees(roots: tuple[int, ...]) -> int:
    """SIGKILL every process of the given trees (leaves first); the number that were alive."""
    table = ProcessTable.read()
    killed = 0
    for root in roots:
        if root not in table:
            continue
        for pid in reversed(table.subtree(root)):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed
