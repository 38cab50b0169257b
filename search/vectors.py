"""Passage vectors held in memory for semantic search, kept in step with the database.

SQLite stays the source of truth (``passage_vectors``). Each process keeps one float32
matrix per database file and checks a generation number in ``archive_meta`` before every
search; any write to the index bumps it (``search.index``), so a web server sees a talk
another process ingested on its very next query. Only the changed rows are read back.
``bench/search.py`` measured this against sqlite-vec: see the README, "Search".
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlite_utils import Database

GENERATION_KEY = "index_generation"


def index_generation(db: Database) -> str:
    row = db.execute("SELECT value FROM archive_meta WHERE key = ?", [GENERATION_KEY]).fetchone()
    return row[0] if row else "0"


def bump_generation(db: Database) -> None:
    """Mark the vectors as changed; call inside the transaction that changes them."""
    db.execute(
        "INSERT INTO archive_meta (key, value) VALUES (?, '1') "
        "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        [GENERATION_KEY],
    )


@dataclass
class VectorHits:
    passage_ids: np.ndarray  # int64, best first
    scores: np.ndarray  # float32 cosine similarities


class VectorIndex:
    """A snapshot of all passage vectors of one database: a matrix with passage and recording ids.

    Snapshots never change once built; ``updated`` returns a new one, so a search running
    in another thread keeps a consistent view.
    """

    def __init__(
        self,
        passage_ids: np.ndarray | None = None,
        recording_ids: np.ndarray | None = None,
        matrix: np.ndarray | None = None,
        generation: str | None = None,
    ):
        self.passage_ids = passage_ids if passage_ids is not None else np.zeros(0, dtype=np.int64)
        self.recording_ids = recording_ids if recording_ids is not None else np.zeros(0, dtype=np.int64)
        self.matrix = matrix if matrix is not None else np.zeros((0, 0), dtype=np.float32)
        self.generation = generation
        self._row_of = {int(pid): i for i, pid in enumerate(self.passage_ids)}

    def __len__(self) -> int:
        return len(self.passage_ids)

    def updated(self, db: Database) -> "VectorIndex":
        """This snapshot if ``passage_vectors`` has not changed since, else a new one (reading only new rows)."""
        generation = index_generation(db)
        if generation == self.generation:
            return self
        current = np.array(
            [row[0] for row in db.execute("SELECT passage_id FROM passage_vectors ORDER BY passage_id")],
            dtype=np.int64,
        )
        keep = np.isin(self.passage_ids, current)
        new_ids, new_recordings, new_matrix = _read_vectors(db, current[~np.isin(current, self.passage_ids)])
        kept = self.matrix[keep]
        if len(new_matrix) and kept.shape[1] != new_matrix.shape[1]:
            if len(kept):  # another embedding model: start again from the table
                return VectorIndex().updated(db)
            kept = np.zeros((0, new_matrix.shape[1]), np.float32)
        return VectorIndex(
            np.concatenate([self.passage_ids[keep], new_ids]),
            np.concatenate([self.recording_ids[keep], new_recordings]),
            np.ascontiguousarray(np.vstack([kept, new_matrix]) if len(new_matrix) else kept),
            generation,
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
        top = top[np.argsort(-scores[top])]
        top = top[np.isfinite(scores[top])]
        return VectorHits(self.passage_ids[top], scores[top])

    def similarity(self, query: np.ndarray, passage_ids: list[int]) -> dict[int, float]:
        """Cosine similarity of ``query`` to each of ``passage_ids`` that has a vector."""
        rows = [(pid, self._row_of[pid]) for pid in passage_ids if pid in self._row_of]
        if not rows:
            return {}
        scores = _matvec(self.matrix[[r for _, r in rows]], query)
        return {pid: float(s) for (pid, _), s in zip(rows, scores)}

    def vector(self, passage_id: int) -> np.ndarray | None:
        row = self._row_of.get(passage_id)
        return None if row is None else self.matrix[row]


_blas = None


def _matvec(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``matrix @ vector`` on one BLAS thread.

    The product is bound by memory, not arithmetic, and BLAS threads left spinning after it
    starve torch's threads embedding the next query: on 2 cores that made the 95th-percentile
    hybrid search 113 ms instead of 39 ms (bench/search.py, 100,000 passages).
    """
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    with _blas.limit(limits=1, user_api="blas"):
        return matrix @ vector.astype(np.float32)


def _read_vectors(db: Database, passage_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids, recordings, blobs = [], [], []
    wanted = passage_ids.tolist()
    for start in range(0, len(wanted), 10_000):
        chunk = wanted[start : start + 10_000]
        for pid, rid, blob in db.execute(
            "SELECT passage_id, recording_id, embedding FROM passage_vectors "
            "WHERE passage_id IN (SELECT value FROM json_each(?))",
            [json.dumps(chunk)],
        ):
            ids.append(pid)
            recordings.append(rid)
            blobs.append(blob)
    if not blobs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
    return np.array(ids, np.int64), np.array(recordings, np.int64), matrix


_indexes: dict[str, VectorIndex] = {}
_indexes_lock = threading.Lock()


def vector_index(db: Database) -> VectorIndex:
    """This process's up-to-date index for the database ``db`` is connected to."""
    filename = _database_file(db)
    key = str(Path(filename).resolve()) if filename else f"memory:{id(db)}"
    with _indexes_lock:
        index = _indexes.get(key) or VectorIndex()
        _indexes[key] = index = index.updated(db)
        return index


def _database_file(db: Database) -> str:
    for _, name, filename in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return filename
    return ""
