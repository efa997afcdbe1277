"""Skill library at 1k, 10k and 100k lemma-like records: add throughput, query latency, disk size.

    python benchmarks/bench_library.py                 # 1k, 10k, 100k (about 5 minutes on 2 cores)
    python benchmarks/bench_library.py --sizes 1000    # quick

Prints one JSON line per size. What is measured, and how:

* ``add_per_s``: records/s of ``SkillLibrary.add_many`` for the last 1,000-record batch at
  that size, with precomputed embeddings: exact-dedup lookup, near-dedup nearest-neighbour
  query, name check and insert, all under the writer lock. Embedding cost is separate:
  ``embed_per_s`` is the real model's batch throughput on this machine.
* ``add_one_ms_p50``: one ``add()`` at that size *including* embedding the statement: the
  cost a prover pays per harvested lemma. Flat from 1k to 100k means O(log N), not O(N).
* ``query_ms_p50/p95``: ``query(text, k=6)`` including the query embedding (real model);
  ``query_vector_ms_*``: the same without the embedding.
* ``disk_mb``: size of the Chroma folder.

To reach 100k without embedding 100k texts (the real model does ~150/s here), the store is
filled with real-model embeddings of 2,000 distinct synthetic lemmas, each reused with
small Gaussian noise and renormalised. Near-duplicate rejection is set to 1.0 so the noisy
copies are kept; the nearest-neighbour query it needs still runs for every record.
Records enter through ``VerificationRecord.from_trusted_export``: nothing here is verified
by Isabelle, and nothing from this benchmark is ever used as a library.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lego_prover.config import SkillSettings
from lego_prover.skills.embedder import Embedder
from lego_prover.skills.library import SkillLibrary
from lego_prover.skills.records import Origin, VerificationRecord

TEMPLATES = [
    'fixes {a} {b} :: real assumes "{a} > {n}" shows "{a}^2 + {b}^2 >= 2 * {a} * {b} - {n}"',
    'fixes {a} :: nat shows "({a}^2 + {n}) mod {m} = ({a} mod {m})^2 + {n} mod {m}"',
    'fixes {a} {b} :: int assumes "{a} dvd {b}" and "{b} dvd {a} + {n}" shows "{a} dvd {n}"',
    'fixes {a} :: real assumes "0 < {a}" shows "{a} + {n} / {a} >= 2 * sqrt {n}"',
    'fixes f :: "nat => nat" assumes "\\<forall>k. f (k + 1) = f k + {n}" shows "f {a} = f 0 + {n} * {a}"',
    'fixes {a} {b} :: nat assumes "gcd {a} {b} = 1" shows "gcd ({a} + {n} * {b}) {b} = 1"',
    'fixes {a} :: real shows "\\<bar>{a} - {n}\\<bar> + \\<bar>{a} + {m}\\<bar> >= {n} + {m}"',
    'fixes {a} :: nat shows "(\\<Sum>k<{a}. (2 * k + {n})) = {a}^2 + ({n} - 1) * {a}"',
]
VARS = ["x", "y", "z", "a", "b", "c", "m", "n", "p", "q", "r", "s", "t", "u", "v", "w"]


def statement(i: int, rng: random.Random) -> str:
    a, b = rng.sample(VARS, 2)
    body = rng.choice(TEMPLATES).format(a=a, b=b, n=rng.randint(1, 999), m=rng.randint(2, 97))
    return f"lemma bench_{i}:\n  {body}"


def record(i: int, text: str) -> VerificationRecord:
    return VerificationRecord.from_trusted_export(
        {"name": f"bench_{i}", "statement": text, "text": text + "\n  by auto", "isabelle": "bench",
         "session": "bench"}, isabelle="bench", session="bench")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(0)
    nrng = np.random.default_rng(0)
    embedder = Embedder()
    pool_texts = [statement(i, rng) for i in range(2000)]
    started = time.perf_counter()
    pool = np.asarray(embedder(pool_texts), dtype=np.float32)
    embed_per_s = len(pool_texts) / (time.perf_counter() - started)
    query_texts = [statement(10**7 + i, rng).split("\n", 1)[1] for i in range(args.queries)]

    workdir = Path(tempfile.mkdtemp(prefix="bench-library-"))
    try:
        library = SkillLibrary.open(SkillSettings(db_path=workdir / "db", dedup_threshold=1.0), embedder)
        n = 0
        for size in sizes:
            last_rate = 0.0
            while n < size:
                batch = min(1000, size - n)
                idx = nrng.integers(0, len(pool), batch)
                vectors = pool[idx] + nrng.normal(0, 0.03, (batch, pool.shape[1])).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                items = [(record(n + j, pool_texts[k].replace("bench_", f"b{n + j}_")), Origin("problem"), "")
                         for j, k in enumerate(idx)]
                t0 = time.perf_counter()
                results = library.add_many(items, vectors)
                last_rate = batch / (time.perf_counter() - t0)
                n += sum(r.added for r in results)
            adds = []
            for j in range(20):
                text = statement(10**6 + size + j, rng)
                t0 = time.perf_counter()
                library.add(record(10**6 + size + j, text), Origin("problem"))
                adds.append((time.perf_counter() - t0) * 1000)
            n += 20
            with_embed, without = [], []
            for text in query_texts:
                t0 = time.perf_counter()
                library.query(text, k=6)
                with_embed.append((time.perf_counter() - t0) * 1000)
                vec = embedder([text])[0]
                t0 = time.perf_counter()
                library.query_vector(np.asarray(vec), k=6)
                without.append((time.perf_counter() - t0) * 1000)
            disk = sum(f.stat().st_size for f in (workdir / "db").rglob("*") if f.is_file())
            print(json.dumps({
                "size": library.count(), "add_per_s": round(last_rate, 1), "embed_per_s": round(embed_per_s, 1),
                "add_one_ms_p50": round(statistics.median(adds), 2),
                "query_ms_p50": round(percentile(with_embed, 0.5), 2), "query_ms_p95": round(percentile(with_embed, 0.95), 2),
                "query_vector_ms_p50": round(percentile(without, 0.5), 2),
                "query_vector_ms_p95": round(percentile(without, 0.95), 2),
                "disk_mb": round(disk / 2**20, 1)}), flush=True)
        library.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
