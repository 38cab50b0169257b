"""Dataclasses that carry archive records between layers, and the one check of a talk's details."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date as Date
from typing import Any, TypeGuard

from archive.core.errors import UserError

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


class MetadataError(UserError):
    """A talk's details that cannot be stored as given (a bad date, an unknown visibility)."""


MAX_TITLE_CHARS = 300
MAX_NAME_CHARS = 120  # a person's name as a line's speaker: a host, or a voice staff name (ingest.diarize)


def parse_date(value: str | None, name: str = "date") -> str | None:
    """``YYYY-MM-DD`` (or None for nothing given); anything else is a MetadataError naming ``name``."""
    if value is None or not str(value).strip():
        return None
    try:
        return Date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise MetadataError(
            f"{name} must be a date in the form YYYY-MM-DD, not {str(value)[:40]!r}", field=name
        ) from None


def _names(values) -> list[str]:
    """Names or tags with whitespace collapsed, blanks and repeats (ignoring case) left out, in order."""
    kept: dict[str, str] = {}
    for value in values:
        name = " ".join(str(value).split())
        if name and name.casefold() not in kept:
            kept[name.casefold()] = name
    return list(kept.values())


def split_terms(value: str) -> list[str]:
    """``"Keralty, link worker"`` -> ``["Keralty", "link worker"]``: how forms and the CLI take lists."""
    return _names(value.split(","))


@dataclass
class RecordingMeta:
    """What a person tells us about a talk when it is ingested; ``validated`` is the one check."""

    title: str = ""
    speakers: list[str] = field(default_factory=list)
    organization: str = ""
    date: str | None = None  # ISO YYYY-MM-DD
    tags: list[str] = field(default_factory=list)
    description: str = ""
    series: str = ""  # "Community of Practice": talks of one series share a page and a podcast feed
    host: str = ""  # who chairs a webinar (introduces the speakers, takes the questions): not a speaker
    vocab: list[str] = field(default_factory=list)  # transcription hints, kept for `archive retranscribe`
    synthetic: bool = False
    visibility: str = "staff"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "speakers": list(self.speakers),
            "host": self.host,
            "organization": self.organization,
            "date": self.date,
            "tags": list(self.tags),
            "description": self.description,
            "series": self.series,
            "vocab": list(self.vocab),
            "synthetic": self.synthetic,
            "visibility": self.visibility,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordingMeta:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def validated(self, *, title_required: bool = False) -> RecordingMeta:
        """A clean copy (whitespace collapsed, no blank or repeated names, an ISO date); MetadataError if it cannot be."""
        title = " ".join(self.title.split())[:MAX_TITLE_CHARS]
        if title_required and not title:
            raise MetadataError("a talk needs a title", field="title")
        host = " ".join(self.host.split())
        if len(host) > MAX_NAME_CHARS:  # the host's lines take this name (``ingest.diarize.rename_host``)
            raise MetadataError(f"a host's name is at most {MAX_NAME_CHARS} characters", field="host")
        if self.visibility not in VISIBILITIES:
            raise MetadataError(f"visibility must be one of: {', '.join(VISIBILITIES)}", field="visibility")
        return replace(
            self,
            title=title,
            speakers=_names(self.speakers),
            host=host,
            organization=" ".join(self.organization.split()),
            date=parse_date(self.date),
            tags=_names(self.tags),
            description=self.description.strip(),
            series=" ".join(self.series.split())[:MAX_TITLE_CHARS],
            vocab=_names(self.vocab),
        )

    @classmethod
    def from_form(cls, form: Mapping[str, str], *, title_required: bool = False) -> RecordingMeta:
        """The details as a web form or the API sends them (lists comma-separated), validated."""
        return cls(
            title=form.get("title", ""),
            speakers=split_terms(form.get("speakers", "")),
            host=form.get("host", ""),
            organization=form.get("organization", ""),
            date=form.get("date") or None,
            tags=split_terms(form.get("tags", "")),
            description=form.get("description", ""),
            series=form.get("series", ""),
            vocab=split_terms(form.get("vocab", "")),
            visibility=form.get("visibility", "") or "staff",
        ).validated(title_required=title_required)


@dataclass(frozen=True)
class Segment:
    """A stretch of speech with its transcript, times in seconds from the start of the recording."""

    start: float
    end: float
    text: str
    machine_text: str | None = None  # what Whisper wrote, where staff have corrected ``text``
    edited_at: str | None = None  # when staff last corrected it
    language: str | None = None  # what Whisper heard it in ("en", "es"), where known
    speaker: str | None = None  # who said it, where a meeting transcript named them
    # When each word of ``text`` (split on spaces) starts, where the transcriber has just given the
    # times: an ingest splits a line where the voice changes inside it (``ingest.diarize``). Kept with
    # a job's saved progress only, never with the talk, and left out of comparisons: a line read back
    # from the archive equals the one written.
    word_starts: tuple[float, ...] = field(default=(), compare=False, repr=False)

    @property
    def edited(self) -> bool:
        return self.machine_text is not None


@dataclass(frozen=True)
class SpeakerCue:
    """One stretch of a Zoom or Teams transcript: who spoke from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class ChatMessage:
    """A message from the meeting's chat, ``at`` seconds into the recording."""

    at: float
    author: str
    text: str


@dataclass(frozen=True)
class Slide:
    """One page of the presenter's deck: its text and ``at``, the second it is discussed from
    (None until it is lined up with the transcript)."""

    page: int  # 1-based, as the PDF numbers it
    title: str  # its first line of text ("" for a page of images only)
    text: str
    at: float | None = None


@dataclass(frozen=True)
class Chapter:
    """An entry of a talk's outline: where it starts and what it is called."""

    start: float
    title: str


@dataclass(frozen=True)
class Companions:
    """The files a meeting leaves beside its recording, parsed: who spoke when (a Zoom or Teams
    transcript), the chat, the slides. Each keeps the name of the file it came from, for messages."""

    speaker_cues: tuple[SpeakerCue, ...] = ()
    chat: tuple[ChatMessage, ...] = ()
    slides: tuple[Slide, ...] = ()
    speaker_cues_file: str = "the meeting transcript"
    chat_file: str = "the chat"
    slides_file: str = "the slides"

    def __bool__(self) -> bool:
        return bool(self.speaker_cues or self.chat or self.slides)

    def to_dict(self) -> dict[str, Any]:
        return {
            "speaker_cues": [[c.start, c.end, c.speaker] for c in self.speaker_cues],
            "chat": [[m.at, m.author, m.text] for m in self.chat],
            "slides": [[s.page, s.title, s.text] for s in self.slides],
            "files": [self.speaker_cues_file, self.chat_file, self.slides_file],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Companions:
        files = list(data.get("files") or ()) or [cls.speaker_cues_file, cls.chat_file, cls.slides_file]
        return cls(
            speaker_cues=tuple(SpeakerCue(float(a), float(b), str(s)) for a, b, s in data.get("speaker_cues") or ()),
            chat=tuple(ChatMessage(float(at), str(author), str(text)) for at, author, text in data.get("chat") or ()),
            slides=tuple(Slide(int(page), str(title), str(text)) for page, title, text in data.get("slides") or ()),
            speaker_cues_file=str(files[0]),
            chat_file=str(files[1]),
            slides_file=str(files[2]),
        )


@dataclass(frozen=True)
class SpeechGap:
    """Speech the voice-activity detector heard where Whisper wrote nothing, even asked again
    without hints: kept with the talk and shown to staff (the job, the talk page, ``archive check``)."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def transcript_item_json(item: Segment | SpeechGap) -> dict[str, Any]:
    """A line or a gap as remote workers and the archive send it to each other."""
    if isinstance(item, SpeechGap):
        return {"start": item.start, "end": item.end, "gap": True}
    line = {"start": item.start, "end": item.end, "text": item.text, "language": item.language}
    return {**line, "word_starts": list(item.word_starts)} if item.word_starts else line


def transcript_item(data: Mapping[str, Any]) -> Segment | SpeechGap:
    """The line or gap ``transcript_item_json`` wrote (KeyError, TypeError or ValueError if it is not one)."""
    start, end = float(data["start"]), float(data["end"])
    if data.get("gap"):
        return SpeechGap(start, end)
    language = data.get("language")
    word_starts = tuple(float(at) for at in data.get("word_starts") or ())  # optional: older workers send none
    if not all(math.isfinite(at) for at in word_starts):
        raise ValueError("word_starts must be times in seconds")
    return Segment(
        start=start,
        end=end,
        text=str(data["text"]),
        language=str(language) if language else None,
        word_starts=word_starts,
    )


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
    chat_names_public: bool = False  # the chat's authors are shown to everyone who may see the talk
    chapters_edited: bool = False  # staff wrote its outline: kept as they left it
    series: str = ""  # the series it belongs to ("" for none)
    vocab: list[str] = field(default_factory=list)  # the words staff gave Whisper at ingest
    host: str = ""  # who chaired it ("" where nobody said)

    @property
    def url(self) -> str:
        return f"/recordings/{self.slug}"

    @property
    def cover_kind(self) -> str:
        """The cover's file type (ingest/covers.py): a video's frame is a JPEG, a card a PNG."""
        return "jpg" if self.media_kind == "video" else "png"

    def summary(self) -> dict[str, Any]:
        """The public fields used by ``archive list --json`` and the API."""
        return {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "speakers": list(self.speakers),
            **({"host": self.host} if self.host else {}),
            "organization": self.organization,
            "date": self.date,
            "duration": round(self.duration, 3),
            "status": self.status,
            "visibility": self.visibility,
            **({"series": self.series} if self.series else {}),
        }


@dataclass
class JobParams:
    """What a queued ingest needs besides its file: the talk's details and how to treat the file.
    A job that transcribes a talk already in the archive again (``ingest.retranscribe``) names it
    in ``retranscribe_id``; its file is that talk's stored media."""

    meta: RecordingMeta
    original_filename: str = ""  # the uploader's name for the file, when its path is a generated one
    delete_source: bool = False  # the file is the archive's own upload: move it in, never copy it
    companions: Companions = Companions()  # the meeting's transcript, chat and slides
    retranscribe_id: int | None = None  # the talk to transcribe again (None: an ingest)
    model: str = ""  # the Whisper model asked for (`--model`); "" for the worker's own
    # A retranscribe of a talk whose lines have no speakers yet tells its voices apart too.
    tells_voices: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "meta": self.meta.to_dict(),
            "original_filename": self.original_filename,
            "delete_source": self.delete_source,
            **self.companions.to_dict(),
            "retranscribe_id": self.retranscribe_id,
            "model": self.model,
            "tells_voices": self.tells_voices,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobParams:
        retranscribe_id = data.get("retranscribe_id")  # absent from the rows of earlier releases
        return cls(
            meta=RecordingMeta.from_dict(data.get("meta") or {}),
            original_filename=str(data.get("original_filename") or ""),
            delete_source=bool(data.get("delete_source")),
            companions=Companions.from_dict(data),
            retranscribe_id=int(retranscribe_id) if retranscribe_id is not None else None,
            model=str(data.get("model") or ""),
            tells_voices=bool(data.get("tells_voices")),
        )


@dataclass
class Job:
    id: int
    title: str
    state: str
    percent: float
    error: str | None
    recording_id: int | None
    source_path: str
    params: JobParams
    attempts: int
    created_at: str
    updated_at: str
    heartbeat_at: str | None
    worker: str | None
    resumed_from: float | None = None  # seconds already transcribed when the last attempt began
    step: str = ""  # what it is doing now, in words ("transcribing 12:30 of 58:00")
    seconds_left: float | None = None  # while running: by the speeds this machine measured

    def found_already(self, recording: Recording | None) -> bool:
        """The job's file was a talk the archive had before (the same bytes): the details sent with
        it were not used. (Times are to the second: the same file twice within one is one talk.)
        Never for a retranscribe: its talk was there before by design."""
        return self.params.retranscribe_id is None and recording is not None and recording.created_at < self.created_at

    @property
    def file_name(self) -> str:
        """The file as the person who queued it knows it (never the server's generated name for an upload)."""
        return self.params.original_filename or self.source_path.rsplit("/", 1)[-1]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "state": self.state,
            "percent": round(self.percent, 1),
            "step": self.step,
            "seconds_left": None if self.seconds_left is None else round(self.seconds_left),
            "error": self.error,
            "recording_id": self.recording_id,
        }


@dataclass(frozen=True)
class Viewer:
    """Who is looking: a signed-in account's id and role, or ``Viewer()`` for a visitor.

    The archive's one visibility rule is ``may_see``: every door asks it, through the ``Archive``
    scoped to this viewer (``Archive.as_viewer``), and the store's queries filter by ``levels``.
    """

    user_id: int | None = None
    role: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in ("staff", "admin")

    @property
    def levels(self) -> tuple[str, ...]:
        """The visibility levels this viewer may see."""
        return visible_to(self.role)

    def may_see(self, recording: Recording | None) -> TypeGuard[Recording]:
        return recording is not None and recording.visibility in self.levels


OPERATOR = Viewer(role="admin")  # the command line, run by whoever can read the data directory
