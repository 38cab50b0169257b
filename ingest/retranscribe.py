"""Transcribing a talk again with the current transcriber, keeping what people did to it since.

A talk ingested by an older release keeps its old lines (no languages, no speech-gap check)
until it is transcribed again from its stored media (the silenced copy where a range was taken
down). The new lines replace the machine's old ones; what people did is kept, by the same rules
for every talk:

- a line staff corrected (``Segment.edited``) stays exactly as it is, its text and times; a new
  line lying half or more inside corrected lines is left out (it is the machine's version of it);
- each new line is said by whoever said the old line(s) it overlaps most (speaker names, renamed
  voices), or failing any, the old line nearest it within ``NEAR_SECONDS``;
- nothing new comes back inside a taken-down range (``redactions``): new lines and speech gaps
  touching one are left out;
- an outline staff edited stays as they left it; an automatic one is made again from the new lines;
- a talk none of whose lines has a speaker (ingested before voices were told apart) gets them told
  apart now, by the same stage an ingest runs (``diarize.diarize_safely``), when a diarizer is given;
- each slide moves to the start of the new line nearest it, if one starts within ``SNAP_SECONDS``
  (a slide up from the very start stays there).

The recording's model, languages and speech gaps become the new ones, and its index is rebuilt
the one way (``search.index.reindex_talk``), all in one write transaction: stopped before it, the
talk is exactly as it was, and the job's saved transcript lets the next attempt resume.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlite_utils import Database

from archive.core.config import Config
from archive.core.errors import Conflict, NotFound, present
from archive.core.store import recordings as store
from archive.core.store.records import (
    Companions,
    Recording,
    RecordingMeta,
    Segment,
    Slide,
    SpeakerCue,
    SpeechGap,
)
from ingest import media
from ingest.chapters import outline
from ingest.companions import assign_speakers
from ingest.diarize import Diarizer, diarize_safely
from ingest.pipeline import (
    CheckpointCallback,
    ProgressCallback,
    Remaining,
    StepTimer,
    hints_for,
    lines_and_gaps,
    spoken_languages,
    steps_of,
    transcribe_file,
    transcribing_step,
    voices_meanwhile,
)
from ingest.transcribe import Transcriber
from search.embedder import Embedder
from search.index import ATTEMPTS, reindex_talk

# A new line that overlaps no old line takes the speaker of the nearest one this close (seconds).
NEAR_SECONDS = 2.0
# A slide moves to the nearest new line's start only if it starts this close (seconds).
SNAP_SECONDS = 5.0
# A new line (or gap) this much inside corrected lines is the machine's version of them: left out.
MOSTLY = 0.5

Span = tuple[float, float]


@dataclass
class RetranscribeResult:
    recording: Recording
    segments: int  # lines now
    kept: int  # lines staff corrected, kept as they were
    gaps: list[SpeechGap] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per step
    notes: str = ""  # the speakers' voices could not be told apart (the transcript is complete)


def talk_meta(recording: Recording) -> RecordingMeta:
    """A stored talk's details as an ingest takes them (the hints come from them)."""
    return RecordingMeta(
        title=recording.title,
        speakers=list(recording.speakers),
        host=recording.host,
        organization=recording.organization,
        date=recording.date,
        tags=list(recording.tags),
        description=recording.description,
        series=recording.series,
        vocab=list(recording.vocab),
        synthetic=recording.synthetic,
        visibility=recording.visibility,
    )


def retranscribe(
    db: Database,
    config: Config,
    recording_id: int,
    *,
    transcriber: Transcriber,
    embedder: Embedder,
    progress: ProgressCallback | None = None,
    resume: Sequence[Segment | SpeechGap] = (),
    checkpoint: CheckpointCallback | None = None,
    speeds: Mapping[str, float] | None = None,
    diarizer: Diarizer | None = None,
) -> RetranscribeResult:
    """Transcribe recording ``recording_id`` again from its stored media with ``transcriber`` and
    merge the new lines with what people did to the talk (see the module's docstring).

    ``resume``, ``checkpoint``, ``progress``, ``speeds`` and ``diarizer`` work as for
    ``pipeline.ingest_file`` (voices are told apart only where no line has a speaker yet).
    Raises NotFound for no such recording, MediaError if its stored media cannot be read.
    """
    report = progress or (lambda step, fraction, seconds_left: None)
    timer = StepTimer()
    recording = store.get_recording(db, recording_id)
    if recording is None:
        raise NotFound(f"there is no recording {recording_id}")
    name = recording.original_filename or recording.title
    path = Path(config.data_dir) / recording.media_path
    with timer("probe"):
        info = media.probe(path, name)
    # An ingest's steps without meeting files, and voices only for a talk with no speakers (what the job page lists too).
    voices = diarizer if not any(s.speaker for s in store.get_segments(db, recording_id)) else None
    steps = steps_of(Companions(), diarizes=voices is not None)
    remaining = Remaining(info.duration, speeds or {}, [step.key for step in steps])
    report("checking the file", 0.0, remaining.total)
    heard = voices_meanwhile(path, voices, embedder)
    companions = Companions(
        chat=tuple(store.chat_messages(db, recording_id)), slides=tuple(store.slides(db, recording_id))
    )
    hints = hints_for(db, talk_meta(recording), companions)

    transcript = transcribe_file(
        path, info, transcriber, hints, timer, transcribing_step(report, remaining), resume, checkpoint, name=name
    )
    lines, gaps = lines_and_gaps(transcript, hints)

    report("indexing for search", *remaining.at("index"))
    with timer("embed"):  # embedding and the one write: the index step
        merged, kept_gaps = _write(db, recording_id, lines, gaps, transcriber.model_name, embedder)
    notes = ""
    if voices is not None:
        report("telling the speakers apart", *remaining.at("speakers"))
        with timer("speakers"):
            notes = diarize_safely(db, config, recording_id, voices, heard, lines=merged, embedder=embedder)
    report("done", 1.0, 0.0)
    return RetranscribeResult(
        present(store.get_recording(db, recording_id)),
        segments=len(merged),
        kept=sum(1 for s in merged if s.edited),
        gaps=kept_gaps,
        timings=timer.seconds,
        notes=notes,
    )


class _TakenDownMeanwhile(Exception):
    """A range was taken down between the merge and the write: merge again."""


def _write(
    db: Database, recording_id: int, lines: list[Segment], gaps: list[SpeechGap], model: str, embedder: Embedder
) -> tuple[list[Segment], list[SpeechGap]]:
    """Merge ``lines`` into the talk as it is at the write and store everything in one transaction."""
    done: dict[str, list] = {}

    def merge(current: list[Segment]) -> list[Segment]:
        done["ranges"] = taken_down(db, recording_id)
        done["segments"] = merge_lines(current, lines, done["ranges"])
        return done["segments"]

    def keep_the_rest(tx: Database) -> None:
        if taken_down(tx, recording_id) != done["ranges"]:
            raise _TakenDownMeanwhile  # rolls the transaction back
        merged: list[Segment] = done["segments"]
        done["gaps"] = kept_gaps(gaps, merged, done["ranges"])
        store.replace_speech_gaps(tx, recording_id, done["gaps"])
        slides = reanchor_slides(store.slides(tx, recording_id), merged)
        store.replace_slides(tx, recording_id, slides)
        recording = present(store.get_recording(tx, recording_id))
        if not recording.chapters_edited:
            store.replace_chapters(tx, recording_id, outline(recording, merged, slides), edited=False)
        store.set_transcribed_by(tx, recording_id, model=model, language=spoken_languages(merged))

    for _ in range(ATTEMPTS):
        try:
            reindex_talk(db, recording_id, embedder, merge, also=keep_the_rest)
        except _TakenDownMeanwhile:
            continue
        return done["segments"], done["gaps"]
    raise Conflict("parts of the talk kept being taken down while saving; retranscribe it again")


def taken_down(db: Database, recording_id: int) -> list[Span]:
    """The ranges taken down from the talk, in time order."""
    return [(r.start, r.end) for r in store.list_redactions(db, recording_id)]


def merge_lines(old: Sequence[Segment], new: Sequence[Segment], ranges: Sequence[Span] = ()) -> list[Segment]:
    """The talk's transcript after a new transcription: the corrected ``old`` lines as they are and
    the ``new`` lines around them, each said by the old lines' speaker there, nothing inside
    ``ranges`` (taken down); in time order."""
    corrected = [s for s in old if s.edited]
    spans = [(s.start, s.end) for s in corrected]
    fresh = [line for line in new if not _touches(line, ranges) and _share_inside(line.start, line.end, spans) < MOSTLY]
    return sorted([*corrected, *said_by(fresh, old)], key=lambda s: (s.start, s.end))


def said_by(lines: Sequence[Segment], old: Sequence[Segment]) -> list[Segment]:
    """``lines`` with each one's speaker: whoever said the ``old`` lines it overlaps most
    (``companions.assign_speakers``), else whoever said the old line nearest it within NEAR_SECONDS."""
    voiced = sorted((s for s in old if s.speaker), key=lambda s: s.start)
    if not voiced:
        return list(lines)
    cues = [SpeakerCue(s.start, s.end, s.speaker or "") for s in voiced]
    named = assign_speakers(lines, cues)
    return [line if line.speaker else replace(line, speaker=_nearest_speaker(line, voiced)) for line in named]


def _nearest_speaker(line: Segment, voiced: Sequence[Segment]) -> str | None:
    distance, speaker = min((max(s.start - line.end, line.start - s.end, 0.0), s.speaker) for s in voiced)
    return speaker if distance <= NEAR_SECONDS else None


def kept_gaps(gaps: Sequence[SpeechGap], merged: Sequence[Segment], ranges: Sequence[Span] = ()) -> list[SpeechGap]:
    """The new speech gaps that stand: none touching a taken-down range or lying mostly in a corrected line."""
    corrected = [(s.start, s.end) for s in merged if s.edited]
    return [g for g in gaps if not _touches(g, ranges) and _share_inside(g.start, g.end, corrected) < MOSTLY]


def reanchor_slides(slides: Sequence[Slide], segments: Sequence[Segment]) -> list[Slide]:
    """Each slide at the start of the line nearest its time, where one starts within SNAP_SECONDS;
    a slide without a time, up from the very start, or with no line near, stays where it was."""
    starts = sorted(s.start for s in segments)
    moved = []
    for slide in slides:
        at = slide.at
        if at is None or at <= 0 or not starts:
            moved.append(slide)
            continue
        i = bisect.bisect_left(starts, at)
        nearest = min(starts[max(i - 1, 0) : i + 1], key=lambda start: abs(start - at))
        moved.append(replace(slide, at=round(nearest, 3)) if abs(nearest - at) <= SNAP_SECONDS else slide)
    return moved


def _touches(item: Segment | SpeechGap, ranges: Sequence[Span]) -> bool:
    """Any part of ``item`` inside a range (as a takedown removes lines)."""
    return any(item.start < end and item.end > start for start, end in ranges)


def _share_inside(start: float, end: float, spans: Sequence[Span]) -> float:
    """How much of ``start``..``end`` lies inside ``spans`` (0..1); an instant is inside or not."""
    if end <= start:
        return 1.0 if any(a <= start <= b for a, b in spans) else 0.0
    inside = sum(max(0.0, min(end, b) - max(start, a)) for a, b in spans)
    return min(inside / (end - start), 1.0)
