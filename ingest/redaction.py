"""Takedowns: remove a time range of a talk at its presenter's request, everywhere at once.

The lines spoken in the range leave the transcript (and with it captions, exports and the
search index, which is rebuilt for that talk); the served media gets the range silenced
(audio re-encoded with the span muted by FFmpeg, video copied as it is). The unredacted
file is deleted unless an admin chose to keep it, and every takedown is logged.
"""

from __future__ import annotations

from pathlib import Path

from sqlite_utils import Database

from archive.core.config import Config
from archive.core.errors import UserError, present
from archive.core.store import recordings as store
from archive.core.store.records import Segment
from archive.core.timecode import clock
from ingest import media
from ingest.chapters import refresh_outline
from ingest.companion_kinds import cut_companions
from search.embedder import Embedder
from search.index import reindex_talk


class RedactionError(UserError):
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
        raise RedactionError(
            f"the range must start before it ends, within the talk's {clock(recording.duration, always_hours=False)}"
        )
    end = min(end, recording.duration)

    old_path = config.data_dir / recording.media_path
    count = db.execute("SELECT count(*) FROM redactions WHERE recording_id = ?", [recording_id]).fetchone()[0]
    suffix = old_path.suffix if old_path.suffix != ".media" else ".mkv"
    new_path = old_path.with_name(f"{recording.media_hash}-redacted-{count + 1}{suffix}")
    partial = new_path.with_name(f".{new_path.stem}.partial{suffix}")
    served = str(new_path.relative_to(config.data_dir))
    silence_range(old_path, partial, start, end)
    try:
        media.probe(partial)  # the re-encoded file must play before it replaces the original
        partial.replace(new_path)
        removed = 0

        def drop_range(segments: list[Segment]) -> list[Segment]:
            nonlocal removed
            kept = [s for s in segments if s.end <= start or s.start >= end]
            removed = len(segments) - len(kept)
            return kept

        def serve_silenced_and_log(tx: Database) -> None:
            store.set_media_path(tx, recording_id, served)
            store.replace_speech_gaps(
                tx, recording_id, [g for g in store.speech_gaps(tx, recording_id) if g.end <= start or g.start >= end]
            )
            cut_companions(tx, recording_id, start, end)  # the chat's messages, the slides that come up there
            # So does a chapter (its title may quote what was removed); an automatic outline is made again below.
            store.replace_chapters(
                tx,
                recording_id,
                [c for c in store.chapters(tx, recording_id) if not start <= c.start < end],
                edited=present(store.get_recording(tx, recording_id)).chapters_edited,
            )
            tx.table("redactions").insert(
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

        # Overwrite deleted text in the database file itself, not only unlink it from the tables.
        db.execute("PRAGMA secure_delete = ON")
        try:
            reindex_talk(db, recording_id, embedder, drop_range, also=serve_silenced_and_log)
        finally:
            db.execute("PRAGMA secure_delete = OFF")
    except BaseException:
        partial.unlink(missing_ok=True)
        if present(store.get_recording(db, recording_id)).media_path != served:
            new_path.unlink(missing_ok=True)
        raise
    if not keep_original:
        old_path.unlink(missing_ok=True)
    refresh_outline(db, recording_id)
    return removed
