"""The JSON API: what members may see, and (with a staff account or API token) uploads and jobs."""

from __future__ import annotations

import math

from flask import Blueprint, abort, jsonify, request, url_for

from archive.core.store import jobs as job_store
from archive.core.store import recordings as store
from archive.core.store.records import RecordingMeta
from archive.doors.web.auth import staff_only, visible_levels, visible_or_404
from archive.doors.web.db import get_db
from archive.doors.web.search import run_search, searcher
from archive.doors.web.staff import companions_of, steps_of_job, submit_upload

bp = Blueprint("api", __name__, url_prefix="/api")


def visible_recording(recording_id: int):
    return visible_or_404(store.get_recording(get_db(), recording_id), f"no recording {recording_id}")


@bp.get("/recordings")
def recordings():
    visible = store.list_recordings(get_db(), store.visible_only(visible_levels()))
    return jsonify({"recordings": [r.summary() for r in visible]})


@bp.get("/recordings/<id:recording_id>")
def recording(recording_id: int):
    found = visible_recording(recording_id)
    segments = store.get_segments(get_db(), recording_id)
    return jsonify(
        {
            **found.summary(),
            "tags": found.tags,
            "description": found.description,
            "url": found.url,
            "segments": [{"start": s.start, "end": s.end, "text": s.text, "edited": s.edited} for s in segments],
        }
    )


@bp.post("/recordings")
@staff_only
def upload():
    """Upload a recording (multipart: ``media`` plus the form's metadata fields); returns its job (202)."""
    job = submit_upload(
        request.files.get("media"), RecordingMeta.from_form(request.form), companions_of(request.files, request.form)
    )
    response = jsonify(job_json(job))
    response.status_code = 202
    response.headers["Location"] = url_for("api.job", job_id=job.id)
    return response


def job_json(job) -> dict:
    """A job for staff; once done, where its talk is and how many stretches of speech got no text."""
    db = get_db()
    recording = store.get_recording(db, job.recording_id) if job.recording_id else None
    gaps = store.speech_gaps(db, recording.id) if recording else []
    return {
        **job.summary(),
        "recording_url": recording.url if recording else None,
        "already_in_archive": job.found_already(recording),
        "steps": steps_of_job(job),
        "speech_gaps": [{"start": g.start, "end": g.end} for g in gaps],
    }


@bp.get("/jobs")
@staff_only
def jobs():
    return jsonify({"jobs": [job_json(j) for j in job_store.list_jobs(get_db(), limit=500)]})


@bp.get("/jobs/<id:job_id>")
@staff_only
def job(job_id: int):
    """A job's state and progress; once done, ``recording_url`` is where its talk is."""
    found = job_store.get_job(get_db(), job_id) or abort(404, f"no job {job_id}")
    return jsonify(job_json(found))


@bp.get("/search")
def search():
    """Moments answering ``q``: ``{"query", "results": [...], "weak_results": [...]}``."""
    response = run_search(request.args)
    return jsonify(response.to_dict())


@bp.get("/recordings/<id:recording_id>/related")
def related(recording_id: int):
    """Moments in other talks closest to what is said at ``t`` seconds in this one."""
    visible_recording(recording_id)
    at = request.args.get("t", "0")
    try:
        seconds = float(at)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds):
        abort(400, f"t must be a number of seconds, not {at[:40]!r}")
    seconds = max(0.0, seconds)
    moments = searcher().related(get_db(), recording_id, seconds, visibility=visible_levels())
    return jsonify({"recording_id": recording_id, "t": seconds, "results": [m.to_dict() for m in moments]})
