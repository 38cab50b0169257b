"""Chapters: a talk's outline from its speakers, slides and Q&A; edited by staff; exported for players and podcasts."""

from __future__ import annotations

import json
import re

import pytest

from archive.core.store import connect
from archive.core.store import recordings as store
from archive.core.store.records import Chapter, Recording, Segment, Slide
from archive.doors.cli import cli
from ingest.chapters import ChapterError, outline, parse_chapters, refresh_outline, set_chapters

from .test_companions import DECK, ZOOM_VTT, deck_pdf


def talk(speakers=("Thu Huong Nguyen",), duration=400.0, host="") -> Recording:
    return Recording(
        id=1,
        slug="t",
        title="Texting after a referral",
        speakers=list(speakers),
        organization="",
        date=None,
        tags=[],
        description="",
        duration=duration,
        media_path="",
        media_hash="",
        media_kind="audio",
        original_filename="",
        synthetic=False,
        language="en",
        model="",
        status="ready",
        created_at="",
        host=host,
    )


WEBINAR = [
    Segment(1.0, 8.0, "Hi everyone, and welcome.", speaker="Deborah Fairweather"),
    Segment(8.5, 30.0, "Today I'm pleased to introduce Thu Huong.", speaker="Deborah Fairweather"),
    Segment(31.0, 60.0, "Thank you, Deborah. Hoa Sen means lotus flower.", speaker="Thu Huong Nguyen"),
    Segment(61.0, 150.0, "We started texting people after a referral.", speaker="Thu Huong Nguyen"),
    Segment(151.0, 280.0, "Replies went up from a third to two thirds.", speaker="Thu Huong Nguyen"),
    Segment(281.0, 290.0, "Thank you. Let's go to questions.", speaker="Deborah Fairweather"),
    Segment(291.0, 300.0, "Hi, I'm Kwame from Philadelphia.", speaker="Kwame Mensah"),
    Segment(300.5, 310.0, "How do you handle people without a phone?", speaker="Kwame Mensah"),
    Segment(311.0, 340.0, "We call a neighbour or the pharmacy.", speaker="Thu Huong Nguyen"),
    Segment(341.0, 350.0, "Does it work in Vietnamese?", speaker="Lan Tran"),
    Segment(351.0, 380.0, "Yes, most messages are in Vietnamese.", speaker="Thu Huong Nguyen"),
    Segment(381.0, 395.0, "Thank you all for coming.", speaker="Deborah Fairweather"),
]
SLIDES = [
    Slide(1, "Checking In Without Calling", "Checking In Without Calling", 0.0),
    Slide(2, "Why text?", "Why text?\nFewer missed calls", 61.0),
    Slide(3, "Agenda", "Agenda", 140.0),  # up for 11 s: folded into the next
    Slide(4, "Results", "Results\nReplies doubled", 151.0),
    Slide(5, "Questions?", "Questions?", 285.0),
]


def test_a_webinar_outline_has_the_welcome_the_slides_and_each_question():
    chapters = outline(talk(), WEBINAR, SLIDES)
    assert chapters == [
        Chapter(0.0, "Welcome and introductions"),
        Chapter(31.0, "Presentation: Thu Huong Nguyen"),
        Chapter(61.0, "Why text?"),
        Chapter(151.0, "Results"),
        Chapter(281.0, "Questions and answers"),
        Chapter(291.0, "Question: How do you handle people without a phone?"),
        Chapter(341.0, "Question: Does it work in Vietnamese?"),
    ]


def test_without_names_the_qa_starts_at_the_invitation_to_ask():
    unnamed = [Segment(s.start, s.end, s.text) for s in WEBINAR]
    chapters = outline(talk(), unnamed)
    assert chapters == [Chapter(0.0, "Presentation"), Chapter(281.0, "Questions and answers")]
    # An invitation in the first half is the host's housekeeping ("put your questions in the chat"), not the Q&A.
    early = [Segment(5.0, 10.0, "Any questions, put them in the chat.")] + unnamed[1:5]
    assert outline(talk(), early) == [Chapter(0.0, "Presentation")]


def test_the_presenter_is_whoever_speaks_longest_when_the_listed_speakers_are_not_named():
    chapters = outline(talk(speakers=()), WEBINAR)
    assert chapters[1] == Chapter(31.0, "Presentation: Thu Huong Nguyen")


def _qa_after_the_talk(*audience_lines: tuple[str, str]) -> list[Segment]:
    """WEBINAR's welcome and presentation, the host's call, then the given (speaker, text) lines."""
    lines = WEBINAR[:6]
    start = 291.0
    for speaker, text in audience_lines:
        lines.append(Segment(start, start + 8.0, text, speaker=speaker))
        start += 10.0
    return lines


def _question_titles(chapters: list[Chapter]) -> list[str]:
    return [c.title for c in chapters if c.title.startswith("Question:")]


def test_a_question_is_titled_with_the_sentence_that_asks_not_the_greeting_or_introduction():
    lines = _qa_after_the_talk(
        ("Joe Park", "Thanks, Deborah, I'm Joe and I run a small public library in Ohio."),
        ("Joe Park", "We have no budget to speak of. I wondered how you got the hospital to pay for texting."),
        ("Thu Huong Nguyen", "We asked for a small grant first."),
        ("Ana Ruiz", "Hi, thank you so much. I'm Ana from Tucson, and how long did it take to set up?"),
        ("Thu Huong Nguyen", "About three months."),
        ("Lee Chan", "Hello. I'm curious whether people reply in the evening."),
    )
    assert _question_titles(outline(talk(), lines)) == [
        "Question: I wondered how you got the hospital to pay for texting.",
        "Question: How long did it take to set up?",
        "Question: I'm curious whether people reply in the evening.",
    ]


def test_the_hosts_hand_over_merged_into_the_next_persons_greeting_is_not_the_title():
    """A line that runs over the change of speaker: the host's "Lan, you're next." heard as Lan's."""
    lines = _qa_after_the_talk(
        ("Lan Tran", "Lan, you're next. Hi, Deborah."),
        ("Lan Tran", "Does it work in Vietnamese?"),
    )
    assert _question_titles(outline(talk(), lines)) == ["Question: Does it work in Vietnamese?"]
    lines = _qa_after_the_talk(("Lan Tran", "your next hi, Deborah. do the messages go out in Vietnamese"))
    assert _question_titles(outline(talk(), lines)) == ["Question: Do the messages go out in Vietnamese"]


def test_a_turn_without_a_question_mark_still_asks_and_a_statement_stands_in_when_nothing_asks():
    lines = _qa_after_the_talk(
        ("Kwame Mensah", "Hi. We're a small team. How do you keep up with the replies."),
        ("Lan Tran", "Thanks. In our clinic we send the first message on paper instead."),
    )
    assert _question_titles(outline(talk(), lines)) == [
        "Question: How do you keep up with the replies.",
        "Question: In our clinic we send the first message on paper instead.",
    ]


def test_no_qa_without_a_question_in_it():
    # Named: the only other voice says thanks (a voice split off the host's, or a goodbye).
    thanked = _qa_after_the_talk(("Kwame Mensah", "Thanks, this was great."), ("Lan Tran", "Hi."))
    chapters = outline(talk(), thanked)
    assert not [c for c in chapters if c.title.startswith("Question")]
    # Unnamed: a talk that ends by offering to take questions, and nobody asks.
    ending = [Segment(s.start, s.end, s.text) for s in WEBINAR[:5]]
    ending.append(Segment(380.0, 395.0, "Thank you, and I am happy to take questions."))
    assert outline(talk(), ending) == [Chapter(0.0, "Presentation")]


@pytest.mark.parametrize(
    "text, message",
    [
        ("Welcome\n", "line 1: start it with a time like 12:34"),
        ("0:00 Welcome\n2:10\n", "line 2: give the chapter at 2:10 a title"),
        ("0:00 Welcome\n\n99:00 Later\n", "line 3: 99:00 is past the end of the talk (6:40)"),
    ],
)
def test_an_outline_that_cannot_be_read_names_its_line(text, message):
    with pytest.raises(ChapterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_chapters(text, 400.0)


@pytest.mark.model
def test_staff_edits_stay_until_they_clear_them(runner, config, two_voices):
    assert runner.invoke(cli, ["ingest", str(two_voices), "--title", "Two voices"]).exit_code == 0
    db = connect(config.db_path)
    automatic = store.chapters(db, 1)
    assert automatic and automatic[0].start == 0.0
    set_chapters(db, 1, "0:05 Ask not\n0:00 Opening\n0:12 - The ComfyUI folder\n")
    edited = [Chapter(0.0, "Opening"), Chapter(5.0, "Ask not"), Chapter(12.0, "The ComfyUI folder")]
    assert store.chapters(db, 1) == edited and refresh_outline(db, 1) == edited  # moved, renamed: kept
    set_chapters(db, 1, "  \n")
    assert store.chapters(db, 1) == automatic and not store.get_recording(db, 1).chapters_edited
    db.close()


@pytest.mark.model
def test_a_meeting_with_slides_gets_chapters_on_the_page_and_in_both_exports(
    runner, config, client, staff_client, two_voices, tmp_path
):
    """Real speech, the real models: John Kennedy presents, Ada Lovelace (not listed) asks."""
    vtt, deck = tmp_path / "meeting.vtt", tmp_path / "deck.pdf"
    vtt.write_text(ZOOM_VTT)
    deck.write_bytes(deck_pdf(DECK))
    result = runner.invoke(
        cli,
        [
            "ingest",
            str(two_voices),
            "--title",
            "Two voices",
            "--speaker",
            "John F. Kennedy",
            "--visibility",
            "public",
            "--zoom-transcript",
            str(vtt),
            "--slides",
            str(deck),
        ],
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["chapters", "two-voices"]).stdout.splitlines()
    assert listed[0] == "0:00 Presentation: John Kennedy"
    # The Q&A opens with Ada's question: one entry, the question (the slide shown then belongs to it).
    # Where Whisper's first word of the question falls: 0:11 or 0:12 by the CPU and the VAD's edge.
    assert len(listed) == 2 and re.match(r"0:1[12] Question: Then you go into your", listed[1])

    page = client.get("/recordings/two-voices").get_data(as_text=True)
    assert 'id="chapters"' in page and 'kind="chapters"' in page and page.count('class="chapter-bar"') == 1
    assert "Edit chapters" not in page
    track = client.get("/recordings/two-voices/chapters.vtt")
    assert track.mimetype == "text/vtt" and "00:00:00.000 --> 00:00:1" in track.get_data(as_text=True)
    podcast = client.get("/recordings/two-voices/chapters.json")
    assert podcast.mimetype == "application/json+chapters"
    data = json.loads(podcast.get_data(as_text=True))
    assert data["version"] == "1.2.0" and data["chapters"][0] == {
        "startTime": 0.0,
        "endTime": data["chapters"][1]["startTime"],
        "title": "Presentation: John Kennedy",
    }
    assert data["chapters"][-1]["endTime"] == pytest.approx(
        store.get_recording(connect(config.db_path), 1).duration, abs=0.01
    )

    # Staff rename and move through the page; visitors cannot.
    assert client.post("/recordings/two-voices/chapters", data={"chapters": "0:00 Mine"}).status_code in (403, 404)
    saved = staff_client.post("/recordings/two-voices/chapters", data={"chapters": "0:00 Ask not\n0:11 Folders"})
    assert saved.status_code == 303
    assert runner.invoke(cli, ["chapters", "1"]).stdout == "0:00 Ask not\n0:11 Folders\n"
    bad = staff_client.post("/recordings/two-voices/chapters", data={"chapters": "0:00 Ask not\nlater Folders"})
    assert bad.status_code == 400 and "Line 2: start it with a time" in bad.get_data(as_text=True)
    assert runner.invoke(cli, ["chapters", "1"]).stdout == "0:00 Ask not\n0:11 Folders\n"  # nothing changed


@pytest.mark.model
def test_chapters_from_the_command_line(runner, config, two_voices, tmp_path):
    assert runner.invoke(cli, ["ingest", str(two_voices), "--title", "Two voices"]).exit_code == 0
    outline_file = tmp_path / "outline.txt"
    outline_file.write_text("0:00 Opening\n0:12 Folders\n")
    assert runner.invoke(cli, ["chapters", "1", "--set", str(outline_file)]).stdout == "0:00 Opening\n0:12 Folders\n"
    as_vtt = runner.invoke(cli, ["chapters", "1", "--format", "vtt"]).stdout
    assert as_vtt.startswith("WEBVTT") and "00:00:12.000 --> " in as_vtt and "\nFolders\n" in as_vtt
    outline_file.write_text("0:00 Opening\n9:99:99 Never\n")
    bad = runner.invoke(cli, ["chapters", "1", "--set", str(outline_file)])
    assert bad.exit_code == 2 and "line 2" in bad.stderr and "Traceback" not in bad.output
    missing = runner.invoke(cli, ["chapters", "404"])
    assert missing.exit_code == 2 and "no recording" in missing.stderr
