"""The durable job queue for ingests, on Huey (SQLite file by default).

Huey carries only job ids. Each job's state lives in the archive's ``jobs`` table and
a worker must *claim* a job there before running it, so a job delivered twice runs
once, and a job whose worker died (no heartbeat) is found and delivered again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from huey import SqliteHuey

from archive.config import Config, ConfigError
from archive.store import connect
from archive.store import jobs as job_store
from archive.store.models import Job, RecordingMeta
from search.embedder import EmbedderError

from .media import MediaError, probe
from .pipeline import IngestError, ingest_file, title_from_filename
from .transcribe import TranscriberError

log = logging.getLogger(__name__)

# A running job whose worker has not beaten for this long is taken to be abandoned.
LEASE_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0
# Progress is written when it moves this many points, or after this many seconds.
PROGRESS_STEP = 1.0
PROGRESS_SECONDS = 2.0
# Transcribed segments are saved for a resume after this many new ones, or this many seconds.
CHECKPOINT_SEGMENTS = 10
CHECKPOINT_SECONDS = 5.0

EXPECTED_ERRORS = (MediaError, IngestError, TranscriberError, EmbedderError, OSError)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _exited_local_workers(names: set[str]) -> set[str]:
    """Of ``names``, the workers on this machine whose process no longer exists."""
    host = socket.gethostname()
    dead = set()
    for name in names:
        worker_host, _, pid = name.rpartition(":")
        if worker_host != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.add(name)
        except PermissionError:
            pass  # alive, under another user
    return dead


def _failure_message(exc: Exception, original_filename: str | None) -> str:
    """What went wrong, naming an uploaded file by its own name rather than where the server keeps it."""
    if isinstance(exc, MediaError) and original_filename:
        return exc.about(original_filename)
    if isinstance(exc, OSError) and exc.strerror:  # the machine: a full disk, a missing folder
        where = f" ({Path(exc.filename).name})" if exc.filename else ""
        return f"{exc.strerror}{where}; fix it and retry the job"
    return str(exc) or exc.__class__.__name__


def make_huey(config: Config):
    """Huey on the SQLite file in the data directory, or on Redis when ``queue_url`` is ``redis://...``."""
    if config.queue_url:
        if urlsplit(config.queue_url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(
                f"ARCHIVE_QUEUE_URL {config.queue_url!r} is not a Redis URL (redis://host:6379/0); "
                "leave it empty for the SQLite queue"
            )
        from huey import RedisHuey

        return RedisHuey("talk-archive", url=config.queue_url, results=False, utc=True)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("talk-archive", filename=str(config.queue_path), results=False, utc=True)


def ingest_task(huey, run):
    """Register ``run(job_id)`` as the ingest task. Huey names a task after the module that
    defines it, so local and remote workers register this one function: both then read the
    same queue messages ("ingest.queue.ingest_job")."""

    def ingest_job(job_id: int) -> None:
        run(job_id)

    return huey.task(name="ingest_job")(ingest_job)


class JobQueue:
    """Submit ingest jobs and run them; one instance per process."""

    def __init__(self, config: Config):
        self.config = config
        self.huey = make_huey(config)
        self._task = ingest_task(self.huey, self.run_job)

    # -- submitting -------------------------------------------------------
    def submit(
        self, path: Path | str, meta: RecordingMeta, *, delete_source: bool = False, original_filename: str = ""
    ) -> Job:
        """Check the file now (bad media fails here, not in the worker) and queue its ingest.

        ``original_filename`` is the name to show and to take a default title from, when
        ``path`` is a generated one (a web upload).
        """
        path = Path(path).resolve()
        probe(path)
        title = meta.title or title_from_filename(Path(original_filename or path.name))
        params = {"meta": meta.to_dict(), "delete_source": delete_source, "original_filename": original_filename}
        with self._db() as db:
            job_id = job_store.create_job(db, title, str(path), params)
            self._task(job_id)
            return job_store.get_job(db, job_id)

    def recover(self, include_queued: bool = True) -> list[int]:
        """Deliver again every job whose worker is gone (and, at start-up, every queued one); returns their ids."""
        with self._db() as db:
            running = {j.worker for j in job_store.list_jobs(db) if j.state == "running" and j.worker}
            ids = job_store.abandoned_jobs(db, LEASE_SECONDS, _exited_local_workers(running))
            if not include_queued:  # their messages are still in the queue
                ids = [i for i in ids if job_store.get_job(db, i).state == "running"]
            for job_id in ids:
                job = job_store.get_job(db, job_id)
                if job.state == "running":
                    log.warning("job %s was abandoned by worker %s; running it again", job_id, job.worker)
                    job_store.release_job(db, job_id, job.worker)
                self._task(job_id)
        return ids

    def retry(self, job_id: int) -> bool:
        with self._db() as db:
            if not job_store.requeue_job(db, job_id):
                return False
        self._task(job_id)
        return True

    # -- running ----------------------------------------------------------
    @contextmanager
    def _db(self):
        db = connect(self.config.db_path)
        try:
            yield db
        finally:
            db.close()

    def run_job(self, job_id: int) -> None:
        """Claim and run one job (Huey calls this); a job someone else holds or finished is skipped."""
        me = worker_name()
        with self._db() as db:
            job = job_store.claim_job(db, job_id, me, LEASE_SECONDS)
            if job is None:
                return
            log.info("job %s: ingesting %s", job_id, job.source_path)
            last = {"percent": 0.0, "at": time.monotonic()}

            def progress(step: str, fraction: float) -> None:
                percent = round(100 * fraction, 1)
                now = time.monotonic()
                if percent - last["percent"] >= PROGRESS_STEP or now - last["at"] >= PROGRESS_SECONDS:
                    last.update(percent=percent, at=now)
                    job_store.beat(db, job_id, me, min(percent, 99.0))

            resume = job_store.saved_progress(db, job_id)
            if resume:
                log.info("job %s: resuming after %.0f s already transcribed", job_id, resume[-1].end)
            job_store.mark_resumed(db, job_id, resume[-1].end if resume else 0.0)
            saved = {"count": len(resume), "at": time.monotonic()}

            def checkpoint(segments) -> None:
                now = time.monotonic()
                if len(segments) - saved["count"] >= CHECKPOINT_SEGMENTS or now - saved["at"] >= CHECKPOINT_SECONDS:
                    job_store.save_progress(db, job_id, segments)
                    saved.update(count=len(segments), at=now)

            try:
                with self._heartbeat(job_id, me):
                    result = ingest_file(
                        db,
                        self.config,
                        job.source_path,
                        RecordingMeta.from_dict(job.params["meta"]),
                        progress=progress,
                        original_filename=job.params.get("original_filename") or "",
                        resume=resume,
                        checkpoint=checkpoint,
                    )
            except EXPECTED_ERRORS as exc:
                job_store.fail_job(db, job_id, _failure_message(exc, job.params.get("original_filename")))
                return
            except Exception as exc:  # a bug: keep the worker alive, show the job failed, log the details
                log.error("job %s failed unexpectedly:\n%s", job_id, traceback.format_exc())
                job_store.fail_job(db, job_id, f"unexpected error: {exc.__class__.__name__}: {exc}")
                return
            job_store.finish_job(db, job_id, result.recording.id)
            if job.params.get("delete_source"):
                Path(job.source_path).unlink(missing_ok=True)

    @contextmanager
    def _heartbeat(self, job_id: int, me: str):
        """Beat for the job from a side thread, so long silent steps don't look like a dead worker."""
        stop = threading.Event()

        def beat_until_stopped():
            with self._db() as db:
                while not stop.wait(HEARTBEAT_SECONDS):
                    job_store.beat(db, job_id, me)

        thread = threading.Thread(target=beat_until_stopped, name=f"heartbeat-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def run_pending(self) -> int:
        """Run queued jobs in this thread until the queue is empty; returns how many ran."""
        count = 0
        while (task := self.huey.dequeue()) is not None:
            self.huey.execute(task)
            count += 1
        return count

    def run_forever(self, stop: threading.Event, idle_seconds: float = 1.0) -> None:
        """Poll the queue and run jobs until ``stop`` is set (the in-process worker of ``archive serve``)."""
        while not stop.is_set():
            if not self.run_pending():
                stop.wait(idle_seconds)

    def start_background_worker(self) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        self.recover()
        thread = threading.Thread(target=self.run_forever, args=(stop,), name="ingest-worker", daemon=True)
        thread.start()
        return thread, stop

    def consume(self, workers: int = 1) -> None:
        """Run Huey's consumer in the foreground (``archive worker``); Ctrl-C stops it gracefully.

        Every lease period it also delivers again the jobs whose worker died: a queue message
        a killed worker had taken is gone, but the job's row says it was never finished.
        """
        self.recover()
        stop = self.start_sweeper()
        try:
            self.huey.create_consumer(workers=workers, worker_type="thread", periodic=False).run()
        finally:
            stop.set()

    def start_sweeper(self, every: float = LEASE_SECONDS / 2) -> threading.Event:
        """Deliver again, every ``every`` seconds, the jobs whose worker died (here or on another
        machine: a remote worker's job stops beating); set the returned event to stop."""
        stop = threading.Event()

        def sweep():
            while not stop.wait(every):
                try:
                    self.recover(include_queued=False)
                except Exception:  # noqa: BLE001 - a failed sweep is retried at the next one
                    log.exception("recovering abandoned jobs failed")

        threading.Thread(target=sweep, name="recover-jobs", daemon=True).start()
        return stop
