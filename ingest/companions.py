"""Files that come with a recording from Zoom or Teams: who spoke when, the chat, the slides.

A Zoom cloud recording's transcript (WebVTT, ``Name: text`` cues) or a Teams one (``<v Name>``
voice tags) knows the speakers by name; its words are usually worse than Whisper's. So the
transcript keeps Whisper's lines and takes only the names: each line gets the speaker whose
cues overlap it most (``assign_speakers``). The chat is kept at its times; the slides
(``ingest.slides``) are lined up with what is said. Each kind is registered once in
``ingest.companion_kinds``, which every door reads: all are read at once, checked against the
recording before anything is stored, and come with a recording at ingest (``archive ingest
--zoom-transcript/--chat/--slides``, the upload form, a drop folder) or later (``archive attach``,
the talk page).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from sqlite_utils import Database

from archive.core.errors import CompanionError
from archive.core.store import recordings as store
from archive.core.store import write_transaction
from archive.core.store.records import ChatMessage, Segment, SpeakerCue
from archive.core.timecode import clock

# A cue may end a little past the recording (Zoom rounds; a recording trimmed by a second).
END_TOLERANCE_SECONDS = 5.0
# "Name: text", the name at most this many words: longer, it is a sentence with a colon in it.
MAX_NAME_WORDS = 5
_NAMED = re.compile(r"^\s*([^:\n]{1,80}?)\s*:\s+(.*)$", re.S)


def decode_companion(data: bytes, name: str) -> str:
    """A companion file's text (UTF-8, with or without a byte-order mark), or one clear message.
    (Its size was checked against its kind's limit before: ``companion_kinds.read_companions``.)"""
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
    for caption in captions.captions:
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


def _clock(seconds: float) -> str:
    """A time as a person reads it in a message: 1:01:40, 0:16."""
    return clock(seconds, always_hours=False)


def check_cues(cues: Sequence[SpeakerCue], duration: float, name: str = "the meeting transcript") -> None:
    """Refuse a transcript that runs past the recording (a file from another meeting)."""
    last = max(cue.end for cue in cues)
    if _past_the_end(last, duration):
        raise CompanionError(
            f"{name}: its cues run to {_clock(last)} but the recording is {_clock(duration)} long "
            "(is it the transcript of another meeting?)"
        )


def _past_the_end(seconds: float, duration: float) -> bool:
    return duration > 0 and seconds > duration + END_TOLERANCE_SECONDS


def name_speakers(
    db: Database, recording_id: int, cues: Sequence[SpeakerCue], name: str = "the meeting transcript"
) -> int:
    """Name the speakers of a talk's lines from a transcript's cues; returns how many lines got a name.

    Only the speakers change: the text and the index stay (search needs no re-index).
    """
    check_cues(cues, _recording(db, recording_id).duration, name)
    with write_transaction(db):
        named = assign_speakers(store.get_segments(db, recording_id), cues)
        store.set_segment_speakers(db, recording_id, [segment.speaker for segment in named])
    return sum(1 for segment in named if segment.speaker)


# Zoom's two chat exports. Cloud recordings: "00:12:05<TAB>Maya Torres:<TAB>message", the time
# from the recording's start. "Save chat" in the app: "14:02:31 From Maya Torres to Everyone:
# message", the time of day. A line that matches neither continues the message before it.
_CLOUD_CHAT = re.compile(r"^(\d{1,2}:\d{2}:\d{2})\t(.+?):\t?(.*)$")
_SAVED_CHAT = re.compile(r"^(\d{1,2}:\d{2}:\d{2})\s+From\s+(.+?)\s+to\s+(.+?)\s*:\s?(.*)$", re.I)
_LINK = re.compile(r"https?://[^\s<>\"')\]]+")


def parse_chat(text: str, name: str = "the chat", recording_start: str | None = None) -> list[ChatMessage]:
    """A Zoom chat export as messages timed against the recording.

    In a "Save chat" export the times are clock times: ``recording_start`` ("14:00:05") says when
    the recording began; without it the first message is taken to be at its start. Direct
    messages ("to Maya Torres (Direct Message)") are private and left out.
    """
    recording_start = (recording_start or "").strip() or None
    if recording_start and not re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", recording_start):
        raise CompanionError(
            f"the recording's start should be a time of day like 14:00:05, not {recording_start!r}", field="chat_start"
        )
    messages: list[list] = []
    clock_times = False
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.rstrip()
        if not line:
            continue
        saved = _SAVED_CHAT.match(line)
        cloud = None if saved else _CLOUD_CHAT.match(line)
        if saved:
            clock_times = True
            if "everyone" not in saved.group(3).lower():
                messages.append([None, "", ""])  # a private message: its continuation lines go with it
                continue
            messages.append([_seconds(saved.group(1)), saved.group(2).strip(), saved.group(4).strip()])
        elif cloud:
            messages.append([_seconds(cloud.group(1)), cloud.group(2).strip(), cloud.group(3).strip()])
        elif messages:
            messages[-1][2] = (messages[-1][2] + "\n" + line.strip()).strip()
        else:
            raise CompanionError(f"{name}: not a Zoom chat export (it starts {line[:40]!r})")
    kept = [m for m in messages if m[0] is not None and m[2]]
    if not kept:
        raise CompanionError(f"{name}: no messages in it")
    if clock_times:
        zero = _seconds(recording_start) if recording_start else kept[0][0]
        for message in kept:
            message[0] = (message[0] - zero) % 86_400  # a meeting across midnight
    elif recording_start:
        raise CompanionError(f"{name}: its times are already from the recording's start; leave out the start time")
    return [ChatMessage(round(at, 3), author, body) for at, author, body in kept]


def check_chat(messages: Sequence[ChatMessage], duration: float, name: str = "the chat") -> None:
    """Refuse a chat with messages after the recording ends."""
    last = max(m.at for m in messages)
    if _past_the_end(last, duration):
        raise CompanionError(
            f"{name}: a message at {_clock(last)} but the recording is {_clock(duration)} long "
            "(is it the chat of another meeting, or did the recording start later than the chat?)"
        )


def chat_links(messages: Sequence[ChatMessage]) -> list[tuple[str, ChatMessage]]:
    """The links shared in the chat, first mention first, each once: "Resources mentioned"."""
    seen: dict[str, ChatMessage] = {}
    for message in messages:
        for url in _LINK.findall(message.text):
            seen.setdefault(url.rstrip(".,;:!?"), message)
    return list(seen.items())


def keep_chat(db: Database, recording_id: int, messages: Sequence[ChatMessage], name: str = "the chat") -> int:
    """Keep a talk's chat (replacing any before); returns how many messages."""
    check_chat(messages, _recording(db, recording_id).duration, name)
    with write_transaction(db):
        store.replace_chat(db, recording_id, messages)
    return len(messages)


def _recording(db: Database, recording_id: int):
    recording = store.get_recording(db, recording_id)
    if recording is None:
        raise CompanionError(f"there is no recording {recording_id}")
    return recording
