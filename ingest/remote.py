"""Workers on other machines: job ids from Redis, everything else over the archive's HTTP API.

A remote worker needs no shared disk and no database file. For each job id the queue
delivers it claims the job (``POST /api/jobs/<id>/claim``), downloads the media, transcribes
it with its own model and device, reports progress and the segments so far while it works,
and posts the transcript back; the archive takes the job over and indexes it itself
(``ingest.queue.JobRunner.take_over``). A job whose remote worker vanishes stops beating and
is delivered again like any other.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archive.core.config import Config, ConfigError
from archive.core.store.records import Segment, SpeechGap, transcript_item, transcript_item_json
from ingest.queue import HEARTBEAT_SECONDS, failure_message, ingest_task, make_huey, worker_name

log = logging.getLogger(__name__)


class RemoteError(Exception):
    """The archive refused or could not be reached."""


class ArchiveClient:
    """The few API calls a remote worker makes, with its staff token."""

    def __init__(self, server: str, token: str, timeout: float = 60.0):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                reason = json.loads(exc.read()).get("error", "")
            except ValueError:
                reason = ""
            raise RemoteError(f"{method} {path}: {exc.code} {reason}".strip()) from None
        except OSError as exc:
            raise RemoteError(f"{method} {path}: {exc}") from None

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._request("POST", path, body) as response:
            return json.loads(response.read() or b"{}")

    def download(self, path: str, target: Path) -> None:
        with self._request("GET", path) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)


class RemoteWorker:
    """``archive worker --server URL --token T``: consume the Redis queue, work through the API."""

    def __init__(self, config: Config, server: str, token: str, transcriber=None):
        if not config.queue_url:
            raise ConfigError("a remote worker takes its jobs from Redis: set ARCHIVE_QUEUE_URL=redis://...")
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"--server {server!r} is not the archive's address (http://host:5000 or https://...)")
        self.config = config
        self.client = ArchiveClient(server, token)
        self.transcriber = transcriber
        self.huey = make_huey(config)
        ingest_task(self.huey, self.run_job)  # the archive's queue messages

    def load(self) -> None:
        """Load the Whisper model now, before the first job arrives."""
        self._transcriber().load()

    def _transcriber(self):
        if self.transcriber is None:
            from ingest.transcribe import transcriber_for

            self.transcriber = transcriber_for(self.config)
        return self.transcriber

    def run_job(self, job_id: int) -> None:
        me = worker_name()
        try:
            claim = self.client.post(f"/api/jobs/{job_id}/claim", {"worker": me})
        except RemoteError as exc:
            log.info("job %s not taken: %s", job_id, exc)  # done, failed, or alive elsewhere
            return
        resume = [transcript_item(item) for item in claim.get("resume", [])]
        with tempfile.TemporaryDirectory(prefix="talk-archive-job-") as scratch:
            try:
                media_path = Path(scratch) / f"media{claim.get('suffix', '')}"
                self.client.download(claim["media_url"], media_path)
                segments = self._transcribe(job_id, me, media_path, claim, resume)
                self.client.post(
                    f"/api/jobs/{job_id}/transcript",
                    {
                        "worker": me,
                        "model": self._transcriber().model_name,
                        "segments": [transcript_item_json(item) for item in segments],
                    },
                )
                log.info("job %s: transcript of %d segments handed in; the archive indexes it", job_id, len(segments))
            except Exception as exc:  # noqa: BLE001 - tell the archive, keep the worker alive
                log.error("job %s failed: %s", job_id, exc)
                try:
                    self.client.post(f"/api/jobs/{job_id}/fail", {"worker": me, "error": failure_message(exc)})
                except RemoteError:
                    pass  # the archive will see the job stop beating and deliver it again

    def _transcribe(
        self, job_id: int, me: str, media_path: Path, claim: dict, resume: list[Segment | SpeechGap]
    ) -> list[Segment | SpeechGap]:
        from ingest import media
        from ingest.pipeline import StepTimer, transcribe_file

        name = claim.get("name") or media_path.name  # errors name the file as its uploader knows it
        info = media.probe(media_path, name)
        state = {"percent": 0.0, "segments": list(resume), "sent": len(resume)}
        stop = threading.Event()

        def beat():
            while not stop.wait(HEARTBEAT_SECONDS):
                body: dict[str, Any] = {"worker": me, "percent": state["percent"]}
                if len(state["segments"]) > state["sent"]:
                    body["segments"] = [transcript_item_json(item) for item in state["segments"]]
                    state["sent"] = len(state["segments"])
                try:
                    self.client.post(f"/api/jobs/{job_id}/progress", body)
                except RemoteError as exc:
                    log.warning("job %s: progress not reported: %s", job_id, exc)

        def progress(step: str, fraction: float, seconds_left: float) -> None:
            state["percent"] = round(min(99.0, 100 * fraction), 1)

        def checkpoint(segments: list[Segment | SpeechGap]) -> None:
            state["segments"] = list(segments)

        thread = threading.Thread(target=beat, name=f"beat-{job_id}", daemon=True)
        thread.start()
        try:
            return transcribe_file(
                media_path,
                info,
                self._transcriber(),
                claim.get("hints", ""),
                StepTimer(),
                progress,
                resume,
                checkpoint,
                name=name,
            )
        finally:
            stop.set()
            thread.join()

    def consume(self, workers: int = 1) -> None:
        self.huey.create_consumer(workers=workers, worker_type="thread", periodic=False).run()
