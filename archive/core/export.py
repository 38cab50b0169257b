"""Transcript exports: JSON, plain text, SubRip and WebVTT; chapters as text, WebVTT and Podcasting 2.0 JSON.

Each format is one entry of ``FORMATS`` or ``CHAPTER_FORMATS``; every door reads them (the CLI's
choices, the web routes and their content types, the talk page's download list, the podcast feed's
transcript links), so a new format is one writer and one entry here.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from archive.core.store.records import Chapter, Recording, Segment
from archive.core.timecode import clock

# How a language code reads on the talk page (the transcriber's languages are configurable).
LANGUAGE_NAMES = {"en": "English", "es": "Spanish", "de": "German", "fr": "French", "pt": "Portuguese"}


def to_json(recording: Recording, segments: list[Segment]) -> str:
    return json.dumps(
        {
            "id": recording.id,
            "slug": recording.slug,
            "title": recording.title,
            "speakers": recording.speakers,
            **({"host": recording.host} if recording.host else {}),
            "organization": recording.organization,
            "date": recording.date,
            "duration": round(recording.duration, 3),
            "language": main_language(recording),
            "segments": [
                {
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    **({"language": s.language} if s.language else {}),
                    **({"speaker": s.speaker} if s.speaker else {}),
                }
                for s in segments
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


def to_txt(recording: Recording, segments: list[Segment]) -> str:
    header = [recording.title]
    byline = ", ".join(x for x in [", ".join(recording.speakers), recording.organization, recording.date or ""] if x)
    if byline:
        header.append(byline)
    if recording.host:
        header.append(f"Hosted by {recording.host}")
    lines, speaker = [], None
    for s in segments:  # a speaker's name opens each of their turns
        said_by = f"{s.speaker}: " if s.speaker and s.speaker != speaker else ""
        speaker = s.speaker or speaker
        lines.append(f"[{clock(s.start, always_hours=False)}] {said_by}{s.text}")
    return "\n".join(header + [""] + lines) + "\n"


def _cue_text(text: str) -> str:
    # A blank line ends a cue and "-->" starts one: keep both out of cue text.
    return " ".join(text.split()).replace("-->", "->")


def to_srt(recording: Recording, segments: list[Segment]) -> str:
    cues = [
        f"{i}\n{clock(s.start, decimal=',')} --> {clock(s.end, decimal=',')}\n{_cue_text(s.text)}\n"
        for i, s in enumerate(segments, 1)
    ]
    return "\n".join(cues)


def main_language(recording: Recording) -> str:
    """The language most of the talk is in (the recording keeps the ones heard, most first)."""
    return (recording.language or "en").split(",")[0]


def to_vtt(recording: Recording, segments: list[Segment]) -> str:
    """WebVTT captions: ``<v Name>`` where the speaker is known, a line in another language
    than the talk's wrapped in ``<lang xx>``."""
    main = main_language(recording)

    def text(segment: Segment) -> str:
        escaped = html.escape(_cue_text(segment.text), quote=False)
        if segment.language and segment.language != main:
            escaped = f"<lang {segment.language}>{escaped}</lang>"
        if segment.speaker:
            escaped = f"<v {_cue_text(segment.speaker).replace('>', '')}>{escaped}"
        return escaped

    cues = [f"{clock(s.start)} --> {clock(s.end)}\n{text(s)}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


@dataclass(frozen=True)
class ExportFormat:
    """One way to write a transcript or an outline out: its file suffix, what it is called on the page,
    its media type, whether players and podcast apps read it as captions, and its writer."""

    name: str
    label: str
    media_type: str
    write: Callable[[Recording, list], str]
    captions: bool = False
    in_feeds: bool = True

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"


FORMATS = {
    f.name: f
    for f in (
        ExportFormat("txt", "Text (.txt)", "text/plain", to_txt, in_feeds=False),
        ExportFormat("srt", "Subtitles (.srt)", "application/x-subrip", to_srt, captions=True),
        ExportFormat("vtt", "WebVTT (.vtt)", "text/vtt", to_vtt, captions=True),
        ExportFormat("json", "JSON (.json)", "application/json", to_json),
    )
}


def export(recording: Recording, segments: list[Segment], fmt: str) -> str:
    """The transcript in ``fmt`` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[fmt].write(recording, segments)


def _chapter_ends(recording: Recording, chapters: list[Chapter]) -> list[float]:
    return [c.start for c in chapters[1:]] + [max(recording.duration, chapters[-1].start)] if chapters else []


def chapters_vtt(recording: Recording, chapters: list[Chapter]) -> str:
    """A WebVTT chapters track (``<track kind="chapters">``): one cue per chapter, to the next one."""
    cues = [
        f"{clock(c.start)} --> {clock(end)}\n{html.escape(_cue_text(c.title), quote=False)}\n"
        for c, end in zip(chapters, _chapter_ends(recording, chapters), strict=True)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def chapters_json(recording: Recording, chapters: list[Chapter]) -> str:
    """Podcasting 2.0 chapters (``<podcast:chapters type="application/json+chapters">``)."""
    return json.dumps(
        {
            "version": "1.2.0",
            "title": recording.title,
            "chapters": [
                {"startTime": round(c.start, 3), "endTime": round(end, 3), "title": c.title}
                for c, end in zip(chapters, _chapter_ends(recording, chapters), strict=True)
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


def chapters_txt(recording: Recording, chapters: Sequence[Chapter]) -> str:
    """The outline as staff edit it: one "12:34 Title" per line (what ``archive chapters --set`` reads)."""
    return "".join(f"{clock(c.start, always_hours=False)} {c.title}\n" for c in chapters)


CHAPTER_FORMATS = {
    f.name: f
    for f in (
        ExportFormat("txt", "Outline (.txt)", "text/plain", chapters_txt, in_feeds=False),
        ExportFormat("vtt", "WebVTT chapters (.vtt)", "text/vtt", chapters_vtt),
        ExportFormat("json", "Podcasting 2.0 chapters (.json)", "application/json+chapters", chapters_json),
    )
}
