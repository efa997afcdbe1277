"""The Isabelle server wire protocol: framing, message grammar, banner. No I/O policy here.

Framing (both directions): a short message is one line; a long one is a line holding the
byte count N, then N bytes. The server uses the long form for payloads over 100 bytes or
containing a newline, and counts the trailing newline in N.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

_NAME_RE = re.compile(r"([A-Za-z0-9_.]+)\s*(.*)\Z", re.S)
_BANNER_RE = re.compile(r'server "(.*)" = (.*):(\d+) \(password "(.*)"\)')

SYNC_REPLIES = frozenset({"OK", "ERROR"})
TASK_REPLIES = frozenset({"FINISHED", "FAILED"})


class ProtocolError(ValueError):
    """The peer sent bytes that are not a valid server message."""


@dataclass(frozen=True)
class Message:
    name: str
    argument: Any          # parsed JSON, a plain string, or None when empty
    raw: str

    @property
    def task(self) -> str | None:
        if isinstance(self.argument, dict):
            task = self.argument.get("task")
            return task if isinstance(task, str) else None
        return None


@dataclass(frozen=True)
class Banner:
    name: str
    host: str
    port: int
    password: str


def frame(payload: str) -> bytes:
    """Encode one message; long form when over 100 bytes or multi-line."""
    data = payload.encode("utf-8")
    if len(data) > 100 or b"\n" in data:
        return str(len(data) + 1).encode() + b"\n" + data + b"\n"
    return data + b"\n"


def encode_command(name: str, argument: Any = None) -> bytes:
    if argument is None:
        return frame(name)
    text = argument if isinstance(argument, str) else json.dumps(argument, separators=(",", ":"))
    return frame(f"{name} {text}")


def parse_message(text: str) -> Message:
    m = _NAME_RE.match(text.rstrip("\r\n"))
    if not m:
        raise ProtocolError(f"not a server message: {text[:80]!r}")
    name, rest = m.group(1), m.group(2).strip()
    argument: Any
    if not rest:
        argument = None
    else:
        try:
            argument = json.loads(rest)
        except json.JSONDecodeError:
            argument = rest
    return Message(name, argument, text)


async def read_message(reader: asyncio.StreamReader) -> str | None:
    """Read one framed message; ``None`` at end of stream."""
    line = await reader.readline()
    if not line:
        return None
    stripped = line.rstrip(b"\r\n")
    if stripped.isdigit():
        size = int(stripped)
        try:
            data = await reader.readexactly(size)
        except asyncio.IncompleteReadError as exc:
            raise ProtocolError(f"connection closed inside a {size}-byte message") from exc
        return data.decode("utf-8").rstrip("\r\n")
    if not line.endswith(b"\n"):
        return None  # a partial line at EOF is not a message
    return stripped.decode("utf-8")


def parse_banner(line: str) -> Banner:
    m = _BANNER_RE.search(line)
    if not m:
        raise ProtocolError(f"not an Isabelle server banner: {line.strip()[:120]!r}")
    return Banner(m.group(1), m.group(2), int(m.group(3)), m.group(4))
