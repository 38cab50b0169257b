"""A talk's search index, built one way for every change: ingest, reindex, corrections, takedowns.

The index of a talk is derived from its transcript: overlapping passages (``search.passages``)
with their FTS5 rows (kept by triggers) and vectors, and one vector per segment window. It is
made in two steps:

1. ``prepare_index``: pure work outside any lock — passages, windows and embeddings, reusing
   the stored vector of every text that did not change, so a one-line correction embeds a few
   texts, not the talk.
2. ``write_index``: inside the caller's write transaction — delete the talk's old rows, write
   the new ones, and log the change so every process's in-memory vectors catch up (``search.vectors``).

``reindex_talk`` ties them together for a talk already in the archive: it reads the transcript,
applies an optional change to it, prepares, and then writes only if the transcript is still the
one it read (another edit meanwhile makes it start again from that one), so no edit is lost and
nothing is indexed from stale text.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlite_utils import Database

from archive.core.errors import Conflict, NotFound, present
from archive.core.store import recordings as store
from archive.core.store import write_transaction
from archive.core.store.records import Passage, Segment
from search.embedder import Embedder
from search.passages import build_passages, segment_windows
from search.text import language_stems

# Tries when another writer changes the same transcript between our read and our write.
ATTEMPTS = 3

# A change to a transcript: the segments it had -> the segments it will have (pure).
TranscriptChange = Callable[[list[Segment]], list[Segment]]


@dataclass
class PreparedIndex:
    """Everything a talk's index holds, made from ``segments`` and ready to write."""

    segments: list[Segment]
    passages: list[Passage]
    passage_vectors: np.ndarray
    window_vectors: np.ndarray  # one per segment: the text starting at that segment
    model: str
    embedded: int  # texts embedded for this index (the others reused stored vectors)
    title: str = ""  # the talk's title, which the document prompt names


def prepare_index(
    segments: Sequence[Segment], embedder: Embedder, known: dict[str, np.ndarray] | None = None, *, title: str = ""
) -> PreparedIndex:
    """Passages and window texts of ``segments``, embedded in one batch, as passages of the talk ``title``.

    Texts found in ``known`` (text -> vector, from ``stored_vectors`` for the same title) keep their vector.
    """
    segments = list(segments)
    passages = build_passages(segments)
    texts = [p.text for p in passages] + segment_windows(segments)
    vectors_of = dict(known or {})
    missing = [t for t in dict.fromkeys(texts) if t not in vectors_of]
    if missing:
        vectors_of.update(zip(missing, embedder.embed_documents(missing, title=title), strict=True))
    if texts:
        vectors = np.stack([vectors_of[t] for t in texts]).astype(np.float32, copy=False)
    else:
        vectors = np.zeros((0, 0), dtype=np.float32)
    return PreparedIndex(
        segments=segments,
        passages=passages,
        passage_vectors=vectors[: len(passages)],
        window_vectors=vectors[len(passages) :],
        model=embedder.model_name,
        embedded=len(missing),
        title=title,
    )


def stored_vectors(
    db: Database, recording_id: int, segments: Sequence[Segment], model: str, title: str = ""
) -> dict[str, np.ndarray]:
    """Text -> vector for the passages and segment windows stored now for this recording.

    ``segments`` must be the transcript those vectors were made from; vectors of another model,
    or embedded under another title, are left out.
    """
    known: dict[str, np.ndarray] = {}
    for text, blob in db.execute(
        """SELECT p.text, v.embedding FROM passages p JOIN passage_vectors v ON v.passage_id = p.id
           WHERE p.recording_id = ? AND v.model = ? AND coalesce(v.title, '') = ?""",
        [recording_id, model, title],
    ):
        known[text] = np.frombuffer(blob, dtype=np.float32)
    windows = segment_windows(segments)
    for idx, blob in db.execute(
        "SELECT idx, embedding FROM segment_vectors WHERE recording_id = ? AND model = ? AND coalesce(title, '') = ?",
        [recording_id, model, title],
    ):
        if idx < len(windows):
            known.setdefault(windows[idx], np.frombuffer(blob, dtype=np.float32))
    return known


def write_index(db: Database, recording_id: int, prepared: PreparedIndex) -> None:
    """Replace the recording's passages, FTS rows and vectors with ``prepared``. Call inside its write transaction."""
    delete_index(db, recording_id)
    for passage, vector in zip(prepared.passages, prepared.passage_vectors, strict=True):
        passage_id = present(
            db.table("passages")
            .insert(
                {
                    "recording_id": recording_id,
                    "idx": passage.idx,
                    "first_segment": passage.first_segment,
                    "last_segment": passage.last_segment,
                    "start": passage.start,
                    "end": passage.end,
                    "text": passage.text,
                    "stems": passage_stems(prepared.segments[passage.first_segment : passage.last_segment + 1]),
                }
            )
            .last_pk
        )
        db.table("passage_vectors").insert(
            {
                "passage_id": passage_id,
                "recording_id": recording_id,
                "model": prepared.model,
                "embedding": _blob(vector),
                "title": prepared.title,
            }
        )
    db.table("segment_vectors").insert_all(
        {
            "recording_id": recording_id,
            "idx": idx,
            "model": prepared.model,
            "embedding": _blob(vector),
            "title": prepared.title,
        }
        for idx, vector in enumerate(prepared.window_vectors)
    )


def passage_stems(segments: Sequence[Segment]) -> str | None:
    """The words of the lines in a language other than English, stemmed in it (None if none)."""
    stems = [s for segment in segments for s in language_stems(segment.text, segment.language)]
    return " ".join(stems) or None


def delete_index(db: Database, recording_id: int) -> None:
    """Remove a recording's passages, vectors and FTS rows (the triggers keep FTS in step)."""
    log_index_change(db, recording_id)
    db.execute("DELETE FROM segment_vectors WHERE recording_id = ?", [recording_id])
    db.execute("DELETE FROM passage_vectors WHERE recording_id = ?", [recording_id])
    db.execute("DELETE FROM passages WHERE recording_id = ?", [recording_id])


def log_index_change(db: Database, recording_id: int) -> None:
    """Note that this recording's vectors changed (``search.vectors`` reloads them). Call inside the transaction.

    Each change gets the next generation number and a random token: a process whose snapshot
    was taken at generation N of *this* database finds (N, token) still there; a database
    replaced by another one (a restore, a copy) does not have it, and the snapshot is rebuilt.
    """
    db.execute("INSERT INTO index_changes (recording_id, token) VALUES (?, ?)", [recording_id, secrets.token_hex(8)])


def reindex_talk(
    db: Database,
    recording_id: int,
    embedder: Embedder,
    change: TranscriptChange | None = None,
    *,
    also: Callable[[Database], None] | None = None,
) -> PreparedIndex:
    """Apply ``change`` to a talk's transcript (none: keep it) and rebuild its index, in one transaction.

    Embedding happens before the write lock is taken; the write happens only if the transcript is
    still the one read (else it starts again from the new one). ``also(db)`` runs inside the same
    transaction (a takedown points the talk at its silenced media there).
    """
    for _ in range(ATTEMPTS):
        recording = store.get_recording(db, recording_id)
        if recording is None:
            raise NotFound(f"there is no recording {recording_id}")
        before = store.get_segments(db, recording_id)
        after = change(list(before)) if change else before
        known = stored_vectors(db, recording_id, before, embedder.model_name, recording.title)
        prepared = prepare_index(after, embedder, known, title=recording.title)
        with write_transaction(db):
            current = store.get_recording(db, recording_id)
            if current is None or current.title != recording.title or store.get_segments(db, recording_id) != before:
                continue  # someone else changed this talk meanwhile: start again from theirs
            if after != before:
                store.replace_segments(db, recording_id, after)
            write_index(db, recording_id, prepared)
            if also:
                also(db)
        return prepared
    raise Conflict("the transcript kept changing while saving; reload the page and try again")


def rebuild_fts(db: Database) -> None:
    """Rebuild the FTS5 table from ``passages`` (for ``archive reindex``)."""
    db.table("passages").rebuild_fts()


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()
