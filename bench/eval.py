"""Search quality on a fixed set of questions with known answers.

Builds (once, then reuses) an archive of the demo talks, the evaluation talks in
bench/eval/ and the real speech clips, all through the real pipeline (Whisper tiny.en,
MiniLM), re-embeds it with the current passage design, and runs every query in
bench/eval/queries.json through the same search the web and CLI use.

A result is a hit when it is the right recording and starts no more than 15 s before
the answer begins and not after it ends. Prints Recall@1, Recall@5 and MRR per kind of
query, the share that came back empty (and of those, how often the answer was among the
weak results the page offers instead), and for queries with no answer the share left empty.

    .venv/bin/python bench/eval.py             # the table
    .venv/bin/python bench/eval.py --misses    # and every query that missed, with what came back
    .venv/bin/python bench/eval.py --curve     # what other answer thresholds would give
    .venv/bin/python bench/eval.py --rebuild   # transcribe everything again
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archive.config import load_config  # noqa: E402
from archive.store import connect  # noqa: E402
from archive.store import recordings as store  # noqa: E402
from archive.store.models import RecordingMeta  # noqa: E402
from ingest.pipeline import default_embedder, default_transcriber, ingest_file, reindex_recording  # noqa: E402
from ingest.samples import sample_talks  # noqa: E402
from search.engine import Ranking, Searcher  # noqa: E402

EVAL_DIR = ROOT / "bench" / "eval"
CACHE_DIR = ROOT / "bench" / ".cache" / "eval"
EARLY_SECONDS = 15.0
KINDS = ("paraphrase", "exact", "name", "none")

CLIPS = [
    (ROOT / "tests/data/jfk.flac", RecordingMeta(
        title="Inaugural address excerpt", speakers=["John F. Kennedy"], date="1961-01-20", tags=["speech"])),
    (ROOT / "tests/data/hotwords.mp3", RecordingMeta(
        title="Setting up ComfyUI", tags=["software"], vocab=["ComfyUI"])),
    (ROOT / "bench/data/multilingual.mp3", RecordingMeta(title="The MIT licence, read aloud", tags=["licences"])),
    (ROOT / "bench/data/stereo_diarization.wav", RecordingMeta(title="Two readers", tags=["reading"])),
]


def eval_talks() -> list[tuple[Path, RecordingMeta]]:
    talks = json.loads((EVAL_DIR / "talks.json").read_text())["talks"]
    return [(EVAL_DIR / t["file"], RecordingMeta.from_dict({**t, "synthetic": True})) for t in talks]


def build_archive(rebuild: bool):
    """The evaluation archive: transcribed once and cached; passages and vectors rebuilt every run."""
    if rebuild and CACHE_DIR.exists():
        shutil.rmtree(CACHE_DIR)
    config = load_config({"data_dir": str(CACHE_DIR)}, environ={})
    db = connect(config.db_path)
    transcriber, embedder = default_transcriber(config), default_embedder(config)
    by_file = {}
    for path, meta in [*sample_talks(), *eval_talks(), *CLIPS]:
        result = ingest_file(db, config, path, meta, transcriber=transcriber, embedder=embedder)
        by_file[path.name] = result.recording
    for recording in by_file.values():
        reindex_recording(db, recording.id, embedder)
    return db, by_file, embedder


@dataclass
class Outcome:
    query: dict
    rank: int | None  # 1-based rank of the first hit
    returned: list
    weak_hit: bool = False  # no answers, but the right moment was among the weak results


def is_hit(moment, expected_id: int, start: float, end: float) -> bool:
    return moment.recording_id == expected_id and start - EARLY_SECONDS <= moment.start <= end


def evaluate(db, by_file, searcher: Searcher, queries: list[dict]) -> list[Outcome]:
    outcomes = []
    for query in queries:
        response = searcher.search(db, query["query"], limit=10)
        rank, weak_hit = None, False
        if query["kind"] != "none":
            expected = by_file[query["file"]].id
            for i, moment in enumerate(response.results, 1):
                if is_hit(moment, expected, query["start"], query["end"]):
                    rank = i
                    break
            weak_hit = any(is_hit(m, expected, query["start"], query["end"]) for m in response.weak_results)
        outcomes.append(Outcome(query, rank, response.results, weak_hit))
    return outcomes


def summarize(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    table = {}
    for kind in KINDS:
        group = [o for o in outcomes if o.query["kind"] == kind]
        if not group:
            continue
        if kind == "none":
            table[kind] = {"n": len(group), "empty": sum(not o.returned for o in group) / len(group)}
            continue
        table[kind] = {
            "n": len(group),
            "R@1": sum(o.rank == 1 for o in group) / len(group),
            "R@5": sum(o.rank is not None and o.rank <= 5 for o in group) / len(group),
            "MRR": sum(1 / o.rank for o in group if o.rank) / len(group),
            "empty": sum(not o.returned for o in group) / len(group),
            "weak": sum(o.weak_hit for o in group) / len(group),
        }
    return table


def print_table(table: dict) -> None:
    print(f"{'kind':<12}{'n':>4}{'R@1':>8}{'R@5':>8}{'MRR':>8}{'empty':>8}{'in weak':>9}")
    for kind, row in table.items():
        if kind == "none":
            print(f"{kind:<12}{row['n']:>4}{'':>8}{'':>8}{'':>8}{row['empty']:>8.2f}")
        else:
            print(f"{kind:<12}{row['n']:>4}{row['R@1']:>8.2f}{row['R@5']:>8.2f}{row['MRR']:>8.2f}"
                  f"{row['empty']:>8.2f}{row['weak']:>9.2f}")


def print_misses(outcomes: list[Outcome], by_file) -> None:
    titles = {r.id: r.slug for r in by_file.values()}
    for o in outcomes:
        q = o.query
        missed = (o.rank != 1) if q["kind"] != "none" else bool(o.returned)
        if not missed:
            continue
        want = "" if q["kind"] == "none" else f" want {q['file']} {q['start']:.0f}-{q['end']:.0f}s"
        print(f"\n[{q['kind']}] {q['query']!r} rank={o.rank}{want}")
        for m in o.returned[:5]:
            print(f"   {m.score:.3f} {titles.get(m.recording_id)} @{m.start:.1f}: {m.text[:90]}")


def threshold_curve(db, by_file, embedder, queries: list[dict]) -> None:
    """What each answer threshold would give with the current weights: the trade-off the threshold sets."""
    import dataclasses

    outcomes = evaluate(db, by_file, Searcher(embedder, dataclasses.replace(Ranking(), threshold=-10.0)), queries)
    print(f"{'threshold':>9}{'para@1':>8}{'para@5':>8}{'exact@1':>8}{'name@1':>8}{'none empty':>11}")
    for threshold in [t / 100 for t in range(25, 53, 2)]:
        cut = []
        for o in outcomes:
            kept = [m for m in o.returned if m.literal or m.score >= threshold]
            rank = None
            if o.query["kind"] != "none":
                expected = by_file[o.query["file"]].id
                rank = next((i for i, m in enumerate(kept, 1)
                             if is_hit(m, expected, o.query["start"], o.query["end"])), None)
            cut.append(Outcome(o.query, rank, kept))
        t = summarize(cut)
        print(f"{threshold:>9.2f}{t['paraphrase']['R@1']:>8.2f}{t['paraphrase']['R@5']:>8.2f}"
              f"{t['exact']['R@1']:>8.2f}{t['name']['R@1']:>8.2f}{t['none']['empty']:>11.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="transcribe every recording again")
    parser.add_argument("--misses", action="store_true", help="show each query that missed")
    parser.add_argument("--dump", action="store_true", help="print every transcript with segment times")
    parser.add_argument("--curve", action="store_true", help="show what other answer thresholds would give")
    args = parser.parse_args()

    started = time.perf_counter()
    db, by_file, embedder = build_archive(args.rebuild)
    print(f"archive: {len(by_file)} recordings, {store.count_rows(db)['passages']} passages "
          f"({time.perf_counter() - started:.1f} s to build)")
    if args.dump:
        for name, recording in by_file.items():
            print(f"\n== {name} ({recording.slug})")
            for seg in store.get_segments(db, recording.id):
                print(f"  {seg.start:7.2f} {seg.end:7.2f}  {seg.text.strip()}")
        return 0
    queries = json.loads((EVAL_DIR / "queries.json").read_text())["queries"]
    if args.curve:
        threshold_curve(db, by_file, embedder, queries)
        return 0
    searcher = Searcher(embedder)
    started = time.perf_counter()
    outcomes = evaluate(db, by_file, searcher, queries)
    elapsed = time.perf_counter() - started
    if args.misses:
        print_misses(outcomes, by_file)
        print()
    print_table(summarize(outcomes))
    print(f"{len(queries)} queries in {elapsed:.2f} s ({1000 * elapsed / len(queries):.1f} ms each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
