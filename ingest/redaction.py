"""Takedowns: remove a time range of a talk at its presenter's request, everywhere at once.

The lines spoken in the range leave the transcript (and with it captions, exports and the
search index, which is rebuilt for that talk); the served media gets the range silenced
(audio re-encoded with the span muted by FFmpeg, video copied as it is). The unredacted
file is deleted unless an admin chose to keep it, and every takedown is logged.
"""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from archive.config import Config
from archive.store import recordings as store
from archive.store import write_transaction
from search.embedder import Embedder
from search.index import delete_passages, write_passages

from . import media
from .passages import build_passages
from .pipeline import embed_index, stored_vectors


class RedactionError(ValueError):
    """A takedown that cannot be done as asked; the message is for the person who asked."""


def silence_range(source: Path, target: Path, start: float, end: float) -> None:
    """Write ``source`` to ``target`` with its audio silent from ``start`` to ``end`` seconds.

    FFmpeg's command line is the clearest tool for this: one volume filter, the video
    stream copied untouched, every container FFmpeg writes. The binary comes from
    imageio-ffmpeg, so no system package is needed.
    """
    import ffmpeg
    import imageio_ffmpeg

    mute = f"volume=enable='between(t,{start:.3f},{end:.3f})':volume=0"
    stream = ffmpeg.input(str(source)).output(str(target), af=mute, vcodec="copy", map_metadata=0)
    try:
        stream.overwrite_output().run(cmd=imageio_ffmpeg.get_ffmpeg_exe(), quiet=True)
    except ffmpeg.Error as exc:
        target.unlink(missing_ok=True)
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no details"]
        raise RedactionError(f"FFmpeg could not re-encode the audio ({detail[0]})") from None


def redact_range(
    db: Database,
    config: Config,
    recording_id: int,
    start: float,
    end: float,
    *,
    reason: str,
    user_email: str,
    keep_original: bool,
    embedder: Embedder,
) -> int:
    """Remove ``start``..``end`` seconds from a recording; returns how many transcript lines went."""
    recording = store.get_recording(db, recording_id)
    if recording is None:
        raise RedactionError(f"there is no recording {recording_id}")
    if not (0 <= start < end) or start >= recording.duration:
        raise RedactionError(f"the range must start before it ends, within the talk's {recording.duration:.0f} s")
    end = min(end, recording.duration)

    old_path = config.data_dir / recording.media_path
    count = db.execute("SELECT count(*) FROM redactions WHERE recording_id = ?", [recording_id]).fetchone()[0]
    suffix = old_path.suffix if old_path.suffix != ".media" else ".mkv"
    new_path = old_path.with_name(f"{recording.media_hash}-redacted-{count + 1}{suffix}")
    partial = new_path.with_name(f".{new_path.stem}.partial{suffix}")
    silence_range(old_path, partial, start, end)
    try:
        media.probe(partial)  # the re-encoded file must play before it replaces the original
        partial.replace(new_path)
        removed = _remove_lines(db, recording_id, start, end, embedder, new_path.relative_to(config.data_dir))
        with db.atomic():
            db["redactions"].insert(
                {
                    "recording_id": recording_id,
                    "start": start,
                    "end": end,
                    "reason": reason,
                    "user_email": user_email,
                    "created_at": store.utc_now(),
                    "original_path": recording.media_path if keep_original else None,
                }
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        if store.get_recording(db, recording_id).media_path != str(new_path.relative_to(config.data_dir)):
            new_path.unlink(missing_ok=True)
        raise
    if not keep_original:
        old_path.unlink(missing_ok=True)
    return removed


def _remove_lines(db: Database, recording_id: int, start: float, end: float, embedder: Embedder, media_path) -> int:
    """Drop every line overlapping the range, re-index the talk, and point it at the silenced media."""
    segments = store.get_segments(db, recording_id)
    kept = [s for s in segments if s.end <= start or s.start >= end]
    known = stored_vectors(db, recording_id, segments, embedder.model_name)
    passages = build_passages(kept)
    vectors, window_vectors, _ = embed_index(embedder, passages, kept, known)
    # Overwrite deleted text in the database file itself, not only unlink it from the tables.
    db.execute("PRAGMA secure_delete = ON")
    try:
        with write_transaction(db):
            db.execute("DELETE FROM segments WHERE recording_id = ?", [recording_id])
            store.insert_segments(db, recording_id, kept)  # corrected lines keep what Whisper wrote
            delete_passages(db, recording_id)
            write_passages(db, recording_id, passages, vectors, embedder.model_name, window_vectors)
            db.execute("UPDATE recordings SET media_path = ? WHERE id = ?", [str(media_path), recording_id])
    finally:
        db.execute("PRAGMA secure_delete = OFF")
    return len(segments) - len(kept)

