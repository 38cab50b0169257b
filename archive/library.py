"""The one ``Archive`` every door (web, CLI, MCP, feeds) reaches the archive through.

Built once per process from its configuration: one embedder (the search model), the searcher
that holds the vectors in memory, the transcriber, and the job queue with its runner.
``create_app`` and the CLI commands make an ``Archive`` and pass it on, so nothing builds a
second model or a second queue. Building it is cheap; ``warm`` loads the models, which a server
and a worker do when they start rather than on the first request or job.

What a person may do is decided by ``archive.as_viewer(viewer)``: the talks they may see, and
a search that is logged (so `archive search-log` shows what members miss) — each written here once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from archive.core.config import Config
from archive.core.errors import NotFound
from archive.core.store import recordings as store
from archive.core.store.recordings import RecordingFilter
from archive.core.store.records import Recording, Viewer
from archive.core.store.searches import log_search

if TYPE_CHECKING:
    from sqlite_utils import Database

    from search.results import SearchResponse

log = logging.getLogger(__name__)


class Archive:
    """``search_threads`` caps the embedder's threads (0: one per core); a server answering
    queries beside a worker uses 1 (bench/bench_load.py). ``answers_queries``: False for a process
    that only ingests and indexes (a worker, `archive ingest`), whose search model then holds
    405 MB less (``search.embedder._session``)."""

    def __init__(self, config: Config, *, search_threads: int = 0, answers_queries: bool = True):
        self.config = config
        self.search_threads = search_threads
        self.answers_queries = answers_queries

    @cached_property
    def embedder(self):
        """The search model, for queries and for whole talks: ONNX Runtime where exported, so no torch in a door.

        Whole talks too (workers, `archive ingest`, `archive reindex`): torch in bfloat16 embeds a talk's passages
        faster (19.0 texts a second on 2 cores against 12.4), but its load takes 7.3 s against 1.7 s and peaks at
        2.2 GB against 0.9 GB (the index texts of four evaluation webinars, one process each).
        """
        from search.embedder import embedder_for

        return embedder_for(self.config, threads=self.search_threads, for_queries=self.answers_queries)

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

    def as_viewer(self, viewer: Viewer) -> ArchiveView:
        """The archive as ``viewer`` sees it: only the talks they may see."""
        return ArchiveView(self, viewer)

    def warm(self, *, search: bool = True, transcription: bool = False) -> float:
        """Load the models now (each once per process); returns the seconds it took.

        ``search``: the query embedder (a server, `archive mcp`); ``transcription``: what a worker runs (Whisper,
        the voices, and the same search model for whole talks).
        """
        started = time.perf_counter()
        if search or transcription:
            self.embedder.load()
        if search:
            self.searcher.embed_query("warm up")  # the first encode also builds the model's kernels
        if transcription:
            self.transcriber.load()
            if self.diarizer is not None:
                self.diarizer.load()
        return time.perf_counter() - started

    def reindex_soon(self, recording_id: int) -> threading.Thread:
        """Re-embed a talk in the background (its title changed: the document prompt names it)."""
        from archive.core.store import connect
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


NO_TALK = "There is no talk at this address."


@dataclass(frozen=True)
class ArchiveView:
    """The archive seen by one viewer; every door's reads of talks and searches go through here."""

    archive: Archive
    viewer: Viewer

    def talk(self, db: Database, ref: str, message: str = NO_TALK) -> Recording:
        """The talk ``ref`` names (slug or id) if this viewer may see it; otherwise ``NotFound``,
        the same for a talk that exists and one that does not."""
        found = store.find_recording(db, ref.strip()) if ref.strip() else None
        if not self.viewer.may_see(found):
            raise NotFound(message)
        return found

    def search(
        self,
        db: Database,
        query: str,
        *,
        limit: int = 10,
        filters: RecordingFilter | None = None,
        sort: str = "relevance",
    ) -> SearchResponse:
        """Moments answering ``query`` in the talks this viewer may see, logged for `archive search-log`."""
        wanted = replace(filters or RecordingFilter(), visibility=self.viewer.levels)
        found = self.archive.searcher.search(db, query, limit=limit, filters=wanted, sort=sort)
        log_search(db, found.query, len(found.results))
        return found
