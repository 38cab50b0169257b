"""Staff pages: upload a recording, follow its job, publish, correct and take down talks.

Every view here needs a staff or admin account (``auth.require_staff``); each is a thin
shell over ``ingest`` and ``archive.core.store``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, replace

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from archive.core.errors import CompanionError, UserError
from archive.core.store import jobs as job_store
from archive.core.store import recordings as store
from archive.core.store.records import VISIBILITIES, Companions, RecordingMeta
from archive.core.timecode import parse_timecode
from archive.doors.web.auth import require_staff
from archive.doors.web.db import get_db
from archive.doors.web.search import searcher, services
from archive.doors.web.uploads import keep_upload, original_name, sent_form
from ingest.chapters import set_chapters
from ingest.companion_kinds import (
    COMPANION_KINDS,
    RECORDING_START_FIELD,
    attach_companions,
    none_given_message,
    read_companions,
)
from ingest.corrections import correct_segment, revert_segment
from ingest.diarize import diarizes, rename_host, rename_speaker
from ingest.pipeline import IngestError
from ingest.queue import job_steps

bp = Blueprint("staff", __name__)
bp.before_request(require_staff)


@bp.app_context_processor
def offer_companion_kinds() -> dict:
    """The kinds of meeting file the upload form and the talk page's "Add the meeting's files" offer."""
    return {"companion_kinds": list(COMPANION_KINDS.values())}


def talk_or_404(slug: str):
    """Staff see every talk, drafts included; a slug that names none is a 404."""
    return store.get_recording_by_slug(get_db(), slug) or abort(404, "There is no talk at this address.")


def submit_upload(storage, meta: RecordingMeta, companions: Companions = Companions()):
    """Keep an uploaded file under a generated name and queue its ingest; bad media, or bad
    companion files (``companions_of``), are refused first."""
    if storage is None or not storage.filename:
        raise IngestError("choose a recording (an audio or video file) to upload")
    path = keep_upload(storage, current_app.config["ARCHIVE"].uploads_dir)
    try:
        return services().queue.submit(
            path, meta, delete_source=True, original_filename=original_name(storage), companions=companions
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def companions_of(files, form) -> Companions:
    """The companion files of an upload or a talk page's form (a field each, ``COMPANION_KINDS``),
    read and parsed (CompanionError if one is bad). Each is read to one byte past its kind's limit,
    which makes the size message."""
    given = {}
    for field, kind in COMPANION_KINDS.items():
        storage = files.get(field)
        if storage is not None and storage.filename:
            given[field] = (original_name(storage), storage.stream.read(kind.max_bytes + 1))
    return read_companions(given, form.get(RECORDING_START_FIELD, ""))


@dataclass(frozen=True)
class Refusal:
    """A form sent back refused: the message to show by its button, the field that is wrong (None: the
    form as a whole), which form it is (the message's id is ``<form>-error``), and what was typed in
    it (empty where the body was refused unread, as one over the size limit is)."""

    message: str
    field: str | None = None
    form: str = "upload"
    typed: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def message_id(self) -> str:
        return f"{self.form}-error"


def refusal_of(exc: UserError, files, form, which: str) -> Refusal:
    """``exc`` as a message for the person, with what was typed, and the field it is about: the one
    the error names, else the file whose name the message starts with."""
    return replace(_refused(exc, files, form, which), typed=dict(form))


def _refused(exc: UserError, files, form, which: str) -> Refusal:
    message, sentence = str(exc), exc.sentence()
    if exc.field:
        return Refusal(sentence, exc.field, which)
    for field in ("media", *COMPANION_KINDS):
        storage = files.get(field)
        name = original_name(storage) if storage is not None and storage.filename else ""
        if name and message.startswith(f"{name}:"):
            return Refusal(sentence, field, which)
    if isinstance(exc, CompanionError) and form.get(RECORDING_START_FIELD, "").strip():
        return Refusal(sentence, RECORDING_START_FIELD, which)  # a start time that is none, or one without a chat
    media = files.get("media")
    if which == "upload" and isinstance(exc, IngestError) and (media is None or not media.filename):
        return Refusal(sentence, "media", which)  # no recording chosen
    return Refusal(sentence, None, which)


@bp.app_template_filter("time_left")
def time_left(seconds: float) -> str:
    """A job's time left as its page says it (static/jobs.js says it the same way)."""
    minutes = round(seconds / 60)
    return "(under a minute left)" if minutes < 1 else f"(about {minutes} minute{'s' if minutes > 1 else ''} left)"


def steps_of_job(job) -> list[dict[str, str]]:
    """The job's steps for its page and the API, by what this archive's workers run."""
    return job_steps(job, diarizes(services().config))


# -- upload and jobs -------------------------------------------------------------


@bp.route("/upload", methods=["GET", "POST"])
def upload():
    """The upload form; a good file becomes a queued job and the browser goes to its page."""
    if request.method == "GET":
        return render_template("upload.html", form={}, refusal=None)
    files, form = {}, {}
    try:
        files, form = sent_form(field="media")
        job = submit_upload(files.get("media"), RecordingMeta.from_form(form), companions_of(files, form))
    except UserError as exc:  # the form again, with what was typed, and what was wrong by its button
        refusal = refusal_of(exc, files, form, "upload")
        return render_template("upload.html", form=form, refusal=refusal), exc.status
    return redirect(url_for("staff.job", job_id=job.id), code=303)


@bp.get("/jobs")
def jobs():
    db = get_db()
    return render_template("jobs.html", jobs=job_store.list_jobs(db, limit=200), gaps=store.speech_gap_counts(db))


@bp.get("/jobs/<id:job_id>")
def job(job_id: int):
    db = get_db()
    found = job_store.get_job(db, job_id) or abort(404, f"There is no job {job_id}.")
    recording = store.get_recording(db, found.recording_id) if found.recording_id else None
    gaps = store.speech_gaps(db, recording.id) if recording else []
    return render_template(
        "job.html",
        job=found,
        steps=steps_of_job(found),
        recording=recording,
        speech_gaps=gaps,
        already=found.found_already(recording),
    )


@bp.post("/jobs/<id:job_id>/retry")
def retry(job_id: int):
    job_store.get_job(get_db(), job_id) or abort(404, f"There is no job {job_id}.")
    if not services().queue.retry(job_id):
        abort(409, "Only a failed job can be retried.")
    return redirect(url_for("staff.job", job_id=job_id), code=303)


# -- corrections -----------------------------------------------------------------


@bp.post("/recordings/<slug>/companions")
def attach_companion_files(slug: str):
    """Add the meeting's files to a talk: its Zoom or Teams transcript (names the speakers), its
    chat, its slides; each replaces what the talk had. A refused file gives the talk page again, the
    message by the form's button."""
    from archive.doors.web import pages

    found = talk_or_404(slug)
    files, form = {}, {}
    try:
        files, form = sent_form()
        companions = companions_of(files, form)
        if not companions:
            raise CompanionError(none_given_message())
        attach_companions(get_db(), found.id, companions, services().embedder)
    except UserError as exc:
        g.companions_refusal = refusal_of(exc, files, form, "companions")
        return pages.recording(slug), exc.status
    return redirect(found.url, code=303)


@bp.post("/recordings/<slug>/chapters")
def edit_chapters(slug: str):
    """Keep the outline staff wrote ("12:34 Title" lines); an empty one brings the automatic one back."""
    found = talk_or_404(slug)
    set_chapters(get_db(), found.id, request.form.get("chapters", ""))
    return redirect(found.url + "#chapters", code=303)


@bp.post("/recordings/<slug>/speaker-names")
def name_speaker(slug: str):
    """Give a voice its person's name ("Audience member 2" -> "Kwame Mensah") in every line it says."""
    found = talk_or_404(slug)
    rename_speaker(get_db(), found.id, request.form.get("speaker", ""), request.form.get("name", ""))
    return redirect(found.url, code=303)


@bp.post("/recordings/<slug>/chat-names")
def set_chat_names(slug: str):
    """Show the chat's authors to everyone who may see the talk, or to staff only again."""
    found = talk_or_404(slug)
    store.set_chat_names_public(get_db(), found.id, request.form.get("public") == "1")
    return redirect(found.url + "#chat", code=303)


@bp.route("/recordings/<slug>/edit", methods=["GET", "POST"])
def edit_recording(slug: str):
    """Edit a talk's title, speakers, host, organisation, date, tags, description and series (the
    host's lines take the host's name)."""
    db = get_db()
    found = talk_or_404(slug)
    if request.method == "GET":
        form = {
            "title": found.title,
            "speakers": ", ".join(found.speakers),
            "host": found.host,
            "organization": found.organization,
            "date": found.date or "",
            "tags": ", ".join(found.tags),
            "description": found.description,
            "series": found.series,
        }
        return render_template("edit.html", recording=found, form=form, refusal=None)
    try:
        meta = RecordingMeta.from_form(request.form, title_required=True)
    except UserError as exc:
        refusal = Refusal(exc.sentence(), exc.field, "edit")
        return render_template("edit.html", recording=found, form=request.form, refusal=refusal), exc.status
    store.update_recording_meta(db, found.id, meta)
    rename_host(db, found.id, found.host, meta.host)
    if meta.title != found.title:
        services().reindex_soon(found.id)
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


@bp.put("/api/recordings/<id:recording_id>/segments/<id:idx>")
def correct(recording_id: int, idx: int):
    """Correct a segment's text: ``{"text": ...}``; the talk is re-indexed before this returns."""
    db = get_db()
    store.get_recording(db, recording_id) or abort(404, f"no recording {recording_id}")
    text = (request.get_json(silent=True) or {}).get("text")
    if not isinstance(text, str):
        abort(400, 'send JSON {"text": "the corrected words"}')
    correction = correct_segment(db, recording_id, idx, text, searcher().embedder)
    known = {t.casefold() for t in store.glossary_terms(db)}
    return jsonify(
        {
            "segment": _segment_json(idx, correction.segment),
            "new_terms": [t for t in correction.new_terms if t.casefold() not in known],
        }
    )


@bp.post("/api/recordings/<id:recording_id>/segments/<id:idx>/revert")
def revert(recording_id: int, idx: int):
    """Put back what Whisper wrote for a segment."""
    db = get_db()
    store.get_recording(db, recording_id) or abort(404, f"no recording {recording_id}")
    correction = revert_segment(db, recording_id, idx, searcher().embedder)
    return jsonify({"segment": _segment_json(idx, correction.segment), "new_terms": []})


@bp.post("/api/glossary")
def add_to_glossary():
    """Teach the archive a name or term: ``{"term": ...}``; later ingests pass it to Whisper."""
    term = (request.get_json(silent=True) or {}).get("term")
    if not isinstance(term, str) or not term.strip() or len(term) > 100:
        abort(400, 'send JSON {"term": "a name or term"} of at most 100 characters')
    added = store.add_glossary_terms(get_db(), [term])
    return jsonify({"term": " ".join(term.split()), "added": bool(added)})


# -- publishing and takedowns ---------------------------------------------------------


@bp.post("/recordings/<slug>/visibility")
def set_visibility(slug: str):
    """Publish a draft, or hide a talk again: public, members or staff."""
    found = talk_or_404(slug)
    level = request.form.get("visibility", "")
    if level not in VISIBILITIES:
        abort(400, f"Visibility must be one of: {', '.join(VISIBILITIES)}.")
    store.set_visibility(get_db(), found.id, level)
    return redirect(url_for("pages.recording", slug=slug), code=303)


@bp.post("/recordings/<slug>/redact")
def redact(slug: str):
    """Take down a time range at a presenter's request: transcript, index, captions and audio."""
    from archive.doors.web.auth import is_admin
    from ingest.redaction import redact_range

    db = get_db()
    found = talk_or_404(slug)
    start, end = parse_timecode(request.form.get("start")), parse_timecode(request.form.get("end"))
    if start is None or end is None:
        abort(400, "Write the start and end of the part to remove as 12:34, 1:02:03 or seconds.")
    keep_original = bool(request.form.get("keep_original")) and is_admin()
    redact_range(
        db,
        current_app.config["ARCHIVE"],
        found.id,
        start,
        end,
        reason=request.form.get("reason", "").strip()[:500],
        user_email=g.user.email,
        keep_original=keep_original,
        embedder=searcher().embedder,
    )
    return redirect(url_for("pages.recording", slug=slug), code=303)
