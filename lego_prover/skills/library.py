"""The skill library: verified lemmas, open lemma requests and target problems, on Chroma.

Usage::

    library = SkillLibrary.open(settings.skills)            # ./skills_db, or a Chroma server
    result = library.add(VerificationRecord.from_verdict(verdict, "sum_of_squares_ge"),
                         Origin("problem", problem="mathd_algebra_478", attempt=3))
    for hit in library.query("a^2 + b^2 >= 2*a*b", k=4):
        print(hit.score, hit.skill.name)

Collections: ``skills`` (id = lemma name, unique), ``skill_hashes`` (id = content hash, for
exact dedup in O(log N)), ``requests`` (id = hash of the normalised statement) and
``problems`` (id = problem name). Embeddings are computed here, in batches, by the
embedding function passed in; Chroma is always given that function explicitly.

Concurrency (measured, see tests/test_skill_library.py): within one process, writes are
serialised by a lock, so any number of async workers and threads can add and count. An
embedded store is **not** safe for two writing processes (Chroma's local index and
metadata are cached per process: we measured lost records and stale counters), so a
writer holds ``db_path/.writer.lock`` for its lifetime and a second writer gets a clear
error; read-only opens (``skills query/show/list/stats/export``) need no lock. To share
one library live between processes, run a Chroma server (``chroma run --path skills_db``)
and set ``skills.chroma_url``: writes then go through the server, and read-modify-write
counter updates from processes on the same host are serialised by a lock file in the
cache directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from lego_prover.config import SkillSettings
from lego_prover.errors import ConfigError, LegoProverError
from lego_prover.isabelle.guard import normalize_statement
from lego_prover.isabelle.theory import rename_facts
from lego_prover.skills.records import (
    AddResult,
    Hit,
    Origin,
    Request,
    Skill,
    VerificationRecord,
    content_hash,
    now_iso,
)

log = logging.getLogger(__name__)

SKILLS, HASHES, REQUESTS, PROBLEMS = "skills", "skill_hashes", "requests", "problems"
_COUNTERS = ("times_retrieved", "times_used", "times_used_verbatim", "times_evolved")


def _chroma_settings() -> Any:
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def require_store(settings: SkillSettings) -> None:
    """Raise ``LibraryMissingError`` unless an embedded store exists at ``skills.db_path`` (a regular
    file there is named as such, in the words eval's preflight uses)."""
    from lego_prover.inputs import not_a_file

    not_a_file(settings.db_path, "skill library folder (skills.db_path)")
    if not (settings.db_path / "chroma.sqlite3").is_file():
        raise LibraryMissingError(
            f"there is no skill library at {settings.db_path.absolute()} (skills.db_path) yet: 'lego-prover eval' "
            "or 'evolve' creates it; run from the folder that holds it, or set skills.db_path")


def open_client(settings: SkillSettings, *, create: bool = True) -> Any:
    """An embedded PersistentClient at ``db_path``, or an HttpClient for ``chroma_url``.

    ``create=False`` opens only a store that exists (a read-only look creates nothing).
    """
    if not settings.chroma_url and not create:
        require_store(settings)
    import chromadb

    if settings.chroma_url:
        from urllib.parse import urlparse

        url = urlparse(settings.chroma_url)
        if not url.hostname:
            raise ConfigError(f"skills.chroma_url must look like http://host:port, not {settings.chroma_url!r}")
        return chromadb.HttpClient(host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https",
                                   settings=_chroma_settings())
    settings.db_path.mkdir(parents=True, exist_ok=True)
    # absolute: Chroma caches one client per path string, and "skills_db" means another folder after a chdir
    return chromadb.PersistentClient(path=str(settings.db_path.absolute()), settings=_chroma_settings())


def request_id(statement: str) -> str:
    return hashlib.sha256(normalize_statement(statement).encode()).hexdigest()[:16]


class LibraryBusyError(LegoProverError):
    """Another process has the embedded library open for writing."""


class LibraryMissingError(LegoProverError):
    """A read-only look at a library that does not exist (nothing is created for it)."""


class SkillLibrary:
    def __init__(self, client: Any, embedder: Any, *, dedup_threshold: float = 0.85,
                 lock_path: Path | None = None, batch_size: int = 64, writer_lock: FileLock | None = None,
                 read_only: bool = False, where: str = "") -> None:
        self._embedder = embedder
        self._threshold = dedup_threshold
        self._batch = batch_size
        self._thread_lock = threading.RLock()
        self._file_lock = FileLock(str(lock_path), thread_local=False) if lock_path else None
        self._writer_lock = writer_lock

        def collection(name: str) -> Any:
            if read_only:  # a look creates nothing: a store without our collections is not a library
                names = {getattr(c, "name", c) for c in client.list_collections()}
                if name not in names:
                    raise LibraryMissingError(f"{where or 'the store'} holds no lego-prover skill library "
                                              f"(no {name!r} collection)")
            try:
                if read_only:
                    return client.get_collection(name, embedding_function=embedder)
                return client.get_or_create_collection(
                    name, embedding_function=embedder, configuration={"hnsw": {"space": "cosine"}})
            except Exception as exc:  # Chroma refuses a store made with another embedding model
                raise ConfigError(f"cannot open the {name!r} collection of the skill library: {exc}") from exc

        self._skills = collection(SKILLS)
        # vectors of two models do not mix: a store remembers which one made it
        model = str((embedder.get_config() or {}).get("model", embedder.name())) if hasattr(embedder, "get_config") else ""
        made_with = (self._skills.metadata or {}).get("embedding_model")
        if made_with is None and model and not read_only and self._skills.count() == 0:
            self._skills.modify(metadata={**(self._skills.metadata or {}), "embedding_model": Path(model).name})
        elif made_with and model and made_with != Path(model).name:
            raise ConfigError(f"this skill library was built with the embedding model {made_with!r}, not "
                              f"{Path(model).name!r}; export it (skills export --format jsonl) and import it into "
                              "a new store to change models")
        self._hashes = collection(HASHES)
        self._requests = collection(REQUESTS)
        self._problems = collection(PROBLEMS)

    @classmethod
    def open(cls, settings: SkillSettings, embedder: Any = None, *, writer: bool = True,
             lock_dir: Path | None = None) -> SkillLibrary:
        """Open the configured library; ``writer=False`` for a read-only look.

        A read-only look takes no lock, creates nothing (no folder, no store, no
        collection) and says so when there is no library; the embedding model is not loaded
        until a query needs a vector.
        """
        if not writer and not settings.chroma_url:
            require_store(settings)  # before anything heavy is imported
        from lego_prover.skills.embedder import Embedder

        embedder = embedder or Embedder(settings.embedding_model, batch_size=settings.embed_batch_size)
        writer_lock = None
        lock_path = None
        if settings.chroma_url and writer:
            folder = lock_dir or Path(tempfile.gettempdir())
            folder.mkdir(parents=True, exist_ok=True)
            tag = hashlib.sha256(settings.chroma_url.encode()).hexdigest()[:12]
            lock_path = folder / f"lego-prover-chroma-{tag}.lock"
        elif writer:
            settings.db_path.mkdir(parents=True, exist_ok=True)
            writer_lock = FileLock(str(settings.db_path / ".writer.lock"), thread_local=False)
            try:
                writer_lock.acquire(timeout=0)
            except Timeout:
                raise LibraryBusyError(
                    f"the skill library {settings.db_path} is open for writing by another process; wait for it "
                    f"to finish, or share it live: run 'chroma run --path {settings.db_path}' and set "
                    "skills.chroma_url = \"http://localhost:8000\"") from None
        where = settings.chroma_url or str(settings.db_path.absolute())
        try:
            return cls(open_client(settings, create=writer), embedder, dedup_threshold=settings.dedup_threshold,
                       lock_path=lock_path, batch_size=settings.embed_batch_size, writer_lock=writer_lock,
                       read_only=not writer, where=where)
        except BaseException:
            if writer_lock is not None:
                writer_lock.release()
            raise

    def close(self) -> None:
        """Let another process write (the Chroma client itself needs no closing)."""
        if self._writer_lock is not None and self._writer_lock.is_locked:
            self._writer_lock.release(force=True)

    def __enter__(self) -> SkillLibrary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self._thread_lock:
            if self._file_lock is None:
                yield
            else:
                with self._file_lock:
                    yield

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out: list[Any] = []
        for i in range(0, len(texts), self._batch):
            out.extend(self._embedder(list(texts[i:i + self._batch])))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    # ------------------------------------------------------------------ skills

    def add(self, record: VerificationRecord, origin: Origin, *, description: str = "",
            embedding: np.ndarray | None = None) -> AddResult:
        """Add a verified lemma; exact and near duplicates are rejected with the existing name."""
        if not isinstance(record, VerificationRecord):
            raise TypeError("SkillLibrary.add takes a VerificationRecord from the checker")
        return self.add_many([(record, origin, description)],
                             None if embedding is None else embedding.reshape(1, -1))[0]

    def add_many(self, items: Sequence[tuple[VerificationRecord, Origin, str]],
                 embeddings: np.ndarray | None = None) -> list[AddResult]:
        """Batch add (one embedding batch, one lock): the path bulk imports and benchmarks take."""
        for record, _, _ in items:
            if not isinstance(record, VerificationRecord):
                raise TypeError("SkillLibrary.add takes a VerificationRecord from the checker")
        if not items:
            return []
        vectors = embeddings if embeddings is not None else self.embed([r.statement for r, _, _ in items])
        results: list[AddResult] = []
        with self._writing():
            hashes = [content_hash(r.text) for r, _, _ in items]
            known = self._hashes.get(ids=list(dict.fromkeys(hashes)), include=["metadatas"])
            by_hash = {i: str(m["name"]) for i, m in zip(known["ids"], known["metadatas"] or [], strict=False)}
            nearest = self._nearest(vectors)
            batch_ids: list[str] = []
            batch_vecs: list[np.ndarray] = []
            batch_meta: list[dict[str, Any]] = []
            batch_docs: list[str] = []
            taken_names: set[str] = set()
            for (record, origin, description), h, vec, near in zip(items, hashes, vectors, nearest, strict=True):
                if h in by_hash:
                    results.append(AddResult(False, record.name, "exact_duplicate", by_hash[h], 1.0))
                    continue
                in_batch = self._near_in_batch(vec, batch_vecs, batch_ids)
                closest = max((c for c in (near, in_batch) if c and c[0]), key=lambda c: c[1], default=None)
                if closest and closest[1] >= self._threshold:
                    results.append(AddResult(False, record.name, "near_duplicate", closest[0], closest[1]))
                    continue
                name = self._fresh_name(record.name, taken_names)
                taken_names.add(name)
                text = rename_facts(record.text, {record.name: name}) if name != record.name else record.text
                statement = rename_facts(record.statement, {record.name: name}) if name != record.name else record.statement
                by_hash[h] = name
                batch_ids.append(name)
                batch_vecs.append(vec)
                batch_docs.append(statement)
                batch_meta.append({
                    "name": name, "text": text, "requires": "\n".join(record.requires),
                    "description": description, "isabelle": record.isabelle, "session": record.session,
                    "verified_at": record.verified_at, "content_hash": h, "added_at": now_iso(precise=True),
                    "imports": "\n".join(record.imports), **origin.as_meta(), **dict.fromkeys(_COUNTERS, 0)})
                results.append(AddResult(True, name, "added"))
            if batch_ids:
                self._skills.add(ids=batch_ids, embeddings=np.asarray(batch_vecs), documents=batch_docs,
                                 metadatas=batch_meta)
                self._hashes.add(ids=[m["content_hash"] for m in batch_meta], embeddings=np.asarray(batch_vecs),
                                 metadatas=[{"name": n} for n in batch_ids])
        return results

    def _nearest(self, vectors: np.ndarray) -> list[tuple[str, float] | None]:
        got = self._skills.query(query_embeddings=vectors, n_results=1, include=["distances"])
        out: list[tuple[str, float] | None] = []
        for ids, dists in zip(got["ids"], got["distances"] or [], strict=False):
            out.append((ids[0], 1.0 - float(dists[0])) if ids else None)
        return out

    @staticmethod
    def _near_in_batch(vec: np.ndarray, others: list[np.ndarray], names: list[str]) -> tuple[str, float]:
        if not others:
            return ("", 0.0)
        sims = np.asarray(others) @ vec / (np.linalg.norm(vec) * np.linalg.norm(others, axis=1) + 1e-12)
        i = int(np.argmax(sims))
        return (names[i], float(sims[i]))

    def _fresh_name(self, name: str, taken: set[str]) -> str:
        candidate, n = name, 1
        while candidate in taken or self._skills.get(ids=[candidate], include=[])["ids"]:
            n += 1
            candidate = f"{name}_{n}"
        return candidate

    def get(self, name: str) -> Skill | None:
        got = self._skills.get(ids=[name], include=["metadatas", "documents"])
        if not got["ids"]:
            return None
        return _skill(got["documents"][0], got["metadatas"][0])

    def count(self) -> int:
        return int(self._skills.count())

    def all_skills(self) -> list[Skill]:
        got = self._skills.get(include=["metadatas", "documents"])
        return [_skill(d, m) for d, m in zip(got["documents"] or [], got["metadatas"] or [], strict=False)]

    def query(self, text: str, k: int = 5, *, origin: str | None = None, min_usage: int = 0,
              exclude: Iterable[str] = ()) -> list[Hit]:
        """Skills whose statement is closest to ``text`` (a formal statement or a request)."""
        return self.query_vector(self.embed([text])[0], k, origin=origin, min_usage=min_usage, exclude=exclude)

    def query_vector(self, vector: np.ndarray, k: int = 5, *, origin: str | None = None, min_usage: int = 0,
                     exclude: Iterable[str] = ()) -> list[Hit]:
        excluded = set(exclude)
        if k <= 0:
            return []
        clauses: list[dict[str, Any]] = []
        if origin:
            clauses.append({"origin": origin})
        if min_usage:
            clauses.append({"times_used": {"$gte": min_usage}})
        where = None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}
        # no count() first: it costs as much as the query at 100k, and Chroma returns fewer when short
        got = self._skills.query(query_embeddings=vector.reshape(1, -1), n_results=k + len(excluded),
                                 where=where, include=["metadatas", "documents", "distances"])
        hits = [Hit(_skill(d, m), 1.0 - float(dist)) for d, m, dist in
                zip(got["documents"][0], got["metadatas"][0], got["distances"][0], strict=False)]
        return [h for h in hits if h.skill.name not in excluded][:k]

    def _bump(self, names: Iterable[str], counter: str, by: int = 1) -> None:
        ids = list(dict.fromkeys(names))
        if not ids:
            return
        with self._writing():
            got = self._skills.get(ids=ids, include=["metadatas"])
            if not got["ids"]:
                return
            self._skills.update(ids=got["ids"], metadatas=[{counter: int(m.get(counter, 0)) + by}
                                                           for m in got["metadatas"]])

    def record_retrieved(self, names: Iterable[str]) -> None:
        self._bump(names, "times_retrieved")

    def record_used(self, names: Iterable[str], *, verbatim: bool) -> None:
        names = list(names)
        self._bump(names, "times_used")
        if verbatim:
            self._bump(names, "times_used_verbatim")

    def record_evolved(self, name: str) -> None:
        self._bump([name], "times_evolved")

    def least_evolved(self, k: int = 1) -> list[Skill]:
        """Skills evolved least often (ties: oldest first): what the directional transformer picks."""
        skills = self.all_skills()
        skills.sort(key=lambda s: (s.times_evolved, s.added_at, s.name))
        return skills[:k]

    # ------------------------------------------------------------------ requests

    def add_requests(self, statements: Sequence[str], source: str) -> list[Request]:
        """Record requested lemma statements (deduplicated by normalised text)."""
        unique = {request_id(s): s.strip() for s in statements if s.strip()}
        if not unique:
            return []
        with self._writing():
            existing = self._requests.get(ids=list(unique), include=["metadatas", "documents"])
            have = dict(zip(existing["ids"], zip(existing["documents"], existing["metadatas"], strict=False),
                            strict=False))
            new = [i for i in unique if i not in have]
            if new:
                self._requests.add(ids=new, embeddings=self.embed([unique[i] for i in new]),
                                   documents=[unique[i] for i in new],
                                   metadatas=[{"source": source, "attempts": 0, "solved_by": "",
                                               "created_at": now_iso()} for _ in new])
        out = []
        for i, statement in unique.items():
            if i in have:
                out.append(_request(i, *have[i]))
            else:
                out.append(Request(i, statement, source, created_at=now_iso()))
        return out

    def get_request(self, rid: str) -> Request | None:
        got = self._requests.get(ids=[rid], include=["metadatas", "documents"])
        return _request(got["ids"][0], got["documents"][0], got["metadatas"][0]) if got["ids"] else None

    def requests(self, *, open_only: bool = False) -> list[Request]:
        got = self._requests.get(include=["metadatas", "documents"])
        out = [_request(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=False)]
        return [r for r in out if r.open] if open_only else out

    def least_tried_request(self, exclude: Iterable[str] = ()) -> Request | None:
        excluded = set(exclude)
        candidates = [r for r in self.requests(open_only=True) if r.id not in excluded]
        return min(candidates, key=lambda r: (r.attempts, r.created_at, r.id), default=None)

    def query_requests(self, text: str, k: int = 3, *, open_only: bool = True) -> list[tuple[Request, float]]:
        total = int(self._requests.count())
        if total == 0 or k <= 0:
            return []
        got = self._requests.query(query_embeddings=self.embed([text]), n_results=min(total, k),
                                   where={"solved_by": ""} if open_only else None,
                                   include=["metadatas", "documents", "distances"])
        return [(_request(i, d, m), 1.0 - float(dist)) for i, d, m, dist in
                zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=False)]

    def record_request_attempt(self, rid: str) -> None:
        with self._writing():
            got = self._requests.get(ids=[rid], include=["metadatas"])
            if got["ids"]:
                self._requests.update(ids=[rid], metadatas=[{"attempts": int(got["metadatas"][0]["attempts"]) + 1}])

    def close_request(self, rid: str, skill: str) -> None:
        with self._writing():
            self._requests.update(ids=[rid], metadatas=[{"solved_by": skill}])

    # ------------------------------------------------------------------ problems

    def add_problems(self, problems: Iterable[tuple[str, str]]) -> int:
        """Target problems for the evolver, as (name, formal statement); returns how many were new."""
        items = dict(problems)
        if not items:
            return 0
        with self._writing():
            have = set(self._problems.get(ids=list(items), include=[])["ids"])
            new = [n for n in items if n not in have]
            if new:
                self._problems.add(ids=new, embeddings=self.embed([items[n] for n in new]),
                                   documents=[items[n] for n in new], metadatas=[{"solved": False} for _ in new])
        return len(new)

    def mark_problem_solved(self, name: str) -> None:
        with self._writing(), contextlib.suppress(Exception):
            self._problems.update(ids=[name], metadatas=[{"solved": True}])

    def query_problems(self, text: str, k: int = 3, *, unsolved_only: bool = True) -> list[tuple[str, str, float]]:
        total = int(self._problems.count())
        if total == 0 or k <= 0:
            return []
        got = self._problems.query(query_embeddings=self.embed([text]), n_results=min(total, k),
                                   where={"solved": False} if unsolved_only else None,
                                   include=["documents", "distances"])
        return [(i, d, 1.0 - float(dist)) for i, d, dist in
                zip(got["ids"][0], got["documents"][0], got["distances"][0], strict=False)]

    # ------------------------------------------------------------------ stats

    def stats(self) -> dict[str, Any]:
        skills = self.all_skills()
        requests = self.requests()
        by_day = Counter(s.added_at[:10] for s in skills)
        growth, running = [], 0
        for day in sorted(by_day):
            running += by_day[day]
            growth.append({"date": day, "added": by_day[day], "total": running})
        evolved = [s for s in skills if s.origin.kind == "evolver"]
        return {
            "skills": len(skills),
            "by_origin": dict(Counter(s.origin.kind for s in skills)),
            "by_direction": dict(Counter(s.origin.direction for s in evolved)),
            "evolved_used_in_proofs": sum(1 for s in evolved if s.times_used > 0),
            "used_in_proofs": sum(1 for s in skills if s.times_used > 0),
            "times_retrieved": sum(s.times_retrieved for s in skills),
            "requests": len(requests),
            "requests_open": sum(1 for r in requests if r.open),
            "requests_solved": sum(1 for r in requests if not r.open),
            "problems": int(self._problems.count()),
            "growth": growth,
        }


def _skill(document: str, meta: dict[str, Any]) -> Skill:
    return Skill(
        name=str(meta["name"]), statement=document, text=str(meta["text"]),
        requires=tuple(x for x in str(meta.get("requires", "")).split("\n") if x),
        description=str(meta.get("description", "")), origin=Origin.from_meta(meta),
        isabelle=str(meta.get("isabelle", "")), session=str(meta.get("session", "")),
        verified_at=str(meta.get("verified_at", "")), content_hash=str(meta.get("content_hash", "")),
        added_at=str(meta.get("added_at", "")), times_retrieved=int(meta.get("times_retrieved", 0)),
        times_used=int(meta.get("times_used", 0)), times_used_verbatim=int(meta.get("times_used_verbatim", 0)),
        times_evolved=int(meta.get("times_evolved", 0)),
        imports=tuple(x for x in str(meta.get("imports", "")).split("\n") if x))


def _request(rid: str, document: str, meta: dict[str, Any]) -> Request:
    return Request(rid, document, str(meta.get("source", "")), int(meta.get("attempts", 0)),
                   str(meta.get("solved_by", "")), str(meta.get("created_at", "")))
