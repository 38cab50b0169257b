"""Search speed at archive scale: keyword, semantic and hybrid query latency, index size, memory.

Builds (and caches under bench/.cache/) a synthetic archive of --passages N passages in
the real schema: English sentences from the demo and evaluation talk scripts, shuffled
into passages of about 80 words with a long tail of rarer words, three segments per
passage, and vectors of the search model's size. The passage and segment vectors are a fast
stand-in (random unit vectors: the arithmetic is the same as for real ones); the query
vectors come from the real search model (the archive's default, or --model), as the server
runs it, and query embedding is inside every timing.

Then it times, over a fixed set of queries: keyword search (FTS5 BM25 top 40), semantic
search (embed + top 40 of the in-memory matrix), hybrid search (the whole
``Searcher.search`` the CLI runs) and "visitor" (the same with the visibility filter the
web applies for an anonymous visitor, with half the talks members-only). With --compare-vec it also times sqlite-vec's
vec0 top-10 against the NumPy matrix on the same vectors. Prints p50/p95/p99 in ms, the
database size, the time to load the vectors and the process's resident memory, and
ends with one JSON line.

    .venv/bin/python bench/bench_search.py --passages 100000
    .venv/bin/python bench/bench_search.py --passages 1000000
    .venv/bin/python bench/bench_search.py --passages 100000 --compare-vec
    .venv/bin/python bench/bench_search.py --passages 100000 --model minilm
    .venv/bin/python bench/bench_search.py --smoke    # 2,000 passages, each query once: a check it runs
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory

from archive.core.config import load_config  # noqa: E402
from archive.core.store import connect  # noqa: E402
from archive.core.store.recordings import RecordingFilter  # noqa: E402
from archive.library import Archive  # noqa: E402
from search.engine import Searcher  # noqa: E402
from search.index import log_index_change  # noqa: E402
from search.text import parse_query  # noqa: E402

SEGMENTS_PER_PASSAGE = 3
PASSAGES_PER_RECORDING = 150  # about an hour of talk
CACHE = ROOT / "bench" / ".cache"

KEYWORD_QUERIES = [
    "link workers",
    "casseroles",
    "funding",
    "people",
    '"piece of paper"',
    "volunteer*",
    "dashboard",
    # Two of the commonest topic words: the longest posting lists a real query reads. (A query of
    # stopwords alone, such as "the", is refused by the search as too common to search for.)
    "community health",
    "Okafor",
    "transport barrier",
]
QUESTIONS = [
    "how do they follow up with clients?",
    "what did they say about funding link workers?",
    "how do volunteers support caregivers?",
    "does measuring impact take a lot of staff time?",
    "how do you reach isolated older people?",
    "what helps young people keep coming?",
    "why did the referral not work?",
    "how do they protect privacy?",
    "what outcomes do they report to funders?",
    "how do parks help health?",
]


def sentence_bank() -> list[str]:
    texts = []
    for path in (ROOT / "media/samples/samples.json", ROOT / "bench/eval/talks.json"):
        for talk in json.loads(path.read_text())["talks"]:
            texts.extend(talk["script"])
    sentences = [s.strip() for t in texts for s in re.split(r"(?<=[.?!])\s+", t) if len(s.split()) >= 4]
    return sentences


def rare_words(count: int, rng: random.Random) -> list[str]:
    """Made-up words for the long tail a real archive has (names, places, jargon)."""
    syllables = ["ka", "lo", "mi", "ren", "tor", "sa", "vi", "del", "an", "qu", "is", "bor", "ne", "fa", "gu", "wen"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(count)]


def build(path: Path, passages: int, model: str, dim: int, seed: int = 7) -> None:
    """The synthetic archive; its stand-in vectors are filed under ``model``, which the searcher reads."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    sentences = sentence_bank()
    tail = rare_words(max(1000, passages // 20), rng)
    db = connect(path)
    started = time.perf_counter()
    recordings = (passages + PASSAGES_PER_RECORDING - 1) // PASSAGES_PER_RECORDING
    with db.atomic():
        db["recordings"].insert_all(
            {
                "id": r + 1,
                "slug": f"talk-{r + 1}",
                "title": f"Synthetic talk {r + 1}",
                "organization": "",
                "date": f"20{10 + r % 15:02d}-{1 + r % 12:02d}-15",
                "description": "",
                "duration": 3600.0,
                "media_path": "",
                "media_hash": f"hash-{r + 1}",
                "media_kind": "audio",
                "original_filename": "",
                "synthetic": 1,
                "language": "en",
                "model": "bench",
                "status": "ready",
                "created_at": "2026-01-01",
            }
            for r in range(recordings)
        )
    batch = 5000
    for first in range(0, passages, batch):
        seg_rows, passage_rows, vector_rows, seg_vector_rows = [], [], [], []
        for pid in range(first, min(passages, first + batch)):
            recording_id = pid // PASSAGES_PER_RECORDING + 1
            local = pid % PASSAGES_PER_RECORDING
            texts = []
            for s in range(SEGMENTS_PER_PASSAGE):
                words = " ".join(rng.choice(sentences) for _ in range(2)).split()
                if rng.random() < 0.5:
                    words.insert(rng.randrange(len(words)), rng.choice(tail))
                texts.append(" ".join(words))
                idx = local * SEGMENTS_PER_PASSAGE + s
                start = idx * 8.0
                seg_rows.append((recording_id, idx, start, start + 8.0, texts[-1]))
            passage_rows.append(
                (
                    pid + 1,
                    recording_id,
                    local,
                    local * SEGMENTS_PER_PASSAGE,
                    local * SEGMENTS_PER_PASSAGE + SEGMENTS_PER_PASSAGE - 1,
                    local * 24.0,
                    local * 24.0 + 24.0,
                    " ".join(texts),
                )
            )
        count = len(passage_rows)
        vectors = nrng.standard_normal((count * (1 + SEGMENTS_PER_PASSAGE), dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for i, row in enumerate(passage_rows):
            vector_rows.append((row[0], row[1], model, vectors[i].tobytes(), ""))
        for i, row in enumerate(seg_rows):
            seg_vector_rows.append((row[0], row[1], model, vectors[count + i].tobytes(), ""))
        with db.atomic():
            db.conn.executemany(
                "INSERT INTO segments (recording_id, idx, start, end, text) VALUES (?,?,?,?,?)", seg_rows
            )
            db.conn.executemany(
                "INSERT INTO passages (id, recording_id, idx, first_segment, last_segment, start, end, text) "
                "VALUES (?,?,?,?,?,?,?,?)",
                passage_rows,
            )
            db.conn.executemany(
                "INSERT INTO passage_vectors (passage_id, recording_id, model, embedding, title) VALUES (?,?,?,?,?)",
                vector_rows,
            )
            db.conn.executemany(
                "INSERT INTO segment_vectors (recording_id, idx, model, embedding, title) VALUES (?,?,?,?,?)",
                seg_vector_rows,
            )
            log_index_change(db, recording_id)
        print(f"\r  built {first + count:,} passages ({time.perf_counter() - started:.0f} s)", end="", flush=True)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("ANALYZE")
    db.close()
    print()


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(samples_ms, [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


def timed(fn, queries: list[str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        for query in queries:
            started = time.perf_counter()
            fn(query)
            out.append(1000 * (time.perf_counter() - started))
    return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compare_sqlite_vec(db, searcher: Searcher, index) -> None:
    import sqlite_vec

    db.conn.enable_load_extension(True)
    sqlite_vec.load(db.conn)
    db.conn.enable_load_extension(False)
    if "vec_bench" not in db.table_names():
        started = time.perf_counter()
        db.execute(f"CREATE VIRTUAL TABLE vec_bench USING vec0(embedding float[{index.matrix.shape[1]}])")
        with db.atomic():
            db.conn.executemany(
                "INSERT INTO vec_bench(rowid, embedding) SELECT passage_id, embedding "
                "FROM passage_vectors WHERE passage_id = ?",
                [(int(i),) for i in index.passage_ids],
            )
        print(f"  vec0 table built in {time.perf_counter() - started:.0f} s")
    vectors = [searcher.embed_query(q) for q in QUESTIONS]
    vec_ms = timed(
        lambda v: db.execute(
            "SELECT rowid FROM vec_bench WHERE embedding MATCH ? AND k = 10", [v.tobytes()]
        ).fetchall(),
        vectors,
        3,
    )
    numpy_ms = timed(lambda v: index.search(v, 10), vectors, 3)
    print(
        f"  top-10 of {len(index):,} vectors, no embedding: sqlite-vec vec0 {percentiles(vec_ms)} ms, "
        f"NumPy matrix {percentiles(numpy_ms)} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5, help="times each query is run")
    parser.add_argument("--compare-vec", action="store_true", help="also time sqlite-vec against the matrix")
    parser.add_argument("--model", default="", help="embedding model (default: the archive's)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (2,000 passages, one round): does it run?")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(passages=2_000, rounds=1)
    args = parser.parse_args()

    # The embedder as the server builds it: one thread for queries beside a worker.
    services = Archive(load_config({"embedding_model": args.model}, environ={}), search_threads=1)
    embedder = services.embedder
    started = time.perf_counter()
    dim = len(embedder.embed_query("warm up the model"))
    print(f"{embedder.model_name}: loaded in {time.perf_counter() - started:.1f} s, {dim} dimensions")
    path = CACHE / f"search-{args.passages}-{embedder.model_name}.db"
    if not path.exists():
        print(f"building a synthetic archive of {args.passages:,} passages at {path} ...")
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            build(path, args.passages, embedder.model_name, dim)
        except BaseException:
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()
            raise
    db = connect(path)
    size_mb = sum(f.stat().st_size for f in path.parent.glob(path.name + "*")) / 2**20
    searcher = Searcher(embedder, query_cache=False, languages=load_config({}, environ={}).whisper_languages)
    before = rss_mb()
    started = time.perf_counter()
    index = searcher.vectors(db)
    load_s = time.perf_counter() - started
    print(
        f"{args.passages:,} passages; passage and segment vectors: random unit stand-ins, "
        f"query vectors: {embedder.model_name}; database {size_mb:,.0f} MB on disk"
    )
    print(
        f"vectors loaded into memory in {load_s:.1f} s ({index.matrix.nbytes / 2**20:,.0f} MB matrix, "
        f"RSS {before:,.0f} -> {rss_mb():,.0f} MB)"
    )

    def keyword(q):
        parsed = parse_query(q)
        expression = parsed.fts_expression()
        return (
            db.execute(
                "SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? ORDER BY rank LIMIT 40", [expression]
            ).fetchall()
            if expression
            else []
        )

    def semantic(q):
        return index.search(searcher.embed_query(q), 40)

    def hybrid(q):
        return searcher.search(db, q)

    # Half the talks members-only, so a visitor's search really filters (what the web runs for one).
    with db.atomic():
        db.execute("UPDATE recordings SET visibility = CASE WHEN id % 2 THEN 'public' ELSE 'members' END")
    visitor = RecordingFilter(visibility=("public",))

    def hybrid_visitor(q):
        return searcher.search(db, q, filters=visitor)

    results = {}
    for name, fn, queries in (
        ("keyword", keyword, KEYWORD_QUERIES),
        ("semantic", semantic, QUESTIONS),
        ("hybrid", hybrid, QUESTIONS + KEYWORD_QUERIES),
        ("visitor", hybrid_visitor, QUESTIONS + KEYWORD_QUERIES),
    ):
        fn(queries[0])
        results[name] = percentiles(timed(fn, queries, args.rounds))
        print(
            f"  {name:<9} p50 {results[name]['p50']:>7.1f} ms   p95 {results[name]['p95']:>7.1f} ms   "
            f"p99 {results[name]['p99']:>7.1f} ms"
        )
    print(f"server RSS with the index and the search model loaded: {rss_mb():,.0f} MB")
    if args.compare_vec:
        compare_sqlite_vec(db, searcher, index)
    print(
        json.dumps(
            {
                "passages": args.passages,
                "model": embedder.model_name,
                "hybrid_p50_ms": results["hybrid"]["p50"],
                "hybrid_p95_ms": results["hybrid"]["p95"],
                "rss_mb": round(rss_mb()),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
