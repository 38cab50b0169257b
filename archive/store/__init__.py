"""The SQLite store: the source of truth for recordings, transcripts, passages and jobs."""

from .connection import connect, write_transaction
from .models import Job, Passage, Recording, RecordingMeta, Segment

__all__ = ["connect", "write_transaction", "Job", "Passage", "Recording", "RecordingMeta", "Segment"]
