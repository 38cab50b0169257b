"""Companion files from Zoom and Teams: a meeting transcript names who said each line."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace

import pytest

from archive.core.store import connect
from archive.core.store import jobs as job_store
from archive.core.store import recordings as store
from archive.core.store.records import Companions, RecordingMeta, Segment, Slide, SpeakerCue
from archive.doors.cli import cli
from ingest import companion_kinds
from ingest.companion_kinds import COMPANION_KINDS
from ingest.companions import CompanionError, assign_speakers, parse_speaker_vtt
from ingest.pipeline import ingest_file
from ingest.queue import JobQueue, JobRunner

from .fakes import ScriptedTranscriber, WordHashEmbedder
from .helpers import JFK

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
    lines = [
        Segment(1.0, 9.0, "Welcome."),
        Segment(8.0, 14.0, "Thank you, I am glad to be here."),
        Segment(33.0, 36.0, "(nobody in the transcript)"),
        Segment(40.5, 44.0, "Questions?"),
    ]
    assert [s.speaker for s in assign_speakers(lines, cues)] == ["Host", "Presenter", None, "Host"]
    assert [s.text for s in assign_speakers(lines, cues)] == [s.text for s in lines]  # Whisper's words stay


@pytest.mark.model
def test_ingest_with_a_zoom_transcript_names_the_speakers_everywhere(runner, config, client, two_voices, zoom_vtt):
    result = runner.invoke(
        cli,
        [
            "ingest",
            str(two_voices),
            "--title",
            "Two voices",
            "--visibility",
            "public",
            "--zoom-transcript",
            str(zoom_vtt),
        ],
    )
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


@pytest.mark.model
def test_the_speaker_filter_finds_what_a_person_said(runner, client, two_voices, zoom_vtt):
    """Neither person is listed as the talk's speaker: the meeting transcript alone names them."""
    result = runner.invoke(
        cli,
        [
            "ingest",
            str(two_voices),
            "--title",
            "Two voices",
            "--visibility",
            "public",
            "--zoom-transcript",
            str(zoom_vtt),
        ],
    )
    assert result.exit_code == 0, result.output
    said = client.get("/api/search", query_string={"q": "what you can do for your country", "speaker": "kennedy"})
    (moment,) = said.json["results"]
    assert moment["speaker"] == "John Kennedy" and moment["start"] < 5
    other = client.get("/api/search", query_string={"q": "what you can do for your country", "speaker": "Lovelace"})
    assert all(m["speaker"] == "Ada Lovelace" for m in other.json["results"] + other.json["weak_results"])
    nobody = client.get("/api/search", query_string={"q": "country", "speaker": "Grace Hopper"}).json
    assert nobody["results"] == [] and nobody["weak_results"] == []


@pytest.mark.model
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
    job = queue.submit(
        two_voices,
        RecordingMeta(title="Queued"),
        companions=Companions(speaker_cues=tuple(parse_speaker_vtt(ZOOM_VTT))),
    )
    assert queue.run_pending() == 1
    recording_id = store.get_recording_by_slug(db, "queued").id
    assert [s.speaker for s in store.get_segments(db, recording_id)] == ["John Kennedy", "Ada Lovelace"]
    with pytest.raises(CompanionError, match="another meeting"):
        queue.submit(
            two_voices,
            RecordingMeta(title="Wrong"),
            companions=Companions(speaker_cues=(SpeakerCue(0.0, 3600.0, "Someone"),)),
        )
    assert job.id == 1


# -- through the web -------------------------------------------------------------------------


def _multipart(fields: dict):
    import io

    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    encoded = {
        k: FileStorage(io.BytesIO(v[1]), filename=v[0]) if isinstance(v, tuple) else v for k, v in fields.items()
    }
    boundary, body = encode_multipart(encoded)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def test_staff_upload_a_recording_with_its_meeting_transcript(staff_client, config, two_voices):
    form = {
        "title": "Uploaded meeting",
        "media": ("meeting.flac", two_voices.read_bytes()),
        "zoom_transcript": ("meeting.vtt", ZOOM_VTT.encode()),
        "chat": ("chat.txt", SAVED_CHAT.encode()),
        "chat_start": "14:00:05",
    }
    assert staff_client.post("/upload", **_multipart(form)).status_code == 303
    db = connect(config.db_path)
    params = job_store.get_job(db, 1).params
    db.close()
    # The worker names the lines and keeps the chat.
    assert [c.speaker for c in params.companions.speaker_cues] == ["John Kennedy", "John Kennedy", "Ada Lovelace"]
    assert [m.at for m in params.companions.chat] == [2.0, 9.0]


def test_a_bad_meeting_transcript_on_the_upload_form_keeps_the_form_and_stores_nothing(
    staff_client, config, two_voices
):
    form = {
        "title": "Kept title",
        "media": ("meeting.flac", two_voices.read_bytes()),
        "zoom_transcript": ("notes.vtt", b"Just notes\n"),
    }
    page = staff_client.post("/upload", **_multipart(form))
    body = page.get_data(as_text=True)
    assert (
        page.status_code == 400
        and "notes.vtt: not a webvtt transcript" in body.lower()
        and 'value="Kept title"' in body
    )
    assert not config.uploads_dir.exists() or not list(config.uploads_dir.iterdir())
    assert not config.db_path.exists() or not job_store.list_jobs(connect(config.db_path))


@pytest.mark.model
def test_staff_attach_a_meeting_transcript_on_the_talk_page(runner, staff_client, client, config, two_voices):
    assert runner.invoke(cli, ["ingest", str(two_voices), "--title", "Two voices"]).exit_code == 0
    page = staff_client.get("/recordings/two-voices").get_data(as_text=True)
    assert 'action="/recordings/two-voices/companions"' in page and '<span class="turn">' not in page
    sent = staff_client.post(
        "/recordings/two-voices/companions", **_multipart({"zoom_transcript": ("meeting.vtt", ZOOM_VTT.encode())})
    )
    assert sent.status_code == 303 and sent.headers["Location"] == "/recordings/two-voices"
    assert '<span class="turn">John Kennedy</span>' in staff_client.get("/recordings/two-voices").get_data(as_text=True)
    bad = staff_client.post(
        "/recordings/two-voices/companions",
        **_multipart({"zoom_transcript": ("x.vtt", b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhi\n")}),
    )
    assert bad.status_code == 400 and "x.vtt: no speaker names" in bad.get_data(as_text=True).lower()
    assert client.post("/recordings/two-voices/companions").status_code in (403, 404)  # visitors cannot
    nothing = staff_client.post("/recordings/two-voices/companions", **_multipart({"chat_start": ""}))
    assert nothing.status_code == 400 and "Choose the meeting" in nothing.get_data(as_text=True)


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


@pytest.mark.model
def test_a_chat_beside_the_transcript_names_authors_to_staff_only(
    runner, client, staff_client, config, two_voices, tmp_path
):
    chat = tmp_path / "chat.txt"
    chat.write_text(SAVED_CHAT)
    result = runner.invoke(
        cli,
        [
            "ingest",
            str(two_voices),
            "--title",
            "With chat",
            "--visibility",
            "public",
            "--chat",
            str(chat),
            "--chat-start",
            "14:00:05",
        ],
    )
    assert result.exit_code == 0, result.output
    public = client.get("/recordings/with-chat").get_data(as_text=True)
    assert "How do you fund link workers?" in public and 'href="?t=9"' in public
    assert "Sam Lee" not in public and "Participant" in public
    assert 'href="https://example.org/slides.pdf"' in public and "Resources mentioned" in public
    assert '<span class="author">Sam Lee</span>' in staff_client.get("/recordings/with-chat").get_data(as_text=True)


@pytest.mark.model
def test_a_bad_chat_is_one_message_and_changes_nothing(runner, config, staff_client, two_voices, tmp_path):
    assert runner.invoke(cli, ["ingest", str(two_voices), "--title", "Quiet"]).exit_code == 0
    late = tmp_path / "late.txt"
    late.write_text("00:00:02\tMaya:\thi\n01:30:00\tMaya:\tstill here\n")
    vtt = tmp_path / "meeting.vtt"
    vtt.write_text(ZOOM_VTT)  # a good transcript is not attached either: every file is checked first
    result = runner.invoke(cli, ["attach", "quiet", "--chat", str(late), "--zoom-transcript", str(vtt)])
    assert result.exit_code == 2 and "another meeting" in result.stderr
    result = runner.invoke(cli, ["attach", "quiet", "--zoom-transcript", str(tmp_path / "none.vtt")])
    assert result.exit_code == 2 and "none.vtt: no such file" in result.stderr
    notes = tmp_path / "notes.txt"
    notes.write_text("Agenda\n- welcome\n")
    result = runner.invoke(cli, ["attach", "quiet", "--chat", str(notes)])
    assert result.exit_code == 2 and "notes.txt: not a Zoom chat export" in result.stderr
    result = runner.invoke(cli, ["attach", "quiet", "--chat", str(late), "--chat-start", "2pm"])
    assert result.exit_code == 2 and "a time of day like 14:00:05" in result.stderr
    db = connect(config.db_path)
    assert store.chat_messages(db, 1) == [] and {s.speaker for s in store.get_segments(db, 1)} == {None}
    db.close()
    sent = staff_client.post("/recordings/quiet/companions", **_multipart({"chat": ("notes.txt", b"Agenda\n")}))
    assert sent.status_code == 400 and "not a zoom chat export" in sent.get_data(as_text=True).lower()
    good = staff_client.post("/recordings/quiet/companions", **_multipart({"chat": ("chat.txt", CLOUD_CHAT.encode())}))
    assert good.status_code == 303
    db = connect(config.db_path)
    assert len(store.chat_messages(db, 1)) == 2
    db.close()


def test_a_refused_file_on_the_talk_page_gives_the_talk_page_with_the_message_by_the_form(
    db, config, staff_client, two_voices
):
    """Not a bare "Bad Request" page: the talk again, the form open, the message by its button, the file marked."""
    script = ScriptedTranscriber([(0.5, 10.5, "And so my fellow Americans"), (12.2, 15.8, "Then you go")])
    ingest_file(db, config, two_voices, RecordingMeta(title="Quiet"), transcriber=script, embedder=WordHashEmbedder())
    late = "00:00:02\tMaya:\thi\n01:01:40\tMaya:\tstill here\n"  # an hour in: the talk is 16 s long
    sent = staff_client.post("/recordings/quiet/companions", **_multipart({"chat": ("other_chat.txt", late.encode())}))
    page = sent.get_data(as_text=True)
    assert sent.status_code == 400
    assert "<h1>Quiet</h1>" in page and 'id="transcript"' in page and "Bad Request" not in page
    assert re.search(r'<details class="companions" open>\s*<summary>', page)
    form = re.search(r'<form [^>]*id="companions-form".*?</form>', page, re.S).group(0)
    message = re.search(
        r'<p class="notice error refusal" role="alert" id="companions-error" tabindex="-1" autofocus data-refusal>'
        r"([^<]*)</p>\s*<button type=\"submit\">Add</button>",
        form,
    )
    assert message and html.unescape(message.group(1)).startswith("other_chat.txt: a message at ")
    marked = re.findall(r'<input [^>]*aria-invalid="true"[^>]*>', form)
    assert len(marked) == 1 and 'name="chat"' in marked[0] and 'aria-describedby="companions-error"' in marked[0]
    assert 'src="/static/refusal.js?v=' in page  # brings the message into view and gives it the focus
    assert store.chat_messages(db, 1) == []

    # A start time that is not one: the field keeps what was typed, and is the one marked.
    sent = staff_client.post(
        "/recordings/quiet/companions", **_multipart({"chat": ("chat.txt", SAVED_CHAT.encode()), "chat_start": "2pm"})
    )
    form = re.search(r'<form [^>]*id="companions-form".*?</form>', sent.get_data(as_text=True), re.S).group(0)
    assert sent.status_code == 400 and "a time of day like 14:00:05" in form
    assert re.search(r'<input name="chat_start" value="2pm" placeholder="14:00:05" aria-invalid="true"', form)
    # Nothing chosen: the message is by the button, no field marked; the talk page itself has no message.
    sent = staff_client.post("/recordings/quiet/companions", **_multipart({"chat_start": ""}))
    body = sent.get_data(as_text=True)
    assert sent.status_code == 400 and 'id="companions-error"' in body and "aria-invalid" not in body
    assert "Choose the meeting" in body
    plain = staff_client.get("/recordings/quiet").get_data(as_text=True)
    assert "companions-error" not in plain and '<details class="companions">' in plain
    assert "refusal.js" not in plain


# -- slides ------------------------------------------------------------------------------------


def deck_pdf(pages: list) -> bytes:
    """A real 16:9 PDF: each page a (title, bullets) pair, or None for a page of pictures only."""
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", format=(190.5, 338.7))
    pdf.set_auto_page_break(False)
    for page in pages:
        pdf.add_page()
        if page is None:
            pdf.set_fill_color(200, 210, 220)
            pdf.rect(30, 25, 280, 140, style="F")
            continue
        title, bullets = page
        pdf.set_font("Helvetica", "B", 30)
        pdf.set_xy(20, 18)
        pdf.multi_cell(300, 13, title)
        pdf.set_font("Helvetica", "", 20)
        for bullet in bullets:
            pdf.set_x(28)
            pdf.multi_cell(290, 10, f"- {bullet}")
    return bytes(pdf.output())


DECK = [
    ("A Call to Service", ["Ask not what your country can do for you", "1961 inaugural address"]),
    None,
    ("Your ComfyUI Folder", ["Where the models go", "Open the ComfyUI folder again"]),
]


def test_a_pdf_deck_is_read_page_by_page_with_picture_pages_kept():
    from ingest.slides import read_slides

    slides = read_slides(deck_pdf(DECK), "deck.pdf")
    assert [(s.page, s.title) for s in slides] == [(1, "A Call to Service"), (2, ""), (3, "Your ComfyUI Folder")]
    assert "Where the models go" in slides[2].text and slides[1].text == "" and slides[0].at is None


def test_slides_are_lined_up_in_order_with_what_is_said():
    """Logic with a deterministic embedder: each slide comes up where its words are said, never
    going back; a page nobody talks about is placed just before the next one."""
    from ingest.slides import align_slides, slide_vectors
    from search.passages import segment_windows

    from .fakes import WordHashEmbedder

    topics = [
        "Welcome to the webinar about gardens and health.",
        "Community gardens grow vegetables with neighbours.",
        "Gardens bring neighbours together outdoors.",
        "Funding comes from a county grant and hospital budget.",
        "The grant pays for staff and seeds.",
        "Funding was renewed for three years.",
        "We measured loneliness with a survey before and after.",
        "Loneliness scores fell in the survey.",
        "Thank you, any questions?",
    ]
    lines = [Segment(10.0 * i, 10.0 * i + 9, text) for i, text in enumerate(topics)]
    slides = [
        Slide(1, "Gardens and health", "Gardens and health\nA webinar"),
        Slide(2, "Community gardens", "Community gardens\nNeighbours grow vegetables together"),
        Slide(3, "Agenda", "Agenda\nBudget tables appendix"),  # never discussed
        Slide(4, "Funding", "Funding\nCounty grant\nHospital budget renewed"),
        Slide(5, "", ""),  # a photo
        Slide(6, "Loneliness survey", "Loneliness survey\nScores before and after"),
        Slide(7, "Questions?", "Questions?\nThank you"),
    ]
    embedder = WordHashEmbedder()
    windows = embedder.embed_documents(segment_windows(lines))
    timed = align_slides(slides, lines, windows, slide_vectors(slides, embedder))
    at = [s.at for s in timed]
    assert at == sorted(at) and at[0] == 0.0
    assert at[1] == 10.0 and at[3] == 30.0 and at[5] == 60.0 and at[6] == 80.0
    assert at[2] <= at[3] and at[4] <= at[5]  # the agenda and the photo: placed, in order


@pytest.mark.model
def test_ingest_with_slides_shows_and_finds_each_at_its_moment(runner, config, client, two_voices, tmp_path):
    """Real speech and the real models: the ComfyUI slide comes up when the second voice starts (12 s)."""
    deck = tmp_path / "deck.pdf"
    deck.write_bytes(deck_pdf(DECK))
    result = runner.invoke(
        cli, ["ingest", str(two_voices), "--title", "With slides", "--visibility", "public", "--slides", str(deck)]
    )
    assert result.exit_code == 0, result.output
    db = connect(config.db_path)
    slides = store.slides(db, 1)
    db.close()
    assert [s.page for s in slides] == [1, 2, 3] and slides[0].at == 0.0
    assert 11.0 <= slides[2].at <= 13.0 and slides[1].at <= slides[2].at
    page = client.get("/recordings/with-slides").get_data(as_text=True)
    assert 'id="slides"' in page and "Your ComfyUI Folder" in page and "(pictures, no text)" in page
    assert page.count('class="slide-mark"') == 3
    found = client.get("/api/search", query_string={"q": "models go"}).json
    (aside,) = found["asides"]
    assert aside["kind"] == "slide" and aside["page"] == 3 and aside["url"].startswith("/recordings/with-slides?t=1")
    assert "<mark>models</mark>" in aside["snippet"]
    html = client.get("/search", query_string={"q": "models go"}).get_data(as_text=True)
    assert "On the slides and in the chat" in html and "Slide 3" in html


@pytest.mark.model
def test_slides_attached_later_from_the_talk_page_and_only_where_visitors_may_look(
    runner, config, client, staff_client, two_voices
):
    assert runner.invoke(cli, ["ingest", str(two_voices), "--title", "Draft talk"]).exit_code == 0
    sent = staff_client.post(
        "/recordings/draft-talk/companions",
        **_multipart({"slides": ("deck.pdf", deck_pdf(DECK)), "chat": ("chat.txt", CLOUD_CHAT.encode())}),
    )
    assert sent.status_code == 303
    assert "Your ComfyUI Folder" in staff_client.get("/recordings/draft-talk").get_data(as_text=True)
    # A draft's slides and chat are found by staff only.
    assert staff_client.get("/api/search", query_string={"q": "models go"}).json["asides"]
    assert client.get("/api/search", query_string={"q": "models go"}).json["asides"] == []
    chat = staff_client.get("/api/search", query_string={"q": "trains"}).json["asides"]
    assert [(a["kind"], a["at"]) for a in chat] == [("chat", 9.0)] and "Sam Lee" not in json.dumps(chat)


@pytest.mark.model
def test_chat_names_are_shown_to_everyone_only_when_staff_say_so(
    runner, config, client, staff_client, two_voices, tmp_path
):
    chat = tmp_path / "chat.txt"
    chat.write_text(CLOUD_CHAT)
    assert (
        runner.invoke(
            cli, ["ingest", str(two_voices), "--title", "Open chat", "--visibility", "public", "--chat", str(chat)]
        ).exit_code
        == 0
    )
    assert "Sam Lee" not in client.get("/recordings/open-chat").get_data(as_text=True)
    assert client.post("/recordings/open-chat/chat-names", data={"public": "1"}).status_code in (403, 404)
    assert staff_client.post("/recordings/open-chat/chat-names", data={"public": "1"}).status_code == 303
    assert '<span class="author">Sam Lee</span>' in client.get("/recordings/open-chat").get_data(as_text=True)
    staff_client.post("/recordings/open-chat/chat-names", data={"public": "0"})
    assert "Sam Lee" not in client.get("/recordings/open-chat").get_data(as_text=True)


BAD_SLIDES = {
    "notes.pdf": (b"Agenda\n- welcome\n", "not a PDF"),
    "damaged.pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not the rest of a PDF", "damaged PDF"),
    "pictures.pdf": (deck_pdf([None, None]), "no text on any page"),
}


@pytest.mark.parametrize("name", sorted(BAD_SLIDES))
def test_a_bad_slide_deck_is_one_clear_message_and_changes_nothing(runner, config, two_voices, tmp_path, name):
    content, message = BAD_SLIDES[name]
    bad = tmp_path / name
    bad.write_bytes(content)
    result = runner.invoke(cli, ["ingest", str(two_voices), "--slides", str(bad)])
    assert result.exit_code == 2 and f"{name}: " in result.stderr and message in result.stderr
    assert "Traceback" not in result.output
    assert not config.db_path.exists() or not store.list_recordings(connect(config.db_path))


# -- the registry: one entry per kind, read by every door ---------------------------------------


def test_every_door_offers_every_kind_of_meeting_file(db, config, staff_client, runner, two_voices):
    """The upload form, the talk page's form and the CLI's ingest and attach options all come from
    COMPANION_KINDS: each kind is offered with its file type, and nothing else is."""
    script = ScriptedTranscriber([(0.5, 10.5, "And so my fellow Americans")])
    ingest_file(db, config, two_voices, RecordingMeta(title="Quiet"), transcriber=script, embedder=WordHashEmbedder())
    upload = staff_client.get("/upload").get_data(as_text=True)
    talk = staff_client.get("/recordings/quiet").get_data(as_text=True)
    talk_form = re.search(r'<form [^>]*id="companions-form".*?</form>', talk, re.S).group(0)
    ingest_help = runner.invoke(cli, ["ingest", "--help"]).output
    attach_help = runner.invoke(cli, ["attach", "--help"]).output
    for kind in COMPANION_KINDS.values():
        field = f'<input type="file" name="{kind.field}" accept="{kind.accept}">'
        assert field in upload and field in talk_form, kind.field
        assert kind.option in ingest_help and kind.option in attach_help
    files = re.findall(r'<input type="file" name="([a-z_]+)"', upload)
    assert files == ["media", *COMPANION_KINDS]
    assert re.findall(r'<input type="file" name="([a-z_]+)"', talk_form) == list(COMPANION_KINDS)


def test_a_kind_added_to_the_registry_is_offered_by_the_forms(monkeypatch, staff_client):
    minutes = replace(
        COMPANION_KINDS["chat"],
        field="minutes",
        noun="the minutes",
        label="Minutes",
        suffix=".md",
        accept=".md",
        asks_recording_start=False,
    )
    monkeypatch.setitem(companion_kinds.COMPANION_KINDS, "minutes", minutes)
    upload = staff_client.get("/upload").get_data(as_text=True)
    assert '<input type="file" name="minutes" accept=".md">' in upload
    assert upload.count('name="chat_start"') == 1  # only the chat asks when the recording started
    assert companion_kinds.none_given_message().endswith("its chat (.txt), the slides (.pdf) or the minutes (.md)")


def test_a_drop_folder_reads_each_kind_by_its_suffix(tmp_path):
    talk = tmp_path / "talk.mp4"
    (tmp_path / "talk.vtt").write_text(ZOOM_VTT)
    (tmp_path / "talk.txt").write_text(CLOUD_CHAT)
    asked = []

    def beside(suffix):
        asked.append(suffix)
        path = talk.with_suffix(suffix)
        return (path.name, path.read_bytes()) if path.exists() else None

    companions = companion_kinds.read_companions(companion_kinds.drop_folder_companions(beside))
    assert asked == [kind.suffix for kind in COMPANION_KINDS.values()]
    assert len(companions.speaker_cues) == 3 and len(companions.chat) == 2 and companions.slides == ()
    assert companions.speaker_cues_file == "talk.vtt" and companions.chat_file == "talk.txt"


def test_reading_an_unknown_kind_is_a_doors_mistake_not_its_users():
    with pytest.raises(ValueError, match="no companion kind"):
        companion_kinds.read_companions({"minutes": ("m.md", b"x")})
    with pytest.raises(CompanionError, match="a start time goes with a chat export"):
        companion_kinds.read_companions({}, "14:00:05")
