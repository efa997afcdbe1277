"""The forwarding checker (placement, failover, no hang) with in-process remote doubles, and
what ``--ray`` does without Ray. No Ray needed here; tests/test_ray_cluster.py runs a real
local cluster."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Sequence

import pytest
from typer.testing import CliRunner

from lego_prover.cli import app
from lego_prover.errors import LegoProverError
from lego_prover.isabelle.context import CheckOptions, TheoryContext
from lego_prover.isabelle.verdict import FailureKind, Verdict
from lego_prover.run.cluster import plan_actors, ray_session
from lego_prover.run.forwarding import ForwardingChecker, RemoteLost

CONTEXT = TheoryContext(("Main",), "", "t", 'theorem t: "True"')


class FakeRemote:
    """A remote checker double: answers "verified" once its gate opens, or dies on demand."""

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        self.gate = asyncio.Event()
        self.gate.set()
        self.seen: list[str] = []
        self.dies_with: RemoteLost | None = None
        self.isabelle_broken = False
        self.running = 0

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        self.seen.append(text)
        self.running += 1
        try:
            await self.gate.wait()
            if self.dies_with is not None:
                raise self.dies_with
            if self.isabelle_broken:
                return Verdict(False, FailureKind.SERVER, f"Isabelle could not be restarted on {self.name}", "T",
                               text, context.target)
            return Verdict(True, None, f"verified by {self.name}", "T", text, context.target)
        finally:
            self.running -= 1

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        return await self.check(verdict.theory_text, context)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_checks_go_to_the_remote_with_the_most_free_capacity_and_wait_when_all_are_full() -> None:
    small, big = FakeRemote("small", 1), FakeRemote("big", 3)
    small.gate.clear()
    big.gate.clear()
    checker = ForwardingChecker([small, big])
    tasks = [asyncio.create_task(checker.check(f"p{i}", CONTEXT)) for i in range(5)]
    await settle()
    assert (small.running, big.running) == (1, 3), "free slots decide: big, big, then the tie goes to the less busy"
    assert [s.in_flight for s in checker.stats()] == [1, 3]      # the fifth waits on the driver
    small.gate.set()
    third, fifth = await asyncio.wait_for(asyncio.gather(tasks[2], tasks[4]), 5)
    assert third.reason == fifth.reason == "verified by small", "the first freed slot takes the waiting check"
    big.gate.set()
    assert all(v.verified for v in await asyncio.wait_for(asyncio.gather(*tasks), 5))


async def test_a_lost_remote_has_its_checks_retried_on_another_and_each_caller_gets_one_verdict() -> None:
    doomed, healthy = FakeRemote("doomed", 4), FakeRemote("healthy", 2)
    doomed.gate.clear()
    notes: list[str] = []
    checker = ForwardingChecker([doomed, healthy], on_lost=notes.append)
    tasks = [asyncio.create_task(checker.check(f"p{i}", CONTEXT)) for i in range(4)]
    await settle()
    assert doomed.running >= 2, "the dying remote holds checks when it goes"
    doomed.dies_with = RemoteLost("node died")
    doomed.gate.set()
    verdicts = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert sorted(v.theory_text for v in verdicts) == ["p0", "p1", "p2", "p3"], "nothing lost, nothing twice"
    assert all(v.reason == "verified by healthy" for v in verdicts)
    assert checker.retried == len(doomed.seen) and checker.alive == 1 and checker.capacity == 2
    assert len(notes) == 1 and "doomed was lost (node died)" in notes[0]
    assert (await checker.check("later", CONTEXT)).reason == "verified by healthy", "a lost remote gets no more work"


async def test_with_every_remote_lost_checks_are_server_failures_not_a_hang() -> None:
    only = FakeRemote("only", 1)
    only.gate.clear()
    checker = ForwardingChecker([only])
    running = asyncio.create_task(checker.check("p0", CONTEXT))
    waiting = asyncio.create_task(checker.check("p1", CONTEXT))    # no free slot: waits on the driver
    await settle()
    only.dies_with = RemoteLost("actor died")
    only.gate.set()
    verdicts = await asyncio.wait_for(asyncio.gather(running, waiting), 5)
    for v in verdicts:
        assert not v.verified and v.failure is FailureKind.SERVER
        assert "no checker is left on the Ray cluster" in v.reason and "actor died" in v.reason
    later = await asyncio.wait_for(checker.confirm(verdicts[0], CONTEXT, ["t"]), 5)
    assert later.failure is FailureKind.SERVER and not later.verified


async def test_an_unavailable_remote_is_skipped_for_a_while_then_used_again() -> None:
    flaky, steady = FakeRemote("flaky", 1), FakeRemote("steady", 1)
    flaky.dies_with = RemoteLost("unreachable", permanent=False)
    checker = ForwardingChecker([flaky, steady], retry_after_s=0.2)
    assert (await checker.check("p0", CONTEXT)).reason == "verified by steady"
    flaky.dies_with = None
    assert (await checker.check("p1", CONTEXT)).reason == "verified by steady", "still resting"
    await asyncio.sleep(0.25)
    steady.gate.clear()
    blocked = asyncio.create_task(checker.check("p2", CONTEXT))
    await settle()
    assert (await checker.check("p3", CONTEXT)).reason == "verified by flaky", "back after retry_after_s"
    steady.gate.set()
    await asyncio.wait_for(blocked, 5)


async def test_a_node_whose_isabelle_fails_is_rested_and_its_checks_go_elsewhere() -> None:
    broken, fine = FakeRemote("broken", 4), FakeRemote("fine", 1)
    broken.isabelle_broken = True
    checker = ForwardingChecker([broken, fine], retry_after_s=60)
    verdicts = await asyncio.wait_for(asyncio.gather(*(checker.check(f"p{i}", CONTEXT) for i in range(3))), 5)
    assert all(v.reason == "verified by fine" for v in verdicts), "fast failures do not draw the checks"
    assert checker.alive == 2, "rested, not dropped"
    fine.isabelle_broken = True
    alone = await asyncio.wait_for(checker.check("p3", CONTEXT), 5)
    assert alone.failure is FailureKind.SERVER and alone.reason == "Isabelle could not be restarted on fine"


async def test_a_check_that_keeps_losing_remotes_stops_after_max_moves() -> None:
    remotes = [FakeRemote(f"r{i}", 1) for i in range(5)]
    for r in remotes:
        r.dies_with = RemoteLost("killed by this text")
    checker = ForwardingChecker(remotes, max_moves=3)
    verdict = await checker.check("poison", CONTEXT)
    assert verdict.failure is FailureKind.SERVER and "lost 3 checkers in a row" in verdict.reason
    assert checker.alive == 2, "the rest of the cluster is spared"


def test_actors_are_planned_one_per_node_or_one_per_n_cpus() -> None:
    nodes = [{"NodeID": "a", "Alive": True, "NodeManagerAddress": "10.0.0.1", "Resources": {"CPU": 8.0}},
             {"NodeID": "b", "Alive": True, "NodeManagerAddress": "10.0.0.2", "Resources": {"CPU": 3.0}},
             {"NodeID": "c", "Alive": False, "NodeManagerAddress": "10.0.0.3", "Resources": {"CPU": 8.0}},
             {"NodeID": "d", "Alive": True, "NodeManagerAddress": "10.0.0.4", "Resources": {}}]
    assert [(p.node_id, p.num_cpus) for p in plan_actors(nodes, None)] == [("a", 1), ("b", 1)]
    per4 = plan_actors(nodes, 4)
    assert [(p.name, p.num_cpus) for p in per4] == [("10.0.0.1#0", 4), ("10.0.0.1#1", 4)], "b has too few CPUs"


def test_without_ray_the_ray_flag_is_one_line_naming_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)    # what an install without the extra looks like
    for argv in (["eval", "--ray", "auto"], ["evolve", "--ray", "auto", "--for", "minif2f:valid"]):
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 2, result.output
        assert "pip install 'lego-prover[ray]'" in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    doctor = CliRunner().invoke(app, ["doctor", "--ray", "auto"])
    shown = " ".join(doctor.output.split())
    assert "✗ Ray cluster: auto: not usable" in shown and "pip install 'lego-prover[ray]'" in shown
    assert doctor.exit_code == 1


def test_a_dead_cluster_address_is_one_line_at_once_not_minutes_of_ray_retries() -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'lego-prover[ray]')")
    with socket.socket() as probe:          # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(LegoProverError) as caught, ray_session(f"127.0.0.1:{port}"):
        pass
    assert time.monotonic() - started < 10
    assert str(caught.value).startswith(f"could not connect to the Ray cluster at '127.0.0.1:{port}' (nothing answers")
    assert "ray start --head" in str(caught.value) and "\n" not in str(caught.value)
