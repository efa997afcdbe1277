"""Isabelle checking on a Ray cluster: checker actors on the nodes, the driver keeps the rest.

Usage::

    async with open_cluster_checker(settings, note=print) as checker:   # settings.run.ray_address set
        verdict = await checker.check(text, context)                     # a ForwardingChecker

The driver (the ``eval`` or ``evolve`` process) still schedules attempts, owns the run
store, spends the budgets, talks to the LLM and writes the skill library. Only checking
moves: one ``CheckerActor`` per node, or one per ``run.ray_actor_cpus`` CPUs of each node,
pinned to its node. Each actor owns a ``SessionPool`` of its node's Isabelle and runs the
real ``Checker`` there, so guard, repair, timeouts and verdicts are those of one machine;
``ForwardingChecker`` places checks and retries the checks of a lost actor elsewhere.

Ray is an optional extra and is imported lazily, here only: without it, a one-line error
names the install. Actors are not restarted by Ray (``max_restarts=0``): a dead one stays
dead for the rest of the run and its checks move to the others; a resumed run starts a
fresh set. They belong to the driver, so Ray ends them when the driver ends or dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lego_prover import __version__
from lego_prover.config import IsabelleSettings, Settings
from lego_prover.errors import LegoProverError, MissingExtraError
from lego_prover.isabelle.context import CheckerProtocol, CheckOptions, TheoryContext
from lego_prover.isabelle.verdict import Verdict
from lego_prover.run.forwarding import ForwardingChecker, RemoteLost

log = logging.getLogger(__name__)

RAY_INSTALL = "pip install 'lego-prover[ray]'"


class ClusterError(LegoProverError):
    """The Ray cluster cannot be reached or has nowhere to put a checker."""


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the install."""
    try:
        import ray
    except ImportError:
        raise MissingExtraError(f"--ray needs Ray, which is not installed; run: {RAY_INSTALL}") from None
    return ray


# --------------------------------------------------------------------------- on a node


@dataclass
class NodeChecker:
    """What an actor checks with: a checker, its check slots, and the Isabelle it runs."""

    checker: CheckerProtocol
    capacity: int
    isabelle: str


class CheckerFactory(Protocol):
    """Builds an actor's checker on its node (benchmarks pass a simulated one)."""

    def open(self) -> contextlib.AbstractAsyncContextManager[NodeChecker]: ...


class IsabelleCheckerFactory:
    """The real thing: a ``SessionPool`` of the node's Isabelle and a ``Checker`` on it.

    ``isabelle.work_dir`` is used as given when the settings name one; otherwise each node
    uses its own default (the driver's home directory need not exist there).
    """

    def __init__(self, settings: IsabelleSettings) -> None:
        self._settings = settings
        self._node_work_dir = "work_dir" not in settings.model_fields_set

    @contextlib.asynccontextmanager
    async def open(self) -> AsyncIterator[NodeChecker]:
        from lego_prover.isabelle.checker import Checker
        from lego_prover.isabelle.sessions import SessionPool

        settings = self._settings
        if self._node_work_dir:
            settings = settings.model_copy(update={"work_dir": IsabelleSettings.model_validate({}).work_dir})
        async with SessionPool(settings) as pool:
            yield NodeChecker(Checker(pool, settings), settings.workers * settings.checks_per_worker,
                              pool.isabelle_name)
            await pool.drain()


@dataclass(frozen=True)
class ActorInfo:
    name: str
    node_ip: str
    hostname: str
    pid: int
    capacity: int
    isabelle: str


class CheckerActor:
    """A Ray actor (async: checks run concurrently on its event loop) around one node's checker.

    Created by ``open_cluster_checker`` as ``ray.remote(CheckerActor)``; plain Python
    otherwise, so nothing imports Ray to define it.
    """

    def __init__(self, factory: CheckerFactory, name: str, driver_version: str) -> None:
        self._factory = factory
        self._name = name
        self._driver_version = driver_version
        self._stack = contextlib.AsyncExitStack()
        self._node: NodeChecker | None = None

    async def ping(self) -> int:
        return os.getpid()

    async def start(self) -> ActorInfo:
        if self._driver_version != __version__:
            raise ClusterError(f"{socket.gethostname()} has lego-prover {__version__} but the driver has "
                               f"{self._driver_version}; install the same version on every node")
        self._node = await self._stack.enter_async_context(self._factory.open())
        ray = import_ray()
        return ActorInfo(self._name, ray.util.get_node_ip_address(), socket.gethostname(), os.getpid(),
                         self._node.capacity, self._node.isabelle)

    async def check(self, text: str, context: TheoryContext, repair: bool,
                    options: CheckOptions | None = None) -> Verdict:
        assert self._node is not None, "start() first"
        return await self._node.checker.check(text, context, repair=repair, options=options)

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        assert self._node is not None, "start() first"
        return await self._node.checker.confirm(verdict, context, names)

    async def stop(self) -> None:
        self._node = None
        await self._stack.aclose()


# --------------------------------------------------------------------------- on the driver


class RayRemote:
    """A started ``CheckerActor`` as a ``RemoteChecker``: Ray's actor failures become ``RemoteLost``."""

    def __init__(self, ray: Any, handle: Any, info: ActorInfo) -> None:
        self._ray = ray
        self.handle = handle
        self.info = info

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def capacity(self) -> int:
        return self.info.capacity

    async def check(self, text: str, context: TheoryContext, *, repair: bool = True,
                    options: CheckOptions | None = None) -> Verdict:
        return await self._call(self.handle.check.remote(text, context, repair, options))

    async def confirm(self, verdict: Verdict, context: TheoryContext, names: Sequence[str]) -> Verdict:
        return await self._call(self.handle.confirm.remote(verdict, context, tuple(names)))

    async def _call(self, ref: Any) -> Verdict:
        errors = self._ray.exceptions
        try:
            verdict: Verdict = await ref
        except errors.ActorUnavailableError as exc:
            raise RemoteLost(_first_line(exc), permanent=False) from exc
        except (errors.RayActorError, errors.NodeDiedError, errors.WorkerCrashedError,
                errors.LocalRayletDiedError, errors.ObjectLostError, errors.RaySystemError) as exc:
            raise RemoteLost(_first_line(exc)) from exc
        return verdict


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class ActorPlan:
    """Where one checker actor goes: a node, and the CPUs it reserves there."""

    node_id: str
    node_ip: str
    index: int
    num_cpus: int

    @property
    def name(self) -> str:
        return f"{self.node_ip}#{self.index}"


def plan_actors(nodes: Sequence[dict[str, Any]], cpus_per_actor: int | None) -> list[ActorPlan]:
    """One actor per alive node with CPUs, or one per ``cpus_per_actor`` of each node's CPUs.

    ``nodes`` is what ``ray.nodes()`` returns. A node with no CPU (a head started with
    ``--num-cpus 0`` to keep it free for the driver) gets none.
    """
    plans: list[ActorPlan] = []
    for node in nodes:
        cpus = int(node.get("Resources", {}).get("CPU", 0))
        if not node.get("Alive") or cpus < 1:
            continue
        if cpus_per_actor is None:
            count, each = 1, 1
        else:
            count, each = cpus // cpus_per_actor, cpus_per_actor
        plans.extend(ActorPlan(str(node["NodeID"]), str(node.get("NodeManagerAddress", "?")), i, each)
                     for i in range(count))
    return plans


@contextlib.contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """Connect to the cluster at ``address`` (``auto``, ``HOST:PORT``, ``ray://...``; ``local``
    starts a private one) and disconnect at the end. A process already connected to Ray (a
    test, a notebook) keeps its connection."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    hint = "start one with 'ray start --head' and pass its address, see 'Running on a cluster' in the README"
    refused = _unreachable(address)
    if refused:  # Ray itself would retry a dead address for minutes
        raise ClusterError(f"could not connect to the Ray cluster at {address!r} ({refused}); {hint}")
    options: dict[str, Any] = {"include_dashboard": False} if address == "local" else {}
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        if address == "auto" and isinstance(exc, ConnectionError):
            raise ClusterError("--ray auto: no Ray cluster is running here (none was started on this machine "
                               f"and RAY_ADDRESS is not set); {hint}") from None
        raise ClusterError(f"could not connect to the Ray cluster at {address!r} ({_first_line(exc)}); {hint}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def require_cluster(address: str) -> None:
    """A cluster answers at ``address`` and has an alive node: connect, count, disconnect
    (before a run writes anything; Isabelle is then each node's business, see doctor --ray)."""
    with ray_session(address) as ray:
        if not any(node.get("Alive") for node in ray.nodes()):
            raise ClusterError(f"the Ray cluster at {address!r} has no alive node; start one with "
                               "'ray start --address HEAD:PORT'")


def _unreachable(address: str, timeout_s: float = 5.0) -> str | None:
    """Why nothing answers at a ``HOST:PORT`` address (``ray://`` too), or None (also for ``auto``/``local``)."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        return None
    try:
        socket.create_connection((host, int(port)), timeout_s).close()
    except OSError as exc:
        return f"nothing answers at {host}:{port}: {exc.strerror or exc}"
    return None


@contextlib.asynccontextmanager
async def open_cluster_checker(settings: Settings, *, note: Callable[[str], None] = lambda m: None,
                               factory: CheckerFactory | None = None) -> AsyncIterator[ForwardingChecker]:
    """Start checker actors on the cluster at ``settings.run.ray_address`` and forward checks to them."""
    address = settings.run.ray_address or "auto"
    with ray_session(address) as ray:
        plans = plan_actors(ray.nodes(), settings.run.ray_actor_cpus)
        if not plans:
            raise ClusterError(f"the Ray cluster at {address!r} has no alive node with a CPU for a checker")
        note(f"starting {len(plans)} checker actors on {len({p.node_id for p in plans})} Ray nodes ...")
        factory = factory or IsabelleCheckerFactory(settings.isabelle)
        remotes, handles = await _start_actors(ray, plans, factory, settings.isabelle.start_timeout_s, note)
        try:
            if not remotes:
                raise ClusterError("no checker actor could start on the Ray cluster; run 'lego-prover doctor "
                                   f"--ray {address}' to see what each node is missing")
            checker = ForwardingChecker(remotes, on_lost=note)
            checker.isabelle = remotes[0].info.isabelle
            checker.session = settings.isabelle.session
            note(f"{len(remotes)} checker actors with {checker.capacity} check slots")
            yield checker
        finally:
            await _stop_actors(ray, handles)


async def _start_actors(ray: Any, plans: Sequence[ActorPlan], factory: CheckerFactory, timeout_s: float,
                        note: Callable[[str], None]) -> tuple[list[RayRemote], list[Any]]:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor_class = ray.remote(CheckerActor)
    handles = [actor_class.options(num_cpus=p.num_cpus, max_restarts=0, max_task_retries=0,
                                   scheduling_strategy=NodeAffinitySchedulingStrategy(p.node_id, soft=False))
               .remote(factory, p.name, __version__) for p in plans]

    async def start(plan: ActorPlan, handle: Any) -> RayRemote | None:
        try:  # placed at all? (a busy node makes an actor wait for its CPUs indefinitely)
            await asyncio.wait_for(handle.ping.remote(), timeout_s)
        except TimeoutError:
            note(f"checker {plan.name} was not placed within {timeout_s:.0f}s (no free CPU on its node?); "
                 "going on without it")
            return None
        except Exception as exc:
            note(f"checker {plan.name} could not be created: {_first_line(exc)}")
            return None
        try:  # no time limit: the first start on a node may build the session heap
            info: ActorInfo = await handle.start.remote()
        except Exception as exc:
            cause = getattr(exc, "cause", None) or exc
            note(f"checker {plan.name} could not start Isabelle: {_first_line(cause)}; going on without it")
            return None
        return RayRemote(ray, handle, info)

    started = await asyncio.gather(*(start(p, h) for p, h in zip(plans, handles, strict=True)))
    return [r for r in started if r is not None], handles


async def _stop_actors(ray: Any, handles: Sequence[Any]) -> None:
    """Stop each actor's Isabelle cleanly, then end the actor (dead ones are skipped quietly)."""

    async def stop(handle: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handle.stop.remote(), 60)
        with contextlib.suppress(Exception):
            ray.kill(handle)

    await asyncio.gather(*(stop(h) for h in handles))


# --------------------------------------------------------------------------- doctor


@dataclass(frozen=True)
class NodeReport:
    """What ``doctor --ray`` learns about one node."""

    node_ip: str
    hostname: str
    cpus: int
    free_cpus: int | None
    version: str
    findings: tuple[tuple[str, bool, str, str], ...]   # (name, ok, detail, fix) of the Isabelle checks


class NodeFinding(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def detail(self) -> str: ...
    @property
    def fix(self) -> str: ...


NodeChecks = Callable[[Settings], Sequence[NodeFinding]]


def _probe_node(settings: Settings, checks: NodeChecks) -> tuple[str, str, tuple[tuple[str, bool, str, str], ...]]:
    """Runs on a node: hostname, lego-prover version, and the findings of ``checks`` there."""
    findings = tuple((f.name, f.ok, f.detail, f.fix) for f in checks(settings))
    return socket.gethostname(), __version__, findings


def probe_nodes(settings: Settings, checks: NodeChecks, *, timeout_s: float = 180.0) -> list[NodeReport]:
    """Run ``checks`` (doctor's Isabelle checks) on every alive node of the cluster at
    ``settings.run.ray_address``; the function travels to the nodes by reference."""
    address = settings.run.ray_address or "auto"
    with ray_session(address) as ray:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        probe = ray.remote(_probe_node)
        refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(settings, checks) for n in nodes]
        free = _free_cpus_per_node(ray)
        reports = []
        for node, ref in zip(nodes, refs, strict=True):
            cpus = int(node.get("Resources", {}).get("CPU", 0))
            ip = str(node.get("NodeManagerAddress", "?"))
            try:
                hostname, version, findings = ray.get(ref, timeout=timeout_s)
            except Exception as exc:
                hostname, version = str(node.get("NodeManagerHostname", "?")), "?"
                findings = (("probe", False, f"did not answer: {_first_line(exc)}", "check the node's Ray logs"),)
            reports.append(NodeReport(ip, hostname, cpus, free.get(str(node["NodeID"])), version, findings))
        return reports


def _free_cpus_per_node(ray: Any) -> dict[str, int]:
    """Free CPUs per node id, from Ray's developer API (the public per-node view needs the
    dashboard); says nothing if that call is gone in another Ray version."""
    try:
        state = importlib.import_module("ray._private.state")
        per_node = state.available_resources_per_node()
        return {str(k): int(v.get("CPU", 0)) for k, v in per_node.items()}
    except Exception:
        return {}

