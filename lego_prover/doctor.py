"""``lego-prover doctor``: what is found and what is missing, each with its fix."""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lego_prover.config import Settings
from lego_prover.errors import LegoProverError


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_isabelle(settings: Settings) -> list[Finding]:
    from lego_prover.isabelle.server import find_isabelle, isabelle_version

    if settings.isabelle.server:
        return [Finding("Isabelle server", True, f"configured: {settings.isabelle.server.rsplit(':', 1)[0]}:***")]
    try:
        exe = find_isabelle(settings.isabelle.home)
    except LegoProverError as exc:
        return [Finding("Isabelle", False, "not found", str(exc))]
    findings = []
    try:
        version = asyncio.run(isabelle_version(exe))
        findings.append(Finding("Isabelle", True, f"{version} at {exe}"))
    except LegoProverError as exc:
        return [Finding("Isabelle", False, f"{exe} does not run", str(exc))]
    session = settings.isabelle.session
    heap = _find_heap(exe, session)
    if heap:
        findings.append(Finding(f"session heap {session}", True, str(heap)))
    else:
        findings.append(Finding(f"session heap {session}", False, "not built yet",
                                f"run 'isabelle build -b {session}' once (it takes a while), "
                                "or let the first check build it"))
    return findings


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
    from lego_prover.llm.openai_chat import probe_endpoint

    llm = settings.llm
    if llm.local_model:
        return check_local_model(settings)
    where = llm.base_url or "api.openai.com"
    key_set = bool(os.environ.get(llm.api_key_env))
    findings = [Finding("LLM API key", key_set or bool(llm.base_url),
                        f"${llm.api_key_env} is {'set' if key_set else 'not set'}",
                        "" if key_set or llm.base_url else f"export {llm.api_key_env}=... (never put keys in the config file)")]
    ok, detail = probe_endpoint(llm)
    findings.append(Finding(f"LLM endpoint {where}", ok, detail,
                            "" if ok else "check llm.base_url / llm.model, or point llm.base_url at a local OpenAI-compatible server (vLLM, llama.cpp)"))
    return findings


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


def run_doctor(settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    for check in (check_isabelle, check_embedding, check_llm, check_library):
        try:
            findings.extend(check(settings))
        except Exception as exc:  # doctor reports; it never crashes on one broken probe
            findings.append(Finding(check.__name__.removeprefix("check_"), False, f"probe failed: {exc}"))
    return findings
