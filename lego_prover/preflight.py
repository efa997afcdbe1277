"""Before a command writes anything: check all it needs and name every missing thing at once.

Usage::

    check = Preflight(settings)
    with check.step():                      # a LegoProverError inside becomes one entry
        problems = load_problems(path)
    check.run_dir(Path("runs/x"), resume=False)
    check.llm(); check.isabelle(); check.embedding(); check.library()
    check.raise_if_missing("eval")          # PreflightError naming each missing thing, exit 2
    for note in check.notes: ...            # worth knowing, not blocking (a heap to build)

Nothing here creates a file or a folder, starts a server or loads a model: a command
that cannot run leaves no run directory, library or cache behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from lego_prover.config import Settings
from lego_prover.errors import LegoProverError
from lego_prover.inputs import existing_dir, writable_dir


class PreflightError(LegoProverError):
    """One or more things a command needs are missing; the message lists each with its fix."""

    def __init__(self, command: str, missing: list[str]) -> None:
        self.missing = missing
        if len(missing) == 1:
            super().__init__(missing[0])
        else:
            items = "\n".join(f"  - {m}" for m in missing)
            super().__init__(f"'lego-prover {command}' cannot start; {len(missing)} things to fix first:\n{items}")


def _accepts_connections(url: str, what: str, fix: str) -> None:
    """A TCP connection to the URL's host and port (nothing is sent): is anything listening?"""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=3):
            pass
    except OSError as exc:
        raise LegoProverError(f"{what} {url} does not accept connections ({exc.strerror or exc}); {fix}") from None


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


class Preflight:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.missing: list[str] = []
        self.notes: list[str] = []

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Run a check that raises; its one-line error is collected instead of stopping here."""
        try:
            yield
        except LegoProverError as exc:
            self.missing.append(_sentence(str(exc)))

    def raise_if_missing(self, command: str) -> None:
        if self.missing:
            raise PreflightError(command, list(dict.fromkeys(self.missing)))

    # ------------------------------------------------------------------ checks

    def run_dir(self, path: Path, *, resume: bool) -> None:
        from lego_prover.run.store import RunStore

        with self.step():
            RunStore.check(path, resume=resume)
            writable_dir(path, "run directory")

    def existing_run(self, path: Path) -> None:
        """A run directory written by eval (for verify-results and report)."""
        from lego_prover.run.store import RunDirError

        with self.step():
            existing_dir(path, "run directory")
            if not (path / "run.json").is_file():
                raise RunDirError(f"{path} is not a run directory (no run.json); give the folder 'eval' wrote")

    def llm(self) -> None:
        llm = self.settings.llm
        if llm.replay is not None:      # answers from recorded conversations: no model, key or endpoint
            from lego_prover.llm.replay import load_replay_source

            with self.step():
                source = load_replay_source(llm.replay)
                self.notes.append(source.note)
            return
        if llm.local_model:
            from lego_prover.doctor import check_local_model

            with self.step():
                for finding in check_local_model(self.settings):
                    if finding.ok:
                        continue
                    if finding.name == "local model":
                        self.missing.append(f"the local model file {finding.detail} (llm.local_model) does not exist; "
                                            "give the path of a .gguf file.")
                    else:
                        self.missing.append(_sentence(finding.fix or f"{finding.name}: {finding.detail}"))
            self._roles(local=True)
            return
        if llm.base_url is not None and not llm.base_url.startswith(("http://", "https://")):
            self.missing.append(f"llm.base_url must start with http:// or https://, not {llm.base_url!r}.")
        elif llm.base_url is not None:
            with self.step():
                _accepts_connections(llm.base_url, "the LLM endpoint", "start the server or fix llm.base_url")
        if llm.base_url is None and not os.environ.get(llm.api_key_env):
            self.missing.append(f"no API key: set the environment variable {llm.api_key_env} (or point "
                                "llm.base_url at a local OpenAI-compatible server, or set llm.local_model).")
        if llm.cache:
            with self.step():
                writable_dir(llm.cache_path.parent, "LLM cache folder (llm.cache_path)")
        self._roles()
        self._prices([llm.model])

    def _roles(self, *, local: bool = False) -> None:
        """Each role with an endpoint or key of its own: reachable, and its key set (with a local
        main model, only roles with an endpoint of their own leave this machine)."""
        from lego_prover.llm.roles import role_settings

        llm = self.settings.llm
        for role, entry in llm.roles.items():
            own, resolved = entry.overrides(), role_settings(llm, str(role))
            if local and "base_url" not in own:
                continue
            where = f"llm.roles.{role}.base_url"
            if "base_url" in own and not str(resolved.base_url).startswith(("http://", "https://")):
                self.missing.append(f"{where} must start with http:// or https://, not {resolved.base_url!r}.")
            elif "base_url" in own and resolved.base_url is not None:
                with self.step():
                    _accepts_connections(resolved.base_url, f"the LLM endpoint of the {role} ({where})",
                                         f"start the server or fix {where}")
            if resolved.base_url is None and not os.environ.get(resolved.api_key_env):
                self.missing.append(f"no API key for the {role}: set the environment variable "
                                    f"{resolved.api_key_env} (llm.roles.{role}.api_key_env, else llm.api_key_env).")

    def _prices(self, models: list[str]) -> None:
        """A cost budget needs a price for every model it is to count."""
        from lego_prover.llm.prices import PriceBook
        from lego_prover.llm.roles import role_settings

        llm = self.settings.llm
        if self.settings.budget.max_cost_usd is None:
            return
        models = [*models, *(role_settings(llm, str(role)).model for role in llm.roles)]
        for model in PriceBook(llm.prices).unpriced(models):
            self.missing.append(f"budget.max_cost_usd cannot be kept: no price is known for model {model!r}; add "
                                f"[llm.prices.\"{model}\"] with input_per_mtok and output_per_mtok (USD per million "
                                "tokens), or drop the cost budget.")

    def isabelle(self) -> None:
        """Isabelle where the checks run: the server named by isabelle.server, the Ray cluster
        of run.ray_address (whose nodes run Isabelle: nothing is asked of this machine), or here."""
        isa = self.settings.isabelle
        with self.step():
            writable_dir(isa.work_dir, "Isabelle work folder (isabelle.work_dir)")
        if self.settings.run.ray_address:
            from lego_prover.run.cluster import require_cluster

            with self.step():
                require_cluster(self.settings.run.ray_address)
        if isa.server:
            from lego_prover.isabelle.server import ServerAddress

            with self.step():
                address = ServerAddress.parse(isa.server)
                try:
                    with socket.create_connection((address.host, address.port), timeout=3):
                        pass
                except OSError as exc:
                    raise LegoProverError(
                        f"the Isabelle server {address.host}:{address.port} (isabelle.server) does not answer "
                        f"({exc.strerror or exc}); start it or fix isabelle.server") from None
            return
        if self.settings.run.ray_address:
            return
        from lego_prover.doctor import check_isabelle

        for finding in check_isabelle(self.settings):
            if finding.ok:
                continue
            if finding.name.startswith("session heap"):  # the pool builds it, with a progress message
                self.notes.append(f"the session heap {isa.session} is not built yet: the first check builds it, "
                                  f"which takes a while (or run 'isabelle build -b {isa.session}' now).")
            elif finding.name.startswith("tactic tool"):  # the run leaves those tactics out, with its own warning
                continue
            elif finding.name.startswith("Sledgehammer prover"):  # a last resort of repair: worth knowing, not blocking
                name = "Sledgehammer" if finding.name == "Sledgehammer provers" else finding.name
                self.notes.append(_sentence(f"{name}: {finding.detail}; {finding.fix}" if finding.fix
                                            else f"{name}: {finding.detail}"))
            else:
                self.missing.append(_sentence(finding.fix or f"{finding.name}: {finding.detail}"))

    def embedding(self) -> None:
        from lego_prover.skills.embedder import default_model_path

        with self.step():
            model = self.settings.skills.embedding_model
            if model:
                existing_dir(Path(model), "embedding model folder (skills.embedding_model)")
            else:
                default_model_path()

    def library(self) -> None:
        skills = self.settings.skills
        if skills.chroma_url:
            if not skills.chroma_url.startswith(("http://", "https://")):
                self.missing.append(f"skills.chroma_url must look like http://host:port, not {skills.chroma_url!r}.")
            elif importlib.util.find_spec("chromadb") is None:
                self.missing.append("chromadb is not installed; reinstall lego-prover.")
            return
        with self.step():
            writable_dir(skills.db_path, "skill library folder (skills.db_path)")

    def prompts(self) -> None:
        from lego_prover.prover.prompts import PromptLibrary

        with self.step():
            library = PromptLibrary.load(self.settings.prompts_dir)
            library.manifest()
