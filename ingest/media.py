"""Probing and decoding media with PyAV (FFmpeg's libraries, no ffmpeg binary needed).

Audio is decoded as a stream and handed on in slices cut at quiet moments, so a
one-hour talk never sits in memory whole and no word is cut in half.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from archive.core.errors import UserError
from archive.core.timecode import clock

SAMPLE_RATE = 16_000  # what Whisper listens at
SLICE_SECONDS = 300.0
# A slice ends at the quietest tenth of a second within this many seconds before its target end.
CUT_SEARCH_SECONDS = 20.0
# Decoded audio this much shorter than the container claims means the file was cut off.
TRUNCATION_TOLERANCE = 0.9


log = logging.getLogger(__name__)


class MediaError(UserError):
    """The file is not media we can use: "<name>: <reason>", in words a person understands.

    ``name`` is how the person knows the file: the path they typed, or an upload's own name,
    never the generated name the server keeps it under.
    """

    def __init__(self, name: Path | str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.reason = reason

    def sentence(self) -> str:
        return f"{self}." if not str(self).endswith(".") else str(self)  # the file's name keeps its case


@dataclass(frozen=True)
class MediaInfo:
    duration: float  # seconds
    has_video: bool
    container: str  # FFmpeg's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    audio_codec: str
    sample_rate: int
    channels: int

    @property
    def kind(self) -> str:
        return "video" if self.has_video else "audio"


@dataclass(frozen=True)
class AudioSlice:
    """Mono float32 samples at 16 kHz, starting ``offset`` seconds into the recording."""

    offset: float
    samples: np.ndarray

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _check_file(path: Path, name: str) -> None:
    if not path.exists():
        raise MediaError(name, "no such file")
    if path.is_dir():
        raise MediaError(name, "is a directory, not a recording")
    if not os.access(path, os.R_OK):
        raise MediaError(name, "cannot be read (permission denied)")
    if path.stat().st_size == 0:
        raise MediaError(name, "the file is empty (0 bytes)")


def _open(path: Path, name: str) -> av.container.InputContainer:
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        # FFmpeg's own words ("invalid data found when processing input") tell a person nothing more.
        log.info("%s: FFmpeg cannot open it: %s", name, exc)
        raise MediaError(name, "not an audio or video file that can be read") from None


def tags(path: Path | str) -> dict[str, str]:
    """The container's metadata tags (title, artist, date, comment ...), keys in lower case; none
    if the file cannot be opened (``probe`` says why)."""
    try:
        with av.open(str(path), mode="r") as container:
            return {str(k).lower(): str(v).strip() for k, v in container.metadata.items() if str(v).strip()}
    except (av.error.FFmpegError, OSError):
        return {}


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip().rstrip(".").lower() or "unreadable"


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
        if seconds > 0:
            return seconds
    if container.duration:
        return container.duration / av.time_base
    return None


def probe(path: Path | str, name: str = "") -> MediaInfo:
    """Check that ``path`` is readable media with an audio track and describe it.

    Decodes a little audio at the start and near the end, so text renamed to .mp3,
    files with no audio and files cut off part-way fail here, before any work is done.
    Errors name the file ``name`` (default: the path as given).
    """
    path = Path(path)
    name = name or str(path)
    _check_file(path, name)
    with _open(path, name) as container:
        if not container.streams.audio:
            raise MediaError(name, "has no audio track")
        stream = container.streams.audio[0]
        has_video = any(
            s.type == "video" and not (s.disposition & av.stream.Disposition.attached_pic)
            for s in container.streams.video
        )
        duration = _declared_duration(container, stream)
        if not _decodes_a_frame(container, stream):
            raise MediaError(name, "its audio cannot be decoded (damaged or not really media)")
        if duration is None:
            duration = _decoded_length(path, name)
        elif duration > 1 and not _decodes_a_frame(container, stream, at=duration - min(5.0, duration * 0.1)):
            raise MediaError(
                name,
                f"the file is cut off (it claims to last {clock(duration, always_hours=False)} but the audio stops early)",
            )
        if duration <= 0:
            raise MediaError(name, "contains no audio")
        codec = stream.codec_context
        return MediaInfo(
            duration=duration,
            has_video=has_video,
            container=container.format.name,
            audio_codec=codec.name,
            sample_rate=codec.sample_rate or 0,
            channels=codec.channels or 0,
        )


def _decodes_a_frame(container, stream, at: float | None = None) -> bool:
    try:
        if at is not None:
            container.seek(int(at * av.time_base), any_frame=False)
        for packet in container.demux(stream):
            for frame in packet.decode():
                # Seeking may land early; read on until the audio reaches the asked-for time.
                if at is None or frame.time is None or frame.time >= at - 1:
                    return True
        return False
    except (av.error.FFmpegError, ValueError):
        return False
    finally:
        if at is None:
            try:
                container.seek(0)
            except av.error.FFmpegError:
                pass


def _decoded_length(path: Path, name: str) -> float:
    return sum(len(chunk) for chunk in decode(path, name)) / SAMPLE_RATE


def decode(path: Path | str, name: str = "") -> Iterator[np.ndarray]:
    """Yield the first audio track as mono float32 chunks at 16 kHz, in order (errors name the file ``name``)."""
    path = Path(path)
    name = name or str(path)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    with _open(path, name) as container:
        if not container.streams.audio:
            raise MediaError(name, "has no audio track")
        stream = container.streams.audio[0]
        stream.codec_context.thread_type = "AUTO"
        bad_packets = 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                # A damaged packet inside an otherwise good file: skip it, as ffmpeg does.
                bad_packets += 1
                if bad_packets > 100:
                    raise MediaError(name, "too much of the audio is damaged to decode") from None
                continue
            except av.error.FFmpegError as exc:
                raise MediaError(name, f"decoding failed ({_reason(exc)})") from None
            for frame in frames:
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1)


def _quietest_cut(samples: np.ndarray, earliest: int, latest: int) -> int:
    """The sample index, between earliest and latest, at the centre of the quietest 100 ms."""
    window = SAMPLE_RATE // 10
    region = samples[earliest:latest]
    if len(region) < window:
        return latest
    frames = len(region) // window
    energy = np.square(region[: frames * window].reshape(frames, window)).mean(axis=1)
    return earliest + int(np.argmin(energy)) * window + window // 2


def skip_to(chunks: Iterator[np.ndarray], seconds: float) -> Iterator[np.ndarray]:
    """The decoded audio from ``seconds`` on (the samples before it are dropped as they come)."""
    to_skip = int(round(seconds * SAMPLE_RATE))
    for chunk in chunks:
        if to_skip >= len(chunk):
            to_skip -= len(chunk)
            continue
        yield chunk[to_skip:]
        to_skip = 0


def slices(
    chunks: Iterator[np.ndarray],
    slice_seconds: float = SLICE_SECONDS,
    search_seconds: float = CUT_SEARCH_SECONDS,
    start_seconds: float = 0.0,
) -> Iterator[AudioSlice]:
    """Regroup decoded chunks into slices of about ``slice_seconds``, each cut in a pause.

    ``start_seconds`` is where in the recording ``chunks`` begin (a resumed transcription).
    """
    target = int(slice_seconds * SAMPLE_RATE)
    search = int(min(search_seconds, slice_seconds / 2) * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    pending_len = 0
    offset = int(round(start_seconds * SAMPLE_RATE))  # samples already handed on
    for chunk in chunks:
        pending.append(chunk)
        pending_len += len(chunk)
        if pending_len < target:
            continue
        audio = np.concatenate(pending)
        while len(audio) >= target:
            cut = _quietest_cut(audio, target - search, target)
            yield AudioSlice(offset / SAMPLE_RATE, audio[:cut])
            offset += cut
            audio = audio[cut:]
        pending, pending_len = [audio], len(audio)
    if pending_len:
        yield AudioSlice(offset / SAMPLE_RATE, np.concatenate(pending))


def file_sha256(path: Path | str, block_size: int = 1 << 20) -> str:
    """Content hash of a file, read in blocks (a 2 GB video is never held in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(block_size):
            digest.update(block)
    return digest.hexdigest()
