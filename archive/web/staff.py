"""Staff pages: upload a recording, follow its job, correct transcripts and metadata.

Until the archive has accounts, staff pages answer only requests from the server
machine itself (loopback); everyone else gets 403. Each view is a thin shell over
``ingest`` and ``archive.store``.
"""

from __future__ import annotations

from typing import Mapping

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from archive.store import jobs as job_store
from archive.store import recordings as store
from archive.store.models import RecordingMeta
from ingest.corrections import CorrectionError, correct_segment, revert_segment
from ingest.media import MediaError
from ingest.pipeline import IngestError, normalize_date

from .db import get_db
from .search import searcher
from .uploads import keep_upload, original_name

bp = Blueprint("staff", __name__)

LOOPBACK = {"127.0.0.1", "::1"}


def is_staff() -> bool:
    """Whether this request may use the staff pages: for now, only from the server itself."""
    return request.remote_addr in LOOPBACK


@bp.before_request
def staff_only():
    if not is_staff():
        abort(403, "Staff pages can only be used on the archive's own machine until accounts arrive.")


def job_queue():
    """This app's job queue (made on first use: the web app needs no queue to show talks)."""
    from ingest.queue import JobQueue

    queue = current_app.extensions.get("job_queue")
    if queue is None:
        queue = current_app.extensions["job_queue"] = JobQueue(current_app.config["ARCHIVE"])
    return queue


def _terms(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def meta_from_form(form: Mapping[str, str], *, title_required: bool) -> RecordingMeta:
    """The talk's metadata from a form; IngestError says what is wrong with it."""
    title = " ".join(form.get("title", "").split())
    if title_required and not title:
        raise IngestError("a talk needs a title")
    return RecordingMeta(
        title=title[:300],
        speakers=_terms(form.get("speakers", "")),
        organization=form.get("organization", "").strip(),
        date=normalize_date(form.get("date", "").strip() or None),
        tags=_terms(form.get("tags", "")),
        description=form.get("description", "").strip(),
        vocab=_terms(form.get("vocab", "")),
    )


# -- upload and jobs -------------------------------------------------------------


@bp.route("/upload", methods=["GET", "POST"])
def upload():
    """The upload form; a good file becomes a queued job and the browser goes to its page."""
    if request.method == "GET":
        return render_template("upload.html", form={}, error=None)
    config = current_app.config["ARCHIVE"]
    storage = request.files.get("media")
    try:
        meta = meta_from_form(request.form, title_required=False)
        if storage is None or not storage.filename:
            raise IngestError("choose a recording (an audio or video file) to upload")
        name = original_name(storage)
        path = keep_upload(storage, config.uploads_dir)
        try:
            job = job_queue().submit(path, meta, delete_source=True, original_filename=name)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    except MediaError as exc:
        return _upload_failed(exc.about(original_name(storage)))  # starts with the file's own name
    except IngestError as exc:
        return _upload_failed(_sentence(str(exc)))
    return redirect(url_for("staff.job", job_id=job.id), code=303)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


def _upload_failed(message: str):
    return render_template("upload.html", form=request.form, error=message), 400


@bp.get("/jobs")
def jobs():
    return render_template("jobs.html", jobs=job_store.list_jobs(get_db(), limit=200))


@bp.get("/jobs/<int:job_id>")
def job(job_id: int):
    db = get_db()
    found = job_store.get_job(db, job_id) or abort(404, f"There is no job {job_id}.")
    recording = store.get_recording(db, found.recording_id) if found.recording_id else None
    return render_template("job.html", job=found, recording=recording)


@bp.post("/jobs/<int:job_id>/retry")
def retry(job_id: int):
    job_store.get_job(get_db(), job_id) or abort(404, f"There is no job {job_id}.")
    if not job_queue().retry(job_id):
        abort(409, "Only a failed job can be retried.")
    return redirect(url_for("staff.job", job_id=job_id), code=303)


# -- corrections -----------------------------------------------------------------


@bp.route("/recordings/<slug>/edit", methods=["GET", "POST"])
def edit_recording(slug: str):
    """Edit a talk's title, speakers, organisation, date, tags and description."""
    db = get_db()
    found = store.get_recording_by_slug(db, slug) or abort(404, "There is no talk at this address.")
    if request.method == "GET":
        form = {
            "title": found.title,
            "speakers": ", ".join(found.speakers),
            "organization": found.organization,
            "date": found.date or "",
            "tags": ", ".join(found.tags),
            "description": found.description,
        }
        return render_template("edit.html", recording=found, form=form, error=None)
    try:
        meta = meta_from_form(request.form, title_required=True)
    except IngestError as exc:
        return render_template("edit.html", recording=found, form=request.form, error=_sentence(str(exc))), 400
    store.update_recording_meta(db, found.id, meta)
    return redirect(url_for("pages.recording", slug=slug), code=303)


def _segment_json(idx: int, segment) -> dict:
    return {
        "idx": idx,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "edited": segment.edited,
        "machine_text": segment.machine_text,
    }


@bp.put("/api/recordings/<int:recording_id>/segments/<int:idx>")
def correct(recording_id: int, idx: int):
    """Correct a segment's text: ``{"text": ...}``; the talk is re-indexed before this returns."""
    db = get_db()
    store.get_recording(db, recording_id) or abort(404, f"no recording {recording_id}")
    text = (request.get_json(silent=True) or {}).get("text")
    if not isinstance(text, str):
        abort(400, 'send JSON {"text": "the corrected words"}')
    try:
        correction = correct_segment(db, recording_id, idx, text, searcher().embedder)
    except CorrectionError as exc:
        abort(400, str(exc))
    known = {t.casefold() for t in store.glossary_terms(db)}
    return jsonify(
        {
            "segment": _segment_json(idx, correction.segment),
            "new_terms": [t for t in correction.new_terms if t.casefold() not in known],
        }
    )


@bp.post("/api/recordings/<int:recording_id>/segments/<int:idx>/revert")
def revert(recording_id: int, idx: int):
    """Put back what Whisper wrote for a segment."""
    db = get_db()
    store.get_recording(db, recording_id) or abort(404, f"no recording {recording_id}")
    try:
        correction = revert_segment(db, recording_id, idx, searcher().embedder)
    except CorrectionError as exc:
        abort(400, str(exc))
    return jsonify({"segment": _segment_json(idx, correction.segment), "new_terms": []})


@bp.post("/api/glossary")
def add_to_glossary():
    """Teach the archive a name or term: ``{"term": ...}``; later ingests pass it to Whisper."""
    term = (request.get_json(silent=True) or {}).get("term")
    if not isinstance(term, str) or not term.strip() or len(term) > 100:
        abort(400, 'send JSON {"term": "a name or term"} of at most 100 characters')
    added = store.add_glossary_terms(get_db(), [term])
    return jsonify({"term": " ".join(term.split()), "added": bool(added)})
