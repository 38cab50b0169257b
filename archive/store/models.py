"""Dataclasses that carry archive records between layers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Who may see a recording, most open first. New recordings are drafts ("staff") until published.
VISIBILITIES = ("public", "members", "staff")
ROLES = ("admin", "staff", "member")


def visible_to(role: str | None) -> tuple[str, ...]:
    """The visibility levels someone with ``role`` may see; None is an anonymous visitor."""
    if role in ("admin", "staff"):
        return VISIBILITIES
    if role == "member":
        return ("public", "members")
    return ("public",)


@dataclass
class RecordingMeta:
    """What a person tells us about a talk when it is ingested."""

    title: str = ""
    speakers: list[str] = field(default_factory=list)
    organization: str = ""
    date: str | None = None  # ISO YYYY-MM-DD
    tags: list[str] = field(default_factory=list)
    description: str = ""
    vocab: list[str] = field(default_factory=list)  # transcription hints, not stored
    synthetic: bool = False
    visibility: str = "staff"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "speakers": list(self.speakers),
            "organization": self.organization,
            "date": self.date,
            "tags": list(self.tags),
            "description": self.description,
            "vocab": list(self.vocab),
            "synthetic": self.synthetic,
            "visibility": self.visibility,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RecordingMeta":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class Segment:
    """A stretch of speech with its transcript, times in seconds from the start of the recording."""

    start: float
    end: float
    text: str
    machine_text: str | None = None  # what Whisper wrote, where staff have corrected ``text``

    @property
    def edited(self) -> bool:
        return self.machine_text is not None


@dataclass(frozen=True)
class Passage:
    """A search unit: whole consecutive segments ``first_segment..last_segment`` (inclusive)."""

    idx: int
    first_segment: int
    last_segment: int
    start: float
    end: float
    text: str


@dataclass
class Recording:
    id: int
    slug: str
    title: str
    speakers: list[str]
    organization: str
    date: str | None
    tags: list[str]
    description: str
    duration: float
    media_path: str
    media_hash: str
    media_kind: str
    original_filename: str
    synthetic: bool
    language: str
    model: str
    status: str
    created_at: str
    visibility: str = "public"

    @property
    def url(self) -> str:
        return f"/recordings/{self.slug}"

    def summary(self) -> dict[str, Any]:
        """The public fields used by ``archive list --json`` and the API."""
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "speakers": list(self.speakers),
            "organization": self.organization,
            "date": self.date,
            "duration": round(self.duration, 3),
            "status": self.status,
            "visibility": self.visibility,
        }


@dataclass
class Job:
    id: int
    title: str
    state: str
    percent: float
    error: str | None
    recording_id: int | None
    source_path: str
    params: dict[str, Any]
    attempts: int
    created_at: str
    updated_at: str
    heartbeat_at: str | None
    worker: str | None
    resumed_from: float | None = None  # seconds already transcribed when the last attempt began

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "state": self.state,
            "percent": round(self.percent, 1),
            "error": self.error,
            "recording_id": self.recording_id,
        }
