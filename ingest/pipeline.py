"""The ingest pipeline: probe, store, decode, transcribe, build passages, embed, write.

Everything a recording adds to the database is written in one transaction at the end,
so a crash at any point leaves either the whole recording or nothing. The original file
is kept under the data directory by content hash; the same bytes are never ingested twice.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from sqlite_utils import Database

from archive.config import Config
from archive.store import recordings as store
from archive.store import write_transaction
from archive.store.models import VISIBILITIES, Recording, RecordingMeta, Segment
from search.embedder import Embedder, SentenceTransformerEmbedder
from search.index import delete_passages, write_passages

from . import media
from .passages import build_passages, segment_windows
from .transcribe import Transcriber, WhisperTranscriber, build_hints

# progress(step, fraction of the whole ingest done, 0..1)
ProgressCallback = Callable[[str, float], None]
# checkpoint(every segment transcribed so far): called after each new one, to save for a resume
CheckpointCallback = Callable[[list[Segment]], None]


class IngestError(Exception):
    """Bad input for an ingest; the message is for the person who asked."""


@dataclass
class IngestResult:
    recording: Recording
    created: bool  # False when the same bytes were already in the archive
    segments: int = 0
    passages: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per step


class StepTimer:
    """Adds up wall time per pipeline step; steps may be entered many times."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(step, time.perf_counter() - started)

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + seconds

    def timed(self, step: str, items: Iterator) -> Iterator:
        """Pass ``items`` through, counting the time spent producing them as ``step``."""
        iterator = iter(items)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.add(step, time.perf_counter() - started)
                return
            self.add(step, time.perf_counter() - started)
            yield item


def default_transcriber(config: Config) -> WhisperTranscriber:
    return WhisperTranscriber(
        config.whisper_model,
        device=config.whisper_device,
        compute_type=config.whisper_compute_type,
        beam_size=config.whisper_beam_size,
        threads=config.whisper_threads,
        language=config.whisper_language,
    )


def default_embedder(config: Config) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(config.embedding_model)


def normalize_date(value: str | None) -> str | None:
    """``YYYY-MM-DD`` or None; anything else is an IngestError."""
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise IngestError(f"date {value!r} is not a date in the form YYYY-MM-DD") from None


def title_from_filename(path: Path) -> str:
    words = re.sub(r"[_\-.]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else "Untitled talk"


def media_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".media"


def store_original(source: Path, digest: str, media_dir: Path, suffix: str) -> tuple[str, bool]:
    """Copy ``source`` to ``<media_dir>/<ab>/<sha256><suffix>``; returns (path under the data dir, newly written)."""
    target = media_dir / digest[:2] / f"{digest}{suffix}"
    relative = str(Path(media_dir.name) / target.relative_to(media_dir))
    if target.exists():
        return relative, False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with open(source, "rb") as src, open(partial, "wb") as dst:
            fcntl.flock(dst.fileno(), fcntl.LOCK_EX)  # start-up cleanup leaves a held partial file alone
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return relative, True


def ingest_file(
    db: Database,
    config: Config,
    path: Path | str,
    meta: RecordingMeta,
    *,
    transcriber: Transcriber | None = None,
    embedder: Embedder | None = None,
    progress: ProgressCallback | None = None,
    original_filename: str = "",
    resume: Sequence[Segment] = (),
    checkpoint: CheckpointCallback | None = None,
) -> IngestResult:
    """Ingest one recording and return it. Raises IngestError (or media.MediaError) for bad input.

    ``original_filename`` names the file when ``path`` is a generated name (a web upload).
    ``resume`` is what an interrupted attempt saved through ``checkpoint``: transcription
    goes on after its last segment.
    """
    path = Path(path)
    original_filename = original_filename or path.name
    report = progress or (lambda step, fraction: None)
    timer = StepTimer()
    meta = RecordingMeta(**{**meta.__dict__})  # never change the caller's copy
    meta.date = normalize_date(meta.date)
    if meta.visibility not in VISIBILITIES:
        raise IngestError(f"visibility must be one of: {', '.join(VISIBILITIES)}")
    meta.title = " ".join(meta.title.split()) or title_from_filename(Path(original_filename))

    with timer("probe"):
        info = media.probe(path)
    report("probe", 0.0)

    with timer("store"):
        digest = media.file_sha256(path)
        existing = store.get_recording_by_hash(db, digest)
        if existing:
            return IngestResult(existing, created=False, timings=timer.seconds)
        media_path, wrote_file = store_original(path, digest, config.media_dir, media_suffix(Path(original_filename)))

    try:
        transcriber = transcriber or default_transcriber(config)
        embedder = embedder or default_embedder(config)
        hints = hints_for(db, meta)
        segments = transcribe_file(path, info, transcriber, hints, timer, report, resume, checkpoint)
        passages = build_passages(segments)
        with timer("embed"):
            vectors, window_vectors, _ = embed_index(embedder, passages, segments)
        report("embed", 0.97)
        # IMMEDIATE: take the write lock before reading. A deferred transaction that reads and
        # then writes fails at once ("database is locked") if any search logged meanwhile.
        with timer("write"), write_transaction(db):
            already = store.get_recording_by_hash(db, digest)  # another worker got there first
            if already:
                return IngestResult(already, created=False, timings=timer.seconds)
            recording_id = store.insert_recording(
                db,
                meta,
                duration=info.duration,
                media_path=media_path,
                media_hash=digest,
                media_kind=info.kind,
                original_filename=original_filename,
                language=config.whisper_language or "",
                model=transcriber.model_name,
            )
            store.insert_segments(db, recording_id, segments)
            write_passages(db, recording_id, passages, vectors, embedder.model_name, window_vectors)
    except BaseException:
        if wrote_file and not store.get_recording_by_hash(db, digest):
            (config.data_dir / media_path).unlink(missing_ok=True)
        raise
    report("done", 1.0)
    return IngestResult(
        store.get_recording(db, recording_id),
        created=True,
        segments=len(segments),
        passages=len(passages),
        timings=timer.seconds,
    )


def hints_for(db: Database, meta: RecordingMeta) -> str:
    """Whisper's hints for a talk: its speakers, organisation and vocabulary, and the archive's glossary.

    Names and terms only: with the title in the prompt, tiny.en skipped whole stretches of
    speech on the benchmark (WER 27% against 5%; README, "Transcription settings").
    """
    return build_hints([*meta.speakers, meta.organization, *meta.vocab, *store.glossary_terms(db)])


def transcribe_file(
    path: Path,
    info: media.MediaInfo,
    transcriber: Transcriber,
    hints: str,
    timer: StepTimer,
    report: ProgressCallback,
    resume: Sequence[Segment] = (),
    checkpoint: CheckpointCallback | None = None,
) -> list[Segment]:
    """The recording's segments; with ``resume``, only the audio after the last of them is transcribed."""
    resume_at = resume[-1].end if resume else 0.0
    decoded = resume_at

    def counted(chunks):
        nonlocal decoded
        for chunk in chunks:
            decoded += len(chunk) / media.SAMPLE_RATE
            yield chunk

    chunks = media.decode(path)
    if resume_at:
        chunks = media.skip_to(chunks, resume_at)
    audio = timer.timed("decode", media.slices(counted(chunks), start_seconds=resume_at))
    segments: list[Segment] = list(resume)
    started = time.perf_counter()
    before = timer.seconds.get("decode", 0.0)
    for segment in transcriber.transcribe(audio, hints):
        segments.append(segment)
        report("transcribe", min(0.95, 0.95 * segment.end / max(info.duration, 1e-6)))
        if checkpoint:
            checkpoint(segments)
    timer.add("transcribe", time.perf_counter() - started - (timer.seconds.get("decode", 0.0) - before))
    if info.duration > 1 and decoded < info.duration * media.TRUNCATION_TOLERANCE:
        raise media.MediaError(
            path, f"the file is cut off (it claims {info.duration:.0f} s but the audio stops at {decoded:.0f} s)"
        )
    return segments


def embed_index(embedder: Embedder, passages, segments, known: dict[str, np.ndarray] | None = None) -> tuple:
    """Vectors for the passages and for each segment's window, embedded in one batched call.

    Texts found in ``known`` (text -> vector, from ``stored_vectors``) keep their vector and
    are not embedded again. Returns (passage vectors, window vectors, how many texts were embedded).
    """
    texts = [p.text for p in passages] + segment_windows(segments)
    if not texts:
        return [], [], 0
    vectors_of = dict(known or {})
    missing = [t for t in dict.fromkeys(texts) if t not in vectors_of]
    if missing:
        vectors_of.update(zip(missing, embedder.embed(missing)))
    vectors = np.stack([vectors_of[t] for t in texts]).astype(np.float32, copy=False)
    return vectors[: len(passages)], vectors[len(passages) :], len(missing)


def stored_vectors(db: Database, recording_id: int, segments: list[Segment], model_name: str) -> dict[str, np.ndarray]:
    """Text -> vector for the passages and segment windows stored now for this recording.

    ``segments`` must be the transcript those vectors were made from; vectors of another model are left out.
    """
    known: dict[str, np.ndarray] = {}
    for text, blob in db.execute(
        """SELECT p.text, v.embedding FROM passages p JOIN passage_vectors v ON v.passage_id = p.id
           WHERE p.recording_id = ? AND v.model = ?""",
        [recording_id, model_name],
    ):
        known[text] = np.frombuffer(blob, dtype=np.float32)
    windows = segment_windows(segments)
    for idx, blob in db.execute(
        "SELECT idx, embedding FROM segment_vectors WHERE recording_id = ? AND model = ?", [recording_id, model_name]
    ):
        if idx < len(windows):
            known.setdefault(windows[idx], np.frombuffer(blob, dtype=np.float32))
    return known


def reindex_recording(db: Database, recording_id: int, embedder: Embedder) -> int:
    """Rebuild one recording's passages, FTS rows and vectors from its stored segments."""
    segments = store.get_segments(db, recording_id)
    passages = build_passages(segments)
    vectors, window_vectors, _ = embed_index(embedder, passages, segments)
    with db.atomic():
        delete_passages(db, recording_id)
        write_passages(db, recording_id, passages, vectors, embedder.model_name, window_vectors)
    return len(passages)
