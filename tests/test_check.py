"""`archive check` and start-up cleanup: what a crash or a lost file leaves is found, and cleaned."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

from archive.core.store import accounts, connect
from archive.core.store.check import check_archive, clean_leftovers
from archive.doors.cli import cli

from .helpers import free_port, wait_for_port


def test_a_whole_archive_checks_ok(demo_data_dir, runner, config, db):
    report = check_archive(db, config)
    assert report.ok and report.recordings == 3 and report.passages > 0
    result = runner.invoke(cli, ["check", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["ok"] is True


def test_a_cover_the_pages_cannot_serve_is_reported(demo_data_dir, runner, config, db):
    from archive.core.store.recordings import get_recording
    from ingest.covers import cover

    assert config.data_dir.is_absolute()  # a relative ARCHIVE_DATA_DIR is taken whole, once
    assert runner.invoke(cli, ["check"]).exit_code == 0  # every cover made and readable
    talk = get_recording(db, 1)
    cover(config, talk).write_bytes(b"not an image")
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 1 and f"cover of {talk.slug} cannot be served" in result.stdout
    assert str(config.data_dir) not in result.stdout  # no server path in the message


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("DELETE FROM passage_vectors WHERE passage_id = (SELECT min(id) FROM passages)", "vectors"),
        ("DELETE FROM segment_vectors WHERE recording_id = 2 AND idx = 0", "window vectors"),
        (
            "INSERT INTO passages_fts(passages_fts, rowid, text) "
            "SELECT 'delete', id, text FROM passages WHERE id = (SELECT min(id) FROM passages)",
            "full-text rows",
        ),
        (
            "DELETE FROM passage_vectors WHERE recording_id = 3; DELETE FROM passages WHERE recording_id = 3",
            "segments but no passages",
        ),
    ],
)
def test_index_rows_that_do_not_add_up_are_reported(demo_data_dir, runner, config, db, damage, expected):
    for statement in damage.split("; "):
        db.execute(statement)
    db.conn.commit()
    report = check_archive(db, config)
    assert any(expected in problem for problem in report.problems), report.problems
    result = runner.invoke(cli, ["check"])
    assert result.exit_code == 1 and expected in result.stdout


def test_media_without_recordings_and_recordings_without_media_are_reported(demo_data_dir, config, db):
    recording = db.execute("SELECT media_path FROM recordings WHERE id = 1").fetchone()[0]
    (config.data_dir / recording).unlink()
    stray = config.media_dir / "ab" / "stray.mp3"
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"not anyone's")
    partial = config.media_dir / "ab" / ".abc.123.partial"
    partial.write_bytes(b"half")
    problems = "\n".join(check_archive(db, config).problems)
    assert f"media missing: {recording}" in problems
    assert "media without a recording: recordings/ab/stray.mp3" in problems
    assert "partial file left by an interrupted write" in problems
    assert partial in clean_leftovers(db, config) and not partial.exists()
    assert stray.exists()  # a stray media file is reported, never deleted by itself


def test_only_partial_files_nobody_is_writing_are_cleaned(config, db):
    import fcntl

    config.uploads_dir.mkdir(parents=True)
    live, dead = config.uploads_dir / ".upload-live.partial", config.uploads_dir / ".upload-dead.partial"
    dead.write_bytes(b"left by a killed server")
    with open(live, "wb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert clean_leftovers(db, config) == [dead]
        assert live.exists() and not dead.exists()


def start_server(data_dir, port, tmp):
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(data_dir), "TMPDIR": str(tmp)}
    server = subprocess.Popen(
        [sys.executable, "-m", "archive", "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_port(port, server, "archive serve")
    return server


def test_a_server_killed_in_the_middle_of_an_upload_leaves_nothing(config, tmp_path):
    db = connect(config.db_path)
    accounts.add_user(db, "ops@example.org", "correct horse battery", "staff")
    _, token = accounts.create_token(db, "ops@example.org")
    db.close()
    spool = tmp_path / "spool"
    spool.mkdir()
    port = free_port()
    server = start_server(config.data_dir, port, spool)
    try:
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="long.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        size = 400 * 1024 * 1024
        tail = f"\r\n--{boundary}--\r\n".encode()
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(
                (
                    f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                    f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                    f"Content-Length: {len(head) + size + len(tail)}\r\n\r\n"
                ).encode()
                + head
            )
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                conn.sendall(block)
            conn.sendall(tail)
            # The app is now streaming the file into uploads/: kill the server part-way through.
            deadline = time.monotonic() + 60
            while not list(config.uploads_dir.glob(".upload-*.partial")) and time.monotonic() < deadline:
                time.sleep(0.01)
            server.send_signal(signal.SIGKILL)
            server.wait()
        assert list(config.uploads_dir.glob(".upload-*.partial")), "the kill should have left a partial file"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stderr.close()

    # The server's other processes die with it (they are told to when it is killed): wait for the
    # port to be free, as anyone restarting it would.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            break
        time.sleep(0.1)
    restarted = start_server(config.data_dir, port, spool)
    restarted.terminate()
    _, errors = restarted.communicate(timeout=30)
    assert b"removed uploads/.upload-" in errors
    # Nothing waitress spooled is left. The libraries keep files of their own in the temp dir: torch
    # a cache folder, ONNX Runtime (1.32) a ".ses" file its native library writes when imported.
    libraries_own = ("torchinductor", ".ses")
    spooled = [p for p in spool.iterdir() if not p.name.startswith(libraries_own)]
    assert list(config.uploads_dir.iterdir()) == [] and spooled == []
    db = connect(config.db_path)
    assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM recordings").fetchone()[0] == 0
    assert check_archive(db, config).ok
    db.close()
