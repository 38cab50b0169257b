"""`archive ingest` and the pipeline under it, with the real model and real SQLite files."""

from __future__ import annotations

import json
import os
import re
import threading
import time

import pytest

from archive.core.store import connect
from archive.core.store import jobs as job_store
from archive.core.store.recordings import count_rows, get_segments
from archive.core.store.records import JobParams, RecordingMeta
from archive.doors.cli import cli
from ingest import pipeline

from .helpers import JFK, JFK_TEXT, word_error_rate


def _counts(data_dir):
    db = connect(data_dir / "archive.db")
    try:
        return count_rows(db)
    finally:
        db.close()


def _stored_files(data_dir):
    media = data_dir / "recordings"
    return sorted(p.name for p in media.rglob("*") if p.is_file()) if media.exists() else []


@pytest.mark.model
def test_ingest_prints_id_and_url_and_stores_everything(runner, data_dir, jfk_copy):
    result = runner.invoke(
        cli,
        [
            "ingest",
            str(jfk_copy),
            "--title",
            "Ask Not",
            "--speaker",
            "John F. Kennedy",
            "--speaker",
            "A. Nother",
            "--host",
            "Ted  Sorensen",
            "--org",
            "United States",
            "--date",
            "1961-01-20",
            "--tag",
            "inaugural",
            "--description",
            "The address.",
            "--vocab",
            "Americans, country",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1\t/recordings/ask-not"
    listing = json.loads(runner.invoke(cli, ["list", "--json"]).stdout)["recordings"]
    assert listing == [
        {
            "id": 1,
            "slug": "ask-not",
            "title": "Ask Not",
            "speakers": ["John F. Kennedy", "A. Nother"],
            "host": "Ted Sorensen",
            "organization": "United States",
            "date": "1961-01-20",
            "duration": 11.0,
            "status": "ready",
            "visibility": "staff",
        }
    ]
    listed = runner.invoke(cli, ["list"]).stdout
    assert "Ask Not  (John F. Kennedy, A. Nother; hosted by Ted Sorensen)" in listed
    counts = _counts(data_dir)
    assert counts["segments"] >= 1 and counts["passages"] >= 1
    assert counts["passages"] == counts["passage_vectors"]
    assert len(_stored_files(data_dir)) == 1 and _stored_files(data_dir)[0].endswith(".flac")


@pytest.mark.model
def test_export_formats(runner, jfk_copy):
    assert runner.invoke(cli, ["ingest", str(jfk_copy), "--title", "Ask Not", "--speaker", "JFK"]).exit_code == 0
    as_json = json.loads(runner.invoke(cli, ["export", "1", "--format", "json"]).stdout)
    assert set(as_json) == {
        "id",
        "slug",
        "title",
        "speakers",
        "organization",
        "date",
        "duration",
        "language",
        "segments",
    }
    assert word_error_rate(JFK_TEXT, " ".join(s["text"] for s in as_json["segments"])) < 0.10
    assert as_json["language"] == "en" and {s["language"] for s in as_json["segments"]} == {"en"}
    first = as_json["segments"][0]
    vtt = runner.invoke(cli, ["export", "ask-not", "--format", "vtt"]).stdout
    assert re.match(r"WEBVTT\n\n00:00:00\.\d{3} --> ", vtt)
    srt = runner.invoke(cli, ["export", "1", "--format", "srt"]).stdout
    assert re.match(r"1\n00:00:00,\d{3} --> ", srt) and first["text"] in srt
    txt = runner.invoke(cli, ["export", "1"]).stdout
    assert txt.startswith("Ask Not\nJFK\n\n[0:00] ")
    missing = runner.invoke(cli, ["export", "99"])
    assert missing.exit_code == 2 and "no recording" in missing.stderr


@pytest.mark.model
def test_a_line_in_another_language_is_marked_in_captions_and_on_the_page(runner, config, client, jfk_copy):
    assert runner.invoke(cli, ["ingest", str(jfk_copy), "--title", "Ask Not", "--visibility", "public"]).exit_code == 0
    db = connect(config.db_path)
    with db.conn:
        db.execute("UPDATE segments SET language = 'es', text = 'Pregunta <qué> puedes hacer' WHERE idx = 0")
    db.close()
    vtt = runner.invoke(cli, ["export", "1", "--format", "vtt"]).stdout
    assert "\n<lang es>Pregunta &lt;qué&gt; puedes hacer</lang>\n" in vtt
    page = client.get("/recordings/ask-not").get_data(as_text=True)
    assert 'lang="es"' in page and 'title="Said in Spanish">ES<' in page and 'srclang="en"' in page


@pytest.mark.model
def test_same_bytes_twice_make_one_recording(runner, data_dir, jfk_copy, tmp_path):
    first = runner.invoke(cli, ["ingest", str(jfk_copy)])
    renamed = tmp_path / "again.flac"
    renamed.write_bytes(jfk_copy.read_bytes())
    again = runner.invoke(cli, ["ingest", str(renamed), "--title", "Another title"])
    assert first.exit_code == again.exit_code == 0
    assert "already in the archive as recording 1" in again.stderr
    assert again.stdout == first.stdout
    assert _counts(data_dir)["recordings"] == 1


@pytest.mark.model
def test_bad_inputs_exit_2_with_one_line_and_change_nothing(runner, data_dir, jfk_copy, tmp_path, make_media):
    assert runner.invoke(cli, ["ingest", str(jfk_copy)]).exit_code == 0
    before, files_before = _counts(data_dir), _stored_files(data_dir)
    text = tmp_path / "notes.mp3"
    text.write_text("not audio\n" * 100)
    empty = tmp_path / "empty.m4a"
    empty.touch()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(JFK.read_bytes()[:300_000])
    video_only = make_media("silent.mp4", video=True)  # made below without audio
    _strip_audio(video_only)
    cases = [
        [str(text)],
        [str(empty)],
        [str(tmp_path / "missing.wav")],
        [str(cut)],
        [str(video_only)],
        [str(jfk_copy), "--date", "20th of May"],
    ]
    for args in cases:
        result = runner.invoke(cli, ["ingest", *args])
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len([line for line in lines if line.startswith("Error:")]) == 1, (args, result.stderr)
        assert "Traceback" not in result.output
        assert _counts(data_dir) == before and _stored_files(data_dir) == files_before


def _strip_audio(path):
    import av

    rebuilt = path.with_suffix(".noaudio.mp4")
    with av.open(str(path)) as src, av.open(str(rebuilt), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    rebuilt.replace(path)


@pytest.mark.model
def test_several_files_one_bad_the_others_still_ingest(runner, data_dir, jfk_copy, tmp_path, make_media):
    bad = tmp_path / "broken.wav"
    bad.write_text("RIFF but not really")
    video = make_media("talk.mp4")
    result = runner.invoke(cli, ["ingest", str(bad), str(jfk_copy), str(video)])
    assert result.exit_code == 2
    assert result.stderr.count("Error:") == 1 and "broken.wav" in result.stderr
    assert len(result.stdout.strip().splitlines()) == 2
    assert _counts(data_dir)["recordings"] == 2


@pytest.mark.model
def test_video_ingests_like_audio(db, config, make_media):
    video = make_media("webinar.mp4")
    result = pipeline.ingest_file(db, config, video, pipeline.RecordingMeta(title="Webinar"))
    assert result.created and result.recording.media_kind == "video"
    assert result.recording.media_path.endswith(".mp4")
    assert word_error_rate(JFK_TEXT, " ".join(s.text for s in get_segments(db, result.recording.id))) < 0.10


@pytest.mark.model
def test_a_crash_after_transcription_leaves_nothing(db, config, jfk_copy, monkeypatch):
    before = count_rows(db)

    def explode(*args, **kwargs):
        raise RuntimeError("power cut while writing")

    monkeypatch.setattr(pipeline, "write_index", explode)
    with pytest.raises(RuntimeError, match="power cut"):
        pipeline.ingest_file(db, config, jfk_copy, pipeline.RecordingMeta(title="Doomed"))
    assert count_rows(db) == before
    assert not any(p.is_file() for p in config.media_dir.rglob("*"))
    monkeypatch.undo()
    result = pipeline.ingest_file(db, config, jfk_copy, pipeline.RecordingMeta(title="Second try"))
    assert result.created and count_rows(db)["recordings"] == 1


def test_glossary_terms_reach_the_transcriber(runner, db, config, jfk_copy):
    assert runner.invoke(cli, ["glossary", "add", "Keralty, Kenji Health", "link worker"]).exit_code == 0
    assert runner.invoke(cli, ["glossary", "list"]).stdout.splitlines() == ["Keralty", "Kenji Health", "link worker"]
    heard = {}

    class Recorder:
        model_name = "recorder"

        def transcribe(self, audio, hints=""):
            heard["hints"] = hints
            for _ in audio:
                pass
            return iter([])

    meta = pipeline.RecordingMeta(title="Ask Not", speakers=["JFK"], organization="USA", vocab=["Americans"])
    pipeline.ingest_file(db, config, jfk_copy, meta, transcriber=Recorder())
    assert heard["hints"] == "JFK, USA, Americans, Keralty, Kenji Health, link worker"


@pytest.mark.model
def test_reindex_rebuilds_the_same_index(runner, data_dir, jfk_copy):
    assert runner.invoke(cli, ["ingest", str(jfk_copy)]).exit_code == 0
    before = _counts(data_dir)
    result = runner.invoke(cli, ["reindex"])
    assert result.exit_code == 0 and "reindexed 1 recording(s)" in result.stdout
    assert _counts(data_dir) == before
    db = connect(data_dir / "archive.db")
    fts = db.execute("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH 'country'").fetchone()[0]
    db.close()
    assert fts >= 1


class _WorkerBeside:
    """The worker of a running `archive serve`, played by a thread of this process on the fakes."""

    def __init__(self, config):
        from ingest.queue import JobRunner

        from .fakes import ScriptedTranscriber, WordHashEmbedder

        self.config = config
        self.runner = JobRunner(config, WordHashEmbedder(), ScriptedTranscriber([(0.5, 10.5, "And so my fellow")]))
        self.stop = threading.Event()
        self.errors: list[Exception] = []
        self.thread = threading.Thread(target=self._work, daemon=True)

    def _work(self):
        while not self.stop.wait(0.05):
            if not self.config.db_path.exists():
                continue
            try:
                db = connect(self.config.db_path)
                queued = [row[0] for row in db.execute("SELECT id FROM jobs WHERE state = 'queued'").fetchall()]
                db.close()
                for job_id in queued:
                    self.runner.run(job_id)
            except Exception as exc:
                # Keep looking, as the real worker does: once, in a full suite on a loaded machine,
                # this thread died here and left the command waiting for ever.
                self.errors.append(exc)

    def __enter__(self):
        from archive.doors.web.local import write_server_file

        write_server_file(self.config, "a-token", "127.0.0.1", 1, worker_pid=os.getpid())
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_ingest_hands_its_files_to_the_running_servers_idle_worker(runner, config, jfk_copy, tmp_path, monkeypatch):
    """No model loads in the command: the worker beside `archive serve` has them loaded already."""
    import ingest.transcribe
    import search.embedder

    class NoModelHere:
        """What the command gets for a model: any use of it fails the test."""

        model_name = "not-here"

        def __getattr__(self, name):
            raise AssertionError(f"the command used a model of its own ({name})")

    def no_model_here(*args, **kwargs):
        return NoModelHere()

    monkeypatch.setattr(ingest.transcribe, "transcriber_for", no_model_here)
    monkeypatch.setattr(search.embedder, "embedder_for", no_model_here)
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio")
    with _WorkerBeside(config):
        result = runner.invoke(cli, ["ingest", str(jfk_copy), "--title", "Handed over"])
        time.sleep(1.1)  # the same bytes again, a second later (the archive's times are to the second)
        again = runner.invoke(cli, ["ingest", str(jfk_copy)])
        refused = runner.invoke(cli, ["ingest", str(bad)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "1\t/recordings/handed-over\n"
    assert "worker ingests these" in result.stderr
    assert again.exit_code == 0 and again.stdout == "1\t/recordings/handed-over\n"
    assert "already in the archive as recording 1" in again.stderr
    assert refused.exit_code == 2 and "notes.mp3: not an audio or video file" in refused.stderr
    db = connect(config.db_path)
    assert [s.text for s in get_segments(db, 1)] == ["And so my fellow"]
    db.close()


def test_ingest_runs_here_when_no_worker_is_idle(config, jfk_copy):
    """A busy worker (a job queued or running) or none at all: the command does not wait behind it."""
    from archive.doors.cli.local_client import idle_local_worker
    from archive.doors.web.local import write_server_file

    assert idle_local_worker(config) is None  # no server
    write_server_file(config, "a-token", "127.0.0.1", 1, worker_pid=None)
    assert idle_local_worker(config) is None  # a server without a worker (--no-worker)
    write_server_file(config, "a-token", "127.0.0.1", 1, worker_pid=os.getpid())
    connect(config.db_path).close()
    assert idle_local_worker(config) == os.getpid()
    db = connect(config.db_path)
    job_store.create_job(db, "queued.mp3", str(jfk_copy), JobParams(RecordingMeta(title="Queued")))
    db.close()
    assert idle_local_worker(config) is None
