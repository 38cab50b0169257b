"""Is the archive whole? One consistency check, used by `archive check` and the fault tests.

It asks SQLite for ``integrity_check``, then checks that each recording's derived rows
agree with its transcript (passages cover its segments, one FTS row and one vector per
passage, one window vector per segment) and that the media files and the recordings
match one to one. It also finds what a crash can leave behind: partial files, and
uploads that no job is waiting for.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from archive.core.config import Config

PARTIAL_MARK = ".partial"
# An upload this old with no job was left by a server that died between storing and queueing it.
UNCLAIMED_UPLOAD_SECONDS = 300


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    # Worth a look but not wrong: speech the transcriber heard and could not write down.
    notes: list[str] = field(default_factory=list)
    recordings: int = 0
    segments: int = 0
    passages: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_archive(db: Database, config: Config, search_model: str | None = None) -> CheckReport:
    """Everything that does not add up in the archive at ``config.data_dir``, in words.

    With ``search_model``, vectors made by any other embedding model are a problem too: search
    reads only the configured model's vectors (``archive reindex`` re-embeds).
    """
    report = CheckReport()
    integrity = [row[0] for row in db.execute("PRAGMA integrity_check")]
    if integrity != ["ok"]:
        report.problems += [f"SQLite integrity: {line}" for line in integrity[:20]]
    _check_index(db, report)
    if search_model:
        report.problems += stale_vectors(db, search_model)
    _check_media(db, config, report)
    report.notes += speech_gap_notes(db)
    return report


def speech_gap_notes(db: Database) -> list[str]:
    """One line per stretch of speech that got no text, naming the talk and the time."""
    from archive.core.timecode import clock

    return [
        f"recording {recording_id} ({slug}): speech with no text at {clock(start, always_hours=False)}"
        f"-{clock(end, always_hours=False)} ({end - start:.0f} s); listen and correct the transcript there"
        for recording_id, slug, start, end in db.execute(
            'SELECT g.recording_id, r.slug, g.start, g."end" FROM speech_gaps g JOIN recordings r ON r.id = g.recording_id '
            "ORDER BY g.recording_id, g.start"
        )
    ]


def stale_vectors(db: Database, search_model: str) -> list[str]:
    """What the archive holds in vectors of another model than ``search_model``, in words."""
    return [
        f"{count} passage vectors were made by {model}, not the search model {search_model}: "
        "run `archive reindex` (until then search finds those talks by their words only)"
        for model, count in db.execute(
            "SELECT model, count(*) FROM passage_vectors WHERE model != ? GROUP BY model ORDER BY model", [search_model]
        )
    ]


def _counts(db: Database, sql: str) -> dict[int, int]:
    return dict(db.execute(sql).fetchall())


def _check_index(db: Database, report: CheckReport) -> None:
    recordings = [row[0] for row in db.execute("SELECT id FROM recordings ORDER BY id")]
    segments = _counts(db, "SELECT recording_id, count(*) FROM segments GROUP BY recording_id")
    passages = _counts(db, "SELECT recording_id, count(*) FROM passages GROUP BY recording_id")
    vectors = _counts(db, "SELECT recording_id, count(*) FROM passage_vectors GROUP BY recording_id")
    windows = _counts(db, "SELECT recording_id, count(*) FROM segment_vectors GROUP BY recording_id")
    # The FTS5 table reads its text from passages; its own rows are in the docsize shadow table.
    fts = _counts(
        db,
        "SELECT p.recording_id, count(*) FROM passages_fts_docsize d JOIN passages p ON p.id = d.id "
        "GROUP BY p.recording_id",
    )
    report.recordings = len(recordings)
    report.segments, report.passages = sum(segments.values()), sum(passages.values())
    for rid in recordings:
        n_seg, n_pass = segments.get(rid, 0), passages.get(rid, 0)
        if n_seg and not n_pass:
            report.problems.append(f"recording {rid}: {n_seg} segments but no passages (run `archive reindex`)")
        if fts.get(rid, 0) != n_pass:
            report.problems.append(f"recording {rid}: {n_pass} passages but {fts.get(rid, 0)} full-text rows")
        if vectors.get(rid, 0) != n_pass:
            report.problems.append(f"recording {rid}: {n_pass} passages but {vectors.get(rid, 0)} vectors")
        if windows.get(rid, 0) not in (0, n_seg):
            report.problems.append(f"recording {rid}: {n_seg} segments but {windows.get(rid, 0)} window vectors")
        gaps = db.execute(
            "SELECT count(*) FROM passages WHERE recording_id = ? AND (first_segment < 0 OR last_segment >= ?)",
            [rid, n_seg],
        ).fetchone()[0]
        if gaps:
            report.problems.append(f"recording {rid}: {gaps} passages point past its segments")
    orphans = db.execute(
        "SELECT count(*) FROM passages WHERE recording_id NOT IN (SELECT id FROM recordings)"
    ).fetchone()[0]
    if orphans:
        report.problems.append(f"{orphans} passages belong to no recording")
    total_fts = db.execute("SELECT count(*) FROM passages_fts_docsize").fetchone()[0]
    if total_fts != report.passages + orphans:
        report.problems.append(f"the full-text index has {total_fts} rows for {report.passages + orphans} passages")


def _check_media(db: Database, config: Config, report: CheckReport) -> None:
    referenced = {row[0] for row in db.execute("SELECT media_path FROM recordings")}
    referenced |= {row[0] for row in db.execute("SELECT original_path FROM redactions WHERE original_path IS NOT NULL")}
    for path in sorted(referenced):
        if not (config.data_dir / path).is_file():
            report.problems.append(f"media missing: {path} (recording's file is gone)")
    if config.media_dir.exists():
        for file in sorted(config.media_dir.rglob("*")):
            if not file.is_file():
                continue
            relative = str(file.relative_to(config.data_dir))
            if PARTIAL_MARK in file.name:
                report.problems.append(f"partial file left by an interrupted write: {relative}")
            elif relative not in referenced:
                report.problems.append(f"media without a recording: {relative}")
    for file in leftover_uploads(db, config, min_age_seconds=0):
        report.problems.append(f"upload no job is waiting for: {file.relative_to(config.data_dir)}")


def _in_use(path: Path) -> bool:
    """Whether another process holds the write lock a live upload keeps on its partial file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def leftover_uploads(db: Database, config: Config, min_age_seconds: float = UNCLAIMED_UPLOAD_SECONDS) -> list[Path]:
    """Upload files no request is writing and no job will ingest: what a killed server left."""
    folder = config.uploads_dir
    if not folder.exists():
        return []
    waiting = {
        row[0] for row in db.execute("SELECT source_path FROM jobs WHERE state IN ('queued', 'running', 'failed')")
    }
    now, found = time.time(), []
    for file in sorted(folder.iterdir()):
        if not file.is_file():
            continue
        if PARTIAL_MARK in file.name:
            if not _in_use(file):
                found.append(file)
        elif str(file.resolve()) not in waiting and now - file.stat().st_mtime >= min_age_seconds:
            found.append(file)
    return found


def clean_leftovers(db: Database, config: Config) -> list[Path]:
    """Delete partial files and unclaimed uploads a crash left; returns what was removed."""
    removed = leftover_uploads(db, config)
    if config.media_dir.exists():
        removed += [f for f in config.media_dir.rglob(f"*{PARTIAL_MARK}*") if f.is_file() and not _in_use(f)]
    for file in removed:
        file.unlink(missing_ok=True)
    return removed
