"""``lego-prover doctor``: what is found and what is missing, each with its fix."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lego_prover import __version__
from lego_prover.config import LLMSettings, Settings
from lego_prover.errors import LegoProverError


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_isabelle(settings: Settings) -> list[Finding]:
    from lego_prover.isabelle.server import find_isabelle, isabelle_version
    from lego_prover.isabelle.tools import isabelle_getenv

    if settings.isabelle.server:
        return [Finding("Isabelle server", True, f"configured: {settings.isabelle.server.rsplit(':', 1)[0]}:***")]
    try:
        exe = find_isabelle(settings.isabelle.home)
    except LegoProverError as exc:
        return [Finding("Isabelle", False, "not found", str(exc))]
    findings = []
    try:
        version = asyncio.run(isabelle_version(exe))
    except LegoProverError as exc:
        return [Finding("Isabelle", False, f"{exe} does not run", str(exc))]
    findings.extend(check_release(version, exe))
    session = settings.isabelle.session
    heap = _find_heap(exe, session)
    if heap:
        findings.append(Finding(f"session heap {session}", True, str(heap)))
    else:
        findings.append(Finding(f"session heap {session}", False, "not built yet",
                                f"run 'isabelle build -b {session}' once (it takes a while), "
                                "or let the first check build it"))
    findings.extend(check_tools(isabelle_getenv(exe, doctor_settings()), settings))
    return findings


def check_release(version: str, exe: Path) -> list[Finding]:
    """The version, whether we support it, and what no real server of it has confirmed."""
    from lego_prover.isabelle.versions import MINIMUM_YEAR, Release

    release = Release.parse(version)
    if release is None:
        return [Finding("Isabelle", True, f"{version} at {exe}: not a release name; "
                        "every version-dependent behaviour is unconfirmed for it")]
    if not release.supported:
        return [Finding("Isabelle", False, f"{release.name} at {exe}",
                        f"lego-prover needs Isabelle{MINIMUM_YEAR} or newer; install a newer release")]
    findings = [Finding("Isabelle", True, f"{release.name} at {exe}")]
    unconfirmed = release.unconfirmed()
    if unconfirmed:
        findings.append(Finding(f"confirmed on {release.name}", True,
                                f"not yet confirmed against a real {release.name}: {'; '.join(unconfirmed)} "
                                "(run `pytest -m isabelle` to confirm them)"))
    return findings


def check_tools(environment: Mapping[str, str], settings: Settings) -> list[Finding]:
    """Every program the tactic lists and Sledgehammer will call, from ``isabelle getenv``
    output: its Isabelle setting, its path, and whether it runs."""
    isa = settings.isabelle
    findings = check_tactic_tools(environment, [*isa.repair_tactics, *(settings.hammer.tactics or [])])
    if not isa.sledgehammer:
        return [*findings, Finding("Sledgehammer provers", True, "not used (isabelle.sledgehammer = false)")]
    return findings + check_provers(environment, isa.sledgehammer_provers)


def check_tactic_tools(environment: Mapping[str, str], tactics: list[str]) -> list[Finding]:
    """One finding per program a tactic calls (CSDP for `by sos`, ...); a run leaves out the
    tactics whose program does not run, so each missing one says which."""
    from lego_prover.isabelle.tools import Tool, Tools, needed_tools

    tools = Tools.from_environment(environment)
    users: dict[Tool, list[str]] = {}
    for tactic in dict.fromkeys(tactics):
        for _, tool in needed_tools(tactic):
            users.setdefault(tool, []).append(f"`{tactic}`")
    if not users:
        return [Finding("tactic tools", True, "none needed: every tactic in the lists runs inside Isabelle")]
    findings = []
    for tool, used_by in users.items():
        found, named = tools[tool], ", ".join(used_by)
        if found.runs:
            findings.append(Finding(f"tactic tool {tool.name}", True, f"{found.describe()}; needed by {named}"))
        else:
            findings.append(Finding(f"tactic tool {tool.name}", False,
                                    f"{found.describe()}; runs leave out {named}",
                                    f"install {tool.name} and set {tool.setting} in Isabelle's settings "
                                    f"($ISABELLE_HOME_USER/etc/settings), or take {named} off the tactic lists"))
    return findings


def check_provers(environment: Mapping[str, str], configured: str) -> list[Finding]:
    """Sledgehammer provers this installation has, whether the configured ones are among them,
    and then each prover Sledgehammer will use: its setting, its program, whether it runs."""
    from lego_prover.isabelle.tools import installed_provers

    have = installed_provers(environment)
    if not configured.strip():
        summary = Finding("Sledgehammer provers", bool(have),
                          f"{' '.join(have) or 'none installed'} (Isabelle's default: the installed ones)",
                          "" if have else "install Isabelle's prover components (E, Z3, CVC4/cvc5, Vampire) "
                                          "or set isabelle.sledgehammer = false")
        return [summary, *_each_prover(environment, have)]
    missing = [p for p in configured.split() if p not in have]
    if missing:
        return [Finding("Sledgehammer provers", False,
                        f"configured {configured!r}, but this Isabelle has no {', '.join(missing)} "
                        "(Sledgehammer then fails as a whole)",
                        f"set isabelle.sledgehammer_provers to a subset of {' '.join(have) or '(none)'}, "
                        "or to \"\" for Isabelle's default")]
    return [Finding("Sledgehammer provers", True, f"{configured} (installed: {' '.join(have)})"),
            *_each_prover(environment, tuple(configured.split()))]


def _each_prover(environment: Mapping[str, str], provers: tuple[str, ...]) -> list[Finding]:
    """A prover whose setting is set but whose program does not run is still in Isabelle's
    default list (it goes by the setting alone), and fails on every call."""
    from lego_prover.isabelle.tools import PROVER_TOOLS, find_in, probe_vampire

    findings = []
    for prover in provers:
        tool = PROVER_TOOLS.get(prover)
        if tool is None:
            continue
        found = find_in(tool, environment)
        if prover == "vampire" and found.runs:
            # a Vampire that runs may still reject the options this Isabelle passes: every slice fails
            version = environment.get("VAMPIRE_VERSION", "")
            complaint = probe_vampire(found.program, version)
            if complaint:
                findings.append(Finding(
                    "Sledgehammer prover vampire", False,
                    f"{found.describe()}, but not with the options Sledgehammer passes for "
                    f"VAMPIRE_VERSION={version or '(unset)'}: {complaint}",
                    "install the Vampire of Isabelle's own component (its VAMPIRE_VERSION), or set "
                    "isabelle.sledgehammer_provers without vampire"))
                continue
        findings.append(Finding(f"Sledgehammer prover {prover}", found.runs, found.describe(),
                                "" if found.runs else
                                f"install {tool.name} where {tool.setting} points (Isabelle's settings, "
                                f"$ISABELLE_HOME_USER/etc/settings), or set isabelle.sledgehammer_provers without "
                                f"{prover}"))
    return findings


def doctor_settings() -> list[str]:
    """Every Isabelle setting doctor reads: those of the tools, which also say which
    Sledgehammer provers are installed, and the Vampire version Sledgehammer goes by."""
    from lego_prover.isabelle.tools import TOOL_SETTINGS

    return sorted({*TOOL_SETTINGS, "VAMPIRE_VERSION"})


def _find_heap(exe: Path, session: str) -> Path | None:
    try:
        out = subprocess.run([str(exe), "getenv", "-b", "ISABELLE_HEAPS", "ISABELLE_HEAPS_SYSTEM"],
                             capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    for folder in out.split():
        for candidate in Path(folder).glob(f"*/{session}"):
            if candidate.is_file():
                return candidate
    return None


def check_embedding(settings: Settings) -> list[Finding]:
    from lego_prover.skills.embedder import default_model_path

    if settings.skills.embedding_model:
        path = Path(settings.skills.embedding_model)
        ok = path.exists()
        return [Finding("embedding model", ok, str(path), "" if ok else "fix skills.embedding_model")]
    try:
        return [Finding("embedding model", True, str(default_model_path()))]
    except LegoProverError as exc:
        return [Finding("embedding model", False, "not installed", str(exc))]


def check_llm(settings: Settings) -> list[Finding]:
    """The main endpoint (or local model), and each role's own endpoint and key."""
    from lego_prover.llm.roles import role_settings

    llm = settings.llm
    findings = check_local_model(settings) if llm.local_model else _check_endpoint(llm, "")
    for role, entry in llm.roles.items():
        own = entry.overrides()
        if own.keys() & {"base_url", "api_key_env", "model"} and not (llm.local_model and "base_url" not in own):
            findings += _check_endpoint(role_settings(llm, str(role)), f" ({role})")
    return findings


def _check_endpoint(llm: LLMSettings, label: str) -> list[Finding]:
    from lego_prover.llm.openai_chat import probe_endpoint

    where = llm.base_url or "api.openai.com"
    key_set = bool(os.environ.get(llm.api_key_env))
    findings = [Finding(f"LLM API key{label}", key_set or bool(llm.base_url),
                        f"${llm.api_key_env} is {'set' if key_set else 'not set'}",
                        "" if key_set or llm.base_url else f"export {llm.api_key_env}=... (never put keys in the config file)")]
    ok, detail = probe_endpoint(llm)
    findings.append(Finding(f"LLM endpoint {where}{label}", ok, detail,
                            "" if ok else "check llm.base_url / llm.model, or point llm.base_url at a local OpenAI-compatible server (vLLM, llama.cpp)"))
    return findings


def check_llm_request(settings: Settings) -> list[Finding]:
    """``doctor --llm``: one tiny real request per configured model (``llm/probe.py``)."""
    from lego_prover.llm.probe import describe, probe_models

    if settings.llm.local_model and not settings.llm.roles:
        return [Finding("LLM request", True, "not sent: llm.local_model is started by the run itself; serve it with "
                        "'lego-prover serve-model' and point llm.base_url at it to probe it")]
    return [Finding(*line) for report in probe_models(settings) for line in describe(report)]


def check_local_model(settings: Settings) -> list[Finding]:
    """A local model is started by the run itself; check that it can be."""
    from lego_prover.llm.local_server import BACKEND_EXTRAS, choose_backend, require_module

    llm = settings.llm
    model = llm.local_model or ""
    backend: str
    if llm.local_backend == "transformers":
        backend, (module, install) = "transformers", ("transformers", "pip install 'lego-prover[hf]'")
    else:
        chosen = choose_backend(model, llm.local_backend)
        backend, (module, install) = chosen, BACKEND_EXTRAS[chosen]
    findings = []
    try:
        require_module(module, install)
        findings.append(Finding(f"local backend {backend}", True, f"{module} importable"))
    except LegoProverError as exc:
        findings.append(Finding(f"local backend {backend}", False, "not installed", str(exc)))
    if model.lower().endswith(".gguf") or backend == "llama_cpp":
        ok = Path(model).is_file()
        findings.append(Finding("local model", ok, model, "" if ok else "fix llm.local_model (no such file)"))
    else:
        findings.append(Finding("local model", True, f"{model} (resolved by {backend} at start)"))
    return findings


def check_library(settings: Settings) -> list[Finding]:
    path = settings.skills.db_path
    if settings.skills.chroma_url:
        return [Finding("skill library", True, f"Chroma server {settings.skills.chroma_url}")]
    from lego_prover.inputs import nearest_existing

    base = nearest_existing(path)
    ok = base.is_dir() and os.access(base, os.W_OK)
    state = "exists" if (path / "chroma.sqlite3").is_file() else "not created yet ('eval' creates it)"
    return [Finding("skill library", ok, f"{path.absolute()}: {state}",
                    "" if ok else f"make {base} writable or set skills.db_path")]


def check_cluster(settings: Settings) -> list[Finding]:
    """Every node of the Ray cluster (``run.ray_address``): Isabelle, heap, and the check slots there."""
    from lego_prover.run.cluster import probe_nodes

    address = settings.run.ray_address
    try:
        reports = probe_nodes(settings, check_isabelle)
    except LegoProverError as exc:
        return [Finding("Ray cluster", False, f"{address}: not usable", str(exc))]
    findings = [Finding("Ray cluster", bool(reports), f"{address}: {len(reports)} alive nodes",
                        "" if reports else "start nodes with 'ray start --address HEAD:PORT'")]
    per_actor = settings.isabelle.workers * settings.isabelle.checks_per_worker
    for r in reports:
        where = f"node {r.hostname} ({r.node_ip})"
        for name, ok, detail, fix in r.findings:
            findings.append(Finding(f"{where}: {name}", ok, detail, fix))
        if r.version != __version__:
            findings.append(Finding(f"{where}: lego-prover", False, f"{r.version} (the driver has {__version__})",
                                    "install the same lego-prover version on every node"))
        actors = _actors_for(r.cpus, settings)
        detail = f"{actors * per_actor} ({actors} checker actor{'' if actors == 1 else 's'} x {per_actor})"
        if r.free_cpus is not None:
            detail += f", {_actors_for(r.free_cpus, settings) * per_actor} free now"
        detail += f"; {r.cpus} CPUs" + ("" if r.free_cpus is None else f", {r.free_cpus} free")
        findings.append(Finding(f"{where}: check slots", actors > 0, detail,
                                "" if actors else "this node has too few CPUs for a checker (run.ray_actor_cpus)"))
    return findings


def _actors_for(cpus: int, settings: Settings) -> int:
    from lego_prover.run.cluster import plan_actors

    return len(plan_actors([{"NodeID": "n", "Alive": True, "Resources": {"CPU": cpus}}], settings.run.ray_actor_cpus))


def run_doctor(settings: Settings, *, llm_request: bool = False) -> list[Finding]:
    """Every check; ``llm_request``: also one tiny real request to each configured model."""
    findings: list[Finding] = []
    # on a cluster the driver checks nothing itself: Isabelle matters on the nodes
    isabelle = check_cluster if settings.run.ray_address else check_isabelle
    checks = [isabelle, check_embedding, check_llm, check_library]
    if llm_request:
        checks.append(check_llm_request)
    for check in checks:
        try:
            findings.extend(check(settings))
        except Exception as exc:  # doctor reports; it never crashes on one broken probe
            findings.append(Finding(check.__name__.removeprefix("check_"), False, f"probe failed: {exc}"))
    return findings
