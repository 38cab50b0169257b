"""The durable job queue for ingests (and retranscribes), on Huey (SQLite file by default).

Huey carries only job ids. Each job's state lives in the archive's ``jobs`` table and
a worker must *claim* a job there before running it, so a job delivered twice runs
once, and a job whose worker died (no heartbeat) is found and delivered again. A job that
transcribes a talk again (``JobParams.retranscribe_id``, ``ingest.retranscribe``) runs the same way.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from huey import SqliteHuey

from archive.core.config import Config, ConfigError
from archive.core.errors import NotFound, UserError, present
from archive.core.store import connect
from archive.core.store import jobs as job_store
from archive.core.store import recordings as store
from archive.core.store.records import Companions, Job, JobParams, RecordingMeta, Segment, SpeechGap
from ingest.companion_kinds import check_companions
from ingest.diarize import Diarizer, diarizer_for
from ingest.media import AudioSlice, probe
from ingest.pipeline import (
    IngestResult,
    ProgressCallback,
    ingest_file,
    step_speeds,
    steps_of,
    title_from_filename,
)
from ingest.retranscribe import RetranscribeResult, retranscribe, talk_meta
from ingest.transcribe import Transcriber, transcriber_for
from search.embedder import Embedder, embedder_for

log = logging.getLogger(__name__)

# A running job whose worker has not beaten for this long is taken to be abandoned.
LEASE_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0
# An idle worker looks for a job at least this often (Huey backs off to 10 s by default): a file
# `archive ingest` hands to the server's worker starts within a second.
IDLE_POLL_SECONDS = 1.0
# Progress is written when it moves this many points, or after this many seconds.
PROGRESS_STEP = 1.0
PROGRESS_SECONDS = 2.0
# Transcribed segments are saved for a resume after this many new ones, or this many seconds.
CHECKPOINT_SEGMENTS = 10
CHECKPOINT_SECONDS = 5.0


def job_steps(job: Job, diarizes: bool) -> list[dict[str, str]]:
    """The steps of ``job`` as its page lists them: each one's words and whether it is ``done``,
    ``current`` or ``waiting`` (``failed`` where a failed job stopped)."""
    # A retranscribe keeps the talk's speaker names: it tells voices apart only where it has none.
    voices = job.params.retranscribe_id is None or job.params.tells_voices
    steps = steps_of(job.params.companions, diarizes and voices)
    if job.state == "done":
        at = len(steps)
    elif job.state == "queued":
        at = -1
    else:
        at = next((i for i, step in enumerate(steps) if job.step.startswith(step.label)), -1)
    now = "failed" if job.state == "failed" else "current"
    return [
        {"label": step.label, "state": "done" if i < at else now if i == at else "waiting"}
        for i, step in enumerate(steps)
    ]


def worker_name() -> str:
    """``host:pid``: who holds a job (a role may follow after a slash: ``host:pid/indexing``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _exited_local_workers(names: set[str]) -> set[str]:
    """Of ``names``, the workers on this machine whose process no longer exists."""
    host = socket.gethostname()
    dead = set()
    for name in names:
        worker_host, _, pid = name.split("/", 1)[0].rpartition(":")
        if worker_host != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            dead.add(name)
        except PermissionError:
            pass  # alive, under another user
    return dead


def failure_message(exc: BaseException) -> str:
    """What went wrong with a job, for staff: never a server path or a traceback.

    A UserError already speaks of the file by the name its uploader gave it; the machine's own
    trouble (a full disk) names only the file; anything else is a bug, logged in full where it ran.
    """
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:  # the machine: a full disk, a missing folder
        where = f" ({Path(exc.filename).name})" if exc.filename else ""
        return f"{exc.strerror}{where}; fix it and retry the job"
    return f"unexpected error ({exc.__class__.__name__}); the details are in the worker's log"


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


class AlreadyTranscribed:
    """The transcriber for a job whose whole transcript was handed in (by a remote worker) and
    saved as the job's progress: the audio after it is still decoded, which checks the file
    is whole, but nothing more is transcribed."""

    def __init__(self, model_name: str):
        self.model_name = model_name

    def load(self) -> None:
        pass

    def unload(self) -> None:
        pass

    def transcribe(self, audio: Iterable[AudioSlice], hints: str = "") -> Iterator[Segment | SpeechGap]:
        for _ in audio:
            pass
        return iter(())


class JobRunner:
    """Runs an ingest job from claim to finish: the one way a job runs, for this machine's
    workers and for transcripts that remote workers hand in.

    While it runs the job it beats (so nobody takes it over), reports progress, saves the
    transcript as it grows (so a new attempt resumes), and at the end finishes the job only
    if it still holds it, or fails it with a message for staff.
    """

    def __init__(self, config: Config, embedder: Embedder, transcriber: Transcriber, diarizer: Diarizer | None = None):
        self.config = config
        self.embedder = embedder
        self.transcriber = transcriber
        self.diarizer = diarizer
        self._asked_for: dict[str, Transcriber] = {}  # the models jobs asked for by name (`--model`)

    @contextmanager
    def _db(self):
        db = connect(self.config.db_path, migrate=False)
        try:
            yield db
        finally:
            db.close()

    def run(self, job_id: int, watch: ProgressCallback | None = None) -> None:
        """Claim and run one job (Huey calls this); a job someone else holds or finished is skipped.
        ``watch`` hears its progress too (`archive retranscribe --now` shows it)."""
        me = worker_name()
        with self._db() as db:
            job = job_store.claim_job(db, job_id, me, LEASE_SECONDS)
        if job is not None:
            self.run_held(job, me, self.transcriber, watch)

    def _transcriber_for(self, job: Job, transcriber: Transcriber) -> Transcriber:
        """The model the job asked for (made once per worker), or ``transcriber`` where it is that one."""
        model = job.params.model
        if not model or isinstance(transcriber, AlreadyTranscribed):
            return transcriber
        if model not in self._asked_for:
            asked = transcriber_for(replace(self.config, whisper_model=model))
            self._asked_for[model] = transcriber if asked.model_name == transcriber.model_name else asked
        return self._asked_for[model]

    def take_over(self, job: Job, from_worker: str, segments: list[Segment | SpeechGap], model_name: str) -> bool:
        """Take a remote worker's finished transcript: save it, hold the job here and index it in
        the background (the worker need not wait). False if ``from_worker`` no longer holds the job."""
        me = f"{worker_name()}/indexing"
        with self._db() as db:
            job_store.save_progress(db, job.id, segments)
            if not job_store.hand_over(db, job.id, from_worker, me):
                return False
        thread = threading.Thread(
            target=self.run_held,
            args=(job, me, AlreadyTranscribed(model_name)),
            name=f"index-job-{job.id}",
            daemon=True,
        )
        thread.start()
        return True

    def run_held(self, job: Job, worker: str, transcriber: Transcriber, watch: ProgressCallback | None = None) -> None:
        """Run a job ``worker`` holds, to done or failed."""
        with self._db() as db:
            doing = "transcribing again" if job.params.retranscribe_id is not None else "ingesting"
            log.info("job %s: %s %s", job.id, doing, job.file_name)
            last = {"percent": 0.0, "at": time.monotonic()}
            last_kind = [""]

            def progress(step: str, fraction: float, seconds_left: float) -> None:
                if watch is not None:
                    watch(step, fraction, seconds_left)
                percent = round(100 * fraction, 1)
                now = time.monotonic()
                kind = step.split(" ", 1)[0]  # "transcribing 12:30 of 58:00": a new kind of step is shown at once
                if (
                    percent - last["percent"] >= PROGRESS_STEP
                    or now - last["at"] >= PROGRESS_SECONDS
                    or kind != last_kind[0]
                ):
                    last.update(percent=percent, at=now)
                    last_kind[0] = kind
                    job_store.beat(db, job.id, worker, min(percent, 99.0), step, seconds_left)

            resume = job_store.saved_progress(db, job.id)
            resume_at = max((item.end for item in resume), default=0.0)
            if resume:
                log.info("job %s: resuming after %.0f s already transcribed", job.id, resume_at)
            job_store.mark_resumed(db, job.id, resume_at)
            saved: dict[str, float] = {"count": len(resume), "at": time.monotonic()}

            def checkpoint(segments: list[Segment | SpeechGap]) -> None:
                now = time.monotonic()
                if len(segments) - saved["count"] >= CHECKPOINT_SEGMENTS or now - saved["at"] >= CHECKPOINT_SECONDS:
                    job_store.save_progress(db, job.id, segments)
                    saved.update(count=len(segments), at=now)

            result: IngestResult | RetranscribeResult
            try:
                with self._heartbeat(job.id, worker):
                    transcriber = self._transcriber_for(job, transcriber)
                    speeds = job_store.measured_speeds(db, socket.gethostname(), transcriber.model_name)
                    if job.params.retranscribe_id is not None:
                        result = retranscribe(
                            db,
                            self.config,
                            job.params.retranscribe_id,
                            transcriber=transcriber,
                            embedder=self.embedder,
                            progress=progress,
                            resume=resume,
                            checkpoint=checkpoint,
                            speeds=speeds,
                            diarizer=self.diarizer,
                        )
                    else:
                        result = ingest_file(
                            db,
                            self.config,
                            job.source_path,
                            job.params.meta,
                            transcriber=transcriber,
                            embedder=self.embedder,
                            progress=progress,
                            original_filename=job.file_name,
                            move=job.params.delete_source,
                            resume=resume,
                            checkpoint=checkpoint,
                            companions=job.params.companions,
                            diarizer=self.diarizer,
                            speeds=speeds,
                        )
            except Exception as exc:  # keep the worker alive; the job says what happened
                if not isinstance(exc, (UserError, OSError)):
                    log.error("job %s failed unexpectedly:\n%s", job.id, traceback.format_exc())
                job_store.fail_job(db, job.id, worker, failure_message(exc))
                return
            # A whole ingest (or retranscribe) on this machine is a measurement (not a resumed one, nor a
            # remote transcript, nor a file found already in the archive).
            done_here = result.created if isinstance(result, IngestResult) else True
            whole = done_here and not resume and not isinstance(transcriber, AlreadyTranscribed)
            measured = {
                "host": socket.gethostname(),
                "model": transcriber.model_name,
                "steps": step_speeds(result.timings, result.recording.duration),
            }
            if job_store.finish_job(db, job.id, worker, result.recording.id, measured if whole else None) and (
                job.params.delete_source
            ):
                Path(job.source_path).unlink(missing_ok=True)

    @contextmanager
    def _heartbeat(self, job_id: int, worker: str):
        """Beat for the job from a side thread, so long silent steps don't look like a dead worker."""
        stop = threading.Event()

        def beat_until_stopped():
            with self._db() as db:
                while not stop.wait(HEARTBEAT_SECONDS):
                    job_store.beat(db, job_id, worker)

        thread = threading.Thread(target=beat_until_stopped, name=f"heartbeat-{job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


class JobQueue:
    """Submit ingest jobs and run them: Huey carries job ids, ``runner`` runs them."""

    def __init__(self, config: Config, runner: JobRunner | None = None):
        self.config = config
        self.runner = runner or JobRunner(
            config, embedder_for(config, for_queries=False), transcriber_for(config), diarizer_for(config)
        )
        self.huey = make_huey(config)
        self._task = ingest_task(self.huey, self.runner.run)

    # -- submitting -------------------------------------------------------
    def submit(
        self,
        path: Path | str,
        meta: RecordingMeta,
        *,
        delete_source: bool = False,
        original_filename: str = "",
        companions: Companions = Companions(),
    ) -> Job:
        """Check the file and the details now (bad input fails here, not in the worker) and queue its ingest.

        ``original_filename`` is the name to show and to take a default title from, when
        ``path`` is a generated one (a web upload); ``companions`` come with the recording.
        """
        path = Path(path).resolve()
        info = probe(path, original_filename or path.name)
        check_companions(companions, info.duration)
        meta = meta.validated()
        title = meta.title or title_from_filename(Path(original_filename or path.name))
        params = JobParams(
            meta, original_filename=original_filename, delete_source=delete_source, companions=companions
        )
        with self._db() as db:
            job_id = job_store.create_job(db, title, str(path), params)
            self._task(job_id)
            return present(job_store.get_job(db, job_id))

    def submit_retranscribe(self, recording_id: int, *, model: str = "") -> Job:
        """Queue transcribing a talk again from its stored media (``ingest.retranscribe``), with
        ``model`` ("": the worker's). The talk's unfinished retranscribe with that model is returned
        instead of a second one: a queued or running one as it is, a failed one queued again (it
        resumes where it stopped). NotFound for no such talk, MediaError if its media cannot be read."""
        job, deliver = self._retranscribe_job(recording_id, model)
        if deliver:
            self._task(job.id)
        return job

    def retranscribe_now(self, recording_id: int, *, model: str = "", watch: ProgressCallback | None = None) -> Job:
        """Transcribe a talk again in this thread, as a job like any other (listed, resumable: if this
        process stops, the next worker, or the next call, goes on from its saved transcript); returns
        the job as it ended, or still running where another worker holds it. ``watch`` hears its progress."""
        job, _ = self._retranscribe_job(recording_id, model)
        if job.state == "running" and job.worker in _exited_local_workers({job.worker or ""}):
            with self._db() as db:
                job_store.release_job(db, job.id, present(job.worker))
        self.runner.run(job.id, watch)
        with self._db() as db:
            return present(job_store.get_job(db, job.id))

    def _retranscribe_job(self, recording_id: int, model: str) -> tuple[Job, bool]:
        """The talk's retranscribe job to run, and whether it needs delivering (new, or failed and queued again)."""
        with self._db() as db:
            recording = store.get_recording(db, recording_id)
            if recording is None:
                raise NotFound(f"there is no recording {recording_id}")
            path = (self.config.data_dir / recording.media_path).resolve()
            probe(path, recording.original_filename or recording.title)
            existing = job_store.unfinished_retranscribe(db, recording_id, model)
            if existing is not None and existing.state != "failed":
                return existing, False
            if existing is not None:
                job_store.requeue_job(db, existing.id)
                return present(job_store.get_job(db, existing.id)), True
            params = JobParams(
                talk_meta(recording),
                original_filename=recording.original_filename,
                retranscribe_id=recording.id,
                model=model,
                tells_voices=not any(s.speaker for s in store.get_segments(db, recording.id)),
            )
            job_id = job_store.create_job(db, f"Retranscribe: {recording.title}", str(path), params)
            return present(job_store.get_job(db, job_id)), True

    def recover(self, include_queued: bool = True) -> list[int]:
        """Deliver again every job whose worker is gone (and, at start-up, every queued one); returns their ids."""
        with self._db() as db:
            running = {j.worker for j in job_store.list_jobs(db) if j.state == "running" and j.worker}
            ids = job_store.abandoned_jobs(db, LEASE_SECONDS, _exited_local_workers(running))
            if not include_queued:  # their messages are still in the queue
                ids = [i for i in ids if present(job_store.get_job(db, i)).state == "running"]
            for job_id in ids:
                job = present(job_store.get_job(db, job_id))
                if job.state == "running" and job.worker:
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

    @contextmanager
    def _db(self):
        db = connect(self.config.db_path)
        try:
            yield db
        finally:
            db.close()

    # -- running ----------------------------------------------------------
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
            self.huey.create_consumer(
                workers=workers, worker_type="thread", periodic=False, max_delay=IDLE_POLL_SECONDS
            ).run()
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
