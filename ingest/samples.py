"""The demo talks under media/samples/: ingested once, on the archive's first start."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlite_utils import Database

from archive.core.config import Config
from archive.core.store import recordings as store
from archive.core.store.records import Recording, RecordingMeta
from ingest.pipeline import ingest_file
from ingest.transcribe import Transcriber, transcriber_for
from search.embedder import Embedder, embedder_for

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "media" / "samples"
LOADED_KEY = "samples_loaded_at"


def sample_talks(samples_dir: Path = SAMPLES_DIR) -> list[tuple[Path, RecordingMeta]]:
    """Each demo talk's file and metadata, marked synthetic and public (they are the archive's showcase)."""
    talks = json.loads((samples_dir / "samples.json").read_text(encoding="utf-8"))["talks"]
    return [
        (samples_dir / talk["file"], RecordingMeta.from_dict({**talk, "synthetic": True, "visibility": "public"}))
        for talk in talks
    ]


def load_samples(
    db: Database,
    config: Config,
    transcriber: Transcriber | None = None,
    embedder: Embedder | None = None,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Recording] | None:
    """Ingest the demo talks unless they were loaded before (then None: staff may have removed them)."""
    if store.get_meta(db, LOADED_KEY) and not force:
        return None
    transcriber = transcriber if transcriber is not None else transcriber_for(config)
    embedder = embedder or embedder_for(config, for_queries=False)
    loaded = []
    for path, meta in sample_talks():
        if progress:
            progress(meta.title)
        result = ingest_file(db, config, path, meta, transcriber=transcriber, embedder=embedder)
        loaded.append(result.recording)
    store.set_meta(db, LOADED_KEY, store.utc_now())
    return loaded
