"""How well slides are lined up with the talk, on the evaluation webinars.

``bench/eval/slides.json`` holds the deck each presenter would have shown and the sentence of the
script where each slide comes up; it was written from the scripts before the method existed. For
each webinar this makes the deck a real PDF (fpdf2; a photo page is a drawn box with no text),
reads it back with ``ingest.slides.read_slides``, and lines it up with the cached Whisper base
transcript and its EmbeddingGemma window vectors (those bench/bench_eval.py made). Reported per split:
the share of slides placed within 15 s of where the script changes slide, the median and worst
error, and the same for slides spread evenly over the talk (what a deck without alignment would
give). Also the slides' numbers that ``ingest.numbers`` flags for staff as said differently, and
how many of those flags are right (the script says the slide's number there).

    .venv/bin/python bench/bench_eval.py            # once: transcribes, embeds and caches the talks
    .venv/bin/python bench/bench_slides.py [--move-on 1 --skip 2 --words 1]
    .venv/bin/python bench/bench_eval.py --smoke && .venv/bin/python bench/bench_slides.py --smoke  # a check it runs
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))  # the other bench scripts (bench_*: they shadow nothing)

from bench_eval import cached_archive  # noqa: E402

from archive.core.store import connect  # noqa: E402
from archive.core.store import recordings as store  # noqa: E402
from archive.core.store.records import Slide  # noqa: E402
from ingest.numbers import SMALLEST as NUMBERS_SMALLEST  # noqa: E402
from ingest.numbers import numbers_in, numbers_to_check  # noqa: E402
from ingest.slides import PathCosts, align_slides, read_slides, slide_vectors  # noqa: E402
from search.embedder import DEFAULT_MODEL, embedder_for  # noqa: E402
from search.index import stored_vectors  # noqa: E402
from search.passages import segment_windows  # noqa: E402

WITHIN_SECONDS = 15.0


def deck_pdf(deck: list[dict]) -> bytes:
    """A 16:9 PDF of the deck: a bold title, bullets, a box for a picture."""
    from fpdf import FPDF

    pdf = FPDF(orientation="landscape", unit="mm", format=(190.5, 338.7))
    pdf.set_auto_page_break(False)
    for slide in deck:
        pdf.add_page()
        if slide.get("image"):
            pdf.set_fill_color(200, 210, 220)
            pdf.rect(30, 25, 280, 140, style="F")
        if slide["title"]:
            pdf.set_font("Helvetica", "B", 30)
            pdf.set_xy(20, 18)
            pdf.multi_cell(300, 13, _latin1(slide["title"]))
        pdf.set_font("Helvetica", "", 20)
        pdf.set_y(max(pdf.get_y() + 8, 50))
        for bullet in slide.get("bullets", []):
            pdf.set_x(28)
            pdf.multi_cell(290, 10, _latin1(f"- {bullet}"))
    return bytes(pdf.output())


def _latin1(text: str) -> str:
    """fpdf2's core fonts are Latin-1: keep the accents, replace what they cannot draw."""
    return (
        text.replace("\u2013", "-")
        .replace("\u2014", "-")
        .replace("\u2019", "'")
        .replace("\u2192", "->")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def measure(talks, decks, db, embedder, costs: PathCosts, vectors_cache: dict) -> dict[str, dict]:
    by_name = {r.original_filename: r for r in store.list_recordings(db)}
    results: dict[str, dict] = {}
    for talk in talks:
        recording = by_name.get(talk["file"])
        deck = decks.get(talk["file"])
        if recording is None or deck is None:
            continue
        key = talk["file"]
        if key not in vectors_cache:
            slides = read_slides(deck_pdf(deck), key)
            segments = store.get_segments(db, recording.id)
            known = stored_vectors(db, recording.id, segments, embedder.model_name, recording.title)
            windows = segment_windows(segments)
            missing = [t for t in windows if t not in known]
            if missing:
                known.update(zip(missing, embedder.embed_documents(missing, title=recording.title), strict=True))
            window_vectors = np.stack([known[t] for t in windows])
            started = time.perf_counter()
            vectors = slide_vectors(slides, embedder)
            vectors_cache[key] = (slides, segments, window_vectors, vectors, time.perf_counter() - started, recording)
        slides, segments, window_vectors, vectors, embed_seconds, recording = vectors_cache[key]
        started = time.perf_counter()
        timed: list[Slide] = align_slides(slides, segments, window_vectors, vectors, costs)
        align_seconds = time.perf_counter() - started
        truth = [slide["start_seconds"] for slide in deck]
        errors = [abs(s.at - t) for s, t in zip(timed, truth, strict=True)]
        even = [recording.duration * k / len(deck) for k in range(len(deck))]
        flagged = numbers_to_check(segments, timed)
        script = _script(key)
        results[key] = {
            "split": talk["split"],
            "slides": len(deck),
            "errors": errors,
            "even_errors": [abs(e - t) for e, t in zip(even, truth, strict=True)],
            "embed_s": embed_seconds,
            "align_s": align_seconds,
            "duration": recording.duration,
            # ingest.numbers: slide figures the transcript seems to say differently, and how many of
            # those the script (what was really said there) says as the slide writes them
            "numbers": sum(
                v >= NUMBERS_SMALLEST for s in timed for _, v in numbers_in(f"{s.title}\n{s.text}", words=False)
            ),
            "flagged": [(n.page, n.written, n.said, round(n.at)) for n in flagged],
            "flagged_right": sum(_script_says(script, n.at, n.written) for n in flagged),
        }
    return results


@cache
def _script(name: str) -> tuple[dict, ...]:
    return tuple(json.loads((ROOT / "bench/eval/timings.json").read_text()).get(name, []))


def _script_says(sentences: tuple[dict, ...], at: float, written: str) -> bool:
    """Whether the script's sentence at ``at`` seconds (within 3 s) says the slide's number."""
    value = float(written.replace(",", ""))
    near = [s["text"] for s in sentences if s["start"] - 3 <= at <= s["end"] + 3]
    return any(v == value for text in near for _, v in numbers_in(text))


def summary(results: dict[str, dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for split in ("dev", "test"):
        errors = [e for r in results.values() if r["split"] == split for e in r["errors"]]
        even = [e for r in results.values() if r["split"] == split for e in r["even_errors"]]
        if errors:
            out[split] = {
                "slides": len(errors),
                "within_15s": round(float(np.mean(np.array(errors) <= WITHIN_SECONDS)), 3),
                "median_error_s": round(float(np.median(errors)), 1),
                "even_within_15s": round(float(np.mean(np.array(even) <= WITHIN_SECONDS)), 3),
                "worst_error_s": round(float(np.max(errors)), 1),
                "numbers": sum(r["numbers"] for r in results.values() if r["split"] == split),
                "numbers_flagged": sum(len(r["flagged"]) for r in results.values() if r["split"] == split),
                "numbers_flagged_right": sum(r["flagged_right"] for r in results.values() if r["split"] == split),
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = PathCosts()
    parser.add_argument("--move-on", type=float, default=defaults.move_on)
    parser.add_argument("--skip", type=float, default=defaults.skip)
    parser.add_argument("--words", type=float, default=defaults.words)
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
    decks = json.loads((ROOT / "bench/eval/slides.json").read_text())["decks"]
    talks = json.loads((ROOT / "bench/eval/webinars.json").read_text())["talks"]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "archive.db"
        shutil.copy(cached, copy)  # opening runs the newer migrations: never on the cache itself
        db = connect(copy)
        embedder = embedder_for(type("Config", (), {"embedding_model": DEFAULT_MODEL})())
        embedder.embed_query("warm up")  # the model loads once, outside the timings
        vectors_cache: dict = {}
        results = measure(talks, decks, db, embedder, PathCosts(args.move_on, args.skip, args.words), vectors_cache)
        db.close()
    print(f"{'talk':<42}{'split':>6}{'slides':>7}{'≤15 s':>7}{'median':>8}{'even ≤15 s':>11}")
    for name, r in results.items():
        errors = np.array(r["errors"])
        print(
            f"{name[:41]:<42}{r['split']:>6}{r['slides']:>7}{np.mean(errors <= WITHIN_SECONDS):>7.0%}"
            f"{np.median(errors):>7.1f}s{np.mean(np.array(r['even_errors']) <= WITHIN_SECONDS):>11.0%}"
        )
        for page, written, said, at in r["flagged"]:
            print(f"    number to check: slide {page} writes {written}, the transcript at {at} s says {said}")
    figures = summary(results)
    for split, f in figures.items():
        print(
            f"{split}: {f['within_15s']:.1%} of {f['slides']} slides within 15 s (median error {f['median_error_s']} s, "
            f"worst {f['worst_error_s']} s; spread evenly: {f['even_within_15s']:.1%}); "
            f"{f['numbers_flagged']} of {f['numbers']} slide numbers flagged as said differently, "
            f"{f['numbers_flagged_right']} of them rightly"
        )
    hours = sum(r["duration"] for r in results.values()) / 3600
    embed = sum(r["embed_s"] for r in results.values())
    align = sum(r["align_s"] for r in results.values())
    print(f"per hour of audio: embedding the slides {embed / hours:.1f} s, lining them up {align / hours:.2f} s")
    print(json.dumps({"costs": vars(PathCosts(args.move_on, args.skip, args.words)), "splits": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
