"""How well the automatic outline finds a webinar's parts, on the evaluation webinars.

For each multi-speaker webinar of bench/eval it names the speakers of the cached Whisper base
transcript from the Zoom transcript the meeting would have had (``bench/bench_speakers.zoom_vtt``),
lines up the deck of ``bench/eval/slides.json`` (``bench/bench_slides.py``), makes the outline
(``ingest.chapters.outline``) and compares it with the script: where the presenter starts, where
the Q&A starts (the host's turn before the first audience question) and where each audience
question starts. Reported per split: the share of each found by an entry within 15 s (the
questions: an entry "Question: …"), and the share of questions whose entry reads well: no
greeting, thanks, name or hand-over in its title, and most of its words from the sentences of
the script's turn that ask (a question mark, "I'm curious", "I wonder"). Every one-voice talk of
the archive (demo talks, older talks, the two evaluation talks: no audience in any) is outlined
too, with and without its presenter named, and any Q&A entry it gets is counted as a false one.
Run again with ``--no-names`` for a recording that came with no meeting transcript (the Q&A
found by the invitation to ask).

    .venv/bin/python bench/bench_eval.py            # once: transcribes, embeds and caches the talks
    .venv/bin/python bench/bench_chapters.py [--no-names]
    .venv/bin/python bench/bench_eval.py --smoke && .venv/bin/python bench/bench_chapters.py --smoke  # a check it runs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))  # the other bench scripts (bench_*: they shadow nothing)

from bench_eval import cached_archive  # noqa: E402
from bench_slides import measure as align_decks  # noqa: E402
from bench_speakers import zoom_vtt  # noqa: E402

from archive.core.store import connect  # noqa: E402
from archive.core.store import recordings as store  # noqa: E402
from ingest.chapters import outline  # noqa: E402
from ingest.companions import assign_speakers, parse_speaker_vtt  # noqa: E402
from ingest.slides import PathCosts, align_slides  # noqa: E402
from search.embedder import DEFAULT_MODEL, embedder_for  # noqa: E402

WITHIN_SECONDS = 15.0
# The judge of a title is the bench's own, not ingest.chapters' rules: what a reader would call a
# greeting or hand-over at a title's start, and the words too common to show a title's source.
GREETING_WORDS = re.compile(
    r"^(?i:hi|hello|hey|thanks|thank you|good (morning|afternoon|evening))\b|\b(?i:you'?re next|your next|go ahead)\b"
    r"|\b(?i:i'?m|my name is) [A-Z]"
)
COMMON = frozenset(
    "a an and are as at be but by can could did do does for from had has have how i if in is it its it's of on or so"
    " that the their them they this to was we what when where whether which who why will with would you your".split()
)


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9']+", text.lower()) if w not in COMMON and len(w) > 2}


def asking_sentences(sentences: list[dict], start: float) -> str:
    """The script's sentences that ask, in the audience turn that starts at ``start``."""
    first = next(i for i, s in enumerate(sentences) if s["start"] == start)
    turn = [s for s in sentences[first:] if s["turn"] == sentences[first]["turn"]]
    return " ".join(
        s["text"] for s in turn if s["text"].rstrip().endswith("?") or re.search(r"curious|wonder", s["text"], re.I)
    )


def reads_well(title: str, asked: str, names: list[str]) -> bool:
    """A question's title reads well: no greeting, hand-over, self-introduction or person's name,
    and at least 60% of its content words are words of the sentences that ask."""
    words = content_words(title)
    if GREETING_WORDS.search(title) or any(part.lower() in words for name in names for part in name.split()):
        return False
    return bool(words) and len(words & content_words(asked)) >= 0.6 * len(words)


def false_qa(db) -> dict[str, list[int]]:
    """Per split, for each one-voice talk (no audience in its script) outlined with its presenter
    named and with nobody named: how many Q&A entries each outline got (each is a false one)."""
    from ingest.samples import sample_talks

    one_voice = [(path.name, "dev") for path, _ in sample_talks()]
    one_voice += [(t["file"], "dev") for t in json.loads((ROOT / "bench/eval/talks.json").read_text())["talks"]]
    one_voice += [
        (t["file"], t["split"])
        for t in json.loads((ROOT / "bench/eval/webinars.json").read_text())["talks"]
        if t["format"] != "webinar"
    ]
    by_name = {r.original_filename: r for r in store.list_recordings(db)}
    counts: dict[str, list[int]] = {}
    for name, split in one_voice:
        recording = by_name.get(name)
        if recording is None:
            continue
        lines = store.get_segments(db, recording.id)
        speaker = (recording.speakers or ["Presenter"])[0]
        for named in (True, False):
            said = [dataclasses.replace(s, speaker=speaker if named else None) for s in lines]
            entries = [c for c in outline(recording, said) if c.title.startswith(("Question", "Questions"))]
            counts.setdefault(split, []).append(len(entries))
    return counts


def script_parts(talk: dict, sentences: list[dict]) -> dict:
    """Where the script's presenter starts, its Q&A starts, and each audience question starts."""
    presenters, host = set(talk["speakers"]), talk["host"]
    first_presenter = next(s["start"] for s in sentences if s["speaker"] in presenters)
    questions, qa_start = [], None
    for i, s in enumerate(sentences):
        if (
            s["speaker"] not in presenters
            and s["speaker"] != host
            and (i == 0 or sentences[i - 1]["speaker"] != s["speaker"])
        ):
            questions.append(s["start"])
            if qa_start is None:
                j = i
                while j > 0 and sentences[j - 1]["speaker"] == host:
                    j -= 1
                qa_start = sentences[j]["start"]
    return {"presenter": first_presenter, "qa": qa_start, "questions": questions}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-names", action="store_true", help="no meeting transcript: nobody is named")
    parser.add_argument(
        "--titles",
        nargs="?",
        const="dev",
        choices=("dev", "test"),
        help="print each question's entry in one split (dev unless named) and whether it reads well: "
        "titles are tuned on dev, so test's are printed only when asked for",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="read the small archive of bench_eval.py --smoke (a check it runs)"
    )
    args = parser.parse_args()
    cached = cached_archive(args.smoke)
    if not cached.exists():
        print(
            f"no cached transcripts at {cached}: run bench/bench_eval.py{' --smoke' if args.smoke else ''} first",
            file=sys.stderr,
        )
        return 2
    timings = json.loads((ROOT / "bench/eval/timings.json").read_text())
    talks = [
        t for t in json.loads((ROOT / "bench/eval/webinars.json").read_text())["talks"] if t["format"] == "webinar"
    ]
    decks = json.loads((ROOT / "bench/eval/slides.json").read_text())["decks"]
    found: dict[str, dict[str, list[bool]]] = {}
    seconds = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "archive.db"
        shutil.copy(cached, copy)
        db = connect(copy)
        embedder = embedder_for(type("Config", (), {"embedding_model": DEFAULT_MODEL})())
        aligned: dict = {}
        align_decks(talks, decks, db, embedder, PathCosts(), aligned)  # fills `aligned` per talk
        by_name = {r.original_filename: r for r in store.list_recordings(db)}
        talks = [t for t in talks if t["file"] in by_name and t["file"] in aligned]  # --smoke: the cached ones
        rng = random.Random(7)
        print(f"{'talk':<42}{'split':>6}{'presenter':>10}{'Q&A':>5}{'questions':>10}{'titled well':>13}")
        for talk in talks:
            recording = by_name[talk["file"]]
            sentences = timings[talk["file"]]
            slides, lines, windows, vectors, _, _ = aligned[talk["file"]]
            if not args.no_names:
                lines = assign_speakers(lines, parse_speaker_vtt(zoom_vtt(sentences, rng), talk["file"]))
            recording.speakers = list(talk["speakers"])
            started = time.perf_counter()
            timed = align_slides(slides, lines, windows, vectors)
            chapters = outline(recording, lines, timed)
            seconds += time.perf_counter() - started
            truth = script_parts(talk, sentences)
            starts = [c.start for c in chapters]
            near = lambda t, pool=starts: any(abs(t - s) <= WITHIN_SECONDS for s in pool)  # noqa: E731
            asked = [c for c in chapters if c.title.startswith("Question:")]
            people = [*talk["speakers"], talk["host"], *{s["speaker"] for s in sentences}]
            titled = []
            for q in truth["questions"]:
                entry = min(asked, key=lambda c, q=q: abs(c.start - q), default=None)
                good = entry is not None and abs(entry.start - q) <= WITHIN_SECONDS
                titled.append(
                    good and reads_well(entry.title.removeprefix("Question: "), asking_sentences(sentences, q), people)
                )
                if args.titles == talk["split"] and entry is not None:
                    print(f"    {'ok ' if titled[-1] else 'BAD'} {entry.title!r}")
            row = {
                "presenter": [near(truth["presenter"])],
                "qa": [near(truth["qa"])],
                "questions": [near(q, [c.start for c in asked]) for q in truth["questions"]],
                "titled": titled,
            }
            group = found.setdefault(talk["split"], {"presenter": [], "qa": [], "questions": [], "titled": []})
            for key, hits in row.items():
                group[key] += hits
            print(
                f"{talk['file'][:41]:<42}{talk['split']:>6}{'yes' if row['presenter'][0] else 'no':>10}"
                f"{'yes' if row['qa'][0] else 'no':>5}{sum(row['questions']):>6} / {len(row['questions'])}"
                f"{sum(titled):>6} / {len(titled)}"
            )
        false_entries = false_qa(db) if not args.smoke else {}
        db.close()
    summary = {
        split: {key: round(sum(hits) / len(hits), 3) for key, hits in parts.items()} for split, parts in found.items()
    }
    for split, parts in summary.items():
        print(
            f"{split}: presenter's start {parts['presenter']:.0%}, Q&A start {parts['qa']:.0%}, "
            f"audience questions {parts['questions']:.0%} (within {WITHIN_SECONDS:.0f} s), "
            f"titled well {parts['titled']:.0%}"
        )
    for split, counts in false_entries.items():
        summary.setdefault(split, {})["false_qa_outlines"] = sum(1 for c in counts if c)
        print(f"{split}: {sum(1 for c in counts if c)} of {len(counts)} one-voice outlines with a Q&A entry")
    print(f"outlining took {seconds * 1000:.0f} ms for {len(talks)} webinars (with lining up the slides)")
    print(json.dumps({"names": not args.no_names, "found_within_15s": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
