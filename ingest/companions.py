"""Files that come with a recording from Zoom or Teams: who spoke when.

A Zoom cloud recording's transcript (WebVTT, ``Name: text`` cues) or a Teams one (``<v Name>``
voice tags) knows the speakers by name; its words are usually worse than Whisper's. So the
transcript keeps Whisper's lines and takes only the names: each line gets the speaker whose
cues overlap it most (``assign_speakers``). Attached at ingest (``archive ingest --zoom-transcript``)
or later (``archive attach``), the same way: ``attach_zoom_transcript``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Sequence

from sqlite_utils import Database

from archive.errors import UserError
from archive.store import recordings as store
from archive.store import write_transaction
from archive.store.models import Segment, SpeakerCue

# A cue may end a little past the recording (Zoom rounds; a recording trimmed by a second).
END_TOLERANCE_SECONDS = 5.0
# "Name: text", the name at most this many words: longer, it is a sentence with a colon in it.
MAX_NAME_WORDS = 5
_NAMED = re.compile(r"^\s*([^:\n]{1,80}?)\s*:\s+(.*)$", re.S)


class CompanionError(UserError):
    """A companion file that cannot be used; the message names it and says why."""


# A meeting transcript of several hours is a few MB; anything much larger is not one.
MAX_COMPANION_BYTES = 20 * 2**20


def decode_companion(data: bytes, name: str) -> str:
    """A companion file's text (UTF-8, with or without a byte-order mark), or one clear message."""
    if len(data) > MAX_COMPANION_BYTES:
        raise CompanionError(f"{name}: too large for a meeting transcript ({len(data) / 2**20:.0f} MB)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CompanionError(f"{name}: not a text file (a WebVTT transcript is UTF-8 text)") from None


def _seconds(timestamp: str) -> float:
    parts = [float(p) for p in timestamp.split(":")]
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def parse_speaker_vtt(text: str, name: str = "the meeting transcript") -> list[SpeakerCue]:
    """The named cues of a Zoom or Teams WebVTT transcript, in time order.

    Raises CompanionError if ``text`` is not WebVTT or names nobody.
    """
    import webvtt
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        captions = webvtt.from_string(text.lstrip("\ufeff"))
    except (MalformedFileError, MalformedCaptionError, ValueError) as exc:
        raise CompanionError(f"{name}: not a WebVTT transcript ({exc or 'invalid format'})") from None
    cues = []
    for caption in captions:
        speaker = (getattr(caption, "voice", None) or "").strip()
        if not speaker:
            named = _NAMED.match(caption.text)
            if named and len(named.group(1).split()) <= MAX_NAME_WORDS:
                speaker = named.group(1).strip()
        if speaker:
            cues.append(SpeakerCue(_seconds(caption.start), _seconds(caption.end), " ".join(speaker.split())))
    if not cues:
        raise CompanionError(
            f'{name}: no speaker names in it (a Zoom transcript has cues like "Maya Torres: Good afternoon")'
        )
    return sorted(cues, key=lambda cue: cue.start)


def assign_speakers(segments: Sequence[Segment], cues: Sequence[SpeakerCue]) -> list[Segment]:
    """``segments`` with each line's speaker: whoever's cues overlap it longest (kept as it was
    where no cue touches the line)."""
    named = []
    for segment in segments:
        overlap: dict[str, float] = {}
        for cue in cues:
            if cue.start >= segment.end:
                break
            shared = min(cue.end, segment.end) - max(cue.start, segment.start)
            if shared > 0:
                overlap[cue.speaker] = overlap.get(cue.speaker, 0.0) + shared
        speaker = max(overlap, key=lambda s: (overlap[s], s)) if overlap else segment.speaker
        named.append(replace(segment, speaker=speaker))
    return named


def check_cues(cues: Sequence[SpeakerCue], duration: float, name: str = "the meeting transcript") -> None:
    """Refuse a transcript that runs past the recording (a file from another meeting)."""
    last = max(cue.end for cue in cues)
    if duration > 0 and last > duration + END_TOLERANCE_SECONDS:
        raise CompanionError(
            f"{name}: its cues run to {last:.0f} s but the recording is {duration:.0f} s long "
            "(is it the transcript of another meeting?)"
        )


def attach_zoom_transcript(db: Database, recording_id: int, text: str, name: str = "the meeting transcript") -> int:
    """Name the speakers of a talk's lines from a Zoom/Teams transcript; returns how many lines got a name.

    Only the speakers change: the text and the index stay (search needs no re-index).
    """
    recording = store.get_recording(db, recording_id)
    if recording is None:
        raise CompanionError(f"there is no recording {recording_id}")
    cues = parse_speaker_vtt(text, name)
    check_cues(cues, recording.duration, name)
    with write_transaction(db):
        named = assign_speakers(store.get_segments(db, recording_id), cues)
        store.set_segment_speakers(db, recording_id, [segment.speaker for segment in named])
    return sum(1 for segment in named if segment.speaker)
