"""`archive watch`: a drop folder of recordings, their meeting transcripts and details."""

from __future__ import annotations

import json
import shutil
import threading
import time

import pytest

from archive.core.store import connect
from archive.core.store import jobs as job_store
from archive.core.store import recordings as store
from ingest.queue import JobQueue, JobRunner
from ingest.watch import DropFolder

from .fakes import ScriptedTranscriber, WordHashEmbedder
from .helpers import JFK
from .test_companions import DECK, ZOOM_VTT, deck_pdf


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def drop(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


@pytest.fixture
def queue(config):
    transcriber = ScriptedTranscriber([(0.5, 5.0, "And so my fellow Americans"), (5.0, 10.5, "ask not")])
    return JobQueue(config, JobRunner(config, WordHashEmbedder(), transcriber))


def _jobs(config):
    db = connect(config.db_path)
    try:
        return job_store.list_jobs(db)
    finally:
        db.close()


def test_a_recording_is_taken_once_it_stops_growing_and_only_once(config, drop, queue):
    clock = Clock()
    folder = DropFolder(drop, queue, settle_seconds=5, clock=clock)
    data = JFK.read_bytes()
    talk = drop / "talk.flac"
    talk.write_bytes(data[: len(data) // 2])  # still being copied
    (drop / "notes.txt").write_text("not a recording")
    assert folder.scan() == []
    clock.now += 10
    talk.write_bytes(data)  # it grew: wait again
    assert folder.scan() == []
    clock.now += 3
    assert folder.scan() == []
    clock.now += 3
    (taken,) = folder.scan()
    assert taken.path == talk.resolve() and taken.error is None
    clock.now += 10
    assert folder.scan() == []
    # A restart remembers what it took; the same bytes under another name are the same talk.
    again = DropFolder(drop, queue, settle_seconds=5, clock=clock)
    shutil.copy(talk, drop / "talk copy.flac")
    assert again.scan() == []
    clock.now += 6
    assert [t.path.name for t in again.scan()] == ["talk copy.flac"]
    assert queue.run_pending() == 2
    db = connect(config.db_path)
    assert len(store.list_recordings(db)) == 1 and {j.recording_id for j in job_store.list_jobs(db)} == {1}
    db.close()


def test_companions_of_the_same_name_give_details_and_speakers(config, drop, queue):
    clock = Clock()
    shutil.copy(JFK, drop / "march-meeting.flac")
    (drop / "march-meeting.vtt").write_text(ZOOM_VTT)
    (drop / "march-meeting.txt").write_text("00:00:02\tMaya Torres:\tSlides: https://example.org/s.pdf\n")
    (drop / "march-meeting.pdf").write_bytes(deck_pdf(DECK))
    (drop / "march-meeting.json").write_text(
        json.dumps(
            {
                "title": "March meeting",
                "speakers": "Maya Torres, Sam Lee",
                "host": "Ana Ruiz",
                "series": "Community of Practice",
                "tags": ["follow-up"],
                "date": "2025-03-12",
            }
        )
    )
    folder = DropFolder(drop, queue, settle_seconds=1, clock=clock)
    folder.scan()
    clock.now += 2
    (taken,) = folder.scan()
    assert queue.run_pending() == 1
    db = connect(config.db_path)
    job = job_store.get_job(db, taken.job_id)
    talk = store.get_recording(db, job.recording_id)
    lines = store.get_segments(db, talk.id)
    chat = store.chat_messages(db, talk.id)
    slides = store.slides(db, talk.id)
    db.close()
    assert (talk.title, talk.speakers, talk.tags, talk.date) == (
        "March meeting",
        ["Maya Torres", "Sam Lee"],
        ["follow-up"],
        "2025-03-12",
    )
    assert (talk.host, talk.series) == ("Ana Ruiz", "Community of Practice")
    assert talk.original_filename == "march-meeting.flac" and lines[0].speaker == "John Kennedy"
    assert [(m.at, m.author) for m in chat] == [(2.0, "Maya Torres")]
    assert [s.title for s in slides] == ["A Call to Service", "", "Your ComfyUI Folder"]


def test_a_recordings_own_tags_give_its_details_and_the_sidecar_wins(config, drop, queue):
    from .helpers import read_samples, write_media

    write_media(
        drop / "tagged.flac",
        read_samples(JFK),
        tags={
            "title": "Inaugural address",
            "artist": "John F. Kennedy; Robert Frost",
            "date": "1961-01-20",
            "comment": "Read at the Capitol.",
        },
    )
    (drop / "tagged.json").write_text(json.dumps({"title": "Ask not", "date": None}))  # null: the tag stands
    clock = Clock()
    folder = DropFolder(drop, queue, settle_seconds=1, clock=clock)
    folder.scan()
    clock.now += 2
    (taken,) = folder.scan()
    db = connect(config.db_path)
    meta = job_store.get_job(db, taken.job_id).params.meta
    db.close()
    assert (meta.title, meta.speakers, meta.date, meta.description) == (
        "Ask not",
        ["John F. Kennedy", "Robert Frost"],
        "1961-01-20",
        "Read at the Capitol.",
    )


@pytest.mark.parametrize(
    "name, content, companion, message",
    [
        ("renamed.mp3", b"not audio at all\n" * 200, None, "renamed.mp3: "),
        ("good.flac", None, ("good.json", '{"title": "x", "colour": "red"}'), "good.json: unknown field 'colour'"),
        ("good.flac", None, ("good.json", "{not json"), "good.json: not JSON"),
        (
            "good.flac",
            None,
            ("good.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nhello\n"),
            "good.vtt: no speaker names",
        ),
        ("good.flac", None, ("good.pdf", "Agenda\n"), "good.pdf: not a PDF"),
    ],
)
def test_a_file_that_cannot_be_taken_is_a_failed_job_saying_why(config, drop, queue, name, content, companion, message):
    clock = Clock()
    (drop / name).write_bytes(content if content is not None else JFK.read_bytes())
    if companion:
        (drop / companion[0]).write_text(companion[1])
    folder = DropFolder(drop, queue, settle_seconds=1, clock=clock)
    folder.scan()
    clock.now += 2
    (taken,) = folder.scan()
    (job,) = _jobs(config)
    assert job.state == "failed" and job.error.startswith(message) and taken.error == job.error
    assert str(config.data_dir) not in job.error
    clock.now += 5
    assert folder.scan() == []  # not taken again until the file changes
    db = connect(config.db_path)
    assert store.list_recordings(db) == []
    db.close()


def test_the_watcher_takes_a_file_dropped_while_it_runs(config, drop, queue):
    """The real loop: watchdog wakes it when the folder changes."""
    folder = DropFolder(drop, queue, settle_seconds=0.5)
    stop, taken = threading.Event(), []
    watcher = threading.Thread(target=folder.watch, args=(stop, taken.append), daemon=True)
    watcher.start()
    try:
        time.sleep(0.3)
        shutil.copy(JFK, drop / "dropped.flac")
        deadline = time.monotonic() + 20
        while not taken and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        watcher.join(timeout=40)
    assert [t.path.name for t in taken] == ["dropped.flac"] and not watcher.is_alive()
    assert [j.state for j in _jobs(config)] == ["queued"]


def test_archive_watch_refuses_a_missing_folder(runner, tmp_path):
    from archive.doors.cli import cli

    result = runner.invoke(cli, ["watch", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
