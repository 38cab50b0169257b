"""Job rows: the archive's own record of each queued ingest, its state and progress.

The queue (Huey) only carries job ids; the truth about a job lives here, so a job whose
queue message is lost, or whose worker died, can be found and run again.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlite_utils import Database

from archive.core.errors import present
from archive.core.store.recordings import utc_now
from archive.core.store.records import Job, JobParams, Segment, SpeechGap

STATES = ("queued", "running", "done", "failed")


def _job_from_row(row: dict) -> Job:
    return Job(
        id=row["id"],
        title=row["title"] or "",
        state=row["state"],
        percent=row["percent"] or 0.0,
        error=row["error"],
        recording_id=row["recording_id"],
        source_path=row["source_path"] or "",
        params=JobParams.from_dict(json.loads(row["params"] or "{}")),
        attempts=row["attempts"] or 0,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        heartbeat_at=row["heartbeat_at"],
        worker=row["worker"],
        resumed_from=row.get("resumed_from"),
        step=row.get("step") or "",
        seconds_left=row.get("seconds_left") if row["state"] == "running" else None,
    )


def create_job(db: Database, title: str, source_path: str, params: JobParams) -> int:
    now = utc_now()
    with db.atomic():
        return present(
            db.table("jobs")
            .insert(
                {
                    "title": title,
                    "state": "queued",
                    "percent": 0.0,
                    "source_path": source_path,
                    "params": json.dumps(params.to_dict()),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            .last_pk
        )


def create_failed_job(db: Database, title: str, source_path: str, params: JobParams, error: str) -> int:
    """A job that failed before it could be queued (a drop folder's bad file): staff see it and why."""
    with db.atomic():
        job_id = create_job(db, title, source_path, params)
        db.execute("UPDATE jobs SET state = 'failed', error = ? WHERE id = ?", [error, job_id])
    return job_id


def get_job(db: Database, job_id: int) -> Job | None:
    rows = list(db.table("jobs").rows_where("id = ?", [job_id]))
    return _job_from_row(rows[0]) if rows else None


def list_jobs(db: Database, limit: int | None = None) -> list[Job]:
    """Jobs, newest first."""
    return [_job_from_row(r) for r in db.table("jobs").rows_where(order_by="id DESC", limit=limit)]


def _ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def claim_job(db: Database, job_id: int, worker: str, lease_seconds: float) -> Job | None:
    """Mark a job running for ``worker`` if it is queued or its last worker stopped beating.

    Returns the job, or None when it is done, failed, or alive in another worker's hands:
    a job delivered twice therefore runs once.
    """
    now = utc_now()
    with db.atomic():
        cursor = db.execute(
            """UPDATE jobs SET state = 'running', worker = ?, heartbeat_at = ?, updated_at = ?,
                   attempts = attempts + 1, error = NULL
               WHERE id = ? AND (state = 'queued' OR (state = 'running' AND heartbeat_at < ?))""",
            [worker, now, now, job_id, _ago(lease_seconds)],
        )
    return get_job(db, job_id) if cursor.rowcount else None


def beat(
    db: Database,
    job_id: int,
    worker: str,
    percent: float | None = None,
    step: str | None = None,
    seconds_left: float | None = None,
) -> None:
    """Record that ``worker`` is still on the job (and how far it got, at what, and how long it has left)."""
    now = utc_now()
    with db.atomic():
        if percent is None:
            db.execute(
                "UPDATE jobs SET heartbeat_at = ? WHERE id = ? AND worker = ? AND state = 'running'",
                [now, job_id, worker],
            )
        else:
            db.execute(
                """UPDATE jobs SET heartbeat_at = ?, updated_at = ?, percent = ?, step = coalesce(?, step),
                   seconds_left = ? WHERE id = ? AND worker = ? AND state = 'running'""",
                [now, now, percent, step, seconds_left, job_id, worker],
            )


def finish_job(
    db: Database, job_id: int, worker: str, recording_id: int, speeds: Mapping[str, Any] | None = None
) -> bool:
    """Mark the job done with its recording, if ``worker`` still holds it; ``speeds`` is how fast
    each step went (``{"host", "model", "steps": {step: seconds per second of audio}}``), for
    the estimates of later jobs.

    False when it does not: its lease ran out and another worker took the job over (that one
    finds the recording already in the archive and finishes the job itself).
    """
    with db.atomic():
        cursor = db.execute(
            """UPDATE jobs SET state = 'done', percent = 100, recording_id = ?, error = NULL, updated_at = ?,
               seconds_left = NULL, speeds = ? WHERE id = ? AND worker = ? AND state = 'running'""",
            [recording_id, utc_now(), json.dumps(speeds) if speeds else None, job_id, worker],
        )
        if cursor.rowcount:
            db.execute("DELETE FROM job_segments WHERE job_id = ?", [job_id])
    return cursor.rowcount > 0


# The estimate follows the machine's latest ingests: a new model or a busier machine shows within a few.
SPEED_SAMPLES = 10


def measured_speeds(db: Database, host: str, model: str) -> dict[str, float]:
    """Seconds of work per second of audio for each ingest step, as ``host`` measured them with
    ``model`` in its latest finished jobs (the median of each, steady against one odd talk); {} if none."""
    rows = db.execute(
        "SELECT speeds FROM jobs WHERE state = 'done' AND speeds IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT 200"
    ).fetchall()
    samples: dict[str, list[float]] = {}
    taken = 0
    for (text,) in rows:
        try:
            measured = json.loads(text)
            if measured.get("host") != host or measured.get("model") != model:
                continue
            for step, speed in measured.get("steps", {}).items():
                samples.setdefault(str(step), []).append(float(speed))
        except (ValueError, TypeError, AttributeError):
            continue  # a row another version wrote differently: not a measurement
        taken += 1
        if taken == SPEED_SAMPLES:
            break
    return {step: statistics.median(values) for step, values in samples.items()}


def fail_job(db: Database, job_id: int, worker: str, error: str) -> bool:
    """Mark the job failed with ``error`` (shown to staff), if ``worker`` still holds it."""
    with db.atomic():
        cursor = db.execute(
            "UPDATE jobs SET state = 'failed', error = ?, updated_at = ? WHERE id = ? AND worker = ? AND state = 'running'",
            [error, utc_now(), job_id, worker],
        )
    return cursor.rowcount > 0


def hand_over(db: Database, job_id: int, from_worker: str, to_worker: str) -> bool:
    """Pass a running job from one worker to another (a remote worker's transcript, indexed by the server)."""
    now = utc_now()
    with db.atomic():
        cursor = db.execute(
            """UPDATE jobs SET worker = ?, heartbeat_at = ?, updated_at = ?
               WHERE id = ? AND worker = ? AND state = 'running'""",
            [to_worker, now, now, job_id, from_worker],
        )
    return cursor.rowcount > 0


def requeue_job(db: Database, job_id: int) -> bool:
    """Put a failed job back in the queue (a retry); returns False if it was not failed."""
    with db.atomic():
        cursor = db.execute(
            "UPDATE jobs SET state = 'queued', percent = 0, error = NULL, worker = NULL, updated_at = ? "
            "WHERE id = ? AND state = 'failed'",
            [utc_now(), job_id],
        )
    return cursor.rowcount > 0


def abandoned_jobs(
    db: Database, lease_seconds: float, dead_workers: frozenset[str] | set[str] = frozenset()
) -> list[int]:
    """Ids of jobs to deliver again: queued ones, and running ones whose worker is gone.

    A worker is gone when its heartbeat is older than the lease, or when it is named in
    ``dead_workers`` (a process on this machine known to have exited).
    """
    rows = db.execute(
        "SELECT id, state, heartbeat_at, worker FROM jobs WHERE state IN ('queued', 'running') ORDER BY id"
    ).fetchall()
    cutoff = _ago(lease_seconds)
    return [
        job_id
        for job_id, state, heartbeat_at, worker in rows
        if state == "queued" or (heartbeat_at or "") < cutoff or worker in dead_workers
    ]


def release_job(db: Database, job_id: int, worker: str) -> None:
    """Hand a running job back to the queue, e.g. when a dead worker's job is found."""
    with db.atomic():
        db.execute(
            "UPDATE jobs SET state = 'queued', worker = NULL, updated_at = ? WHERE id = ? AND worker = ? AND state = 'running'",
            [utc_now(), job_id, worker],
        )


def save_progress(db: Database, job_id: int, transcript: list[Segment | SpeechGap]) -> None:
    """Keep the lines (and gaps) transcribed so far, replacing the last save, so a new attempt can resume."""
    with db.atomic():
        db.execute("DELETE FROM job_segments WHERE job_id = ?", [job_id])
        db.table("job_segments").insert_all(
            {
                "job_id": job_id,
                "idx": i,
                "start": item.start,
                "end": item.end,
                "text": getattr(item, "text", ""),
                "language": getattr(item, "language", None),
                "gap": int(isinstance(item, SpeechGap)),
                "word_starts": json.dumps(item.word_starts) if isinstance(item, Segment) and item.word_starts else None,
            }
            for i, item in enumerate(transcript)
        )


def saved_progress(db: Database, job_id: int) -> list[Segment | SpeechGap]:
    """The lines and gaps ``save_progress`` kept, each line with its words' start times where it had them."""
    return [
        SpeechGap(start, end)
        if gap
        else Segment(
            start=start,
            end=end,
            text=text,
            language=language,
            word_starts=tuple(json.loads(word_starts)) if word_starts else (),
        )
        for start, end, text, language, gap, word_starts in db.execute(
            'SELECT start, "end", text, language, gap, word_starts FROM job_segments WHERE job_id = ? ORDER BY idx',
            [job_id],
        )
    ]


def mark_resumed(db: Database, job_id: int, seconds: float) -> None:
    with db.atomic():
        db.execute("UPDATE jobs SET resumed_from = ? WHERE id = ?", [seconds, job_id])


def unfinished_retranscribe(db: Database, recording_id: int, model: str = "") -> Job | None:
    """The newest queued, running or failed job transcribing this talk again with ``model``, if any."""
    rows = db.execute(
        """SELECT id FROM jobs WHERE state IN ('queued', 'running', 'failed')
           AND json_extract(params, '$.retranscribe_id') = ? AND coalesce(json_extract(params, '$.model'), '') = ?
           ORDER BY id DESC LIMIT 1""",
        [recording_id, model],
    ).fetchall()
    return get_job(db, rows[0][0]) if rows else None
