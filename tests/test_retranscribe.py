"""`archive retranscribe`: a talk transcribed again with the current transcriber keeps what people
did to it (corrections, speaker names, takedowns, an edited outline, the slides' times), as a job
that resumes if it is stopped halfway."""

from __future__ import annotations

import json

import numpy as np
import pytest

from archive.core.store import jobs as job_store
from archive.core.store import recordings as store
from archive.core.store import write_transaction
from archive.core.store.records import ChatMessage, Recording, RecordingMeta, Segment, Slide, SpeakerCue, SpeechGap
from archive.doors.cli import cli
from ingest import queue as queue_module
from ingest.chapters import outline, set_chapters
from ingest.companions import name_speakers
from ingest.corrections import correct_segment
from ingest.diarize import rename_speaker
from ingest.pipeline import ingest_file
from ingest.queue import JobQueue, JobRunner
from ingest.redaction import redact_range
from ingest.retranscribe import merge_lines, reanchor_slides, retranscribe
from search.passages import build_passages

from .fakes import ScriptedTranscriber, WordHashEmbedder
from .helpers import JFK, read_samples, write_media

# What the previous release wrote: no languages, no speech gaps, its own model.
OLD_LINES = [
    (0.0, 4.0, "Good afternoon and welcome to the call."),
    (4.0, 8.0, "Today we talk about the Carelty program."),  # staff correct it
    (8.0, 12.0, "Ask not what your country can do."),
    (12.0, 16.0, "The link workers call each client."),  # taken down: 12.5 to 15.5
    (16.0, 20.0, "Any questions from the audience?"),
    (20.0, 24.0, "How do you bill for group sessions?"),
    (24.0, 28.0, "Thank you all for coming today."),
]
CORRECTED = "Today we talk about the Keralty program."
TAKEN_DOWN = (12.5, 15.5)
# What the current transcriber hears: other times, each line's language, a speech gap.
NEW_LINES = [
    (0.3, 3.8, "Good afternoon, and welcome to our call.", "en"),
    (4.2, 7.9, "Today we talk about the Kerality program.", "en"),  # the machine's version of the corrected line
    (8.4, 11.8, "Ask not what your country can do for you.", "en"),
    (13.0, 15.0, "Words heard in the silenced stretch.", "en"),  # inside the takedown
    (16.2, 19.6, "Are there any questions from the audience?", "en"),
    (20.3, 23.7, "How do you bill for group sessions?", "en"),
    (24.1, 27.5, "Gracias a todos por venir hoy.", "es"),
]
NEW_GAPS = [(5.0, 6.0), (13.5, 14.5), (19.7, 20.2)]  # in the corrected line, in the takedown, standing
SLIDES = [
    Slide(1, "Community call", "Community call", 0.0),
    Slide(2, "Keralty", "The Keralty program", 8.0),
    Slide(3, "Questions", "Questions", 16.0),
    Slide(4, "Thanks", "Thank you", 26.0),
]
EDITED_OUTLINE = "0:00 Welcome\n0:16 Audience questions"


def new_transcriber(**kwargs) -> ScriptedTranscriber:
    return ScriptedTranscriber(NEW_LINES, model_name="current-model", gaps=NEW_GAPS, **kwargs)


@pytest.fixture
def talk_file(tmp_path):
    """28 seconds: the JFK speech twice, then silence."""
    jfk = read_samples(JFK)
    samples = np.concatenate([jfk, jfk, np.zeros(48_000 * 28 - 2 * len(jfk), np.float32)])
    return write_media(tmp_path / "community-call.flac", samples)


@pytest.fixture
def old_talk(config, db, talk_file) -> int:
    """A talk as the previous release made it, then worked on by staff: a correction, speaker
    names (one renamed), a takedown, an edited outline, slides and the chat."""
    embedder = WordHashEmbedder()
    old = ScriptedTranscriber(OLD_LINES, model_name="old-release-model")
    meta = RecordingMeta(title="Community call", speakers=["Dr. Lee"])
    recording_id = ingest_file(db, config, talk_file, meta, transcriber=old, embedder=embedder).recording.id
    with write_transaction(db):
        db.execute("UPDATE recordings SET language = '' WHERE id = ?", [recording_id])  # it knew no languages
        store.replace_slides(db, recording_id, SLIDES)
        store.replace_chat(db, recording_id, [ChatMessage(21.0, "Ana", "Great question")])
    name_speakers(
        db,
        recording_id,
        [
            SpeakerCue(0.0, 8.0, "Host"),
            SpeakerCue(8.0, 20.0, "Dr. Lee"),
            SpeakerCue(20.0, 24.0, "Audience member 1"),
            SpeakerCue(24.0, 28.0, "Host"),
        ],
    )
    rename_speaker(db, recording_id, "Audience member 1", "Maya Torres")
    correct_segment(db, recording_id, 1, CORRECTED, embedder)
    redact_range(
        db,
        config,
        recording_id,
        *TAKEN_DOWN,
        reason="presenter asked",
        user_email="staff@example.org",
        keep_original=False,
        embedder=embedder,
    )
    set_chapters(db, recording_id, EDITED_OUTLINE)
    return recording_id


def snapshot(db, recording_id: int) -> dict:
    """Everything a retranscribe may change, to show it changed nothing."""
    recording = store.get_recording(db, recording_id)
    return {
        "recording": (recording.model, recording.language, recording.media_path, recording.chapters_edited),
        "segments": store.get_segments(db, recording_id),
        "gaps": store.speech_gaps(db, recording_id),
        "slides": store.slides(db, recording_id),
        "chapters": store.chapters(db, recording_id),
        "passages": db.execute(
            "SELECT idx, text FROM passages WHERE recording_id = ? ORDER BY idx", [recording_id]
        ).fetchall(),
        "windows": db.execute("SELECT count(*) FROM segment_vectors WHERE recording_id = ?", [recording_id]).fetchone(),
        "redactions": store.list_redactions(db, recording_id),
    }


def fts_count(db, recording_id: int, word: str) -> int:
    """The talk's passages full-text search finds ``word`` in."""
    return db.execute(
        "SELECT count(*) FROM passages_fts WHERE passages_fts MATCH ? "
        "AND rowid IN (SELECT id FROM passages WHERE recording_id = ?)",
        [word, recording_id],
    ).fetchone()[0]


def assert_brought_up_to_date(db, recording_id: int, edited_before: Segment) -> None:
    """Every correction, name, takedown, chapter edit and slide position kept (or re-anchored), the
    new words in and indexed, the old uncorrected ones gone."""
    segments = store.get_segments(db, recording_id)
    assert [(s.start, s.text, s.speaker) for s in segments] == [
        (0.3, "Good afternoon, and welcome to our call.", "Host"),
        (4.0, CORRECTED, "Host"),  # the correction, exactly as staff left it
        (8.4, "Ask not what your country can do for you.", "Dr. Lee"),
        (16.2, "Are there any questions from the audience?", "Dr. Lee"),
        (20.3, "How do you bill for group sessions?", "Maya Torres"),  # the renamed voice
        (24.1, "Gracias a todos por venir hoy.", "Host"),
    ]
    assert segments[1] == edited_before  # text, times, what the machine wrote, when, who
    assert [s.language for s in segments] == ["en", None, "en", "en", "en", "es"]
    assert all(s.end <= TAKEN_DOWN[0] or s.start >= TAKEN_DOWN[1] for s in segments)

    recording = store.get_recording(db, recording_id)
    assert (recording.model, recording.language) == ("current-model", "en,es")
    assert store.speech_gaps(db, recording_id) == [SpeechGap(19.7, 20.2)]
    (taken,) = store.list_redactions(db, recording_id)
    assert (taken.start, taken.end, taken.reason) == (*TAKEN_DOWN, "presenter asked")
    assert "redacted" in recording.media_path  # still the silenced copy
    assert recording.chapters_edited
    assert [(c.start, c.title) for c in store.chapters(db, recording_id)] == [
        (0.0, "Welcome"),
        (16.0, "Audience questions"),
    ]
    assert [s.at for s in store.slides(db, recording_id)] == [0.0, 8.4, 16.2, 24.1]
    assert [m.text for m in store.chat_messages(db, recording_id)] == ["Great question"]

    # The index is the new transcript's: its words found, the old machine words gone.
    passages = db.execute("SELECT text FROM passages WHERE recording_id = ? ORDER BY idx", [recording_id]).fetchall()
    assert [p[0] for p in passages] == [p.text for p in build_passages(segments)]
    assert db.execute("SELECT count(*) FROM segment_vectors WHERE recording_id = ?", [recording_id]).fetchone()[0] == 6
    assert fts_count(db, recording_id, "gracias") == 1 and fts_count(db, recording_id, "keralty") == 1
    for gone in ("coming", "carelty", "kerality", "silenced", "link"):
        assert fts_count(db, recording_id, gone) == 0, gone


def test_a_talk_from_the_previous_release_keeps_every_edit(config, db, old_talk):
    before = store.get_segments(db, old_talk)
    assert before[1].text == CORRECTED and before[1].machine_text == OLD_LINES[1][2]
    assert [s.speaker for s in before] == ["Host", "Host", "Dr. Lee", "Dr. Lee", "Maya Torres", "Host"]
    assert fts_count(db, old_talk, "coming") == 1  # the old machine words, indexed until now

    result = retranscribe(db, config, old_talk, transcriber=new_transcriber(), embedder=WordHashEmbedder())

    assert (result.segments, result.kept, result.gaps) == (6, 1, [SpeechGap(19.7, 20.2)])
    assert_brought_up_to_date(db, old_talk, before[1])


def test_an_automatic_outline_is_made_again_from_the_new_lines(config, db, talk_file):
    recording_id = ingest_file(
        db,
        config,
        talk_file,
        RecordingMeta(title="Community call"),
        transcriber=ScriptedTranscriber(OLD_LINES),
        embedder=WordHashEmbedder(),
    ).recording.id
    retranscribe(db, config, recording_id, transcriber=new_transcriber(), embedder=WordHashEmbedder())
    recording = store.get_recording(db, recording_id)
    assert not recording.chapters_edited
    assert store.chapters(db, recording_id) == outline(
        recording, store.get_segments(db, recording_id), store.slides(db, recording_id)
    )


class TwoVoices:
    """A diarizer that hears one voice until 16 s and another after it; counts its calls."""

    model_name = "two-voices"

    def __init__(self):
        self.calls = 0

    def load(self) -> None:
        pass

    def turns(self, samples):
        self.calls += 1
        return [SpeakerCue(0.0, 16.0, "voice-a"), SpeakerCue(16.0, 28.0, "voice-b")]


def test_a_talk_without_speakers_gets_its_voices_told_apart(config, db, talk_file):
    """A talk from before voices were told apart (no line has a speaker) gets them now, as a job
    whose page lists that step; a talk whose lines have speakers keeps its names, unheard."""
    recording_id = ingest_file(
        db,
        config,
        talk_file,
        RecordingMeta(title="Community call", speakers=["Dr. Lee"]),
        transcriber=ScriptedTranscriber(OLD_LINES),
        embedder=WordHashEmbedder(),
    ).recording.id
    assert not any(s.speaker for s in store.get_segments(db, recording_id))
    voices = TwoVoices()
    queue = JobQueue(config, JobRunner(config, WordHashEmbedder(), new_transcriber(), voices))
    job = queue.submit_retranscribe(recording_id)
    assert [step["label"] for step in queue_module.job_steps(job, diarizes=True)] == [
        "transcribing",
        "indexing for search",
        "telling the speakers apart",
    ]
    assert queue.run_pending() == 1
    assert job_store.get_job(db, job.id).state == "done" and voices.calls == 1
    said = [(s.text, s.speaker) for s in store.get_segments(db, recording_id)]
    assert said[0] == ("Good afternoon, and welcome to our call.", "Dr. Lee")  # the voice that speaks most
    assert said[-1] == ("Gracias a todos por venir hoy.", "Audience member 1")

    retranscribe(db, config, recording_id, transcriber=new_transcriber(), embedder=WordHashEmbedder(), diarizer=voices)
    assert voices.calls == 1  # its lines have speakers now: kept, not heard again
    assert [(s.text, s.speaker) for s in store.get_segments(db, recording_id)] == said


class StopsHalfway:
    """The current transcriber, stopped (a crash, the power) after ``lines`` of its lines and gaps."""

    def __init__(self, lines: int):
        self.inner = new_transcriber()
        self.model_name = self.inner.model_name
        self.lines = lines

    def load(self) -> None:
        pass

    def transcribe(self, audio, hints=""):
        for n, item in enumerate(self.inner.transcribe(audio, hints)):
            if n == self.lines:
                raise RuntimeError("stopped")
            yield item


def runner_queue(config, transcriber) -> JobQueue:
    return JobQueue(config, JobRunner(config, WordHashEmbedder(), transcriber))


def test_stopped_halfway_changes_nothing_and_a_rerun_resumes(config, db, old_talk, monkeypatch):
    monkeypatch.setattr(queue_module, "CHECKPOINT_SEGMENTS", 1)  # save the transcript after every line
    edited = store.get_segments(db, old_talk)[1]
    before = snapshot(db, old_talk)

    stopping = runner_queue(config, StopsHalfway(lines=4))
    job = stopping.submit_retranscribe(old_talk)
    assert stopping.run_pending() == 1
    failed = job_store.get_job(db, job.id)
    assert failed.state == "failed" and "RuntimeError" in failed.error
    assert snapshot(db, old_talk) == before  # exactly as it was
    saved = job_store.saved_progress(db, job.id)
    assert saved and saved[-1].end == 11.8

    # Asked again, the same job goes on from where it stopped.
    resumed = new_transcriber()
    again = runner_queue(config, resumed).submit_retranscribe(old_talk)
    assert again.id == job.id and again.state == "queued"
    assert runner_queue(config, resumed).run_pending() == 1
    done = job_store.get_job(db, job.id)
    assert (done.state, done.recording_id, done.resumed_from, done.attempts) == ("done", old_talk, 11.8, 2)
    assert_brought_up_to_date(db, old_talk, edited)
    assert db.execute("SELECT count(*) FROM job_segments").fetchone()[0] == 0


def test_a_correction_made_while_it_transcribes_is_kept(config, db, old_talk):
    """Staff correct a line while the talk is being transcribed again: the merge is made with
    the transcript as it is at the write, so their correction is kept too."""
    embedder = WordHashEmbedder()

    class CorrectsMidway(ScriptedTranscriber):
        def transcribe(self, audio, hints=""):
            for n, item in enumerate(super().transcribe(audio, hints)):
                if n == 2:
                    correct_segment(db, old_talk, 0, "Good afternoon and welcome to the Keralty call.", embedder)
                yield item

    transcriber = CorrectsMidway(NEW_LINES, model_name="current-model", gaps=NEW_GAPS)
    retranscribe(db, config, old_talk, transcriber=transcriber, embedder=embedder)
    segments = store.get_segments(db, old_talk)
    assert [s.text for s in segments if s.edited] == ["Good afternoon and welcome to the Keralty call.", CORRECTED]
    assert not any("welcome to our call" in s.text for s in segments)  # the machine's version of it left out


def test_a_run_here_that_was_killed_is_taken_up_by_the_next(config, db, old_talk):
    """`archive retranscribe --now` killed halfway leaves its job running for a process that is
    gone; asked again, it is released and resumed here (a worker would take it up too)."""
    import socket
    import subprocess

    edited = store.get_segments(db, old_talk)[1]
    queue = runner_queue(config, new_transcriber())
    job = queue.submit_retranscribe(old_talk)
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = f"{socket.gethostname()}:{gone.pid}"
    assert job_store.claim_job(db, job.id, dead, queue_module.LEASE_SECONDS)
    job_store.save_progress(db, job.id, new_transcriber().script[:3])

    done = queue.retranscribe_now(old_talk)
    assert (done.id, done.state, done.resumed_from) == (job.id, "done", 7.9)
    assert_brought_up_to_date(db, old_talk, edited)


@pytest.mark.parametrize("edit", ["correction", "takedown"])
def test_edits_made_while_it_indexes_are_kept(config, db, old_talk, edit):
    """A correction, or a takedown of a stretch without old lines (the transcript stays as it was),
    saved while the new transcript is being embedded: the merge is made again with it."""
    from archive.core.store import connect

    from .fakes import MeddlingEmbedder

    def edit_meanwhile():
        other = connect(config.db_path)
        if edit == "correction":
            correct_segment(other, old_talk, 5, "Thank you all, and gracias.", WordHashEmbedder())
        else:
            redact_range(
                other,
                config,
                old_talk,
                12.05,
                12.45,
                reason="",
                user_email="staff@example.org",
                keep_original=False,
                embedder=WordHashEmbedder(),
            )
        other.close()

    transcriber = ScriptedTranscriber([*NEW_LINES, (12.0, 12.4, "Hmm.", "en")], model_name="current-model")
    embedder = MeddlingEmbedder(WordHashEmbedder(), edit_meanwhile)
    retranscribe(db, config, old_talk, transcriber=transcriber, embedder=embedder)
    texts = [s.text for s in store.get_segments(db, old_talk)]
    if edit == "correction":
        assert "Thank you all, and gracias." in texts and "Gracias a todos por venir hoy." not in texts
    else:
        assert "Hmm." not in texts and len(store.list_redactions(db, old_talk)) == 2
    assert CORRECTED in texts


def test_merging_rules():
    old = [
        Segment(0.0, 4.0, "Hello all.", speaker="Host"),
        Segment(4.0, 8.0, "Fixed by staff.", machine_text="fixd by staf", edited_at="2024-01-01", speaker="Ana"),
        Segment(10.0, 14.0, "Later.", speaker="Ben"),
    ]
    new = [
        Segment(0.5, 5.0, "Hello all, and"),  # a fifth inside the corrected line: kept
        Segment(5.0, 9.0, "fixed by stuff"),  # three quarters inside it: left out
        Segment(9.0, 9.6, "um"),  # no old line overlaps it: the nearest one's speaker
        Segment(20.0, 21.0, "far away"),  # nobody near: no speaker
        Segment(12.0, 13.0, "taken down"),
    ]
    merged = merge_lines(old, new, [(11.0, 12.5)])
    assert [(s.text, s.speaker) for s in merged] == [
        ("Hello all, and", "Host"),
        ("Fixed by staff.", "Ana"),
        ("um", "Ben"),
        ("far away", None),
    ]
    assert merged[1] == old[1]
    slides = [Slide(1, "A", "A", 0.0), Slide(2, "B", "B", 3.0), Slide(3, "C", "C", 14.5), Slide(4, "D", "D", None)]
    assert [s.at for s in reanchor_slides(slides, merged)] == [0.0, 4.0, 14.5, None]  # 14.5: no line within 5 s


# -- the command ------------------------------------------------------------------------------


def jobs_listed(runner) -> list[dict]:
    result = runner.invoke(cli, ["jobs", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["jobs"]


def test_a_bad_id_is_one_line_and_changes_nothing(runner, config, db, old_talk):
    before = snapshot(db, old_talk)
    result = runner.invoke(cli, ["retranscribe", str(old_talk), "no-such-talk"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: no recording 'no-such-talk' in the archive (see `archive list`)"
    ]
    assert jobs_listed(runner) == [] and snapshot(db, old_talk) == before

    nothing = runner.invoke(cli, ["retranscribe"])
    assert nothing.exit_code == 2 and "--all" in nothing.stderr
    both = runner.invoke(cli, ["retranscribe", "--all", str(old_talk)])
    assert both.exit_code == 2 and len(both.stderr.strip().splitlines()) == 1


def test_all_queues_a_job_per_talk_that_a_worker_runs(runner, config, db, old_talk, talk_file, jfk_copy):
    other = ingest_file(
        db,
        config,
        jfk_copy,
        RecordingMeta(title="Ask not"),
        transcriber=ScriptedTranscriber([(0.0, 5.0, "And so my fellow Americans")]),
        embedder=WordHashEmbedder(),
    ).recording
    edited = store.get_segments(db, old_talk)[1]
    slug = store.get_recording(db, old_talk).slug

    result = runner.invoke(cli, ["retranscribe", "--all"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"job 1\tqueued\t{slug}", f"job 2\tqueued\t{other.slug}"]
    assert "archive worker" in result.stderr
    listed = jobs_listed(runner)
    assert [(j["id"], j["state"], j["title"]) for j in listed] == [
        (2, "queued", "Retranscribe: Ask not"),
        (1, "queued", "Retranscribe: Community call"),
    ]
    # Asked again before a worker got to it: the same job, not a second one.
    again = runner.invoke(cli, ["retranscribe", slug])
    assert again.exit_code == 0 and again.stdout.splitlines() == [f"job 1\tqueued\t{slug}"]

    assert runner_queue(config, new_transcriber()).run_pending() == 2
    listed = jobs_listed(runner)
    assert [(j["state"], j["recording_id"], j["error"]) for j in listed] == [
        ("done", other.id, None),
        ("done", old_talk, None),
    ]
    assert_brought_up_to_date(db, old_talk, edited)
    assert store.get_recording(db, other.id).model == "current-model"


def test_now_runs_it_here_as_a_listed_job(runner, config, db, old_talk, monkeypatch):
    import ingest.transcribe
    import search.embedder

    monkeypatch.setattr(ingest.transcribe, "transcriber_for", lambda config: new_transcriber())
    monkeypatch.setattr(search.embedder, "embedder_for", lambda config, **kwargs: WordHashEmbedder())
    edited = store.get_segments(db, old_talk)[1]
    recording: Recording = store.get_recording(db, old_talk)

    result = runner.invoke(cli, ["retranscribe", "--now", recording.slug])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{old_talk}\t{recording.url}"]
    assert [(j["state"], j["recording_id"]) for j in jobs_listed(runner)] == [("done", old_talk)]
    assert_brought_up_to_date(db, old_talk, edited)


def test_the_job_page_lists_a_retranscribes_steps(config, db, old_talk):
    job = runner_queue(config, new_transcriber()).submit_retranscribe(old_talk)
    assert [step["label"] for step in queue_module.job_steps(job, diarizes=True)] == [
        "transcribing",
        "indexing for search",
    ]
    assert not job.found_already(store.get_recording(db, old_talk))


@pytest.mark.model
def test_a_real_talk_transcribed_again_keeps_its_correction(config, db, two_voices, embedder):
    """Whisper (the bundled tiny.en) on real speech, twice: the corrected line stays as staff wrote it,
    the machine's version of it is left out, the other lines come back."""
    from ingest.transcribe import WhisperTranscriber

    whisper = WhisperTranscriber()
    recording_id = ingest_file(
        db, config, two_voices, RecordingMeta(title="Two voices"), transcriber=whisper, embedder=embedder
    ).recording.id
    first = store.get_segments(db, recording_id)
    correct_segment(db, recording_id, 0, "And so, my fellow Americans (the Inaugural Address)", embedder)
    edited = store.get_segments(db, recording_id)[0]

    result = retranscribe(db, config, recording_id, transcriber=whisper, embedder=embedder)
    segments = store.get_segments(db, recording_id)
    assert segments[0] == edited and result.kept == 1
    assert len(first) >= 2 and [s.text for s in segments[1:]] == [s.text for s in first[1:]]
    assert store.get_recording(db, recording_id).language == "en"


def test_job_rows_of_earlier_releases_still_read():
    from archive.core.store.records import JobParams

    old = JobParams.from_dict({"meta": {"title": "Talk"}, "original_filename": "talk.mp4"})
    assert (old.retranscribe_id, old.model, old.meta.title) == (None, "", "Talk")
    again = JobParams(RecordingMeta(title="Talk"), retranscribe_id=7, model="tiny.en")
    assert JobParams.from_dict(json.loads(json.dumps(again.to_dict()))) == again


def test_the_words_staff_gave_at_ingest_are_given_to_whisper_again(config, db, talk_file):
    heard: list[str] = []

    class Listening(ScriptedTranscriber):
        def transcribe(self, audio, hints: str = ""):
            heard.append(hints)
            yield from super().transcribe(audio, hints)

    meta = RecordingMeta(title="Community call", speakers=["Dr. Lee"], vocab=["Keralty", "Vecinos Compasivos"])
    made = ingest_file(db, config, talk_file, meta, transcriber=Listening(OLD_LINES), embedder=WordHashEmbedder())
    assert store.get_recording(db, made.recording.id).vocab == ["Keralty", "Vecinos Compasivos"]

    retranscribe(db, config, made.recording.id, transcriber=Listening(NEW_LINES), embedder=WordHashEmbedder())

    assert len(heard) == 2 and "Vecinos Compasivos" in heard[1] and heard[1] == heard[0]


def test_a_talk_from_before_the_words_were_kept_has_none(config, db, old_talk):
    with write_transaction(db):
        db.execute("UPDATE recordings SET vocab = NULL WHERE id = ?", [old_talk])
    assert store.get_recording(db, old_talk).vocab == []
