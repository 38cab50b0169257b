"""The JSON API."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify

from archive.store import jobs as job_store
from archive.store import recordings as store

from .db import get_db

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/recordings")
def recordings():
    return jsonify({"recordings": [r.summary() for r in store.list_recordings(get_db())]})


@bp.get("/recordings/<int:recording_id>")
def recording(recording_id: int):
    db = get_db()
    found = store.get_recording(db, recording_id) or abort(404, f"no recording {recording_id}")
    segments = store.get_segments(db, recording_id)
    return jsonify(
        {
            **found.summary(),
            "tags": found.tags,
            "description": found.description,
            "url": found.url,
            "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in segments],
        }
    )


@bp.get("/jobs")
def jobs():
    return jsonify({"jobs": [j.summary() for j in job_store.list_jobs(get_db())]})


@bp.get("/jobs/<int:job_id>")
def job(job_id: int):
    found = job_store.get_job(get_db(), job_id) or abort(404, f"no job {job_id}")
    return jsonify(found.summary())
