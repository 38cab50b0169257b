"""Ingest speed, accuracy and memory on real speech.

Builds a recording of at least --minutes of real speech from the bundled clips (JFK,
the ComfyUI clip and the English half of the MIT-licence reading, with short pauses),
ingests it into a fresh archive in a child process, and prints, per pipeline step and
for the whole, audio seconds per wall second; the word error rate against the known
text; the word error rate of faster-whisper run alone on the same audio with the same
settings (the transcription step's own accuracy); and the child's peak memory.

    .venv/bin/python bench/ingest.py                 # 3.3 minutes
    .venv/bin/python bench/ingest.py --minutes 60 --no-baseline
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATE = 16_000
PAUSE = 0.8
CLIPS = [
    (ROOT / "tests/data/jfk.flac", None,
     "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."),
    (ROOT / "tests/data/hotwords.mp3", None, "Then you go into your ComfyUI folder again in the ComfyUI"),
    (ROOT / "bench/data/multilingual.mp3", 30.3,
     "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated "
     "documentation files, to deal in the software without restriction, including without limitation the rights to "
     "use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the software, and to permit "
     "persons to whom the software is furnished to do so, subject to the following conditions: the above copyright "
     "notice and this permission notice shall be included in all copies or substantial portions of the software."),
]
VOCAB = ["ComfyUI"]


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower().replace("/", " ")))


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(words(reference), words(hypothesis))


def load(path: Path, seconds: float | None) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for f in resampler.resample(frame)]
    audio = np.concatenate(chunks)
    return audio[: int(seconds * RATE)] if seconds else audio


def build_recording(minutes: float, target: Path) -> str:
    """Write the test recording as FLAC; returns its reference text."""
    cycle = []
    text = []
    for path, seconds, reference in CLIPS:
        cycle += [load(path, seconds), np.zeros(int(PAUSE * RATE), np.float32)]
        text.append(reference)
    one = np.concatenate(cycle)
    repeats = max(1, int(np.ceil(minutes * 60 * RATE / len(one))))
    pcm = (np.clip(np.tile(one, repeats), -1, 1) * 32767).astype(np.int16)
    with av.open(str(target), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=RATE, layout="mono")
        for start in range(0, len(pcm), 4096):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 4096], format="s16", layout="mono")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return " ".join(text * repeats)


def run_pipeline(path: str, data_dir: str, model: str, queue) -> None:
    """In a child process, so its peak memory is the pipeline's alone."""
    from archive.config import load_config
    from archive.store import connect
    from archive.store.recordings import get_segments
    from archive.services import Services
    from ingest.pipeline import RecordingMeta, ingest_file

    config = load_config({"data_dir": data_dir, "whisper_model": model}, environ={})
    db = connect(config.db_path)
    # Models load lazily, once per process (a worker keeps them); time that apart.
    started = time.perf_counter()
    services = Services(config)
    services.warm(transcription=True)
    transcriber, embedder = services.transcriber, services.embedder
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = ingest_file(db, config, path, RecordingMeta(title="Benchmark talk", vocab=VOCAB),
                         transcriber=transcriber, embedder=embedder)
    total = time.perf_counter() - started
    text = " ".join(s.text for s in get_segments(db, result.recording.id))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"load": load_seconds, "total": total, "steps": result.timings, "duration": result.recording.duration, "text": text,
               "peak_mb": peak_mb, "segments": result.segments, "passages": result.passages})


def run_baseline(path: str, model: str, queue) -> None:
    """faster-whisper alone on the whole decoded file, with the pipeline's settings and hint."""
    from ingest.media import decode
    from ingest.transcribe import WhisperTranscriber, build_hints

    transcriber = WhisperTranscriber(model)
    whisper = transcriber.load()
    audio = np.concatenate(list(decode(path)))
    started = time.perf_counter()
    segments, _ = whisper.transcribe(audio, language="en", beam_size=transcriber.beam_size,
                                   condition_on_previous_text=False, initial_prompt=build_hints(VOCAB))
    text = " ".join(s.text for s in segments)
    queue.put({"total": time.perf_counter() - started, "text": text})


def in_child(target, *args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.3)
    parser.add_argument("--model", default="", help="a CTranslate2 Whisper model directory (default: tiny.en)")
    parser.add_argument("--no-baseline", action="store_true", help="skip faster-whisper alone (slow for long runs)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "talk.flac"
        reference = build_recording(args.minutes, recording)
        run = in_child(run_pipeline, str(recording), str(Path(tmp) / "data"), args.model)
        duration = run["duration"]
        print(f"recording: {duration / 60:.1f} min of real speech, {recording.stat().st_size / 1e6:.1f} MB FLAC; "
              f"{run['segments']} segments, {run['passages']} passages")
        print(f"models loaded in {run['load']:.1f} s (once per process, not counted below)")
        print(f"{'step':<12}{'wall s':>9}{'x real time':>13}{'share':>8}")
        for step in ["probe", "store", "decode", "transcribe", "embed", "write"]:
            seconds = run["steps"].get(step, 0.0)
            speed = duration / seconds if seconds else float("inf")
            print(f"{step:<12}{seconds:>9.2f}{speed:>12.0f}x{seconds / run['total']:>8.1%}")
        print(f"{'pipeline':<12}{run['total']:>9.2f}{duration / run['total']:>12.1f}x{1:>8.0%}")
        outside = run["total"] - run["steps"].get("transcribe", 0.0)
        print(f"everything but transcription: {outside / run['total']:.1%} of the total")
        print(f"word error rate, pipeline: {wer(reference, run['text']):.1%}")
        if not args.no_baseline:
            base = in_child(run_baseline, str(recording), args.model)
            print(f"word error rate, faster-whisper alone on the whole file: {wer(reference, base['text']):.1%} "
                  f"({duration / base['total']:.1f}x real time)")
        print(f"peak memory (pipeline process, max RSS): {run['peak_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
