"""The durable job queue: `archive ingest --queue`, workers, failures, and a worker killed mid-job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from archive.core.store import connect
from archive.core.store import jobs as job_store
from archive.core.store import recordings as store
from archive.core.store.check import check_archive
from archive.core.store.recordings import count_rows
from archive.doors.cli import cli
from ingest.pipeline import RecordingMeta, ingest_file
from ingest.queue import JobQueue
from ingest.samples import SAMPLES_DIR

from .fakes import ScriptedTranscriber, WordHashEmbedder, script_for


def _jobs(runner):
    result = runner.invoke(cli, ["jobs", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["jobs"]


@pytest.mark.model
def test_queued_ingest_returns_at_once_and_a_worker_finishes_it(runner, jfk_copy, tmp_path):
    second = tmp_path / "second.flac"
    second.write_bytes(jfk_copy.read_bytes()[:-1] + b"\0")  # different bytes, same speech
    result = runner.invoke(cli, ["ingest", "--queue", str(jfk_copy), str(second), "--title", "Ask Not"])
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[:2] for line in result.stdout.splitlines()] == [["job 1", "queued"], ["job 2", "queued"]]
    assert [(j["id"], j["state"], j["percent"]) for j in _jobs(runner)] == [(2, "queued", 0), (1, "queued", 0)]

    worked = runner.invoke(cli, ["worker", "--until-empty"])
    assert worked.exit_code == 0, worked.output
    jobs = _jobs(runner)
    assert [(j["state"], j["percent"], j["error"]) for j in jobs] == [("done", 100, None)] * 2
    assert {j["recording_id"] for j in jobs} == {1, 2}
    assert set(jobs[0]) == {"id", "title", "state", "percent", "step", "seconds_left", "error", "recording_id"}


def test_bad_file_is_refused_before_it_is_queued(runner, tmp_path):
    bad = tmp_path / "slides.mp4"
    bad.write_text("not a video")
    result = runner.invoke(cli, ["ingest", "--queue", str(bad)])
    assert result.exit_code == 2 and "not an audio or video file" in result.stderr
    assert _jobs(runner) == []


@pytest.mark.model
def test_a_failing_job_reports_why_and_retry_works(runner, config, jfk_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHIVE_WHISPER_MODEL", str(tmp_path / "no-such-model"))
    assert runner.invoke(cli, ["ingest", "--queue", str(jfk_copy)]).exit_code == 0
    assert runner.invoke(cli, ["worker", "--until-empty"]).exit_code == 0
    [job] = _jobs(runner)
    assert job["state"] == "failed" and "no Whisper model" in job["error"]

    monkeypatch.delenv("ARCHIVE_WHISPER_MODEL")
    assert runner.invoke(cli, ["retry", "1"]).exit_code == 0
    assert runner.invoke(cli, ["retry", "1"]).exit_code == 2  # not failed any more
    assert runner.invoke(cli, ["worker", "--until-empty"]).exit_code == 0
    [job] = _jobs(runner)
    assert job["state"] == "done" and job["recording_id"] == 1


@pytest.mark.model
def test_a_job_delivered_twice_runs_once(config, jfk_copy):
    queue = JobQueue(config)
    job = queue.submit(jfk_copy, RecordingMeta(title="Twice"))
    queue.recover()  # delivers the queued job a second time
    assert queue.run_pending() == 2
    db = connect(config.db_path)
    assert count_rows(db)["recordings"] == 1
    assert job_store.get_job(db, job.id).attempts == 1
    db.close()


@pytest.mark.model
def test_the_serve_worker_runs_jobs_in_the_background(config, jfk_copy):
    queue = JobQueue(config)
    thread, stop = queue.start_background_worker()
    job = queue.submit(jfk_copy, RecordingMeta(title="Background"))
    db = connect(config.db_path)
    deadline = time.monotonic() + 120
    while job_store.get_job(db, job.id).state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    thread.join(timeout=10)
    assert job_store.get_job(db, job.id).state == "done"
    db.close()


@pytest.mark.model
def test_worker_killed_mid_job_resumes_and_finishes_exactly_once(tmp_path, config):
    talk = SAMPLES_DIR / "following-up-with-clients.m4a"  # a demo talk: over two minutes of speech

    # The undisturbed run, in a separate archive, for comparison.
    reference_config = type(config)(data_dir=tmp_path / "reference")
    reference_db = connect(reference_config.db_path)
    expected = ingest_file(reference_db, reference_config, talk, RecordingMeta(title="Long talk")).segments
    reference_db.close()

    job = JobQueue(config).submit(talk, RecordingMeta(title="Long talk"))
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(config.data_dir)}
    worker = subprocess.Popen([sys.executable, "-m", "archive", "worker"], env=env, stderr=subprocess.DEVNULL)
    db = connect(config.db_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = job_store.get_job(db, job.id)
            # Part-way through, with some of its transcript already saved for a resume.
            if state.state == "running" and state.percent <= 80 and job_store.saved_progress(db, job.id):
                break
            assert state.state in ("queued", "running"), state
            time.sleep(0.05)
        else:
            raise AssertionError("the worker never got going")
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert job_store.get_job(db, job.id).state == "running"  # left behind by the dead worker
        assert count_rows(db)["recordings"] == 0
        saved = job_store.saved_progress(db, job.id)

        queue = JobQueue(config)
        assert queue.recover() == [job.id]  # its worker's process is gone: no need to wait for the lease
        queue.run_pending()
        done = job_store.get_job(db, job.id)
        assert done.state == "done" and done.attempts == 2
        # Resumed, not restarted: the second attempt began where the saved transcript ended.
        assert done.resumed_from == saved[-1].end > 0
        recording = store.get_recording(db, done.recording_id)
        segments = store.get_segments(db, recording.id)
        assert [(s.start, s.end, s.text) for s in segments[: len(saved)]] == [(s.start, s.end, s.text) for s in saved]
        assert job_store.saved_progress(db, job.id) == []  # cleared once the talk is in
        counts = count_rows(db)
        assert counts["recordings"] == 1
        assert abs(counts["segments"] - expected) <= 2  # the same transcript, give or take the seam
        assert counts["passages"] == counts["passage_vectors"]
        fts = db.execute("SELECT count(*) FROM passages_fts").fetchone()[0]
        assert fts == counts["passages"]
        assert check_archive(db, config).problems == []  # integrity, index rows, media: all whole
    finally:
        if worker.poll() is None:
            worker.kill()
        db.close()


@pytest.mark.model
def test_a_job_whose_remote_worker_stopped_beating_is_delivered_again(config, jfk_copy):
    queue = JobQueue(config)
    job = queue.submit(jfk_copy, RecordingMeta(title="Remote"))
    db = connect(config.db_path)
    assert job_store.claim_job(db, job.id, "gpu-box-7:4242", 60)  # a worker on another machine
    assert queue.recover(include_queued=False) == []  # alive: its heartbeat is fresh
    with db.atomic():  # then it vanished: no heartbeat for longer than the lease
        db.execute("UPDATE jobs SET heartbeat_at = '2000-01-01T00:00:00+00:00' WHERE id = ?", [job.id])
    assert queue.recover(include_queued=False) == [job.id]
    queue.run_pending()
    done = job_store.get_job(db, job.id)
    assert done.state == "done" and done.attempts == 2
    db.close()


@pytest.mark.parametrize(
    "args, env, message",
    [
        (
            ["worker", "--server", "notaurl", "--token", "t"],
            {"ARCHIVE_QUEUE_URL": "redis://127.0.0.1:1/0"},
            "is not the archive's address",
        ),
        (["worker", "--server", "http://archive:5000", "--token", "t"], {}, "takes its jobs from Redis"),
        (
            ["worker", "--server", "http://archive:5000"],
            {"ARCHIVE_QUEUE_URL": "redis://127.0.0.1:1/0"},
            "needs a staff API token",
        ),
    ],
)
def test_a_misconfigured_remote_worker_says_what_to_fix(runner, monkeypatch, args, env, message):
    monkeypatch.delenv("ARCHIVE_TOKEN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(cli, args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


# -- the job runner with fast stand-ins for the models -----------------------------------------------


def _runner_queue(config, transcriber):
    from ingest.queue import JobRunner

    return JobQueue(config, JobRunner(config, WordHashEmbedder(), transcriber))


def test_a_job_runs_from_claim_to_done_with_stand_in_models(config, jfk_copy):
    lines = ["And so my fellow Americans", "ask not what your country can do for you"]
    transcriber = ScriptedTranscriber(script_for(11.0, lines))
    queue = _runner_queue(config, transcriber)
    job = queue.submit(jfk_copy, RecordingMeta(title="Scripted"))
    assert queue.run_pending() == 1
    db = connect(config.db_path)
    done = job_store.get_job(db, job.id)
    assert (done.state, done.percent, done.error) == ("done", 100, None)
    assert [s.text for s in store.get_segments(db, done.recording_id)] == lines
    assert db.execute("SELECT count(*) FROM job_segments").fetchone()[0] == 0  # the saved progress is cleared
    assert check_archive(db, config).ok
    db.close()


@pytest.fixture
def upload(config, jfk_copy):
    """A web upload as the archive keeps it: a generated name in the uploads folder."""
    config.uploads_dir.mkdir(parents=True)
    path = config.uploads_dir / "0123abcd.flac"
    path.write_bytes(jfk_copy.read_bytes())
    return path


def test_a_failed_upload_job_names_the_file_as_uploaded_and_keeps_it_for_a_retry(config, jfk_copy, upload):
    queue = _runner_queue(config, ScriptedTranscriber([(0.0, 5.0, "hello")]))
    job = queue.submit(upload, RecordingMeta(title="Upload"), delete_source=True, original_filename="my talk.flac")
    upload.write_bytes(jfk_copy.read_bytes()[:20_000])  # damaged after it was queued
    queue.run_pending()
    db = connect(config.db_path)
    failed = job_store.get_job(db, job.id)
    assert failed.state == "failed" and failed.error.startswith("my talk.flac: "), failed.error
    assert "0123abcd" not in failed.error and str(config.data_dir) not in failed.error
    assert upload.exists() and not list(config.media_dir.rglob("*.*"))  # kept for the retry, nothing stored
    upload.write_bytes(jfk_copy.read_bytes())
    assert queue.retry(job.id) and queue.run_pending() == 1
    assert job_store.get_job(db, job.id).state == "done" and not upload.exists()
    db.close()


def test_an_upload_is_moved_into_the_archive_not_copied(config, upload):
    queue = _runner_queue(config, ScriptedTranscriber([(0.0, 5.0, "hello")]))
    inode = upload.stat().st_ino
    queue.submit(upload, RecordingMeta(title="Upload"), delete_source=True, original_filename="talk.flac")
    queue.run_pending()
    (stored,) = [p for p in config.media_dir.rglob("*") if p.is_file()]
    assert stored.stat().st_ino == inode and not upload.exists()  # the same bytes on disk, never rewritten


def test_a_saved_transcript_keeps_each_lines_language_words_times_and_the_gaps(config, jfk_copy):
    """A resumed job's saved lines come back whole: with their words' times too, so a line two voices
    share can still be split once the voices are heard (``diarize.split_at_voice_changes``)."""
    from archive.core.store.records import Segment, SpeechGap

    job = JobQueue(config).submit(jfk_copy, RecordingMeta(title="Bilingual"))
    transcript = [
        Segment(0.0, 2.0, "Welcome.", language="en"),
        SpeechGap(2.5, 4.0),
        Segment(4.0, 6.0, "Bienvenidos. Hi, I'm Ana.", language="es", word_starts=(4.0, 4.9, 5.2, 5.6)),
    ]
    db = connect(config.db_path)
    job_store.save_progress(db, job.id, transcript)
    saved = job_store.saved_progress(db, job.id)
    assert saved == transcript
    assert [getattr(item, "word_starts", None) for item in saved] == [(), None, (4.0, 4.9, 5.2, 5.6)]
    db.close()


def test_a_refused_file_is_one_plain_line(runner, tmp_path):
    """Not its name on one line and the error on the next, and no FFmpeg jargon."""
    bad = tmp_path / "notes.mp3"
    bad.write_text("Agenda for Tuesday")
    result = runner.invoke(cli, ["ingest", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [f"Error: {bad}: not an audio or video file that can be read"]


def test_a_remote_worker_sends_each_line_with_its_words_times():
    """So the archive can split a line two voices share (``diarize.split_at_voice_changes``) for a talk
    a remote worker transcribed too; a worker of an earlier release sends none and is understood."""
    from archive.core.store.records import Segment, transcript_item, transcript_item_json

    line = Segment(8.0, 9.2, "you're next Hi", language="en", word_starts=(8.0, 8.4, 8.9))
    sent = json.loads(json.dumps(transcript_item_json(line)))
    assert transcript_item(sent).word_starts == (8.0, 8.4, 8.9) and transcript_item(sent) == line
    older = {"start": 8.0, "end": 9.2, "text": "you're next Hi", "language": "en"}
    assert transcript_item(older) == line and transcript_item(older).word_starts == ()
    assert "word_starts" not in transcript_item_json(Segment(0.0, 1.0, "Hello"))
    with pytest.raises(ValueError):
        transcript_item({**older, "word_starts": [8.0, "nan"]})
