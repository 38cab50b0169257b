"""Passage vectors held in memory for semantic search, kept in step with the database.

SQLite stays the source of truth (``passage_vectors``). A ``VectorIndex`` is an immutable
snapshot of one embedding model's vectors in one database: a float32 matrix with the passage
and recording id of each row. Every write to a talk's index logs a row in ``index_changes``
(``search.index.log_index_change``); before each search the snapshot reads the log since its
own generation and reloads the vectors of exactly the recordings that changed, so a web
server finds a talk another process ingested, corrected or took down on its very next query.
Passage ids are reused when a talk is rewritten, so "which ids are new" cannot tell a
changed vector from an old one; the log can. A database replaced by another (a restore, a
copy) lacks the snapshot's (generation, token) and the snapshot is rebuilt from scratch.

``bench/bench_search.py`` measured this against sqlite-vec: see the README, "Search".
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
from sqlite_utils import Database

# (generation, token) of the newest logged change; (0, "") before any.
Head = tuple[int, str]


@dataclass
class VectorHits:
    passage_ids: np.ndarray  # int64, best first
    scores: np.ndarray  # float32 cosine similarities


def index_head(db: Database) -> Head:
    row = db.execute("SELECT generation, token FROM index_changes ORDER BY generation DESC LIMIT 1").fetchone()
    return (row[0], row[1]) if row else (0, "")


def changed_since(db: Database, head: Head) -> list[int] | None:
    """Recordings whose vectors changed after ``head``; None when ``head`` is not in this database's history."""
    generation, token = head
    if generation:
        row = db.execute("SELECT token FROM index_changes WHERE generation = ?", [generation]).fetchone()
        if row is None or row[0] != token:
            return None
    rows = db.execute("SELECT DISTINCT recording_id FROM index_changes WHERE generation > ?", [generation]).fetchall()
    return [r[0] for r in rows]


class VectorIndex:
    """A snapshot of one model's passage vectors: a matrix with the passage and recording id of each row.

    Snapshots never change once built; ``updated`` returns a new one, so a search running
    in another thread keeps a consistent view.
    """

    def __init__(
        self,
        model: str,
        passage_ids: np.ndarray | None = None,
        recording_ids: np.ndarray | None = None,
        matrix: np.ndarray | None = None,
        head: Head | None = None,
    ):
        self.model = model
        self.passage_ids = passage_ids if passage_ids is not None else np.zeros(0, dtype=np.int64)
        self.recording_ids = recording_ids if recording_ids is not None else np.zeros(0, dtype=np.int64)
        self.matrix = matrix if matrix is not None else np.zeros((0, 0), dtype=np.float32)
        self.head = head
        self._row_of = {int(pid): i for i, pid in enumerate(self.passage_ids)}

    def __len__(self) -> int:
        return len(self.passage_ids)

    def updated(self, db: Database) -> VectorIndex:
        """This snapshot if nothing changed since, else a new one with the changed recordings reloaded.

        Call inside the read transaction the search runs in, so the snapshot and the rows the
        search reads next are of one moment.
        """
        head = index_head(db)
        if head == self.head:
            return self
        changed = changed_since(db, self.head) if self.head is not None else None
        if changed is None:
            ids, recordings, matrix = _read_vectors(db, self.model, None)
            return VectorIndex(self.model, ids, recordings, matrix, head)
        keep = ~np.isin(self.recording_ids, changed)
        ids, recordings, matrix = _read_vectors(db, self.model, changed)
        kept = self.matrix[keep]
        if not len(kept):
            kept = np.zeros((0, matrix.shape[1]), np.float32)
        elif not len(matrix):
            matrix = np.zeros((0, kept.shape[1]), np.float32)
        return VectorIndex(
            self.model,
            np.concatenate([self.passage_ids[keep], ids]),
            np.concatenate([self.recording_ids[keep], recordings]),
            np.ascontiguousarray(np.vstack([kept, matrix])),
            head,
        )

    def search(self, query: np.ndarray, k: int, recording_ids: np.ndarray | None = None) -> VectorHits:
        """The ``k`` passages most similar to ``query``, optionally only from ``recording_ids``."""
        if not len(self) or k <= 0:
            return VectorHits(np.zeros(0, np.int64), np.zeros(0, np.float32))
        scores = _matvec(self.matrix, query)
        if recording_ids is not None:
            scores = np.where(np.isin(self.recording_ids, recording_ids), scores, -np.inf)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[np.isfinite(scores[top])]
        return VectorHits(self.passage_ids[top], scores[top])

    def similarity(self, query: np.ndarray, passage_ids: list[int]) -> dict[int, float]:
        """Cosine similarity of ``query`` to each of ``passage_ids`` that has a vector."""
        rows = [(pid, self._row_of[pid]) for pid in passage_ids if pid in self._row_of]
        if not rows:
            return {}
        scores = _matvec(self.matrix[[r for _, r in rows]], query)
        return {pid: float(s) for (pid, _), s in zip(rows, scores, strict=True)}

    def vector(self, passage_id: int) -> np.ndarray | None:
        row = self._row_of.get(passage_id)
        return None if row is None else self.matrix[row]


_blas = None


def _matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` on one BLAS thread.

    The product is bound by memory, not arithmetic, and BLAS threads left spinning after it
    starve torch's threads embedding the next query: on 2 cores that made the 95th-percentile
    hybrid search 113 ms instead of 39 ms (bench/bench_search.py, 100,000 passages).
    """
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    with _blas.limit(limits=1, user_api="blas"):
        return matrix @ vector.astype(np.float32)


def _read_vectors(
    db: Database, model: str, recording_ids: list[int] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Passage ids, recording ids and the matrix of ``model``'s vectors (of ``recording_ids``, or all)."""
    sql = "SELECT passage_id, recording_id, embedding FROM passage_vectors WHERE model = ?"
    params: list = [model]
    if recording_ids is not None:
        sql += " AND recording_id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(recording_ids))
    ids, recordings, blobs = [], [], []
    for pid, rid, blob in db.execute(sql + " ORDER BY passage_id", params):
        ids.append(pid)
        recordings.append(rid)
        blobs.append(blob)
    if not blobs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
    return np.array(ids, np.int64), np.array(recordings, np.int64), matrix
