"""Staff pages through the Flask test client: upload, jobs, retry, metadata edits, who may use them."""

from __future__ import annotations

import html
import io
import re
import socket

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from archive.core.store import connect
from archive.core.store import jobs as job_store
from archive.core.store import recordings as store
from archive.core.store.records import JobParams
from ingest.queue import JobQueue

from .helpers import JFK

FORM = {
    "title": "Ask not",
    "speakers": "John F. Kennedy, Robert Frost",
    "host": "Ted Sorensen",
    "organization": "The White House",
    "date": "1961-01-20",
    "tags": "inaugural, speeches",
    "description": "The inaugural address.",
    "vocab": "Kennedy",
}


def upload(client, data: bytes, filename: str, files: dict | None = None, **fields):
    """Send the upload form: the recording, ``files`` (field -> (name, bytes)) beside it, and FORM with ``fields``."""
    # Encoded here, in memory: the test client's own encoder leaves a temporary file open.
    media = FileStorage(io.BytesIO(data), filename=filename, content_type="application/octet-stream")
    others = {field: FileStorage(io.BytesIO(body), filename=name) for field, (name, body) in (files or {}).items()}
    boundary, body = encode_multipart({**FORM, **fields, "media": media, **others})
    return client.post("/upload", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def upload_files(config) -> list:
    return sorted(config.uploads_dir.iterdir()) if config.uploads_dir.exists() else []


@pytest.mark.model
def test_an_upload_is_queued_then_ingested_under_its_own_name(staff_client, config):
    client = staff_client
    response = upload(client, JFK.read_bytes(), "../../home/staff/jfk speech.flac")
    assert response.status_code == 303
    job_id = int(re.fullmatch(r"/jobs/(\d+)", response.headers["Location"]).group(1))
    # Stored under a generated name, never the uploader's; nothing partial left behind.
    (stored,) = upload_files(config)
    assert re.fullmatch(r"[0-9a-f]{32}\.flac", stored.name)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "Ask not" in page and 'data-state="queued"' in page and "<progress" in page

    assert JobQueue(config).run_pending() == 1
    state = client.get(f"/api/jobs/{job_id}").json
    assert state["state"] == "done" and state["percent"] == 100
    db = connect(config.db_path)
    recording = store.get_recording(db, state["recording_id"])
    db.close()
    assert state["recording_url"] == recording.url
    assert recording.original_filename == "jfk speech.flac" and recording.speakers == [
        "John F. Kennedy",
        "Robert Frost",
    ]
    assert recording.tags == ["inaugural", "speeches"] and recording.date == "1961-01-20"
    assert recording.host == "Ted Sorensen"
    assert upload_files(config) == []  # the upload was the worker's to delete once ingested
    assert "country" in client.get(recording.url).get_data(as_text=True)


def test_an_upload_without_a_title_is_named_after_the_file(staff_client, config):
    client = staff_client
    response = upload(client, JFK.read_bytes(), "board_meeting-2024.flac", title="")
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert client.get(f"/api/jobs/{job_id}").json["title"] == "Board meeting 2024"


@pytest.mark.parametrize(
    "data, filename, fields, message",
    [
        (
            b"just some notes, not audio\n" * 100,
            "notes.mp3",
            {},
            "notes.mp3: not an audio or video file that can be read",
        ),
        (b"", "empty.wav", {}, "empty.wav: the file is empty (0 bytes)"),
        (JFK.read_bytes(), "jfk.flac", {"date": "next tuesday"}, "must be a date in the form YYYY-MM-DD"),
        (b"", "", {}, "Choose a recording"),
    ],
)
def test_a_bad_upload_is_one_clear_message_and_leaves_nothing(staff_client, config, data, filename, fields, message):
    client = staff_client
    response = upload(client, data, filename, **fields)
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in body and "Traceback" not in body and str(config.data_dir) not in body
    # What the person typed is still in the form.
    assert 'value="John F. Kennedy, Robert Frost"' in body and "The inaugural address." in body
    assert upload_files(config) == []
    db = connect(config.db_path)
    assert job_store.list_jobs(db) == []
    db.close()


# A chat export from another meeting: a message an hour in, and the recording is 11 s long.
LATE_CHAT = b"00:00:02\tMaya Torres:\tWelcome all\n01:01:40\tMaya Torres:\tstill here\n"


def form_of(page: str, form_id: str) -> str:
    """The HTML of the form ``form_id`` on ``page``."""
    found = re.search(rf'<form [^>]*id="{form_id}".*?</form>', page, re.S)
    assert found, f"no form {form_id}"
    return found.group(0)


def message_by_the_button(form: str, message_id: str) -> str:
    """The refusal's text, which stands just before the form's button (a hint at most between them)."""
    found = re.search(
        rf'<p ([^>]*id="{message_id}"[^>]*)>(.*?)</p>\s*(?:<p class="hint"[^>]*>[^<]*</p>\s*)?<button type="submit">',
        form,
        re.S,
    )
    assert found, f"no message {message_id} by the button in {form}"
    assert 'role="alert"' in found.group(1) and 'tabindex="-1"' in found.group(1)
    return html.unescape(found.group(2))


def marked_fields(form: str, message_id: str) -> list[str]:
    """The names of the fields marked wrong; each must point to the message."""
    marked = re.findall(r'<(?:input|select|textarea) [^>]*aria-invalid="true"[^>]*>', form)
    assert all(f'aria-describedby="{message_id}"' in tag for tag in marked), marked
    return [re.search(r'name="([^"]+)"', tag).group(1) for tag in marked]


@pytest.mark.parametrize(
    "data, filename, files, fields, field, message",
    [
        (b"notes, not audio\n" * 100, "notes.mp3", {}, {}, "media", "notes.mp3: not an audio or video file"),
        (b"", "", {}, {}, "media", "Choose a recording"),
        (JFK.read_bytes(), "jfk.flac", {}, {"date": "next tuesday"}, "date", "must be a date in the form YYYY-MM-DD"),
        (JFK.read_bytes(), "jfk.flac", {"chat": ("chat.txt", LATE_CHAT)}, {}, "chat", "chat.txt: a message at"),
        (
            JFK.read_bytes(),
            "jfk.flac",
            {"chat": ("chat.txt", LATE_CHAT)},
            {"chat_start": "2pm"},
            "chat_start",
            "a time of day like 14:00:05",
        ),
        (
            JFK.read_bytes(),
            "jfk.flac",
            {"zoom_transcript": ("minutes.vtt", b"Minutes of the meeting\n")},
            {},
            "zoom_transcript",
            "minutes.vtt: not a WebVTT transcript",
        ),
    ],
)
def test_a_refused_upload_says_why_by_the_button_marks_the_field_and_keeps_the_rest(
    staff_client, config, data, filename, files, fields, field, message
):
    response = upload(staff_client, data, filename, files, **fields)
    assert response.status_code == 400
    form = form_of(response.get_data(as_text=True), "upload-form")
    # Where the person is looking after pressing the button: the message, which names the wrong field.
    assert message in message_by_the_button(form, "upload-error")
    assert marked_fields(form, "upload-error") == [field]
    # Everything typed is there to send again.
    kept = {**FORM, **fields}
    for name in ("title", "speakers", "host", "organization", "date", "tags", "vocab", "chat_start"):
        if name in kept:
            assert re.search(rf'<input [^>]*name="{name}" value="{re.escape(html.escape(kept[name]))}"', form), name
    assert f">{kept['description']}</textarea>" in form
    assert upload_files(config) == []


def test_a_refused_file_is_named_as_it_was_uploaded(staff_client):
    """Not capitalised ("Q&a_chat.txt"), without the uploader's folders, and as text, not markup."""
    response = upload(staff_client, JFK.read_bytes(), "jfk.flac", {"chat": ("exports/q&a_chat.txt", LATE_CHAT)})
    body = response.get_data(as_text=True)
    message = message_by_the_button(form_of(body, "upload-form"), "upload-error")
    assert message.startswith("q&a_chat.txt: a message at ") and message.endswith(".")
    assert "q&amp;a_chat.txt: a message at" in body and "exports" not in body and "Q&amp;a_chat" not in body


def test_an_upload_over_the_size_limit_is_refused(data_dir):
    from archive.doors.web import create_app

    from .conftest import signed_in

    client = signed_in(create_app({"data_dir": data_dir, "max_upload_mb": 1, "TESTING": True}), "staff")
    response = upload(client, b"\0" * (2 * 1024 * 1024), "big.wav")
    body = response.get_data(as_text=True)
    assert response.status_code == 413 and "Traceback" not in body
    # The upload form again, the message by its button and the file input marked: not a bare error page.
    message = message_by_the_button(form_of(body, "upload-form"), "upload-error")
    assert message.startswith("That file is larger than the archive accepts (1 MB)")
    assert 'name="media" accept="audio/*,video/*" required aria-invalid="true"' in body
    assert upload_files(create_app({"data_dir": data_dir}).config["ARCHIVE"]) == []


def test_a_file_over_the_limit_on_the_talk_page_gives_the_talk_page_with_the_message(data_dir, db, config):
    from archive.doors.web import create_app
    from ingest.pipeline import ingest_file

    from .conftest import signed_in
    from .fakes import ScriptedTranscriber, WordHashEmbedder

    script = ScriptedTranscriber([(0.5, 10.5, "And so my fellow Americans")])
    ingest_file(db, config, JFK, store.RecordingMeta(title="Quiet"), transcriber=script, embedder=WordHashEmbedder())
    client = signed_in(create_app({"data_dir": data_dir, "max_upload_mb": 1, "TESTING": True}), "staff")
    chat = FileStorage(io.BytesIO(b"x" * (2 * 1024 * 1024)), filename="chat.txt")
    boundary, body = encode_multipart({"chat": chat})
    sent = client.post(
        "/recordings/quiet/companions", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )
    page = sent.get_data(as_text=True)
    assert sent.status_code == 413 and "<h1>Quiet</h1>" in page and 'id="transcript"' in page
    message = message_by_the_button(form_of(page, "companions-form"), "companions-error")
    assert message.startswith("That file is larger than the archive accepts (1 MB)")


@pytest.mark.model
def test_jobs_page_lists_states_and_a_failed_job_can_be_retried(staff_client, config, jfk_copy):
    client = staff_client
    queue = JobQueue(config)
    done = queue.submit(jfk_copy, store.RecordingMeta(title="Fine talk"))
    queue.run_pending()
    failing = queue.submit(jfk_copy, store.RecordingMeta(title="Broken talk"))
    db = connect(config.db_path)
    job_store.claim_job(db, failing.id, "a-worker", 60)
    job_store.fail_job(db, failing.id, "a-worker", "the model directory is missing")
    db.close()

    page = client.get("/jobs").get_data(as_text=True)
    assert "Fine talk" in page and "Broken talk" in page and "the model directory is missing" in page
    assert page.count(">Retry</button>") == 1
    job_page = client.get(f"/jobs/{failing.id}").get_data(as_text=True)
    assert "the model directory is missing" in job_page and 'id="job-retry"' in job_page

    retried = client.post(f"/jobs/{failing.id}/retry")
    assert retried.status_code == 303 and retried.headers["Location"] == f"/jobs/{failing.id}"
    assert client.get(f"/api/jobs/{failing.id}").json["state"] == "queued"
    assert client.post(f"/jobs/{done.id}/retry").status_code == 409
    assert client.post("/jobs/999/retry").status_code == 404
    assert client.get("/jobs/1/retry").status_code == 405


@pytest.mark.model
def test_staff_edit_a_talks_details_and_its_address_stays(staff_client, config, jfk_copy):
    client = staff_client
    db = connect(config.db_path)
    from ingest.pipeline import ingest_file

    recording = ingest_file(db, config, jfk_copy, store.RecordingMeta(title="Untitled", speakers=["Someone"])).recording
    db.close()
    url = f"/recordings/{recording.slug}/edit"
    assert 'value="Untitled"' in client.get(url).get_data(as_text=True)
    saved = client.post(url, data={**FORM, "title": "Ask not what your country can do", "series": " Inaugurals "})
    assert saved.status_code == 303 and saved.headers["Location"] == recording.url
    page = client.get(recording.url).get_data(as_text=True)
    assert "Ask not what your country can do" in page and "Robert Frost" in page and "The White House" in page
    assert '<a href="/series/inaugurals">Inaugurals</a>' in page
    assert '<span class="host">hosted by Ted Sorensen</span>' in page
    again = client.get(url).get_data(as_text=True)
    assert 'name="series" value="Inaugurals"' in again and 'name="host" value="Ted Sorensen"' in again
    bad = client.post(url, data={**FORM, "date": "1961-13-40"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    assert 'value="The White House"' in bad.get_data(as_text=True)  # what was typed is kept
    # The message sits by the Save button, where the person is, and the wrong field is marked.
    html = bad.get_data(as_text=True)
    assert html.index('name="date"') < html.index('id="edit-error"') < html.index(">Save</button>")
    assert 'name="date" value="1961-13-40" aria-invalid="true" aria-describedby="edit-error"' in html
    untitled = client.post(url, data={**FORM, "title": "  "})
    assert untitled.status_code == 400 and "needs a title" in untitled.get_data(as_text=True)
    assert client.get("/recordings/nope/edit").status_code == 404


STAFF_ROUTES = [
    ("get", "/upload"),
    ("post", "/upload"),
    ("get", "/jobs"),
    ("get", "/jobs/1"),
    ("post", "/jobs/1/retry"),
    ("get", "/recordings/any/edit"),
    ("post", "/recordings/any/visibility"),
    ("post", "/recordings/any/redact"),
    ("put", "/api/recordings/1/segments/0"),
    ("post", "/api/recordings/1/segments/0/revert"),
    ("post", "/api/glossary"),
    ("post", "/api/recordings"),
    ("get", "/api/jobs"),
    ("get", "/api/jobs/1"),
]


@pytest.mark.parametrize("method, path", STAFF_ROUTES)
def test_staff_routes_refuse_visitors_and_members(client, member_client, method, path):
    anonymous = getattr(client, method)(path)
    if method == "get" and not path.startswith("/api/"):
        assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login?next=")
    else:
        assert anonymous.status_code in (401, 403)
    member = getattr(member_client, method)(path)
    assert member.status_code == 403
    if path.startswith("/api/"):
        assert anonymous.json["status"] == anonymous.status_code and member.json["status"] == 403


def test_members_and_visitors_see_no_staff_links(client, member_client, staff_client):
    for visitor in (client, member_client):
        header = visitor.get("/").get_data(as_text=True).split("</header>")[0]
        assert 'href="/upload"' not in header
    assert 'href="/upload"' in staff_client.get("/").get_data(as_text=True)


def test_speech_that_got_no_text_is_shown_on_the_job_the_talk_and_in_check(
    staff_client, client, runner, config, jfk_copy, embedder
):
    from archive.doors.cli import cli
    from ingest.queue import JobRunner

    from .fakes import ScriptedTranscriber

    transcriber = ScriptedTranscriber(
        [(0.0, 4.0, "And so my fellow Americans"), (8.0, 11.0, "for your country")], gaps=[(4.2, 7.6)]
    )
    queue = JobQueue(config, JobRunner(config, embedder, transcriber))
    job = queue.submit(jfk_copy, store.RecordingMeta(title="Gappy talk"))
    assert queue.run_pending() == 1

    state = staff_client.get(f"/api/jobs/{job.id}").json
    assert state["state"] == "done" and state["speech_gaps"] == [{"start": 4.2, "end": 7.6}]
    assert "1 stretch of speech got no text (0:04–0:07)" in staff_client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert "1 stretch of speech with no text" in staff_client.get("/jobs").get_data(as_text=True)
    talk = staff_client.get(state["recording_url"]).get_data(as_text=True)
    assert 'id="speech-gaps"' in talk and 'href="?t=4.2"' in talk
    db = connect(config.db_path)
    store.set_visibility(db, state["recording_id"], "public")
    db.close()
    assert 'id="speech-gaps"' not in client.get(state["recording_url"]).get_data(as_text=True)  # staff only

    checked = runner.invoke(cli, ["check"])
    assert checked.exit_code == 0, checked.output  # worth a listen, not a fault
    assert "note: recording 1 (gappy-talk): speech with no text at 0:04-0:07 (3 s)" in checked.output


def test_a_job_says_what_it_is_doing_and_when_its_file_was_already_in(staff_client, config, jfk_copy, monkeypatch):
    import time

    from ingest.queue import JobRunner

    from .fakes import ScriptedTranscriber, WordHashEmbedder

    steps = []
    beat = job_store.beat

    def recording_beat(db, job_id, worker, percent=None, step=None, seconds_left=None):
        steps.append(step)
        beat(db, job_id, worker, percent, step, seconds_left)

    monkeypatch.setattr(job_store, "beat", recording_beat)
    runner = JobRunner(
        config, WordHashEmbedder(), ScriptedTranscriber([(0.5, 5.0, "And so"), (5.5, 10.5, "my fellow")])
    )
    queue = JobQueue(config, runner)
    first = queue.submit(jfk_copy, store.RecordingMeta(title="First title"))
    queue.run_pending()
    assert "checking the file" in steps and "indexing for search" in steps
    assert any(step and step.startswith("transcribing 0:0") and step.endswith(" of 0:11") for step in steps)
    assert staff_client.get(f"/api/jobs/{first.id}").json["already_in_archive"] is False

    time.sleep(1.1)  # the same bytes again, a second later, under a new title
    again = queue.submit(jfk_copy, store.RecordingMeta(title="A new title"))
    queue.run_pending()
    assert staff_client.get(f"/api/jobs/{again.id}").json["already_in_archive"] is True
    page = staff_client.get(f"/jobs/{again.id}").get_data(as_text=True)
    assert "already in the archive as “First title”" in page and "Update its details" in page


def test_a_jobs_page_lists_its_steps_and_the_time_left_by_this_machines_measured_speed(
    staff_client, config, jfk_copy, two_voices, monkeypatch
):
    """The first estimate is from earlier ingests on this machine with this model, not from how
    fast the percentage moved in the first seconds; the steps after transcription are steps too."""
    from ingest.pipeline import DEFAULT_SPEEDS
    from ingest.queue import JobRunner

    from .fakes import ScriptedTranscriber, WordHashEmbedder

    seen = []
    beat = job_store.beat

    def watching_beat(db, job_id, worker, percent=None, step=None, seconds_left=None):
        beat(db, job_id, worker, percent, step, seconds_left)
        if step:
            seen.append((step, percent, seconds_left, staff_client.get(f"/api/jobs/{job_id}").json))

    monkeypatch.setattr(job_store, "beat", watching_beat)
    runner = JobRunner(
        config, WordHashEmbedder(), ScriptedTranscriber([(0.5, 5.0, "And so"), (5.5, 10.5, "my fellow")])
    )
    queue = JobQueue(config, runner)
    queued = queue.submit(jfk_copy, store.RecordingMeta(title="First"))
    page = staff_client.get(f"/jobs/{queued.id}").get_data(as_text=True)
    listed = re.findall(r'<li data-state="(\w+)"[^>]*>([^<]+)<span class="visually-hidden">', page)
    assert listed == [("waiting", "Transcribing"), ("waiting", "Indexing for search")]  # no slides; ARCHIVE_DIARIZE=off
    queue.run_pending()

    # Nothing measured yet: the estimate uses the defaults; the steps move along as the job does.
    step, percent, seconds_left, state = seen[0]
    assert step == "checking the file" and percent == 0
    assert seconds_left == pytest.approx((DEFAULT_SPEEDS["transcribe"] + DEFAULT_SPEEDS["index"]) * 11.0, rel=0.05)
    indexing = next(s for s in seen if s[0] == "indexing for search")[3]
    assert [step["state"] for step in indexing["steps"]] == ["done", "current"]
    assert indexing["seconds_left"] is not None and indexing["seconds_left"] < seconds_left
    done = staff_client.get(f"/api/jobs/{queued.id}").json
    assert done["seconds_left"] is None and [s["state"] for s in done["steps"]] == ["done", "done"]

    # The finished job measured this machine: the next estimate comes from it.
    db = connect(config.db_path)
    measured = job_store.measured_speeds(db, socket.gethostname(), "scripted-test")
    db.close()
    assert set(measured) == {"transcribe", "index"} and all(speed >= 0 for speed in measured.values())
    seen.clear()
    second = queue.submit(two_voices, store.RecordingMeta(title="Second"))
    queue.run_pending()
    step, _, seconds_left, state = seen[0]
    duration = 16.0
    assert seconds_left == pytest.approx((measured["transcribe"] + measured["index"]) * duration, rel=0.1, abs=0.01)
    assert staff_client.get(f"/api/jobs/{second.id}").json["state"] == "done"


def test_an_estimate_reads_as_a_person_says_it():
    from archive.doors.web.staff import time_left

    assert time_left(20) == "(under a minute left)"
    assert time_left(70) == "(about 1 minute left)"
    assert time_left(300) == "(about 5 minutes left)"


def test_measured_speeds_are_this_machines_with_this_model(db):
    for speeds in (
        {"host": "here", "model": "base", "steps": {"transcribe": 0.08, "index": 0.01}},
        {"host": "here", "model": "base", "steps": {"transcribe": 0.10, "index": 0.02, "speakers": 0.04}},
        {"host": "here", "model": "base", "steps": {"transcribe": 0.50, "index": 0.01}},
        {"host": "elsewhere", "model": "base", "steps": {"transcribe": 9.0}},
        {"host": "here", "model": "tiny.en", "steps": {"transcribe": 0.01}},
    ):
        job_id = job_store.create_job(db, "talk.mp3", "/tmp/talk.mp3", JobParams(store.RecordingMeta()))
        assert job_store.claim_job(db, job_id, "here:1", 60) is not None
        assert job_store.finish_job(db, job_id, "here:1", 1, speeds)
    db.execute(
        "INSERT INTO jobs (title, state, speeds, created_at, updated_at) VALUES ('odd', 'done', 'not json', '', '')"
    )
    assert job_store.measured_speeds(db, "here", "base") == {"transcribe": 0.10, "index": 0.01, "speakers": 0.04}
    assert job_store.measured_speeds(db, "nowhere", "base") == {}
