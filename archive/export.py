"""Transcript exports: JSON, plain text, SubRip and WebVTT."""

from __future__ import annotations

import json

from .store.models import Recording, Segment
from .timecode import clock

FORMATS = ("json", "txt", "srt", "vtt")


def to_json(recording: Recording, segments: list[Segment]) -> str:
    return json.dumps(
        {
            "id": recording.id,
            "slug": recording.slug,
            "title": recording.title,
            "speakers": recording.speakers,
            "organization": recording.organization,
            "date": recording.date,
            "duration": round(recording.duration, 3),
            "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in segments],
        },
        indent=2,
        ensure_ascii=False,
    )


def to_txt(recording: Recording, segments: list[Segment]) -> str:
    header = [recording.title]
    byline = ", ".join(x for x in [", ".join(recording.speakers), recording.organization, recording.date or ""] if x)
    if byline:
        header.append(byline)
    lines = [f"[{clock(s.start, always_hours=False)}] {s.text}" for s in segments]
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


def to_vtt(recording: Recording, segments: list[Segment]) -> str:
    cues = [f"{clock(s.start)} --> {clock(s.end)}\n{_cue_text(s.text)}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)


def export(recording: Recording, segments: list[Segment], fmt: str) -> str:
    """The transcript in ``fmt`` (one of FORMATS)."""
    writers = {"json": to_json, "txt": to_txt, "srt": to_srt, "vtt": to_vtt}
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return writers[fmt](recording, segments)
