"""The JSON API."""

from __future__ import annotations

import math

from flask import Blueprint, abort, jsonify, request

from archive.store import jobs as job_store
from archive.store import recordings as store
from archive.store.searches import log_search
from search.engine import SearchError

from .db import get_db
from .search import run_search, searcher

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
            "segments": [{"start": s.start, "end": s.end, "text": s.text, "edited": s.edited} for s in segments],
        }
    )


@bp.get("/jobs")
def jobs():
    return jsonify({"jobs": [j.summary() for j in job_store.list_jobs(get_db())]})


@bp.get("/jobs/<int:job_id>")
def job(job_id: int):
    """A job's state and progress; once done, ``recording_url`` is where its talk is."""
    db = get_db()
    found = job_store.get_job(db, job_id) or abort(404, f"no job {job_id}")
    recording = store.get_recording(db, found.recording_id) if found.recording_id else None
    return jsonify({**found.summary(), "recording_url": recording.url if recording else None})


@bp.get("/search")
def search():
    """Moments answering ``q``: ``{"query", "results": [...], "weak_results": [...]}``."""
    try:
        response = run_search(request.args)
    except SearchError as exc:
        abort(400, str(exc))
    log_search(get_db(), response.query, len(response.results))
    return jsonify(response.to_dict())


@bp.get("/recordings/<int:recording_id>/related")
def related(recording_id: int):
    """Moments in other talks closest to what is said at ``t`` seconds in this one."""
    db = get_db()
    store.get_recording(db, recording_id) or abort(404, f"no recording {recording_id}")
    at = request.args.get("t", "0")
    try:
        seconds = float(at)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        abort(400, f"t must be a number of seconds, not {at[:40]!r}")
    seconds = max(0.0, seconds)
    moments = searcher().related(db, recording_id, seconds)
    return jsonify({"recording_id": recording_id, "t": seconds, "results": [m.to_dict() for m in moments]})
