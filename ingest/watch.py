"""A drop folder: recordings that appear in it are queued for ingest once they stop growing.

``archive watch DIR`` runs ``DropFolder.watch``. A file is taken when its size and modification
time have not changed for ``settle_seconds`` (a copy or a Zoom download in progress is left
alone), with the companion files of the same base name (each kind's suffix in
``ingest.companion_kinds``: ``talk.vtt`` the meeting's Zoom or Teams transcript, ``talk.txt`` its
Zoom chat, ``talk.pdf`` the slides) and ``talk.json`` (the talk's details: title, speakers, host,
organization, date, tags, description, series, vocab, visibility), over what the recording's own
tags say (title, artist, date, comment). Each file taken is remembered in the archive
(``drop_folder_files``, by path, size and time), so a restart or a second pass takes nothing
twice; the same recording under another name is one talk (the ingest knows it by its bytes).
A file that cannot be taken (not media, a bad companion) becomes a failed job with the reason,
in the jobs list like any other.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from archive.core.errors import UserError
from archive.core.store import connect
from archive.core.store import jobs as job_store
from archive.core.store.recordings import utc_now
from archive.core.store.records import JobParams, MetadataError, RecordingMeta
from ingest import media
from ingest.companion_kinds import drop_folder_companions, read_companions
from ingest.companions import decode_companion
from ingest.queue import JobQueue

log = logging.getLogger(__name__)

# A talk's details are a few hundred bytes; a file far larger is something else.
MAX_DETAILS_BYTES = 2**20
# What a recording is called in a drop folder; companions and anything else are left alone.
MEDIA_SUFFIXES = frozenset(
    ".mp3 .m4a .aac .wav .flac .ogg .opus .oga .wma .mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .3gp".split()
)
# Measured on nothing faster than a network copy: a file unchanged this long is whole.
SETTLE_SECONDS = 10.0
SIDECAR_FIELDS = (
    "title",
    "speakers",
    "host",
    "organization",
    "date",
    "tags",
    "description",
    "series",
    "vocab",
    "visibility",
)


@dataclass(frozen=True)
class Taken:
    """A file the drop folder handed to the queue: its job, and why it failed if it did at once."""

    path: Path
    job_id: int
    error: str | None = None


def tag_details(tags: dict[str, str]) -> dict:
    """Talk details from a recording's own tags: title, artist (the speakers), album_artist or
    publisher (the organisation), an ISO date, comment or description."""
    details: dict = {}
    if tags.get("title"):
        details["title"] = tags["title"]
    if tags.get("artist"):
        details["speakers"] = [name.strip() for name in re.split(r"[,;&/]", tags["artist"]) if name.strip()]
    organization = tags.get("album_artist") or tags.get("publisher") or tags.get("organization")
    if organization:
        details["organization"] = organization
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", tags.get("date", "")[:10]) and len(tags["date"]) >= 10:
        details["date"] = tags["date"][:10]
    if tags.get("comment") or tags.get("description"):
        details["description"] = tags.get("description") or tags["comment"]
    return details


def recording_meta(recording: Path) -> RecordingMeta:
    """A dropped recording's details: its own tags, overridden field by field by ``<name>.json``."""
    return sidecar_meta(recording.with_suffix(".json"), tag_details(media.tags(recording)))


def sidecar_meta(path: Path, defaults: dict | None = None) -> RecordingMeta:
    """The talk's details from ``<name>.json`` beside the recording, over ``defaults`` (from the
    recording's tags); just the defaults if there is no such file."""
    if not path.exists():
        return RecordingMeta(**(defaults or {})).validated()
    if path.stat().st_size > MAX_DETAILS_BYTES:
        raise MetadataError(f"{path.name}: too large for a talk's details")
    try:
        data = json.loads(decode_companion(path.read_bytes(), path.name))
    except ValueError as exc:
        raise MetadataError(f"{path.name}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MetadataError(f"{path.name}: should hold an object of the talk's details")
    unknown = sorted(set(data) - set(SIDECAR_FIELDS))
    if unknown:
        raise MetadataError(f"{path.name}: unknown field {unknown[0]!r} (known: {', '.join(SIDECAR_FIELDS)})")
    fields = {}
    for key, value in data.items():
        if value is None:  # "date": null says nothing: the recording's tags (or no value) stand
            continue
        if key in ("speakers", "tags", "vocab") and isinstance(value, str):
            value = [v.strip() for v in value.split(",")]
        if key in ("speakers", "tags", "vocab"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise MetadataError(f"{path.name}: {key} should be a list of names")
        elif not isinstance(value, str):
            raise MetadataError(f"{path.name}: {key} should be text")
        fields[key] = value
    return RecordingMeta(**{**(defaults or {}), **fields}).validated()


def _companion(recording: Path, suffix: str) -> tuple[str, bytes] | None:
    """The recording's companion file with ``suffix`` (its name and bytes), or None if there is none."""
    path = recording.with_suffix(suffix)
    return (path.name, path.read_bytes()) if path.exists() else None


class DropFolder:
    """One folder watched for recordings; ``scan`` is one pass, ``watch`` runs until stopped."""

    def __init__(
        self,
        folder: Path,
        queue: JobQueue,
        settle_seconds: float = SETTLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.folder = Path(folder).resolve()
        self.queue = queue
        self.settle_seconds = settle_seconds
        self.clock = clock
        self._seen: dict[Path, tuple[int, float, float]] = {}  # path -> (size, mtime, unchanged since)

    def scan(self) -> list[Taken]:
        """Queue every recording that has settled and was not taken before; returns what was taken."""
        now = self.clock()
        taken = []
        with self._db() as db:  # what was taken before, in one query a pass
            before = {row[0]: (row[1], row[2]) for row in db.execute("SELECT path, size, mtime FROM drop_folder_files")}
        for path in sorted(self.folder.iterdir()):
            if path.suffix.lower() not in MEDIA_SUFFIXES:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # moved away meanwhile
                continue
            if not path.is_file():
                continue
            state = (stat.st_size, stat.st_mtime)
            if before.get(str(path)) == state:
                continue
            seen = self._seen.get(path)
            if seen is None or seen[:2] != state:
                self._seen[path] = (*state, now)  # new, or still growing
                continue
            if now - seen[2] < self.settle_seconds:
                continue
            taken.append(self._take(path, state))
            self._seen.pop(path, None)
        return taken

    def watch(self, stop: threading.Event, on_taken: Callable[[Taken], None] = lambda taken: None) -> None:
        """Scan now and whenever the folder changes (watchdog), and every few seconds for files
        still settling, until ``stop`` is set."""
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        changed = threading.Event()

        class Wake(FileSystemEventHandler):
            def on_any_event(self, event) -> None:
                changed.set()

        observer = Observer()
        observer.schedule(Wake(), str(self.folder), recursive=False)
        observer.start()
        try:
            while not stop.is_set():
                changed.clear()
                for item in self.scan():
                    on_taken(item)
                # Files still settling are looked at again soon; otherwise a change wakes the loop
                # (and every 2 s it checks whether it was asked to stop).
                changed.wait(min(self.settle_seconds / 2, 2.0))
        finally:
            observer.stop()
            observer.join()

    def _take(self, path: Path, state: tuple[int, float]) -> Taken:
        try:
            meta = recording_meta(path)
            companions = read_companions(drop_folder_companions(lambda suffix: _companion(path, suffix)))
            job = self.queue.submit(path, meta, original_filename=path.name, companions=companions)
            result = Taken(path, job.id)
        except (UserError, OSError) as exc:  # the message names the file (media, details or a companion)
            error = str(exc) if isinstance(exc, UserError) else f"{path.name}: cannot be read ({exc.strerror})"
            with self._db() as db:
                params = JobParams(RecordingMeta(), original_filename=path.name)
                result = Taken(path, job_store.create_failed_job(db, path.name, str(path), params, error), error)
        with self._db() as db, db.atomic():
            db.table("drop_folder_files").upsert(
                {
                    "path": str(path),
                    "size": state[0],
                    "mtime": state[1],
                    "job_id": result.job_id,
                    "taken_at": utc_now(),
                },
                pk="path",
            )
        log.info("%s: job %s%s", path.name, result.job_id, f" failed: {result.error}" if result.error else "")
        return result

    def _db(self):
        """A connection for one step, closed after it (the watcher runs for days)."""
        return closing(connect(self.queue.config.db_path))
