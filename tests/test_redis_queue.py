"""Jobs on Redis and remote workers: two worker processes with one killed, a worker with no shared disk, the worker API.

The Redis tests need Debian's redis-server (`.ci/run` installs it); each starts its own on a
free loopback port and stops it afterwards.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from archive.core.store import connect
from archive.core.store import jobs as job_store
from archive.core.store import recordings as store
from archive.core.store.check import check_archive
from archive.core.store.recordings import count_rows
from archive.core.store.records import RecordingMeta, SpeechGap
from ingest.queue import JobQueue
from ingest.samples import SAMPLES_DIR

from .helpers import JFK, free_port, wait_for_port

REDIS = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS is None, reason="needs Debian's redis-server: sudo apt-get install redis-server")


@pytest.fixture
def redis_url(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    wait_for_port(port, server, "redis-server")
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


def stop_workers(workers) -> None:
    """Ask each worker still running to stop (Ctrl-C, as a person would), then make sure it has."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def start_worker(config, redis_url):
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(config.data_dir), "ARCHIVE_QUEUE_URL": redis_url}
    return subprocess.Popen([sys.executable, "-m", "archive", "worker"], env=env, stderr=subprocess.DEVNULL)


@needs_redis
def test_four_talks_on_redis_finish_exactly_once_though_a_worker_is_killed(config, redis_url, tmp_path):
    from dataclasses import replace

    config = replace(config, queue_url=redis_url)
    jfk = tmp_path / "jfk.flac"
    shutil.copy(JFK, jfk)
    talks = [*sorted(SAMPLES_DIR.glob("*.m4a")), jfk]
    queue = JobQueue(config)
    jobs = [queue.submit(path, RecordingMeta(title=path.stem)) for path in talks]  # queued at once

    workers = [start_worker(config, redis_url), start_worker(config, redis_url)]
    db = connect(config.db_path)
    try:
        victim = workers[0]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the first worker is part-way into a job
            running = [
                j
                for j in job_store.list_jobs(db)
                if j.state == "running" and j.worker and j.worker.endswith(f":{victim.pid}") and j.percent >= 5
            ]
            if running:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the first worker never got going")
        killed_job = running[0].id
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        workers.append(start_worker(config, redis_url))  # a restarted worker delivers the dead one's job again

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            states = [job_store.get_job(db, j.id).state for j in jobs]
            if all(state == "done" for state in states):
                break
            assert "failed" not in states, [job_store.get_job(db, j.id).error for j in jobs]
            time.sleep(0.2)
        else:
            raise AssertionError(f"not all jobs finished: {states}")
        assert job_store.get_job(db, killed_job).attempts == 2
        counts = count_rows(db)
        assert counts["recordings"] == 4  # each talk exactly once
        assert len({job_store.get_job(db, j.id).recording_id for j in jobs}) == 4
        assert check_archive(db, config).ok
    finally:
        stop_workers(workers)
        db.close()


def test_a_queue_url_that_is_not_redis_is_one_clear_error(runner, monkeypatch):
    from archive.doors.cli import cli

    monkeypatch.setenv("ARCHIVE_QUEUE_URL", "amqp://localhost")
    result = runner.invoke(cli, ["worker", "--until-empty"])
    assert result.exit_code == 2 and "is not a Redis URL" in result.output


@needs_redis
@pytest.mark.model  # real Whisper on real speech, and the search model indexing it
def test_a_remote_worker_with_no_shared_disk_transcribes_over_http(config, redis_url, tmp_path):
    """The archive on one "machine", a worker with only Redis and a URL on another (its own empty folder)."""
    import threading
    from dataclasses import replace

    from waitress.server import create_server

    from archive.core.store import accounts
    from archive.doors.web import create_app

    config = replace(config, queue_url=redis_url)
    db = connect(config.db_path)
    accounts.add_user(db, "ops@example.org", "correct horse battery", "staff")
    _, token = accounts.create_token(db, "ops@example.org")
    app = create_app(config=config)
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{server.effective_port}"

    talk = tmp_path / "ask-not.flac"
    shutil.copy(JFK, talk)
    job = JobQueue(config).submit(talk, RecordingMeta(title="Remote talk", speakers=["JFK"]))
    elsewhere = tmp_path / "remote-machine"
    elsewhere.mkdir()
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(elsewhere), "ARCHIVE_QUEUE_URL": redis_url, "ARCHIVE_TOKEN": token}
    remote_log = open(tmp_path / "remote.log", "wb")
    remote = subprocess.Popen([sys.executable, "-m", "archive", "worker", "--server", url], env=env, stderr=remote_log)
    try:
        deadline = time.monotonic() + 120
        while job_store.get_job(db, job.id).state in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
        done = job_store.get_job(db, job.id)
        assert done.state == "done", (done.error, (tmp_path / "remote.log").read_text()[-3000:])
        # The remote process transcribed it; the archive took the job over to index it.
        assert f"job {job.id}: transcript of" in (tmp_path / "remote.log").read_text()
        assert done.worker.endswith("/indexing") and not done.worker.endswith(f":{remote.pid}")
        recording = job_store.get_job(db, job.id).recording_id
        text = " ".join(s.text for s in store.get_segments(db, recording))
        assert "country" in text.lower()
        assert list(elsewhere.iterdir()) == []  # no database, no media left on the worker's machine
        assert check_archive(db, config).ok
    finally:
        stop_workers([remote])
        remote_log.close()
        server.task_dispatcher.shutdown()
        for channel in list(server._map.values()):
            channel.close()
        db.close()


@pytest.mark.parametrize("path", ["/api/jobs/1/claim", "/api/jobs/1/progress", "/api/jobs/1/transcript"])
def test_worker_api_needs_a_staff_token(client, member_client, path):
    assert client.post(path, json={"worker": "x"}).status_code in (401, 403)
    assert member_client.post(path, json={"worker": "x"}).status_code == 403


def test_worker_api_refuses_times_that_are_not_numbers(config, staff_client, jfk_copy):
    job = JobQueue(config).submit(jfk_copy, RecordingMeta(title="Remote"))
    assert staff_client.post(f"/api/jobs/{job.id}/claim", json={"worker": "gpu:1"}).status_code == 200
    bad = '{"worker": "gpu:1", "segments": [{"start": NaN, "end": 1, "text": "hi"}]}'
    response = staff_client.post(f"/api/jobs/{job.id}/transcript", data=bad, content_type="application/json")
    assert response.status_code == 400 and "times in seconds" in response.json["error"]
    beat = staff_client.post(
        f"/api/jobs/{job.id}/progress", data='{"worker": "gpu:1", "percent": NaN}', content_type="application/json"
    )
    assert beat.status_code == 200
    assert staff_client.get(f"/api/jobs/{job.id}").json["percent"] == 0  # still valid JSON, still 0 %


def _wait_for_job(config, job_id: int, seconds: float = 60):
    db = connect(config.db_path)
    deadline = time.monotonic() + seconds
    while (job := job_store.get_job(db, job_id)).state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)
    db.close()
    return job


@pytest.mark.model  # real Whisper on real speech, and the search model indexing it
def test_a_handed_in_transcript_is_indexed_by_the_archive_holding_the_job(config, staff_client, jfk_copy):
    """The transcript post returns at once (202); the archive holds the job while it decodes and
    embeds, beating for it, so the sweep never delivers it again; then it finishes it."""
    job = JobQueue(config).submit(jfk_copy, RecordingMeta(title="Remote"))
    assert staff_client.post(f"/api/jobs/{job.id}/claim", json={"worker": "gpu:1"}).status_code == 200
    segments = [
        {"start": 0.0, "end": 5.0, "text": "And so my fellow Americans", "language": "en"},
        {"start": 5.0, "end": 6.5, "gap": True},
        {"start": 6.5, "end": 10.5, "text": "ask not what your country can do for you"},
    ]
    posted = staff_client.post(f"/api/jobs/{job.id}/transcript", json={"worker": "gpu:1", "segments": segments})
    assert posted.status_code == 202 and posted.json["state"] == "indexing"
    # The remote worker no longer holds it: a second post, or a late "fail", changes nothing.
    again = staff_client.post(f"/api/jobs/{job.id}/transcript", json={"worker": "gpu:1", "segments": segments})
    assert again.status_code == 409
    assert staff_client.post(f"/api/jobs/{job.id}/fail", json={"worker": "gpu:1", "error": "x"}).status_code == 409
    done = _wait_for_job(config, job.id)
    assert done.state == "done" and done.worker.endswith("/indexing"), done
    db = connect(config.db_path)
    lines = store.get_segments(db, done.recording_id)
    assert [(s.text, s.language) for s in lines] == [
        ("And so my fellow Americans", "en"),
        ("ask not what your country can do for you", None),
    ]
    assert store.speech_gaps(db, done.recording_id) == [SpeechGap(5.0, 6.5)]
    assert check_archive(db, config).ok
    db.close()


def test_a_handed_in_transcript_of_damaged_media_fails_naming_the_upload_not_the_server_path(
    app, config, staff_client, jfk_copy
):
    # Encoded here, in memory: the test client's own encoder leaves a temporary file open.
    media = FileStorage(io.BytesIO(jfk_copy.read_bytes()), filename="my talk.flac")
    boundary, body = encode_multipart({"title": "Remote", "media": media})
    sent = staff_client.post("/api/recordings", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert sent.status_code == 202
    db = connect(config.db_path)
    job = job_store.get_job(db, sent.json["id"])
    source = Path(job.source_path)
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 3])  # cut off after the probe passed it
    assert staff_client.post(f"/api/jobs/{job.id}/claim", json={"worker": "gpu:1"}).status_code == 200
    posted = staff_client.post(
        f"/api/jobs/{job.id}/transcript",
        json={"worker": "gpu:1", "segments": [{"start": 0, "end": 3, "text": "And so"}]},
    )
    assert posted.status_code == 202
    failed = _wait_for_job(config, job.id)
    assert failed.state == "failed" and failed.error.startswith("my talk.flac: "), failed.error
    assert str(config.data_dir) not in failed.error and "uploads" not in failed.error
    assert count_rows(db)["recordings"] == 0 and check_archive(db, config).ok
    db.close()


def test_finishing_needs_the_job_held(config, jfk_copy):
    """A worker whose lease ran out and whose job another worker took over cannot finish or fail it."""
    job = JobQueue(config).submit(jfk_copy, RecordingMeta(title="Slow"))
    db = connect(config.db_path)
    assert job_store.claim_job(db, job.id, "slow:1", lease_seconds=60)
    assert job_store.claim_job(db, job.id, "fast:2", lease_seconds=-1)  # slow:1's lease has run out
    assert not job_store.finish_job(db, job.id, "slow:1", recording_id=1)
    assert not job_store.fail_job(db, job.id, "slow:1", "late")
    assert job_store.get_job(db, job.id).state == "running"
    assert job_store.finish_job(db, job.id, "fast:2", recording_id=1)
    assert job_store.get_job(db, job.id).state == "done"
    db.close()
