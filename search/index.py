"""Writing the search index: passages (with their FTS5 rows, kept by triggers) and vectors."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sqlite_utils import Database

from archive.store.models import Passage

from .vectors import bump_generation


def write_passages(
    db: Database,
    recording_id: int,
    passages: Sequence[Passage],
    vectors: np.ndarray,
    model_name: str,
    segment_vectors: np.ndarray | None = None,
) -> None:
    """Store a recording's passages, their vectors and its segment vectors (one per segment,
    from ``ingest.passages.segment_windows``). Call inside the recording's transaction."""
    if len(passages) != len(vectors):
        raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
    bump_generation(db)
    for passage, vector in zip(passages, vectors):
        passage_id = db["passages"].insert(
            {
                "recording_id": recording_id,
                "idx": passage.idx,
                "first_segment": passage.first_segment,
                "last_segment": passage.last_segment,
                "start": passage.start,
                "end": passage.end,
                "text": passage.text,
            }
        ).last_pk
        db["passage_vectors"].insert(
            {
                "passage_id": passage_id,
                "recording_id": recording_id,
                "model": model_name,
                "embedding": np.asarray(vector, dtype=np.float32).tobytes(),
            }
        )
    if segment_vectors is not None and len(segment_vectors):
        db["segment_vectors"].insert_all(
            {
                "recording_id": recording_id,
                "idx": idx,
                "model": model_name,
                "embedding": np.asarray(vector, dtype=np.float32).tobytes(),
            }
            for idx, vector in enumerate(segment_vectors)
        )


def delete_passages(db: Database, recording_id: int) -> None:
    """Remove a recording's passages, vectors and FTS rows (the triggers keep FTS in step)."""
    bump_generation(db)
    db.execute("DELETE FROM segment_vectors WHERE recording_id = ?", [recording_id])
    db.execute("DELETE FROM passage_vectors WHERE recording_id = ?", [recording_id])
    db.execute("DELETE FROM passages WHERE recording_id = ?", [recording_id])


def rebuild_fts(db: Database) -> None:
    """Rebuild the FTS5 table from ``passages`` (for ``archive reindex``)."""
    db["passages"].rebuild_fts()
