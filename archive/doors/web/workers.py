"""The API remote workers use (a staff token): claim a job, fetch its media, report, hand in the transcript."""

from __future__ import annotations

import math
from pathlib import Path

from flask import Blueprint, abort, jsonify, request, send_file, url_for

from archive.core.store import jobs as job_store
from archive.core.store.records import Segment, SpeechGap, transcript_item, transcript_item_json
from archive.doors.web.auth import require_staff
from archive.doors.web.db import get_db
from archive.doors.web.search import services
from ingest.pipeline import hints_for, media_suffix
from ingest.queue import LEASE_SECONDS

bp = Blueprint("workers", __name__, url_prefix="/api/jobs")
bp.before_request(require_staff)


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("worker"), str) or not body["worker"]:
        abort(400, 'send JSON with "worker": the name of the worker')
    return body


def _held_job(job_id: int, worker: str):
    """The job if ``worker`` holds it (claimed and still running); 409 otherwise."""
    job = job_store.get_job(get_db(), job_id) or abort(404, f"no job {job_id}")
    if job.state != "running" or job.worker != worker:
        abort(409, f"job {job_id} is not running for {worker}")
    return job


def _segments(raw) -> list[Segment | SpeechGap]:
    """The lines and gaps a worker sent (``transcript_item_json``); 400 if they are not that."""
    try:
        items = [transcript_item(item) for item in raw]
    except (TypeError, KeyError, ValueError, AttributeError):
        items = None
    if items is None or not all(math.isfinite(i.start) and math.isfinite(i.end) for i in items):
        abort(
            400,
            'segments must be a list of {"start", "end", "text"} (or {"start", "end", "gap": true}) '
            "with times in seconds",
        )
    return items


@bp.post("/<id:job_id>/claim")
def claim(job_id: int):
    """Take a queued (or abandoned) job: what the worker needs to transcribe it."""
    worker = _body()["worker"]
    db = get_db()
    job = job_store.claim_job(db, job_id, worker, LEASE_SECONDS)
    if job is None:
        abort(409, f"job {job_id} is done, failed, or held by another worker")
    resume = job_store.saved_progress(db, job_id)
    return jsonify(
        {
            "id": job.id,
            "media_url": url_for("workers.media", job_id=job.id),
            "name": job.file_name,
            "suffix": media_suffix(Path(job.file_name)),
            "hints": hints_for(db, job.params.meta),
            "resume": [transcript_item_json(item) for item in resume],
        }
    )


@bp.get("/<id:job_id>/media")
def media(job_id: int):
    job = job_store.get_job(get_db(), job_id) or abort(404, f"no job {job_id}")
    if job.state != "running" or not Path(job.source_path).is_file():
        abort(409, f"job {job_id} has no media to hand out")
    return send_file(job.source_path, mimetype="application/octet-stream", conditional=True)


@bp.post("/<id:job_id>/progress")
def progress(job_id: int):
    """A heartbeat with the percentage done, and the segments so far (kept for a resume)."""
    body = _body()
    _held_job(job_id, body["worker"])
    db = get_db()
    percent = body.get("percent")
    if not isinstance(percent, (int, float)) or not math.isfinite(percent):
        percent = None  # a heartbeat only
    job_store.beat(db, job_id, body["worker"], None if percent is None else min(max(float(percent), 0.0), 99.0))
    if "segments" in body:
        job_store.save_progress(db, job_id, _segments(body["segments"]))
    return jsonify({"ok": True})


@bp.post("/<id:job_id>/transcript")
def transcript(job_id: int):
    """The finished transcript: the archive takes the job over and indexes it (202; follow the job)."""
    body = _body()
    job = _held_job(job_id, body["worker"])
    segments = _segments(body.get("segments"))
    model = str(body.get("model") or "remote")[:100]
    if not services().runner.take_over(job, body["worker"], segments, model):
        abort(409, f"job {job_id} is not running for {body['worker']}")
    response = jsonify({"state": "indexing", "job_url": url_for("api.job", job_id=job_id)})
    response.status_code = 202
    return response


@bp.post("/<id:job_id>/fail")
def fail(job_id: int):
    body = _body()
    _held_job(job_id, body["worker"])
    job_store.fail_job(
        get_db(), job_id, body["worker"], f"remote worker {body['worker']}: {str(body.get('error', ''))[:500]}"
    )
    return jsonify({"ok": True})
