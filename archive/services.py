"""The archive's services, built once per process from its configuration.

One embedder (the search model), the searcher that holds the vectors in memory, the
transcriber, and the job queue with its runner: ``create_app`` and the CLI commands make a
``Services`` and pass it on, so nothing builds a second model or a second queue. Building
them is cheap; ``warm`` loads the models, which a server and a worker do when they start
rather than on the first request or job.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import cached_property

from archive.config import Config

log = logging.getLogger(__name__)


class Services:
    """``search_threads`` caps the embedder's threads (0: one per core); a server answering
    queries beside a worker uses 1 (bench/load.py)."""

    def __init__(self, config: Config, *, search_threads: int = 0):
        self.config = config
        self.search_threads = search_threads

    @cached_property
    def embedder(self):
        from search.embedder import embedder_for

        return embedder_for(self.config, threads=self.search_threads)

    @cached_property
    def searcher(self):
        from search.engine import Searcher

        return Searcher(self.embedder, languages=self.config.whisper_languages)

    @cached_property
    def transcriber(self):
        from ingest.transcribe import transcriber_for

        return transcriber_for(self.config)

    @cached_property
    def diarizer(self):
        from ingest.diarize import diarizer_for

        return diarizer_for(self.config)

    @cached_property
    def runner(self):
        from ingest.queue import JobRunner

        return JobRunner(self.config, self.embedder, self.transcriber, self.diarizer)

    @cached_property
    def queue(self):
        from ingest.queue import JobQueue

        return JobQueue(self.config, self.runner)

    def warm(self, *, search: bool = True, transcription: bool = False) -> float:
        """Load the models now (each once per process); returns the seconds it took."""
        started = time.perf_counter()
        if search:
            self.embedder.load()
            self.searcher.embed_query("warm up")  # the first encode also builds the model's kernels
        if transcription:
            self.transcriber.load()
            if self.diarizer is not None:
                self.diarizer.load()
        return time.perf_counter() - started

    def reindex_soon(self, recording_id: int) -> threading.Thread:
        """Re-embed a talk in the background (its title changed: the document prompt names it)."""
        from archive.store import connect
        from search.index import reindex_talk

        def run() -> None:
            db = connect(self.config.db_path, migrate=False)
            try:
                reindex_talk(db, recording_id, self.embedder)
            except Exception:  # noqa: BLE001 - the old vectors still serve; `archive reindex` mends it
                log.exception("re-indexing recording %s after its title changed failed", recording_id)
            finally:
                db.close()

        thread = threading.Thread(target=run, name=f"reindex-{recording_id}", daemon=True)
        thread.start()
        return thread
