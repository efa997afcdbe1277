"""`doctor`, `download-minif2f`, `serve-model` and `config`: the installation and its settings."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lego_prover.cli_support import cli_settings, err, guarded, out
from lego_prover.errors import LLMUnavailableError

# --------------------------------------------------------------------------- doctor


def doctor(
    ray: Annotated[str | None, typer.Option("--ray", help="Check every node of this Ray cluster (auto or ADDRESS) for Isabelle, heap and check slots.")] = None,
    llm: Annotated[bool, typer.Option("--llm", help="Also send one tiny real request (at most 64 completion tokens, billed) to each configured model: parameters accepted, reasoning, usage report.")] = False,
) -> None:
    """Show what is found and what is missing (Isabelle, session heap, the programs tactics and Sledgehammer call, embedding model, LLM endpoint).

    Each missing thing comes with its fix. Reads only: it creates nothing. With --ray,
    every node of the cluster too. Without --llm no chat request is sent; 'lego-prover
    doctor --llm' also sends each configured model one tiny (billed) request.

    Example:

        lego-prover doctor
    """

    def body() -> None:
        from lego_prover.doctor import run_doctor
        from lego_prover.render import print_findings

        findings = run_doctor(cli_settings({"run.ray_address": ray}), llm_request=llm)
        print_findings(out, findings)
        raise typer.Exit(0 if all(f.ok for f in findings) else 1)

    guarded(body)


def download_minif2f_cmd(
    cache_dir: Annotated[Path | None, typer.Option(help="Where to put it (default: cache_dir from the settings).")] = None,
    prefer: Annotated[Path | None, typer.Option(help="A folder with valid.jsonl and test.jsonl to copy instead, if it exists (else download).")] = None,
) -> None:
    """Download miniF2F (facebookresearch/miniF2F) and convert it to jsonl in the cache.

    Needs network access; without it, pass --data-dir to the commands instead (a folder
    with valid.jsonl and test.jsonl). With --prefer DIR a copy already on this machine is
    used where there is one, so 'download-minif2f --prefer ../shared/minif2f' works in a
    clone next to ../shared and in one without it alike.

    Example:

        lego-prover download-minif2f
    """

    def body() -> None:
        from lego_prover.inputs import writable_dir
        from lego_prover.problems import copy_minif2f, download_minif2f

        settings = cli_settings()
        target = writable_dir(cache_dir or settings.cache_dir, "--cache-dir" if cache_dir else "cache_dir")
        if prefer is not None and prefer.is_dir():
            written = copy_minif2f(prefer, target)
        else:
            written = download_minif2f(target)
        out.print(f"miniF2F written to {written}", markup=False, highlight=False)

    guarded(body)


class ServeBackend(StrEnum):
    auto = "auto"
    llama_cpp = "llama_cpp"
    vllm = "vllm"


def serve_model(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="A GGUF file (llama.cpp) or a Hugging Face model id/folder (vLLM).")],
    backend: Annotated[ServeBackend, typer.Option(help="auto: GGUF files to llama_cpp, anything else to vllm.")] = ServeBackend.auto,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1; 0 picks a free one.")] = 0,
    name: Annotated[str | None, typer.Option(help="Model name clients send (default: the file or folder name).")] = None,
    start_timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the server to answer.")] = 600.0,
) -> None:
    """Serve a local model on 127.0.0.1 with an OpenAI-compatible API until Ctrl-C.

    Prints the settings that point lego-prover at it. To let 'eval' start and stop the
    server itself instead, set llm.local_model (and llm.local_backend) in the config.
    Needs the extra of its backend: pip install 'lego-prover[local]' (llama.cpp, GGUF
    files) or 'lego-prover[vllm]' (an NVIDIA GPU).

    Example (with a GGUF file of yours):

        lego-prover serve-model ~/models/qwen2.5-7b-instruct-q4_k_m.gguf \\
          --port 8080
    """

    def body() -> None:
        import time

        from lego_prover.llm.local_server import LocalModelServer

        settings = cli_settings()
        log_path = settings.cache_dir / "model-server.log"
        server = LocalModelServer.for_model(str(Path(model).expanduser()) if model.startswith("~") else model,
                                            backend=backend.value, port=port, served_name=name,
                                            start_timeout_s=start_timeout, log_path=log_path)
        settings.cache_dir.mkdir(parents=True, exist_ok=True)  # only once the model and backend are known good
        err.print(f"starting {' '.join(server.command[1:4])} ... (log: {log_path})", markup=False, highlight=False)
        with server:
            out.print(f"serving {server.served_name!r} at {server.base_url}\n"
                      f"use it with:  LEGO_PROVER_LLM__BASE_URL={server.base_url} "
                      f"LEGO_PROVER_LLM__MODEL={server.served_name} lego-prover ...\n"
                      "press Ctrl-C to stop", highlight=False, markup=False)
            try:
                while server.running:
                    time.sleep(1.0)
            except KeyboardInterrupt:  # the way it is meant to stop: exit code 0
                err.print("stopped", markup=False, highlight=False)
                return
            raise LLMUnavailableError(f"the model server stopped on its own; see {log_path}", fatal=True)

    guarded(body)


def show_config(
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of TOML (unset keys left out).")] = False,
) -> None:
    """Print the effective settings (all layers merged) as TOML that can be saved as lego-prover.toml.

    Each key comes with its description; unset optional keys are shown commented out with
    an example value. Reads only: it creates no file.

    Example (a starting lego-prover.toml):

        lego-prover config > lego-prover.toml
    """

    def body() -> None:
        from lego_prover.config import settings_to_toml, settings_to_toml_dict

        settings = cli_settings()
        if as_json:
            out.print_json(json.dumps(settings_to_toml_dict(settings)))
        else:
            out.print(settings_to_toml(settings), markup=False, highlight=False, soft_wrap=True, end="")

    guarded(body)
