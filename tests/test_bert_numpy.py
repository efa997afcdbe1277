"""The numpy encoder gives sentence-transformers' vectors for the default model, without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lego_prover.skills.bert_numpy import NumpyBertEncoder
from lego_prover.skills.embedder import Embedder, default_model_path

TEXTS = [
    'lemma sum_sq: fixes a b :: real shows "a^2 + b^2 >= 2 * a * b"',
    "a + b = b + a",
    'theorem mathd_numbertheory_81:\n  "71 mod 3 = (2::nat)"',
    'fixes f :: "nat \\<Rightarrow> nat" assumes "\\<forall>k. f (k + 1) = f k + 3" shows "f 5 = f 0 + 15"',
    "Ünïcödé ∑ ≤ ∀x. P x",
    "",
    " ".join(f"x{i} + y{i}" for i in range(300)),   # longer than 256 tokens: truncated the same way
]


def test_the_default_model_runs_on_numpy() -> None:
    assert NumpyBertEncoder.supports(default_model_path())
    assert Embedder().backend == "numpy"


def test_a_model_of_another_kind_is_left_to_sentence_transformers(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text('[{"type": "sentence_transformers.models.Transformer"}, '
                                           '{"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"}]')
    (tmp_path / "config.json").write_text('{"model_type": "mpnet", "hidden_act": "gelu"}')
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    assert not NumpyBertEncoder.supports(tmp_path)


def test_embedding_a_query_imports_no_torch() -> None:
    code = ("import sys; from lego_prover.skills.embedder import Embedder; Embedder()(['a + b = b + a']); "
            "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_vectors_match_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(default_model_path()), device="cpu").encode(
        TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    ours = NumpyBertEncoder(default_model_path()).encode(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), 384)
    assert np.abs(ours - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    singles = np.vstack([NumpyBertEncoder(default_model_path()).encode([t]) for t in TEXTS[:3]])
    assert np.abs(singles - ours[:3]).max() < 1e-5, "batching (padding) does not change a vector"


@pytest.mark.slow
def test_a_bulk_call_and_single_calls_give_the_same_vectors() -> None:
    """Bulk calls go to sentence-transformers, small ones to numpy: one library, one set of vectors."""
    from lego_prover.skills.embedder import BULK

    texts = [f'lemma l{i}: fixes x :: real shows "x^2 + {i} >= {i}"' for i in range(BULK)]
    numpy_singles = np.asarray([Embedder()([t])[0] for t in texts[:4]])
    embed = Embedder()
    bulk = np.asarray(embed(texts))
    assert np.abs(bulk[:4] - numpy_singles).max() < 1e-5
    assert np.abs(np.asarray(embed(texts[:4])) - numpy_singles).max() < 1e-5, "after a bulk call, torch serves"
