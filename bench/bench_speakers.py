"""How well a meeting transcript names the speakers of Whisper's lines, on the evaluation webinars.

For each webinar of bench/eval (several voices: host, presenters, audience questions) it writes
the Zoom transcript the meeting would have had, from the script: one cue per turn, long turns cut
into cues of at most 10 s, cue times off by up to ±0.5 s (Zoom's own timing is not exact), then
names the speakers of the Whisper base transcript (the one bench/bench_eval.py made and cached) with
``assign_speakers``. Reported per split: the share of transcribed speech time whose line got the
right speaker (the speaker of the script who says most of that line).

    .venv/bin/python bench/bench_eval.py          # once: transcribes and caches the talks
    .venv/bin/python bench/bench_speakers.py [--jitter 2.0]
    .venv/bin/python bench/bench_eval.py --smoke && .venv/bin/python bench/bench_speakers.py --smoke  # a check it runs
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))  # the other bench scripts (bench_*: they shadow nothing)

from bench_eval import cached_archive  # noqa: E402

from archive.core.store import connect  # noqa: E402
from archive.core.store import recordings as store  # noqa: E402
from archive.core.store.records import SpeakerCue  # noqa: E402
from ingest.companions import assign_speakers, parse_speaker_vtt  # noqa: E402

CUE_SECONDS = 10.0
JITTER_SECONDS = 0.5


def zoom_vtt(sentences: list[dict], rng: random.Random, jitter: float = JITTER_SECONDS) -> str:
    """The WebVTT a Zoom cloud recording would come with: "Name: text" cues, turns cut at 10 s."""
    cues, current = [], []
    for sentence in sentences:
        if current and (
            sentence["speaker"] != current[0]["speaker"] or sentence["end"] - current[0]["start"] > CUE_SECONDS
        ):
            cues.append(current)
            current = []
        current.append(sentence)
    if current:
        cues.append(current)

    def stamp(seconds: float) -> str:
        seconds = max(seconds, 0.0)
        return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"

    blocks = ["WEBVTT", ""]
    for n, cue in enumerate(cues, 1):
        start = cue[0]["start"] + rng.uniform(-jitter, jitter)
        end = max(start + 0.2, cue[-1]["end"] + rng.uniform(-jitter, jitter))
        blocks += [
            str(n),
            f"{stamp(start)} --> {stamp(end)}",
            f"{cue[0]['speaker']}: {' '.join(s['text'] for s in cue)}",
            "",
        ]
    return "\n".join(blocks)


def true_speaker(sentences: list[dict], start: float, end: float) -> str | None:
    said: dict[str, float] = {}
    for s in sentences:
        shared = min(s["end"], end) - max(s["start"], start)
        if shared > 0:
            said[s["speaker"]] = said.get(s["speaker"], 0.0) + shared
    return max(said, key=said.get) if said else None


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jitter", type=float, default=JITTER_SECONDS, help="how far off Zoom's cue times are, at most (s)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="read the small archive of bench_eval.py --smoke (a check it runs)"
    )
    args = parser.parse_args()
    db_path = cached_archive(args.smoke, by_model=False)
    if not db_path.exists():
        print(
            f"no cached transcripts at {db_path}: run bench/bench_eval.py{' --smoke' if args.smoke else ''} first",
            file=sys.stderr,
        )
        return 2
    timings = json.loads((ROOT / "bench/eval/timings.json").read_text())
    talks = json.loads((ROOT / "bench/eval/webinars.json").read_text())["talks"]
    db = connect(db_path)
    by_name = {r.original_filename: r for r in store.list_recordings(db)}
    rng = random.Random(7)
    totals: dict[str, list[float]] = {}
    seconds = 0.0
    print(f"{'talk':<42}{'split':>6}{'speakers':>9}{'right':>8}")
    for talk in talks:
        recording = by_name.get(talk["file"])
        if recording is None:
            continue
        sentences = timings[talk["file"]]
        cues: list[SpeakerCue] = parse_speaker_vtt(zoom_vtt(sentences, rng, args.jitter), talk["file"])
        lines = store.get_segments(db, recording.id)
        started = time.perf_counter()
        named = assign_speakers(lines, cues)
        seconds += time.perf_counter() - started
        right = total = 0.0
        for line in named:
            span = line.end - line.start
            total += span
            right += span * (line.speaker == true_speaker(sentences, line.start, line.end))
        print(
            f"{talk['file'][:41]:<42}{talk['split']:>6}{len({s['speaker'] for s in sentences}):>9}{right / total:>8.1%}"
        )
        group = totals.setdefault(talk["split"], [0.0, 0.0])
        group[0] += right
        group[1] += total
    db.close()
    summary = {split: round(right / total, 4) for split, (right, total) in totals.items()}
    for split, share in summary.items():
        print(f"{split}: {share:.1%} of transcribed speech time named right")
    print(f"assigning took {seconds * 1000:.0f} ms for all talks")
    print(json.dumps({"jitter_s": args.jitter, "speech_time_named_right": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
