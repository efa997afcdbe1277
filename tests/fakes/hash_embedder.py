"""A tiny deterministic embedder for fast unit tests: hashed bag of words, unit length.

Texts sharing most words get cosine similarity near 1, unrelated ones near 0. Real-model
behaviour is covered by the tests marked ``slow``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space

DIM = 64


class HashEmbedder(EmbeddingFunction[Documents]):
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, input: Documents) -> Embeddings:
        self.calls += 1
        out = []
        for text in input:
            v = np.zeros(DIM, dtype=np.float32)
            for word in re.findall(r"\w+|[^\w\s]", text):
                v[int(hashlib.md5(word.encode()).hexdigest(), 16) % DIM] += 1.0
            out.append(v / (np.linalg.norm(v) or 1.0))
        return out

    @staticmethod
    def name() -> str:
        return "test_hash_embedder"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashEmbedder:
        return HashEmbedder()

    def default_space(self) -> Space:
        return "cosine"
