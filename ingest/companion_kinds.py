"""The kinds of file that come with a meeting's recording, registered once.

Each kind is one ``CompanionKind``: how it is given (its form field and CLI option, its file type,
its size limit, its suffix in a drop folder, the words that offer it), how it is read and checked
against the recording, how it is kept with a talk already in the archive, and what a takedown
removes of it. Every door reads ``COMPANION_KINDS``: the CLI's options (``archive ingest`` and
``archive attach``), the upload form and the talk page's "Add the meeting's files", the API, the
drop folder, and the takedown in ``ingest.redaction``. Adding a kind is one entry here (and its
record, its table and what the ingest pipeline does with it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from archive.core.errors import CompanionError
from archive.core.store.records import Companions

# `archive --help` reads the kinds for its options: what reads, checks and keeps each kind loads
# when a file of it comes (SQLite's helpers, WebVTT, pypdf, numpy), never at import.
if TYPE_CHECKING:
    from sqlite_utils import Database

    from search.embedder import Embedder

# A file as it was given: the name its sender knows it by, and its bytes.
GivenFile = tuple[str, bytes]

# A meeting transcript or chat of several hours is a few MB; anything much larger is not one.
MAX_COMPANION_BYTES = 20 * 2**20
# A deck with photos is easily tens of MB; past this it is not a slide deck.
MAX_SLIDES_BYTES = 200 * 2**20


@dataclass(frozen=True)
class CompanionKind:
    """One kind of companion file, everything about it that more than one door needs."""

    field: str  # the form field, the API's field, and the CLI option (``--zoom-transcript``)
    part: str  # the ``Companions`` field it fills; its file name is kept in ``<part>_file``
    noun: str  # what a message calls it: "the slides"
    label: str  # what the forms call it
    hint: str  # what it does, shown by the forms and as the CLI option's help
    suffix: str  # a drop folder's companion: talk.mp4 comes with talk<suffix>
    accept: str  # the file input's ``accept``
    max_bytes: int  # a larger file is refused unread
    read: Callable[[str, bytes, str | None], tuple]  # (file name, bytes, the recording's clock start) -> items
    check: Callable[[Sequence[Any], float, str], None]  # refuse items past the recording's end (another meeting)
    keep: Callable[[Database, int, Sequence[Any], Embedder, str], str]  # a talk in the archive keeps them; says what
    shapes_outline: bool  # the chapters are made again once it changes
    asks_recording_start: bool = False  # its times may be clock times: the forms ask when the recording started
    # A takedown of start..end seconds: remove what of this kind falls inside (None: it lives in the lines).
    cut: Callable[[Database, int, float, float], None] | None = None

    @property
    def option(self) -> str:
        return "--" + self.field.replace("_", "-")

    def items(self, companions: Companions) -> tuple:
        return getattr(companions, self.part)

    def file_name(self, companions: Companions) -> str:
        return getattr(companions, f"{self.part}_file")


def _read_speaker_cues(name: str, data: bytes, recording_start: str | None) -> tuple:
    from ingest.companions import decode_companion, parse_speaker_vtt

    return tuple(parse_speaker_vtt(decode_companion(data, name), name))


def _check_speaker_cues(cues: Sequence[Any], duration: float, name: str) -> None:
    from ingest.companions import check_cues

    check_cues(cues, duration, name)


def _keep_speaker_cues(db: Database, recording_id: int, cues: Sequence[Any], embedder: Embedder, name: str) -> str:
    from ingest.companions import name_speakers

    return f"{name}: named the speakers of {name_speakers(db, recording_id, cues, name)} lines"


def _read_chat(name: str, data: bytes, recording_start: str | None) -> tuple:
    from ingest.companions import decode_companion, parse_chat

    return tuple(parse_chat(decode_companion(data, name), name, recording_start))


def _check_chat(messages: Sequence[Any], duration: float, name: str) -> None:
    from ingest.companions import check_chat

    check_chat(messages, duration, name)


def _keep_chat(db: Database, recording_id: int, messages: Sequence[Any], embedder: Embedder, name: str) -> str:
    from ingest.companions import keep_chat

    return f"{name}: {keep_chat(db, recording_id, messages, name)} chat messages kept"


def _cut_chat(tx: Database, recording_id: int, start: float, end: float) -> None:
    from archive.core.store import recordings as store

    store.replace_chat(tx, recording_id, [m for m in store.chat_messages(tx, recording_id) if not start <= m.at <= end])


def _read_slides(name: str, data: bytes, recording_start: str | None) -> tuple:
    from ingest.slides import read_slides

    return tuple(read_slides(data, name))


def _slides_have_no_times(slides: Sequence[Any], duration: float, name: str) -> None:
    """Slides are placed by what is said, not by times of their own: nothing to check."""


def _keep_slides(db: Database, recording_id: int, slides: Sequence[Any], embedder: Embedder, name: str) -> str:
    from ingest.slides import attach_slides

    return f"{name}: {len(attach_slides(db, recording_id, slides, embedder, name))} slides lined up with the talk"


def _cut_slides(tx: Database, recording_id: int, start: float, end: float) -> None:
    """A slide that comes up inside the removed range goes with it (the rest of the deck stays)."""
    from archive.core.store import recordings as store

    kept = [s for s in store.slides(tx, recording_id) if s.at is None or not start <= s.at < end]
    store.replace_slides(tx, recording_id, kept)


COMPANION_KINDS: Mapping[str, CompanionKind] = {
    kind.field: kind
    for kind in (
        CompanionKind(
            field="zoom_transcript",
            part="speaker_cues",
            noun="the meeting's transcript",
            label="Meeting transcript from Zoom or Teams",
            hint=".vtt: each line gets the name of whoever spoke most of it; the words stay Whisper's",
            suffix=".vtt",
            accept=".vtt,text/vtt",
            max_bytes=MAX_COMPANION_BYTES,
            read=_read_speaker_cues,
            check=_check_speaker_cues,
            keep=_keep_speaker_cues,
            shapes_outline=True,  # the speakers' roles make the chapters
        ),
        CompanionKind(
            field="chat",
            part="chat",
            noun="its chat",
            label="Chat from Zoom",
            hint=".txt: its messages shown at their time beside the transcript, its links listed",
            suffix=".txt",
            accept=".txt,text/plain",
            max_bytes=MAX_COMPANION_BYTES,
            read=_read_chat,
            check=_check_chat,
            keep=_keep_chat,
            shapes_outline=False,
            cut=_cut_chat,
            asks_recording_start=True,
        ),
        CompanionKind(
            field="slides",
            part="slides",
            noun="the slides",
            label="Slides",
            hint=".pdf: each slide shown and searchable at the moment it is discussed",
            suffix=".pdf",
            accept=".pdf,application/pdf",
            max_bytes=MAX_SLIDES_BYTES,
            read=_read_slides,
            check=_slides_have_no_times,
            keep=_keep_slides,
            shapes_outline=True,  # a slide's title names its chapter
            cut=_cut_slides,
        ),
    )
}

# The chat's one extra detail: the clock time the recording started at, for a chat saved in the
# Zoom app (its times are clock times). The form field, and ``--chat-start`` on the command line.
RECORDING_START_FIELD = "chat_start"


def none_given_message() -> str:
    """What to say when a form or command offering companion files got none."""
    offered = [f"{kind.noun} ({kind.suffix})" for kind in COMPANION_KINDS.values()]
    return f"choose {', '.join(offered[:-1])} or {offered[-1]}"


def read_companions(given: Mapping[str, GivenFile | None], recording_start: str | None = None) -> Companions:
    """Parse the companion files given (kind's field -> (file name, bytes)); a CompanionError names the first bad one."""
    unknown = set(given) - set(COMPANION_KINDS)
    if unknown:
        raise ValueError(f"no companion kind {sorted(unknown)}")  # a door's mistake, not its user's
    companions = Companions()
    for field, kind in COMPANION_KINDS.items():
        file = given.get(field)
        if file is None:
            continue
        name, data = file
        if len(data) > kind.max_bytes:
            raise CompanionError(
                f"{name}: too large ({len(data) / 2**20:.0f} MB; {kind.noun} may be at most {kind.max_bytes // 2**20} MB)",
                field=field,
            )
        parsed: dict[str, Any] = {kind.part: kind.read(name, data, recording_start), f"{kind.part}_file": name}
        companions = replace(companions, **parsed)
    if (recording_start or "").strip() and not COMPANION_KINDS["chat"].items(companions):
        raise CompanionError("a start time goes with a chat export: give the chat too", field=RECORDING_START_FIELD)
    return companions


def check_companions(companions: Companions, duration: float) -> None:
    """Refuse companions from another meeting (times past the recording's end)."""
    for kind in COMPANION_KINDS.values():
        if kind.items(companions):
            kind.check(kind.items(companions), duration, kind.file_name(companions))


def attach_companions(db: Database, recording_id: int, companions: Companions, embedder: Embedder) -> list[str]:
    """Give a talk in the archive its companions (each replacing what it had); one line per file
    says what was done. All are checked before any is stored."""
    from archive.core.store import recordings as store
    from ingest.chapters import refresh_outline

    recording = store.get_recording(db, recording_id)
    if recording is None:
        raise CompanionError(f"there is no recording {recording_id}")
    check_companions(companions, recording.duration)
    given = [kind for kind in COMPANION_KINDS.values() if kind.items(companions)]
    done = [kind.keep(db, recording_id, kind.items(companions), embedder, kind.file_name(companions)) for kind in given]
    if any(kind.shapes_outline for kind in given):
        refresh_outline(db, recording_id)
    return done


def cut_companions(tx: Database, recording_id: int, start: float, end: float) -> None:
    """A takedown of ``start``..``end``: every kind loses what falls inside. Call inside its transaction."""
    for kind in COMPANION_KINDS.values():
        if kind.cut is not None:
            kind.cut(tx, recording_id, start, end)


def drop_folder_companions(read: Callable[[str], GivenFile | None]) -> Mapping[str, GivenFile | None]:
    """The companions a drop folder holds beside a recording: ``read(suffix)`` gives the file of that suffix."""
    return {field: read(kind.suffix) for field, kind in COMPANION_KINDS.items()}
