"""The SQLite store: the source of truth for recordings, transcripts, passages and jobs.

The connection helpers load SQLite (through sqlite-utils) only when first used, so code that
needs just the dataclasses (the CLI's option lists, `archive --help`) starts fast.
"""

from archive.core.store.records import Job, Passage, Recording, RecordingMeta, Segment

__all__ = [
    "busy_refusal",
    "connect",
    "read_transaction",
    "write_transaction",
    "Job",
    "Passage",
    "Recording",
    "RecordingMeta",
    "Segment",
]


def __getattr__(name: str):
    if name in ("busy_refusal", "connect", "read_transaction", "write_transaction"):
        from archive.core.store import connection

        return getattr(connection, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
