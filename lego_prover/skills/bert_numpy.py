"""A mean-pooled BERT sentence encoder in numpy: the vectors sentence-transformers computes
for such a model (all-MiniLM-L6-v2 is one), without importing torch.

Why: a one-shot ``lego-prover skills query`` spent about 7.5 of its 12 s importing torch
and sentence-transformers (which imports transformers, scikit-learn and scipy); the model
itself loads in a fraction of a second and one query embeds in milliseconds. The weights
(``model.safetensors``, memory-mapped by ``read_safetensors``) and the tokenizer
(``tokenizer.json``, the small ``tokenizers`` package) are read without torch.
``tests/test_bert_numpy.py`` checks the vectors against sentence-transformers itself.

Usage::

    if NumpyBertEncoder.supports(folder):
        encoder = NumpyBertEncoder(folder)
        vectors = encoder.encode(["lemma foo: ...", "a + b = b + a"])   # (2, 384) float32, unit length

Only models whose ``modules.json`` is Transformer (a BERT with absolute positions and GELU)
-> mean Pooling -> optional Normalize are supported; anything else goes through
sentence-transformers.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


SMALL_BATCH = 32


def _blas_threads(limit: int | None) -> contextlib.AbstractContextManager[object]:
    if limit is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    limits: contextlib.AbstractContextManager[object] = threadpool_limits(limits=limit, user_api="blas")
    return limits


_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file as read-only views of a memory map, as float32.

    The format is an 8-byte little-endian header length, a JSON header of name ->
    ``{dtype, shape, data_offsets}``, then the data. Mapping instead of reading keeps a
    query's memory to the pages it touches (of the 30,522 x 384 word embeddings, only the
    rows of the query's tokens).
    """
    with path.open("rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor dtype {info['dtype']} is not supported here")
        begin, end = info["data_offsets"]
        array = data[begin:end].view(dtype).reshape(info["shape"])
        out[name] = array if dtype is np.float32 else array.astype(np.float32)
    return out


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz and Stegun 7.1.26), in place where it can: GELU's
    erf was half of a batch's time with a longer polynomial and fresh arrays per step."""
    a = np.abs(x)
    t = a * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a                      # 1 - erf(|x|)
    np.subtract(np.float32(1.0), poly, out=poly)
    return np.asarray(np.copysign(poly, x, out=poly), dtype=np.float32)


def _gelu(x: np.ndarray, rows: int = 16) -> np.ndarray:
    """The exact (erf) GELU of BERT, x / 2 * (1 + erf(x / sqrt 2)), a few rows at a time:
    blocks that stay in cache make its dozen elementwise passes about twice as fast."""
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty_like(flat)
    for start in range(0, flat.shape[0], rows):
        block = flat[start:start + rows]
        y = _erf(block * np.float32(1.0 / np.sqrt(2.0)))
        y += 1.0
        y *= block
        y *= np.float32(0.5)
        out[start:start + rows] = y
    return out.reshape(x.shape)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return np.asarray(((x - mean) / np.sqrt(var + eps)) * weight + bias, dtype=np.float32)


class NumpyBertEncoder:
    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self.folder = folder
        config = _read_json(folder / "config.json")
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        bert = _read_json(folder / "sentence_bert_config.json") if (folder / "sentence_bert_config.json").is_file() else {}
        self.max_length = int(bert.get("max_seq_length") or config.get("max_position_embeddings", 512))
        self.normalize = _NORMALIZE in [m["type"] for m in _read_json(folder / "modules.json")]
        weights = read_safetensors(folder / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
        self._w = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=self.max_length)

    @staticmethod
    def supports(folder: Path) -> bool:
        """A mean-pooled BERT sentence-transformers folder with safetensors weights and a fast tokenizer."""
        try:
            modules = [m["type"] for m in _read_json(folder / "modules.json")]
            config = _read_json(folder / "config.json")
            pooling = _read_json(folder / "1_Pooling" / "config.json")
        except (OSError, ValueError, KeyError, TypeError):
            return False
        mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
            pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                     "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens",
                                     "pooling_mode_lasttoken"))
        return (modules in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE])
                and bool(mean_only) and config.get("model_type") == "bert"
                and config.get("hidden_act") == "gelu"
                and config.get("position_embedding_type", "absolute") == "absolute"
                and (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file())

    @property
    def dimension(self) -> int:
        return self.hidden

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length (when the model normalises) float32 vectors, one row per text."""
        # A few short texts are tiny matrices: BLAS threads only contend (measured 8x slower
        # per query with 2 threads on a busy 2-core machine); big batches keep them.
        with _blas_threads(1 if len(texts) < SMALL_BATCH else None):
            return self._encode(texts, batch_size)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))  # little padding per batch
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.float32)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            out[chunk] = self._forward(ids, mask)
        return out

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self._w
        batch, width = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:width][None]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        head = self.hidden // self.heads
        bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head))
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def dense(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
                flat = v.reshape(-1, v.shape[-1])  # one 2-D GEMM: numpy's stacked matmul is far slower
                out: np.ndarray = flat @ w[p + name + ".weight"].T + w[p + name + ".bias"]
                return out.reshape(*v.shape[:-1], -1)

            def split(v: np.ndarray) -> np.ndarray:
                # contiguous per head: numpy's stacked matmul calls BLAS only on such operands
                return np.ascontiguousarray(v.reshape(batch, width, self.heads, head).transpose(0, 2, 1, 3))

            q, k, v = (split(dense(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
            scores = (q @ k.swapaxes(-1, -2)) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            probs = scores / scores.sum(-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, width, self.hidden)
            x = _layer_norm(dense(context, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], self.eps)
            inner = _gelu(dense(x, "intermediate.dense"))
            x = _layer_norm(dense(inner, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                            w[p + "output.LayerNorm.bias"], self.eps)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        if self.normalize:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.asarray(pooled, dtype=np.float32)
