"""The SQLite store: the source of truth for recordings, transcripts, passages and jobs."""

from .connection import connect, read_transaction, write_transaction
from .models import Job, Passage, Recording, RecordingMeta, Segment

__all__ = ["connect", "read_transaction", "write_transaction", "Job", "Passage", "Recording", "RecordingMeta", "Segment"]
