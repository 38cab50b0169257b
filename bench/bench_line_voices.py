"""Lines two voices share, split where the voice changes: how often it happens and whether splitting helps.

Whisper writes the host's "<name>, you're next" and the next person's "Hi, I'm ..." as one line
when no pause or full stop parts them, and the line then goes to one voice whole. An ingest splits
such a line at the voice change its words' times show (``ingest.diarize.split_at_voice_changes``).
For each webinar of bench/eval this transcribes the audio as an ingest does (Whisper base, word
times kept), tells the voices apart (the archive's senko diarizer) and gives each line its voice,
once with the lines whole and once split, then scores each transcribed word against the script
(timings.json: the speaker of the sentence the word starts in, or the nearest within 1 s). With
``--zoom`` the speakers come from the meeting transcript the script would give instead (an ingest
with a Zoom transcript splits lines at its speaker changes the same way):

- words right: the share of words whose line's voice is their speaker's (each voice is taken as
  the speaker whose words it holds most, the same mapping for both ways);
- mixed lines: lines in which two speakers of the script each say at least two words;
- splits: lines cut, and how many of the cuts fall within one word of a true change of speaker.

    .venv/bin/python bench/bench_line_voices.py [--only FILE.m4a ...] [--zoom [JITTER]]
    .venv/bin/python bench/bench_line_voices.py --smoke    # the last 100 s of one webinar: a check it runs

About 4.5 minutes for the eleven webinars on 2 cores. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))  # the other bench scripts (bench_*: they shadow nothing)

from bench_diarize import EVAL, SMOKE, SMOKE_TAIL, last_seconds  # noqa: E402
from bench_speakers import JITTER_SECONDS, zoom_vtt  # noqa: E402

from archive.core.config import load_config  # noqa: E402
from archive.core.store.records import Segment, SpeakerCue  # noqa: E402
from ingest.companions import assign_speakers, parse_speaker_vtt  # noqa: E402
from ingest.diarize import SenkoDiarizer, split_at_voice_changes  # noqa: E402
from ingest.media import AudioSlice, decode  # noqa: E402
from ingest.transcribe import transcriber_for  # noqa: E402

NEAREST_SECONDS = 1.0


def speaker_at(sentences: list[dict], at: float) -> str | None:
    """The script's speaker of the sentence that holds ``at``, or of the nearest within NEAREST_SECONDS."""
    best, distance = None, NEAREST_SECONDS
    for sentence in sentences:
        gap = max(sentence["start"] - at, at - sentence["end"], 0.0)
        if gap <= distance:
            best, distance = sentence["speaker"], gap
    return best


def voiced_words(lines: list[Segment], voiced: list[Segment]) -> list[tuple[float, str | None, int]]:
    """(word start, the voice its line got, line number) for every word of ``lines``."""
    return [
        (at, v.speaker, n) for n, (line, v) in enumerate(zip(lines, voiced, strict=True)) for at in line.word_starts
    ]


def score(sentences: list[dict], whole: list[Segment], split: list[Segment], turns: list[SpeakerCue]) -> dict:
    """Words right, mixed lines and splits of one talk, the lines whole and split (see the module's docstring)."""
    ways = {
        "whole": (whole, assign_speakers([Segment(s.start, s.end, s.text) for s in whole], turns)),
        "split": (split, assign_speakers([Segment(s.start, s.end, s.text) for s in split], turns)),
    }
    truth = {
        way: [(speaker_at(sentences, at), voice, n) for at, voice, n in voiced_words(*pair)]
        for way, pair in ways.items()
    }
    held: dict[str | None, Counter] = {}
    for speaker, voice, _ in truth["whole"]:
        held.setdefault(voice, Counter())[speaker] += 1
    voice_is = {voice: counts.most_common(1)[0][0] for voice, counts in held.items()}
    result: dict = {"words": len(truth["whole"])}
    for way, words in truth.items():
        result[f"right_{way}"] = sum(
            1 for speaker, voice, _ in words if speaker is not None and voice_is.get(voice) == speaker
        )
        per_line: dict[int, Counter] = {}
        for speaker, _, n in words:
            per_line.setdefault(n, Counter())[speaker] += 1
        result[f"mixed_{way}"] = sum(1 for c in per_line.values() if sum(1 for k, m in c.items() if k and m >= 2) >= 2)
    cut_lines = right_cuts = 0
    for line in whole:
        parts = split_at_voice_changes([line], turns)
        cut_lines += len(parts) > 1
        speakers = [speaker_at(sentences, at) for at in line.word_starts]
        first = 0
        for part in parts[:-1]:
            first += len(part.text.split())  # the first word after the cut
            near = {s for s in speakers[max(0, first - 2) : first + 2] if s}
            right_cuts += len(near) >= 2
    result.update(cut_lines=cut_lines, right_cuts=right_cuts)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="FILE", help="just these recordings of bench/eval")
    parser.add_argument(
        "--smoke", action="store_true", help=f"the last {SMOKE_TAIL:.0f} s of {SMOKE[0]}: a check it runs"
    )
    parser.add_argument(
        "--zoom",
        type=float,
        nargs="?",
        const=JITTER_SECONDS,
        metavar="JITTER",
        help="the speakers from the Zoom transcript the script would give (cue times off by up to JITTER s, "
        f"default {JITTER_SECONDS}; bench/bench_speakers.py) instead of the voices",
    )
    args = parser.parse_args()
    only = SMOKE if args.smoke else args.only
    timings = json.loads((EVAL / "timings.json").read_text())
    talks = [t for t in json.loads((EVAL / "webinars.json").read_text())["talks"] if not only or t["file"] in only]
    transcriber = transcriber_for(load_config(environ={}))
    diarizer = SenkoDiarizer()
    transcriber.load()
    if args.zoom is None:
        diarizer.load()
    rng = random.Random(0)
    totals: dict[str, Counter] = {}
    print(
        f"{'talk':<42}{'split':>6}{'words':>7}{'right whole':>12}{'right split':>12}{'mixed':>7}{'→':>3}{'cuts':>6}{'right':>6}"
    )
    started = time.perf_counter()
    for talk in talks:
        sentences = timings[talk["file"]]
        samples = np.clip(np.concatenate(list(decode(EVAL / talk["file"]))), -1.0, 1.0)
        if args.smoke:
            samples, sentences = last_seconds(samples, sentences, SMOKE_TAIL)
        lines = [
            item
            for item in transcriber.transcribe([AudioSlice(0.0, samples)])
            if isinstance(item, Segment) and len(item.word_starts) == len(item.text.split())
        ]
        if args.zoom is None:
            turns = diarizer.turns(samples)
        else:
            turns = parse_speaker_vtt(zoom_vtt(sentences, rng, args.zoom), talk["file"])
        split = split_at_voice_changes(lines, turns)
        whole = lines
        result = score(sentences, whole, split, turns)
        totals.setdefault(talk["split"], Counter()).update(result)
        print(
            f"{talk['file'][:41]:<42}{talk['split']:>6}{result['words']:>7}{result['right_whole'] / result['words']:>12.1%}"
            f"{result['right_split'] / result['words']:>12.1%}{result['mixed_whole']:>7}{result['mixed_split']:>3}"
            f"{result['cut_lines']:>6}{result['right_cuts']:>6}"
        )
    summary = {
        split: {
            "words": c["words"],
            "right_whole": round(c["right_whole"] / max(c["words"], 1), 4),
            "right_split": round(c["right_split"] / max(c["words"], 1), 4),
            "mixed_whole": c["mixed_whole"],
            "mixed_split": c["mixed_split"],
            "cut_lines": c["cut_lines"],
            "right_cuts": c["right_cuts"],
        }
        for split, c in totals.items()
    }
    for split, s in summary.items():
        print(
            f"{split}: words on the right voice {s['right_whole']:.1%} with lines whole, {s['right_split']:.1%} split; "
            f"lines two speakers share {s['mixed_whole']} -> {s['mixed_split']}; "
            f"{s['cut_lines']} lines cut, {s['right_cuts']} cuts at a true change"
        )
    print(json.dumps({"splits": summary, "seconds": round(time.perf_counter() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
