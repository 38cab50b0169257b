"""Helpers for the tests: reference texts, word error rate, and making media files with PyAV."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

DATA = Path(__file__).parent / "data"
JFK = DATA / "jfk.flac"
JFK_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
)
HOTWORDS = DATA / "hotwords.mp3"
MULTILINGUAL = DATA / "multilingual.mp3"  # English until 30.3 s, then the same text in German
MULTILINGUAL_ENGLISH = [
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated "
    "documentation files, to deal in the software without restriction",
    "including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or "
    "sell copies of the software",
    "and to permit persons to whom the software is furnished to do so, subject to the following conditions",
    "the above copyright notice and this permission notice shall be included in all copies or substantial portions "
    "of the software",
]


def normalize_words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(normalize_words(reference), normalize_words(hypothesis))


# container format, audio codec, video codec (None: audio only)
FORMATS = {
    "mp3": ("mp3", "libmp3lame", None),
    "m4a": ("ipod", "aac", None),
    "wav": ("wav", "pcm_s16le", None),
    "flac": ("flac", "flac", None),
    "ogg": ("ogg", "libopus", None),
    "opus": ("ogg", "libopus", None),
    "webm": ("webm", "libopus", "libvpx"),
    "mp4": ("mp4", "aac", "libx264"),
    "mov": ("mov", "aac", "libx264"),
    "mkv": ("matroska", "libopus", "libx264"),
}


def read_samples(path: Path, rate: int = 48_000) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``rate``."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    return np.concatenate(chunks)


def write_media(
    target: Path, samples: np.ndarray, rate: int = 48_000, video: bool | None = None, tags: dict | None = None
) -> Path:
    """Encode mono float32 ``samples`` into the format named by ``target``'s suffix."""
    container_format, audio_codec, video_codec = FORMATS[target.suffix.lstrip(".")]
    if video is False:
        video_codec = None
    with av.open(str(target), mode="w", format=container_format) as out:
        out.metadata.update(tags or {})
        audio = out.add_stream(audio_codec, rate=rate, layout="mono")
        vstream = None
        if video_codec:
            vstream = out.add_stream(video_codec, rate=Fraction(5, 1))
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        step = 960
        for start in range(0, len(pcm), step):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + step], format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
        if vstream is not None:
            frames = int(len(pcm) / rate * 5) + 1
            for i in range(frames):
                image = np.full((48, 64, 3), (i * 7) % 255, dtype=np.uint8)
                vframe = av.VideoFrame.from_ndarray(image, format="rgb24")
                vframe.pts = i
                for packet in vstream.encode(vframe):
                    out.mux(packet)
            for packet in vstream.encode(None):
                out.mux(packet)
    return target


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process, what: str, timeout: float = 15.0) -> None:
    """Wait until ``process`` (a Popen) accepts connections on ``port``; kill it and fail if it does not."""
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"{what} did not start listening on port {port}")
