"""The ingest pipeline: probe, store, decode, transcribe, build passages, embed, write.

Everything a recording adds to the database is written in one transaction at the end,
so a crash at any point leaves either the whole recording or nothing. The original file
is kept under the data directory by content hash; the same bytes are never ingested twice.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlite_utils import Database

from archive.core.config import Config
from archive.core.errors import UserError, present
from archive.core.memory import give_back_freed_memory
from archive.core.store import recordings as store
from archive.core.store import write_transaction
from archive.core.store.records import Companions, Recording, RecordingMeta, Segment, SpeakerCue, SpeechGap
from archive.core.timecode import clock
from ingest import media
from ingest.chapters import outline
from ingest.companion_kinds import check_companions
from ingest.companions import assign_speakers
from ingest.diarize import Diarizer, diarize_safely, split_at_voice_changes, voices_aside
from ingest.respell import respelled_lines
from ingest.slides import align_slides, slide_vectors
from ingest.transcribe import Transcriber, talk_hints, transcriber_for
from search.embedder import Embedder, embedder_for
from search.index import prepare_index, write_index

# progress(step in words, fraction of the whole ingest done 0..1, seconds it has left by this machine's speeds)
ProgressCallback = Callable[[str, float, float], None]
# checkpoint(every line and gap so far): called after each new one, to save for a resume
CheckpointCallback = Callable[[list["Segment | SpeechGap"]], None]


class IngestError(UserError):
    """Bad input for an ingest; the message is for the person who asked."""


@dataclass
class IngestResult:
    recording: Recording
    created: bool  # False when the same bytes were already in the archive
    segments: int = 0
    passages: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per step
    gaps: list[SpeechGap] = field(default_factory=list)  # speech that got no text
    notes: str = ""  # a stage after the transcript that did not work out (the speakers' voices)


@dataclass(frozen=True)
class IngestStep:
    """A step of an ingest as the job page lists it, and the ``StepTimer`` entries its time is."""

    key: str
    label: str  # in the job's progress ("transcribing 12:30 of 58:00" starts with it)
    timed: tuple[str, ...]


INGEST_STEPS = (
    IngestStep("transcribe", "transcribing", ("decode", "transcribe")),
    IngestStep("index", "indexing for search", ("embed", "write")),
    IngestStep("slides", "lining up the slides", ("slides",)),
    IngestStep("speakers", "telling the speakers apart", ("speakers",)),
)


def steps_of(companions: Companions, diarizes: bool) -> list[IngestStep]:
    """The steps an ingest with these companions runs, in order (the job page lists them)."""
    skipped = {"slides"} if not companions.slides else set()
    skipped |= {"speakers"} if not diarizes else set()
    return [step for step in INGEST_STEPS if step.key not in skipped]


# Seconds of work per second of audio until this machine has measured its own (jobs.measured_speeds):
# Whisper base on 2 cores at about 14x real time (bench/bench_ingest.py --talks: 12.6-14.7x), embedding
# about 1.2 minutes an hour on ONNX Runtime (the index texts of four dev webinars, 24.1 minutes of audio,
# in 28-29 s); the voices are told apart beside the transcription (``voices_aside``), so their step is
# what is left of them once the transcript is stored: little (README, "Transcription settings, measured").
DEFAULT_SPEEDS = {"transcribe": 0.07, "index": 0.02, "slides": 0.002, "speakers": 0.005}


def step_speeds(timings: Mapping[str, float], duration: float) -> dict[str, float]:
    """A finished ingest's seconds of work per second of audio, step by step (``INGEST_STEPS``)."""
    if duration <= 0:
        return {}
    return {
        step.key: sum(timings.get(name, 0.0) for name in step.timed) / duration
        for step in INGEST_STEPS
        if any(name in timings for name in step.timed)
    }


class Remaining:
    """How far an ingest is and how long it has left, from the expected cost of each step it runs:
    ``speeds`` (seconds per second of audio, measured on this machine) times the talk's length."""

    def __init__(self, duration: float, speeds: Mapping[str, float], steps: Sequence[str]):
        self.cost = {key: max(0.0, speeds.get(key, DEFAULT_SPEEDS[key])) * duration for key in steps}
        self.total = sum(self.cost.values()) or 1.0

    def at(self, step: str, part_done: float = 0.0) -> tuple[float, float]:
        """(fraction of the whole done, seconds left) once the steps before ``step`` are done and
        ``part_done`` (0..1) of it."""
        keys = list(self.cost)
        before = keys[: keys.index(step)] if step in keys else keys
        done = sum(self.cost[key] for key in before) + self.cost.get(step, 0.0) * min(max(part_done, 0.0), 1.0)
        return min(done / self.total, 0.99), max(self.total - done, 0.0)


class StepTimer:
    """Adds up wall time per pipeline step; steps may be entered many times."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, step: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(step, time.perf_counter() - started)

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = self.seconds.get(step, 0.0) + seconds

    def timed(self, step: str, items: Iterator) -> Iterator:
        """Pass ``items`` through, counting the time spent producing them as ``step``."""
        iterator = iter(items)
        while True:
            started = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                self.add(step, time.perf_counter() - started)
                return
            self.add(step, time.perf_counter() - started)
            yield item


def title_from_filename(path: Path) -> str:
    words = re.sub(r"[_\-.]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else "Untitled talk"


def media_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".media"


def store_original(source: Path, digest: str, media_dir: Path, suffix: str, *, move: bool = False) -> tuple[str, bool]:
    """Put ``source`` at ``<media_dir>/<ab>/<sha256><suffix>``; returns (path under the data dir, newly written).

    With ``move`` (the archive's own upload) the file is hard-linked into place, not copied: a
    2 GB video is neither read nor written again, and the upload keeps its name until the job
    is done, so a failed ingest can be retried. A person's own file is always copied, so the
    archive's copy never changes with theirs. Either way the file appears whole or not at all.
    """
    target = media_dir / digest[:2] / f"{digest}{suffix}"
    relative = str(Path(media_dir.name) / target.relative_to(media_dir))
    if target.exists():
        return relative, False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        if move and _linked(source, partial):
            os.replace(partial, target)
            return relative, True
        with open(source, "rb") as src, open(partial, "wb") as dst:
            fcntl.flock(dst.fileno(), fcntl.LOCK_EX)  # start-up cleanup leaves a held partial file alone
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return relative, True


def _linked(source: Path, target: Path) -> bool:
    """Hard-link ``source`` as ``target``; False where links cannot be made (another file system)."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
            return False
        raise
    return True


def ingest_file(
    db: Database,
    config: Config,
    path: Path | str,
    meta: RecordingMeta,
    *,
    transcriber: Transcriber | None = None,
    embedder: Embedder | None = None,
    progress: ProgressCallback | None = None,
    original_filename: str = "",
    move: bool = False,
    resume: Sequence[Segment | SpeechGap] = (),
    checkpoint: CheckpointCallback | None = None,
    companions: Companions = Companions(),
    diarizer: Diarizer | None = None,
    speeds: Mapping[str, float] | None = None,
    last: bool = False,
) -> IngestResult:
    """Ingest one recording and return it. Raises a UserError (MediaError, MetadataError ...) for bad input.

    ``original_filename`` names the file, in the archive and in every message, when ``path``
    is a generated name (a web upload); ``move`` says the file is the archive's own to move in.
    ``resume`` is what an interrupted attempt saved through ``checkpoint``: transcription
    goes on after its last segment. ``companions`` (``companions.read_companions``) are checked
    against the recording before anything is stored: the meeting transcript names who said each
    line, the chat is kept, the slides are lined up with the transcript once it exists.
    ``diarizer`` then names the speakers by voice where no meeting transcript did (a stage of
    its own: if it fails, the talk is kept as transcribed). ``progress`` hears each step, how
    much of the whole is done and the seconds left, reckoned from ``speeds``: this machine's
    measured seconds of work per second of audio for each step (``jobs.measured_speeds``).
    ``last``: this process ingests nothing after it (``archive ingest``'s last file), so Whisper is
    let go once the talk is transcribed and the voices' model once they are heard
    (``let_go_of_transcription``).
    """
    path = Path(path)
    name = original_filename or str(path)
    original_filename = original_filename or path.name
    report = progress or (lambda step, fraction, seconds_left: None)
    timer = StepTimer()
    meta = meta.validated()
    meta = replace(meta, title=meta.title or title_from_filename(Path(original_filename)))

    with timer("probe"):
        info = media.probe(path, name)
        check_companions(companions, info.duration)
    remaining = Remaining(
        info.duration, speeds or {}, [step.key for step in steps_of(companions, diarizer is not None)]
    )
    report("checking the file", 0.0, remaining.total)

    with timer("store"):
        digest = media.file_sha256(path)
        existing = store.get_recording_by_hash(db, digest)
        if existing:
            return IngestResult(existing, created=False, timings=timer.seconds)
        media_path, wrote_file = store_original(
            path, digest, config.media_dir, media_suffix(Path(original_filename)), move=move
        )

    try:
        transcriber = transcriber if transcriber is not None else transcriber_for(config)
        embedder = embedder or embedder_for(config, for_queries=False)
        # Where no meeting transcript names the speakers, their voices are told apart meanwhile.
        heard = voices_meanwhile(config.data_dir / media_path, None if companions.speaker_cues else diarizer, embedder)
        hints = hints_for(db, meta, companions)
        transcript = transcribe_file(
            path, info, transcriber, hints, timer, transcribing_step(report, remaining), resume, checkpoint, name=name
        )
        if last:
            let_go_of_transcription(transcriber, diarizer, heard)
        segments, gaps = lines_and_gaps(transcript, hints)
        if companions.speaker_cues:  # a line two people share is split where the meeting transcript's speaker changes
            cues = companions.speaker_cues
            segments = assign_speakers(split_at_voice_changes(segments, cues), cues)
        report("indexing for search", *remaining.at("index"))
        with timer("embed"):
            prepared = prepare_index(segments, embedder, title=meta.title)
        slides = list(companions.slides)
        if slides:
            report("lining up the slides", *remaining.at("slides"))
            with timer("slides"):
                slides = align_slides(slides, segments, prepared.window_vectors, slide_vectors(slides, embedder))
        # IMMEDIATE: take the write lock before reading. A deferred transaction that reads and
        # then writes fails at once ("database is locked") if any search logged meanwhile.
        with timer("write"), write_transaction(db):
            already = store.get_recording_by_hash(db, digest)  # another worker got there first
            if already:
                return IngestResult(already, created=False, timings=timer.seconds)
            recording_id = store.insert_recording(
                db,
                meta,
                duration=info.duration,
                media_path=media_path,
                media_hash=digest,
                media_kind=info.kind,
                original_filename=original_filename,
                language=spoken_languages(segments),
                model=transcriber.model_name,
            )
            store.replace_segments(db, recording_id, segments)
            store.replace_speech_gaps(db, recording_id, gaps)
            store.replace_chat(db, recording_id, companions.chat)
            store.replace_slides(db, recording_id, slides)
            store.replace_chapters(
                db,
                recording_id,
                outline(present(store.get_recording(db, recording_id)), segments, slides),
                edited=False,
            )
            write_index(db, recording_id, prepared)
    except BaseException:
        if wrote_file and not store.get_recording_by_hash(db, digest):
            (config.data_dir / media_path).unlink(missing_ok=True)
        raise
    notes = ""
    if diarizer is not None:  # timed only where it runs: its speed is a measurement
        report("telling the speakers apart", *remaining.at("speakers"))
        with timer("speakers"):
            notes = diarize_safely(db, config, recording_id, diarizer, heard, lines=segments, embedder=embedder)
    report("done", 1.0, 0.0)
    return IngestResult(
        present(store.get_recording(db, recording_id)),
        created=True,
        segments=len(segments),
        passages=len(prepared.passages),
        timings=timer.seconds,
        gaps=gaps,
        notes=notes,
    )


def let_go_of_transcription(
    transcriber: Transcriber, diarizer: Diarizer | None, heard: Future[list[SpeakerCue]] | None
) -> None:
    """Free Whisper now and the voices' model once they are heard (at once, if they are), and hand
    the memory back to the system, so that indexing the talk does not hold them beside the search
    model: the ingest's peak. Measured on a 6.7-minute dev webinar (`archive ingest`'s pipeline, one
    process each, maxrss): 1,703 MB kept, 1,404 MB let go, in the same time (39.8 s and 39.7 s).
    Only for a process that transcribes nothing more: a worker keeps its models for the next job."""
    transcriber.unload()
    return_memory()
    if diarizer is None or heard is None:
        return

    def heard_all(_: Future) -> None:
        diarizer.unload()
        return_memory()

    heard.add_done_callback(heard_all)


def return_memory() -> None:
    """Hand what the process has freed back to the system. glibc keeps freed memory in its arenas (one
    for each thread that allocated), where it still counts as the process's own: Whisper and the
    voices' model let go without this left the peak where it was (1,704 MB on the webinar above)."""
    gc.collect()
    give_back_freed_memory()


def voices_meanwhile(path: Path, diarizer: Diarizer | None, embedder: Embedder) -> Future[list[SpeakerCue]] | None:
    """The recording's voices told apart on a thread beside its transcription (``diarize.voices_aside``),
    once the search model is loaded (a model's load peaks above what it then holds: one at a time
    keeps the ingest's peak lower). None without a diarizer."""
    if diarizer is None:
        return None
    embedder.load()
    return voices_aside(path, diarizer)


def hints_for(db: Database, meta: RecordingMeta, companions: Companions = Companions()) -> str:
    """Whisper's hints for a talk: the names and terms of its details, slides and chat, most
    distinctive first, and the archive's glossary, within Whisper's prompt budget
    (``transcribe.talk_hints``)."""
    return talk_hints(meta, companions, store.glossary_terms(db))


def transcribe_file(
    path: Path,
    info: media.MediaInfo,
    transcriber: Transcriber,
    hints: str,
    timer: StepTimer,
    report: ProgressCallback,
    resume: Sequence[Segment | SpeechGap] = (),
    checkpoint: CheckpointCallback | None = None,
    *,
    name: str = "",
) -> list[Segment | SpeechGap]:
    """The recording's lines and the gaps where speech got no text, in time order; with
    ``resume``, only the audio after the last of them is transcribed.

    Errors name the file ``name`` (default: its path).
    """
    name = name or str(path)
    resume_at = max((item.end for item in resume), default=0.0)
    decoded = resume_at

    def counted(chunks):
        nonlocal decoded
        for chunk in chunks:
            decoded += len(chunk) / media.SAMPLE_RATE
            yield chunk

    chunks = media.decode(path, name)
    if resume_at:
        chunks = media.skip_to(chunks, resume_at)
    audio = timer.timed("decode", media.slices(counted(chunks), start_seconds=resume_at))
    transcript: list[Segment | SpeechGap] = list(resume)
    started = time.perf_counter()
    before = timer.seconds.get("decode", 0.0)
    for item in transcriber.transcribe(audio, hints):
        transcript.append(item)
        report(
            f"transcribing {clock(item.end, always_hours=False)} of {clock(info.duration, always_hours=False)}",
            item.end / max(info.duration, 1e-6),
            0.0,
        )
        if checkpoint:
            checkpoint(transcript)
    timer.add("transcribe", time.perf_counter() - started - (timer.seconds.get("decode", 0.0) - before))
    if info.duration > 1 and decoded < info.duration * media.TRUNCATION_TOLERANCE:
        raise media.MediaError(
            name,
            f"the file is cut off (it claims to last {clock(info.duration, always_hours=False)} "
            f"but the audio stops at {clock(decoded, always_hours=False)})",
        )
    return transcript


def transcribing_step(report: ProgressCallback, remaining: Remaining) -> ProgressCallback:
    """``report`` for the transcription step, whose ``fraction`` is of the audio heard so far."""

    def transcribing(step: str, heard: float, seconds_left: float) -> None:
        report(step, *remaining.at("transcribe", heard))

    return transcribing


def spoken_languages(segments: Sequence[Segment]) -> str:
    """The languages the lines were heard in, most words first ("en", "en,es"); "" if unknown."""
    words: dict[str, int] = {}
    for segment in segments:
        if segment.language:
            words[segment.language] = words.get(segment.language, 0) + len(segment.text.split())
    return ",".join(sorted(words, key=lambda language: -words[language]))


def lines_and_gaps(transcript: Sequence[Segment | SpeechGap], hints: str = "") -> tuple[list[Segment], list[SpeechGap]]:
    """The transcript's lines, with the names among ``hints`` that Whisper nearly wrote spelled as
    written (``respell.respelled_lines``), and its speech gaps."""
    lines = [i for i in transcript if isinstance(i, Segment)]
    return respelled_lines(lines, hints) if hints else lines, [i for i in transcript if isinstance(i, SpeechGap)]
