"""Companion files from Zoom and Teams: a meeting transcript names who said each line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from archive.cli import cli
from archive.store import connect
from archive.store import jobs as job_store
from archive.store import recordings as store
from archive.store.models import RecordingMeta, Segment, SpeakerCue
from ingest.companions import CompanionError, assign_speakers, parse_speaker_vtt
from ingest.queue import JobQueue, JobRunner

from .fakes import ScriptedTranscriber, WordHashEmbedder
from .helpers import HOTWORDS, JFK, read_samples, write_media

# What Zoom writes for a cloud recording: numbered cues, "Name: text", its own (worse) words.
ZOOM_VTT = """WEBVTT

1
00:00:00.100 --> 00:00:05.200
John Kennedy: And so my fellow Americans, ask not

2
00:00:05.200 --> 00:00:10.900
John Kennedy: what your country can do for you, ask what you can do for your country.

3
00:00:12.000 --> 00:00:16.000
Ada Lovelace: Then you go into your comfy folder again in the comfy
"""

# What Teams writes: voice tags.
TEAMS_VTT = """WEBVTT

00:00:00.100 --> 00:00:10.900
<v John Kennedy>And so my fellow Americans</v>

00:00:12.000 --> 00:00:16.000
<v Ada Lovelace>Then you go into your folder</v>
"""


@pytest.fixture
def two_voices(tmp_path):
    """Real speech by two people: JFK (0-11 s), a pause, then the ComfyUI clip (12-16 s)."""
    rate = 48_000
    samples = np.concatenate([read_samples(JFK), np.zeros(rate, np.float32), read_samples(HOTWORDS)])
    return write_media(tmp_path / "meeting.flac", samples)


@pytest.fixture
def zoom_vtt(tmp_path):
    path = tmp_path / "meeting.vtt"
    path.write_text(ZOOM_VTT)
    return path


@pytest.mark.parametrize("text", [ZOOM_VTT, TEAMS_VTT])
def test_zoom_and_teams_transcripts_give_names_and_times(text):
    cues = parse_speaker_vtt(text)
    assert {c.speaker for c in cues} == {"John Kennedy", "Ada Lovelace"}
    assert cues[0].start == pytest.approx(0.1) and cues[-1].end == pytest.approx(16.0)


def test_each_line_goes_to_whoever_spoke_most_of_it():
    cues = [SpeakerCue(0.0, 10.0, "Host"), SpeakerCue(10.0, 30.0, "Presenter"), SpeakerCue(40.0, 45.0, "Host")]
    lines = [Segment(1.0, 9.0, "Welcome."), Segment(8.0, 14.0, "Thank you, I am glad to be here."),
             Segment(33.0, 36.0, "(nobody in the transcript)"), Segment(40.5, 44.0, "Questions?")]
    assert [s.speaker for s in assign_speakers(lines, cues)] == ["Host", "Presenter", None, "Host"]
    assert [s.text for s in assign_speakers(lines, cues)] == [s.text for s in lines]  # Whisper's words stay


def test_ingest_with_a_zoom_transcript_names_the_speakers_everywhere(runner, config, client, two_voices, zoom_vtt):
    result = runner.invoke(cli, ["ingest", str(two_voices), "--title", "Two voices", "--visibility", "public",
                                 "--zoom-transcript", str(zoom_vtt)])
    assert result.exit_code == 0, result.output
    db = connect(config.db_path)
    lines = store.get_segments(db, 1)
    db.close()
    assert lines[0].speaker == "John Kennedy" and lines[-1].speaker == "Ada Lovelace"
    assert "country" in " ".join(s.text for s in lines if s.speaker == "John Kennedy")
    assert "folder again" in lines[-1].text and "comfy folder" not in lines[-1].text  # Whisper's words, not Zoom's

    vtt = runner.invoke(cli, ["export", "1", "--format", "vtt"]).stdout
    assert "<v John Kennedy>And so" in vtt and "<v Ada Lovelace>" in vtt
    as_json = json.loads(runner.invoke(cli, ["export", "1", "--format", "json"]).stdout)
    assert as_json["segments"][0]["speaker"] == "John Kennedy"
    txt = runner.invoke(cli, ["export", "1"]).stdout
    assert "] John Kennedy: And so" in txt and "] Ada Lovelace: " in txt
    page = client.get("/recordings/two-voices").get_data(as_text=True)
    assert page.count('<span class="turn">') == 2 and '<span class="turn">Ada Lovelace</span>' in page


def test_the_speaker_filter_finds_what_a_person_said(runner, client, two_voices, zoom_vtt):
    """Neither person is listed as the talk's speaker: the meeting transcript alone names them."""
    result = runner.invoke(cli, ["ingest", str(two_voices), "--title", "Two voices", "--visibility", "public",
                                 "--zoom-transcript", str(zoom_vtt)])
    assert result.exit_code == 0, result.output
    said = client.get("/api/search", query_string={"q": "what you can do for your country", "speaker": "kennedy"})
    (moment,) = said.json["results"]
    assert moment["speaker"] == "John Kennedy" and moment["start"] < 5
    other = client.get("/api/search", query_string={"q": "what you can do for your country", "speaker": "Lovelace"})
    assert all(m["speaker"] == "Ada Lovelace" for m in other.json["results"] + other.json["weak_results"])
    nobody = client.get("/api/search", query_string={"q": "country", "speaker": "Grace Hopper"}).json
    assert nobody["results"] == [] and nobody["weak_results"] == []


def test_a_transcript_attached_later_names_the_speakers(runner, config, two_voices, zoom_vtt):
    assert runner.invoke(cli, ["ingest", str(two_voices), "--title", "Two voices"]).exit_code == 0
    attached = runner.invoke(cli, ["attach", "two-voices", "--zoom-transcript", str(zoom_vtt)])
    assert attached.exit_code == 0, attached.output
    assert "named the speakers of" in attached.stdout
    db = connect(config.db_path)
    assert {s.speaker for s in store.get_segments(db, 1)} == {"John Kennedy", "Ada Lovelace"}
    db.close()
    missing = runner.invoke(cli, ["attach", "99", "--zoom-transcript", str(zoom_vtt)])
    assert missing.exit_code == 2 and "no recording" in missing.stderr


BAD_COMPANIONS = {
    "notes.vtt": ("Just some notes about the meeting\n", "not a WebVTT transcript"),
    "unnamed.vtt": ("WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nGood afternoon everyone\n", "no speaker names"),
    "other-meeting.vtt": ("WEBVTT\n\n00:00:01.000 --> 00:59:04.000\nMaya Torres: Hello\n", "another meeting"),
    "binary.vtt": (b"\xff\xfe\x00\x01\x80\x81", "not a text file"),
}


@pytest.mark.parametrize("name", sorted(BAD_COMPANIONS))
def test_a_bad_companion_file_is_one_clear_message_and_changes_nothing(runner, config, two_voices, tmp_path, name):
    content, message = BAD_COMPANIONS[name]
    bad = tmp_path / name
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = runner.invoke(cli, ["ingest", str(two_voices), "--zoom-transcript", str(bad)])
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
    assert len([line for line in result.stderr.splitlines() if "Error" in line]) == 1
    assert not config.db_path.exists() or not store.list_recordings(connect(config.db_path))


def test_one_transcript_cannot_name_the_speakers_of_several_recordings(runner, two_voices, zoom_vtt):
    result = runner.invoke(cli, ["ingest", str(two_voices), str(JFK), "--zoom-transcript", str(zoom_vtt)])
    assert result.exit_code == 2 and "one recording" in result.stderr


def test_a_queued_ingest_keeps_the_speakers_for_its_worker(config, db, two_voices):
    transcriber = ScriptedTranscriber([(0.5, 10.5, "And so my fellow Americans"), (12.2, 15.8, "Then you go")])
    queue = JobQueue(config, JobRunner(config, WordHashEmbedder(), transcriber))
    job = queue.submit(two_voices, RecordingMeta(title="Queued"), speaker_cues=parse_speaker_vtt(ZOOM_VTT))
    assert queue.run_pending() == 1
    recording_id = store.get_recording_by_slug(db, "queued").id
    assert [s.speaker for s in store.get_segments(db, recording_id)] == ["John Kennedy", "Ada Lovelace"]
    with pytest.raises(CompanionError, match="another meeting"):
        queue.submit(two_voices, RecordingMeta(title="Wrong"), speaker_cues=[SpeakerCue(0.0, 3600.0, "Someone")])
    assert job.id == 1


# -- through the web -------------------------------------------------------------------------


def _multipart(fields: dict):
    import io

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    encoded = {k: FileStorage(io.BytesIO(v[1]), filename=v[0]) if isinstance(v, tuple) else v for k, v in fields.items()}
    boundary, body = encode_multipart(encoded)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def test_staff_upload_a_recording_with_its_meeting_transcript(staff_client, config, two_voices):
    form = {"title": "Uploaded meeting", "media": ("meeting.flac", two_voices.read_bytes()),
            "zoom_transcript": ("meeting.vtt", ZOOM_VTT.encode()), "chat": ("chat.txt", SAVED_CHAT.encode()),
            "chat_start": "14:00:05"}
    assert staff_client.post("/upload", **_multipart(form)).status_code == 303
    db = connect(config.db_path)
    params = job_store.get_job(db, 1).params
    db.close()
    # The worker names the lines and keeps the chat.
    assert [c.speaker for c in params.speaker_cues] == ["John Kennedy", "John Kennedy", "Ada Lovelace"]
    assert [m.at for m in params.chat] == [2.0, 9.0]


def test_a_bad_meeting_transcript_on_the_upload_form_keeps_the_form_and_stores_nothing(staff_client, config, two_voices):
    form = {"title": "Kept title", "media": ("meeting.flac", two_voices.read_bytes()),
            "zoom_transcript": ("notes.vtt", b"Just notes\n")}
    page = staff_client.post("/upload", **_multipart(form))
    body = page.get_data(as_text=True)
    assert page.status_code == 400 and "notes.vtt: not a webvtt transcript" in body.lower() and 'value="Kept title"' in body
    assert not config.uploads_dir.exists() or not list(config.uploads_dir.iterdir())
    assert not config.db_path.exists() or not job_store.list_jobs(connect(config.db_path))


def test_staff_attach_a_meeting_transcript_on_the_talk_page(runner, staff_client, client, config, two_voices):
    assert runner.invoke(cli, ["ingest", str(two_voices), "--title", "Two voices"]).exit_code == 0
    page = staff_client.get("/recordings/two-voices").get_data(as_text=True)
    assert 'action="/recordings/two-voices/speakers"' in page and '<span class="turn">' not in page
    sent = staff_client.post("/recordings/two-voices/speakers",
                             **_multipart({"zoom_transcript": ("meeting.vtt", ZOOM_VTT.encode())}))
    assert sent.status_code == 303 and sent.headers["Location"] == "/recordings/two-voices"
    assert '<span class="turn">John Kennedy</span>' in staff_client.get("/recordings/two-voices").get_data(as_text=True)
    bad = staff_client.post("/recordings/two-voices/speakers",
                            **_multipart({"zoom_transcript": ("x.vtt", b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhi\n")}))
    assert bad.status_code == 400 and "x.vtt: no speaker names" in bad.get_data(as_text=True).lower()
    assert client.post("/recordings/two-voices/speakers").status_code in (403, 404)  # visitors cannot


# -- the chat ---------------------------------------------------------------------------------

CLOUD_CHAT = (
    "00:00:02\tMaya Torres:\tWelcome all! Slides: https://example.org/slides.pdf\n"
    "00:00:09\tSam Lee:\tHow do you fund link workers?\n"
    "And who trains them?\n"
)
SAVED_CHAT = (
    "14:00:07 From Maya Torres to Everyone:\n\tWelcome all! Slides: https://example.org/slides.pdf\n"
    "14:00:10 From Sam Lee to Maya Torres (Direct Message):\n\tmy phone number is private\n"
    "14:00:14 From Sam Lee to Everyone:\n\tHow do you fund link workers?\n"
)


def test_both_zoom_chat_exports_are_timed_against_the_recording():
    from ingest.companions import chat_links, parse_chat

    cloud = parse_chat(CLOUD_CHAT)
    assert [(m.at, m.author) for m in cloud] == [(2.0, "Maya Torres"), (9.0, "Sam Lee")]
    assert cloud[1].text == "How do you fund link workers?\nAnd who trains them?"
    saved = parse_chat(SAVED_CHAT, recording_start="14:00:05")
    assert [(m.at, m.author) for m in saved] == [(2.0, "Maya Torres"), (9.0, "Sam Lee")]
    assert "private" not in " ".join(m.text for m in saved)  # direct messages stay private
    assert [m.at for m in parse_chat(SAVED_CHAT)] == [0.0, 7.0]  # no start given: the first message is at 0
    assert [url for url, _ in chat_links(cloud)] == ["https://example.org/slides.pdf"]


def test_a_chat_beside_the_transcript_names_authors_to_staff_only(runner, client, staff_client, config, two_voices,
                                                                  tmp_path):
    chat = tmp_path / "chat.txt"
    chat.write_text(SAVED_CHAT)
    result = runner.invoke(cli, ["ingest", str(two_voices), "--title", "With chat", "--visibility", "public",
                                 "--chat", str(chat), "--chat-start", "14:00:05"])
    assert result.exit_code == 0, result.output
    public = client.get("/recordings/with-chat").get_data(as_text=True)
    assert "How do you fund link workers?" in public and 'href="?t=9"' in public
    assert "Sam Lee" not in public and "Participant" in public
    assert 'href="https://example.org/slides.pdf"' in public and "Resources mentioned" in public
    assert '<span class="author">Sam Lee</span>' in staff_client.get("/recordings/with-chat").get_data(as_text=True)


def test_a_bad_chat_is_one_message_and_changes_nothing(runner, config, staff_client, two_voices, tmp_path):
    assert runner.invoke(cli, ["ingest", str(two_voices), "--title", "Quiet"]).exit_code == 0
    late = tmp_path / "late.txt"
    late.write_text("00:00:02\tMaya:\thi\n01:30:00\tMaya:\tstill here\n")
    result = runner.invoke(cli, ["attach", "quiet", "--chat", str(late), "--zoom-transcript", str(tmp_path / "none.vtt")])
    assert result.exit_code == 2 and "another meeting" in result.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("Agenda\n- welcome\n")
    result = runner.invoke(cli, ["attach", "quiet", "--chat", str(notes)])
    assert result.exit_code == 2 and "notes.txt: not a Zoom chat export" in result.stderr
    result = runner.invoke(cli, ["attach", "quiet", "--chat", str(late), "--chat-start", "2pm"])
    assert result.exit_code == 2 and "a time of day like 14:00:05" in result.stderr
    db = connect(config.db_path)
    assert store.chat_messages(db, 1) == [] and {s.speaker for s in store.get_segments(db, 1)} == {None}
    db.close()
    sent = staff_client.post("/recordings/quiet/chat", **_multipart({"chat": ("notes.txt", b"Agenda\n")}))
    assert sent.status_code == 400 and "not a zoom chat export" in sent.get_data(as_text=True).lower()
    good = staff_client.post("/recordings/quiet/chat", **_multipart({"chat": ("chat.txt", CLOUD_CHAT.encode())}))
    assert good.status_code == 303
    db = connect(config.db_path)
    assert len(store.chat_messages(db, 1)) == 2
    db.close()
