"""The wire protocol and the asyncio client, against the protocol-level fake server."""

from __future__ import annotations

import asyncio

import pytest

from lego_prover.isabelle.client import (
    CommandError,
    ConnectionLost,
    IsabelleConnection,
    TaskTimeout,
)
from lego_prover.isabelle.protocol import frame, parse_banner, parse_message, read_message
from tests.fakes import replies
from tests.fakes.fake_isabelle import FakeIsabelleServer, Outcome, Script


def test_short_messages_are_one_line_and_long_ones_carry_their_byte_count() -> None:
    assert frame("OK") == b"OK\n"
    long = "OK " + "x" * 120
    assert frame(long) == b"124\n" + long.encode() + b"\n"
    # the count is in bytes, not characters
    assert frame("NOTE ∀" * 30).startswith(str(len(("NOTE ∀" * 30).encode()) + 1).encode() + b"\n")


async def test_reader_handles_both_framings_in_one_stream() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(frame("OK") + frame('FINISHED {"task":"t","ok":true,"pad":"' + "p" * 200 + '"}'))
    reader.feed_eof()
    assert await read_message(reader) == "OK"
    second = await read_message(reader)
    assert second is not None and parse_message(second).argument["task"] == "t"
    assert await read_message(reader) is None


def test_banner_is_parsed_not_assumed() -> None:
    banner = parse_banner('server "lego-1" = 127.0.0.1:4711 (password "abc-123")')
    assert (banner.name, banner.host, banner.port, banner.password) == ("lego-1", "127.0.0.1", 4711, "abc-123")


async def test_wrong_password_is_reported_as_such(fake_server: FakeIsabelleServer) -> None:
    with pytest.raises(ConnectionLost, match="wrong password"):
        await IsabelleConnection.open("127.0.0.1", fake_server.port, "not-the-password")


async def test_bad_command_and_bad_argument_raise_command_errors(fake_server: FakeIsabelleServer) -> None:
    async with await IsabelleConnection.open("127.0.0.1", fake_server.port, fake_server.password) as conn:
        assert conn.isabelle_name.startswith("Isabelle2022")
        with pytest.raises(CommandError, match="Bad command"):
            await conn.command("frobnicate")
        with pytest.raises(CommandError, match="Bad argument"):
            await conn.start_task("use_theories", {"session_id": "not-a-uuid", "theories": ["A"]})
        assert await conn.command("echo", {"a": 1}) == {"a": 1}


async def test_tasks_on_one_connection_are_demultiplexed_by_id(tmp_path, script: Script,
                                                               fake_server: FakeIsabelleServer) -> None:
    (tmp_path / "A.thy").write_text("theory A imports Main begin end\n")
    (tmp_path / "B.thy").write_text("theory B imports Main begin end\n")
    slow = replies.verified()
    slow.delay_s = 0.5
    script.queue.extend([slow, replies.error_at("end", "Bad end")])
    async with await IsabelleConnection.open("127.0.0.1", fake_server.port, fake_server.password) as conn:
        start = await conn.run_task("session_start", {"session": "HOL"})
        sid = start.payload["session_id"]
        notes: list[dict] = []
        a = asyncio.create_task(conn.run_task("use_theories", {"session_id": sid, "theories": ["A"], "master_dir": str(tmp_path)}, on_note=notes.append))
        await asyncio.sleep(0.1)
        b = asyncio.create_task(conn.run_task("use_theories", {"session_id": sid, "theories": ["B"], "master_dir": str(tmp_path)}))
        ra, rb = await asyncio.gather(a, b)
    assert ra.payload["nodes"][0]["node_name"].endswith("A.thy") and ra.payload["ok"] is True
    assert rb.payload["nodes"][0]["node_name"].endswith("B.thy") and rb.payload["ok"] is False
    assert any("50%" in n.get("message", "") for n in notes)


async def test_deadline_cancels_the_task_on_the_same_connection(tmp_path, script: Script,
                                                               fake_server: FakeIsabelleServer) -> None:
    (tmp_path / "Loop.thy").write_text("theory Loop imports Main begin end\n")
    script.queue.append(Outcome(kind="hang"))
    async with await IsabelleConnection.open("127.0.0.1", fake_server.port, fake_server.password) as conn:
        sid = (await conn.run_task("session_start", {"session": "HOL"})).payload["session_id"]
        with pytest.raises(TaskTimeout):
            await conn.run_task("use_theories", {"session_id": sid, "theories": ["Loop"], "master_dir": str(tmp_path)},
                                deadline_s=0.3)
    assert len(fake_server.state.cancelled) == 1


async def test_a_server_crash_fails_pending_tasks_instead_of_hanging(tmp_path, script: Script,
                                                                    fake_server: FakeIsabelleServer) -> None:
    (tmp_path / "C.thy").write_text("theory C imports Main begin end\n")
    script.queue.append(Outcome(kind="crash"))
    conn = await IsabelleConnection.open("127.0.0.1", fake_server.port, fake_server.password)
    sid = (await conn.run_task("session_start", {"session": "HOL"})).payload["session_id"]
    with pytest.raises(ConnectionLost):
        await asyncio.wait_for(conn.run_task("use_theories", {"session_id": sid, "theories": ["C"],
                                                              "master_dir": str(tmp_path)}), 5)
    assert conn.closed
