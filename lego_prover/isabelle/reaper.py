"""Run a command so that nothing it starts outlives lego-prover.

``isabelle server`` is a shell script that starts a JVM, which starts one Poly/ML process
per session, each in a session of its own (Isabelle uses ``setsid`` so it can interrupt
them). A parent-death signal or a process-group kill reaches only part of that tree: a
test run stopped by ``timeout`` once left its server JVM running for over an hour.

The reaper sits between lego-prover and the command:

- it marks itself a *child subreaper* (Linux), so every process of the tree that loses its
  parent is re-parented to the reaper instead of to init, and the whole tree stays findable
  by parent links, ``setsid`` or not;
- it holds the read end of a *lifeline* pipe whose write end only lego-prover holds; the
  kernel closes it however lego-prover ends (exit, crash, Ctrl-C, SIGTERM, ``kill -9``);
- when the lifeline closes, when it is told to stop (SIGTERM), or when the command exits,
  it sends SIGTERM to every descendant, waits a grace period, sends SIGKILL to what is
  left, and exits.

It is a plain script (standard library only, no lego_prover import) so that it starts in
milliseconds::

    python reaper.py --lifeline FD [--grace S] -- isabelle server -n NAME

The command inherits the reaper's stdout and stderr (the server's banner goes straight to
lego-prover) and gets /dev/null as stdin.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def descendants(root: int) -> list[int]:
    """PIDs below ``root`` by parent links (Linux /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _reap_orphans(keep: int) -> None:
    """Collect exited processes that were re-parented to us (not ``keep``: Popen waits for it)."""
    for pid in descendants(os.getpid()):
        if pid == keep:
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2:].split()[0] == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def end_tree(grace_s: float) -> None:
    """SIGTERM every descendant, then SIGKILL whatever is left after ``grace_s``."""
    me = os.getpid()
    _signal_all(descendants(me), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap_zombies()
        if not descendants(me):
            return
        time.sleep(0.05)
    # processes that forked while we were signalling are found again here
    for _ in range(3):
        left = descendants(me)
        if not left:
            break
        _signal_all(left, signal.SIGKILL)
        time.sleep(0.05)
        _reap_zombies()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifeline", type=int, required=True, help="fd whose EOF means: lego-prover is gone")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    _become_subreaper()
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    # Ctrl-C belongs to lego-prover, which shuts the server down in order; if it dies
    # instead, the lifeline tells us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, pass_fds=(),
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    except OSError as exc:
        print(f"reaper: cannot start {command[0]}: {exc}", file=sys.stderr, flush=True)
        return 127
    code = 0
    ticks = 0
    try:
        while not stop:
            ticks += 1
            if ticks % 10 == 0:
                _reap_orphans(child.pid)
            ready, _, _ = select.select([args.lifeline], [], [], 0.5)
            if ready and not os.read(args.lifeline, 4096):
                break  # EOF: lego-prover is gone, however it ended
            polled = child.poll()
            if polled is not None:
                code = polled
                break
    finally:
        end_tree(args.grace)
    return code


if __name__ == "__main__":
    sys.exit(main())
