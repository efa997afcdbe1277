"""Prompt files and in-context examples, loaded from ``prompts/`` (or ``settings.prompts_dir``).

Usage::

    prompts = PromptLibrary.load()                       # the prompts shipped with lego-prover
    messages = prompts.render("decomposer", informal_statement=..., examples=...)
    examples = prompts.examples("prover")                # worked problems, as WorkedExample
    sketches = prompts.examples_in("dsp/examples")       # a method's own examples, beside its prompts

A prompt file has a ``--- system ---`` part (optional) and a ``--- user ---`` part; ``$name``
placeholders are filled with ``string.Template`` (so Isabelle's braces need no escaping).
An example file is a set of ``## field`` sections.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from lego_prover.errors import ConfigError
from lego_prover.llm.base import ChatMessage

_PART = re.compile(r"^--- (system|user) ---\s*$", re.M)


def default_prompts_dir() -> Path:
    """The prompts shipped with lego-prover: package data next to this package.

    In a checkout (and an editable install) ``lego_prover/prompts`` is a link to the
    top-level ``prompts/``; a wheel carries a copy of it. Either way it is found here, the
    same way for every kind of install.
    """
    return Path(__file__).resolve().parents[1] / "prompts"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    system: str
    user: str

    def render(self, **values: object) -> list[ChatMessage]:
        strings = {k: str(v) for k, v in values.items()}
        try:
            user = Template(self.user).substitute(strings).strip()
            system = Template(self.system).substitute(strings).strip() if self.system else ""
        except KeyError as exc:
            raise ConfigError(f"prompt {self.name!r} needs a value for ${exc.args[0]}") from None
        messages: list[ChatMessage] = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": user})
        return messages


@dataclass(frozen=True)
class WorkedExample:
    """One in-context example; which fields are set depends on the kind (prover/evolver)."""

    name: str
    fields: dict[str, str]

    def __getitem__(self, key: str) -> str:
        return self.fields.get(key, "")

    @property
    def requests(self) -> list[str]:
        text = self["requests"].strip()
        if not text or text.upper() == "N/A":
            return []
        from lego_prover.isabelle.theory import split_blocks

        return [b.text.strip() for b in split_blocks(text)]


def parse_example(name: str, text: str) -> WorkedExample:
    fields: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        m = re.match(r"^## (\w+)\s*$", line)
        if m:
            if current:
                fields[current] = "\n".join(lines).strip()
            current, lines = m.group(1), []
        else:
            lines.append(line)
    if current:
        fields[current] = "\n".join(lines).strip()
    return WorkedExample(fields.get("name", name), fields)


class PromptLibrary:
    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise ConfigError(f"prompt folder {folder} does not exist (settings.prompts_dir)")
        self.folder = folder
        self._cache: dict[str, PromptTemplate] = {}

    @classmethod
    def load(cls, folder: Path | None = None) -> PromptLibrary:
        return cls(folder or default_prompts_dir())

    def template(self, name: str) -> PromptTemplate:
        if name not in self._cache:
            path = self.folder / f"{name}.md"
            if not path.is_file():
                raise ConfigError(f"prompt file {path} is missing")
            text = path.read_text(encoding="utf-8")
            parts = _PART.split(text)
            sections = dict(zip(parts[1::2], parts[2::2], strict=False))
            if "user" not in sections:
                raise ConfigError(f"prompt file {path} has no '--- user ---' part")
            self._cache[name] = PromptTemplate(name, sections.get("system", "").strip(), sections["user"].strip())
        return self._cache[name]

    def render(self, name: str, **values: object) -> list[ChatMessage]:
        return self.template(name).render(**values)

    def text(self, name: str) -> str:
        path = self.folder / f"{name}.md"
        if not path.is_file():
            raise ConfigError(f"prompt file {path} is missing")
        return path.read_text(encoding="utf-8").strip()

    def manifest(self, folder: str = "examples") -> dict[str, list[str]]:
        path = self.folder / folder / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the example manifest {path}: {exc}") from None
        return {k: list(v) for k, v in data.items() if isinstance(v, list)}

    def examples(self, kind: str) -> list[WorkedExample]:
        return self._examples(self.folder / "examples" / kind, self.manifest().get(kind, []))

    def examples_in(self, folder: str) -> list[WorkedExample]:
        """Examples kept beside their method's prompts, e.g. ``dsp/examples``: its manifest's ``examples``."""
        return self._examples(self.folder / folder, self.manifest(folder).get("examples", []))

    @staticmethod
    def _examples(folder: Path, names: list[str]) -> list[WorkedExample]:
        out = []
        for name in names:
            path = folder / f"{name}.md"
            if not path.is_file():
                raise ConfigError(f"example {path} is listed in the manifest but missing")
            out.append(parse_example(name, path.read_text(encoding="utf-8")))
        return out
