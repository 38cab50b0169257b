"""The SQLite store: the source of truth for recordings, transcripts, passages and jobs."""

from .connection import connect
from .models import Job, Passage, Recording, RecordingMeta, Segment

__all__ = ["connect", "Job", "Passage", "Recording", "RecordingMeta", "Segment"]
