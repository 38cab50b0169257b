"""Search quality on questions with known answers, reported separately for a dev and a test split.

The archive searched holds every recording the project has: the demo talks, the six older
evaluation talks (bench/eval/talks.json), the webinars and talks of bench/eval/webinars.json
(several voices, Zoom-like audio) and four real speech clips, all through the real pipeline.
Transcripts are made once per Whisper model and cached; the index is rebuilt once per
embedding model and cached too, so trying a ranking costs seconds.

Questions come from bench/eval/questions.json (written from the scripts before any tuning; the
answer's time comes from the sentence timings of the voiced file) and bench/eval/queries.json
(the older queries, tuned on in the past: dev only), and, for each split, near-misses-SPLIT.json (45
more questions nothing answers, written on December 8 from the transcripts, blind to every search
result, so that the answer-or-not threshold is chosen on more than 25 and reported on more than 13)
and names-SPLIT.json (30 more name searches, written the same day from the scripts, blind the same
way). The split is by recording: tune on dev,
only report test. A result is a hit when it is in the right recording and starts no more than
15 s before the answer begins and not after it ends; a name question without an answer accepts
any moment of its recording. "none" questions have no answer anywhere: the share left empty
(no results, only weak ones) is what counts.

    .venv/bin/python bench/bench_eval.py                    # both tables and a JSON line
    .venv/bin/python bench/bench_eval.py --model minilm     # another embedding model (name or folder)
    .venv/bin/python bench/bench_eval.py --misses           # what the dev questions missed, with what came back
    .venv/bin/python bench/bench_eval.py --whisper DIR      # transcribe with another Whisper model
    .venv/bin/python bench/bench_eval.py --smoke            # a check it runs (below)

With --smoke the archive holds only two recordings of bench/eval (a dev webinar and a test talk),
transcribed with the bundled tiny.en, and only their questions and the "none" ones are asked: the
figures say nothing about quality. It is cached apart (bench/.cache/eval/smoke/), and the benches
that read the cached transcripts (bench_slides.py, bench_speakers.py, bench_chapters.py) read that
one with their own --smoke.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory

from archive.core.config import load_config  # noqa: E402
from archive.core.store import connect  # noqa: E402
from archive.core.store import recordings as store  # noqa: E402
from archive.core.store.records import RecordingMeta  # noqa: E402
from archive.library import Archive  # noqa: E402
from ingest.pipeline import ingest_file  # noqa: E402
from ingest.samples import sample_talks  # noqa: E402
from search.engine import Searcher  # noqa: E402
from search.index import reindex_talk  # noqa: E402

EVAL_DIR = ROOT / "bench" / "eval"
CACHE_DIR = ROOT / "bench" / ".cache" / "eval"
EARLY_SECONDS = 15.0
KINDS = ("paraphrase", "qa", "exact", "name", "none")
SPLITS = ("dev", "test")
# --smoke: a webinar with a deck and five voices (dev), a one-voice talk (test); 9.3 minutes in all.
SMOKE_FILES = ("ai-case-notes-impact.m4a", "community-resource-directory.m4a")
SMOKE_WHISPER = "tiny.en"

CLIPS = [
    (
        ROOT / "tests/data/jfk.flac",
        RecordingMeta(
            title="Inaugural address excerpt", speakers=["John F. Kennedy"], date="1961-01-20", tags=["speech"]
        ),
    ),
    (ROOT / "tests/data/hotwords.mp3", RecordingMeta(title="Setting up ComfyUI", tags=["software"], vocab=["ComfyUI"])),
    (ROOT / "tests/data/multilingual.mp3", RecordingMeta(title="The MIT licence, read aloud", tags=["licences"])),
    (ROOT / "bench/data/stereo_diarization.wav", RecordingMeta(title="Two readers", tags=["reading"])),
]


def _talks(name: str) -> list[dict]:
    return json.loads((EVAL_DIR / name).read_text())["talks"]


def recordings(smoke: bool = False) -> list[tuple[Path, RecordingMeta, str]]:
    """Every recording of the evaluation archive with its metadata and split (with ``smoke``, SMOKE_FILES)."""
    found = [] if smoke else [(path, meta, "dev") for path, meta in sample_talks()]
    for talk in [] if smoke else _talks("talks.json"):
        found.append((EVAL_DIR / talk["file"], RecordingMeta.from_dict({**talk, "synthetic": True}), "dev"))
    for talk in _talks("webinars.json"):
        if smoke and talk["file"] not in SMOKE_FILES:
            continue
        meta = RecordingMeta.from_dict({**talk, "synthetic": True, "vocab": []})
        found.append((EVAL_DIR / talk["file"], meta, talk["split"]))
    found += [] if smoke else [(path, meta, "dev") for path, meta in CLIPS]
    return found


def cached_archive(smoke: bool = False, by_model: bool = True) -> Path:
    """The cached archive the other benches read: the default Whisper's transcripts (tiny.en's with
    ``smoke``), and with ``by_model`` the default embedding model's vectors."""
    from ingest.transcribe import DEFAULT_WHISPER, TRANSCRIPT_VERSION

    whisper = SMOKE_WHISPER if smoke else DEFAULT_WHISPER
    folder = (CACHE_DIR / "smoke" if smoke else CACHE_DIR) / _slug(f"{whisper}-v{TRANSCRIPT_VERSION}")
    return (folder / "by-model" if by_model else folder) / "archive.db"


class NoVectors:
    """Stands in for an embedder while transcribing: the real vectors come per model, afterwards."""

    model_name = "none"

    def load(self) -> None:
        pass

    def embed_documents(self, texts, title=""):
        return np.zeros((len(texts), 1), dtype=np.float32)

    def embed_query(self, text):
        return np.zeros(1, dtype=np.float32)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text)


def build_archive(whisper: str, embedding: str, rebuild: bool, smoke: bool = False):
    """(db, recording by file name, services): transcripts cached per Whisper model, vectors per embedding model."""
    from ingest.transcribe import DEFAULT_WHISPER, TRANSCRIPT_VERSION

    name = f"{whisper or DEFAULT_WHISPER}-v{TRANSCRIPT_VERSION}"
    cache = CACHE_DIR / "smoke" if smoke else CACHE_DIR
    base_config = load_config({"data_dir": cache / _slug(name), "whisper_model": whisper}, environ={})
    if rebuild and base_config.data_dir.exists():
        shutil.rmtree(base_config.data_dir)
    db = connect(base_config.db_path)
    transcriber = Archive(base_config).transcriber
    for path, meta, _ in recordings(smoke):
        if store.get_recording_by_hash(db, _hash(path)) is None:
            print(f"  transcribing {path.name} ...", file=sys.stderr)
            ingest_file(db, base_config, path, meta, transcriber=transcriber, embedder=NoVectors())
    db.close()

    services = Archive(
        load_config(
            {"data_dir": base_config.data_dir / "by-model" / _slug(embedding), "embedding_model": embedding}, environ={}
        )
    )
    config = services.config
    if not config.db_path.exists():
        config.data_dir.mkdir(parents=True)
        shutil.copy(base_config.db_path, config.db_path)
    db = connect(config.db_path)
    started = time.perf_counter()
    for recording in store.list_recordings(db):
        reindex_talk(db, recording.id, services.embedder)
    took = time.perf_counter() - started
    if took > 5:
        print(f"  embedded the archive with {services.embedder.model_name} in {took:.0f} s", file=sys.stderr)
    by_file = {path.name: store.get_recording_by_hash(db, _hash(path)) for path, _, _ in recordings(smoke)}
    return db, by_file, services


_hashes: dict[Path, str] = {}


def _hash(path: Path) -> str:
    from ingest.media import file_sha256

    if path not in _hashes:
        _hashes[path] = file_sha256(path)
    return _hashes[path]


@dataclass
class Question:
    id: str
    kind: str
    query: str
    split: str
    file: str | None = None
    start: float | None = None  # the answer's span; None: any moment of ``file`` counts
    end: float | None = None


def questions() -> list[Question]:
    """The new questions (answers timed by the voiced sentences) and the older queries (dev)."""
    timings = json.loads((EVAL_DIR / "timings.json").read_text())
    found = []
    for q in json.loads((EVAL_DIR / "questions.json").read_text())["questions"]:
        start = end = None
        if q.get("answer"):
            start, end = answer_span(timings[q["file"]], q["answer"])
        found.append(Question(q["id"], q["kind"], q["query"], q["split"], q.get("file"), start, end))
    for i, q in enumerate(json.loads((EVAL_DIR / "queries.json").read_text())["queries"]):
        found.append(Question(f"old-{i}", q["kind"], q["query"], "dev", q.get("file"), q.get("start"), q.get("end")))
    for split in SPLITS:
        for q in json.loads((EVAL_DIR / f"near-misses-{split}.json").read_text())["queries"]:
            found.append(Question(q["id"], "none", q["query"], split, None, None, None))
        for q in json.loads((EVAL_DIR / f"names-{split}.json").read_text())["questions"]:
            start, end = answer_span(timings[q["file"]], q["answer"])
            found.append(Question(q["id"], "name", q["query"], split, q["file"], start, end))
    return found


def answer_span(sentences: list[dict], answer: str) -> tuple[float, float]:
    """Start and end of the run of consecutive sentences whose text contains ``answer``."""
    for first in range(len(sentences)):
        text = ""
        for last in range(first, len(sentences)):
            text = (text + " " + sentences[last]["text"]).strip()
            if answer in text:
                return sentences[first]["start"], sentences[last]["end"]
            if len(text) > len(answer) + 400:
                break
    raise ValueError(f"answer not in the timings: {answer[:60]!r}")


@dataclass
class Outcome:
    question: Question
    rank: int | None  # 1-based rank of the first hit among the answers
    returned: list  # the answers
    weak: list  # the nearest moments, when there were no answers
    weak_rank: int | None = None
    evidence: object = None


def is_hit(moment, question: Question, recording_id: int) -> bool:
    if moment.recording_id != recording_id:
        return False
    if question.start is None:
        return True
    return question.start - EARLY_SECONDS <= moment.start <= question.end


def evaluate(db, by_file, searcher: Searcher, qs: list[Question], keep_evidence: bool = False) -> list[Outcome]:
    outcomes = []
    for q in qs:
        response = searcher.search(db, q.query, limit=10)
        rank = weak_rank = None
        if q.kind != "none":
            expected = by_file[q.file].id
            rank = next((i for i, m in enumerate(response.results, 1) if is_hit(m, q, expected)), None)
            weak_rank = next((i for i, m in enumerate(response.weak_results, 1) if is_hit(m, q, expected)), None)
        outcomes.append(
            Outcome(
                q,
                rank,
                response.results,
                response.weak_results,
                weak_rank,
                response.evidence if keep_evidence else None,
            )
        )
    return outcomes


def summarize(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    table = {}
    for kind in KINDS:
        group = [o for o in outcomes if o.question.kind == kind]
        if not group:
            continue
        n = len(group)
        if kind == "none":
            table[kind] = {"n": n, "empty": round(sum(not o.returned for o in group) / n, 3)}
            continue
        table[kind] = {
            "n": n,
            "R@1": round(sum(o.rank == 1 for o in group) / n, 3),
            "R@5": round(sum(o.rank is not None and o.rank <= 5 for o in group) / n, 3),
            "MRR": round(sum(1 / o.rank for o in group if o.rank) / n, 3),
            "empty": round(sum(not o.returned for o in group) / n, 3),
            "weak": round(sum(o.weak_rank is not None for o in group) / n, 3),
        }
    return table


def decision_figures(outcomes: list[Outcome]) -> dict[str, float]:
    """The answer-or-not decision as precision and recall, both ways round: of the questions given
    answers, the share that have one (precision) and of those that have one, the share given
    answers (recall); of the questions left empty, the share nothing answers, and of those nothing
    answers, the share left empty. Whether the answers were the right ones is R@k's business."""
    answerable = [o for o in outcomes if o.question.kind != "none"]
    unanswerable = [o for o in outcomes if o.question.kind == "none"]
    answered = sum(bool(o.returned) for o in answerable)
    answered_wrongly = sum(bool(o.returned) for o in unanswerable)
    empty = len(unanswerable) - answered_wrongly
    withheld = len(answerable) - answered
    return {
        "answer_precision": round(answered / max(answered + answered_wrongly, 1), 3),
        "answer_recall": round(answered / max(len(answerable), 1), 3),
        "empty_precision": round(empty / max(empty + withheld, 1), 3),
        "empty_recall": round(empty / max(len(unanswerable), 1), 3),
    }


def print_decision(figures: dict[str, float]) -> None:
    print(
        f"answer or not: answers given to answerable questions, precision {figures['answer_precision']:.2f} "
        f"recall {figures['answer_recall']:.2f}; left empty for unanswerable ones, precision "
        f"{figures['empty_precision']:.2f} recall {figures['empty_recall']:.2f}"
    )


def print_table(split: str, table: dict) -> None:
    print(f"\n{split}")
    print(f"{'kind':<12}{'n':>4}{'R@1':>8}{'R@5':>8}{'MRR':>8}{'empty':>8}{'in weak':>9}")
    for kind, row in table.items():
        if kind == "none":
            print(f"{kind:<12}{row['n']:>4}{'':>24}{row['empty']:>8.2f}   <- left empty (want >= 0.75)")
        else:
            print(
                f"{kind:<12}{row['n']:>4}{row['R@1']:>8.2f}{row['R@5']:>8.2f}{row['MRR']:>8.2f}"
                f"{row['empty']:>8.2f}{row['weak']:>9.2f}"
            )


def print_misses(outcomes: list[Outcome], by_file) -> None:
    slugs = {r.id: r.slug for r in by_file.values()}
    for o in outcomes:
        q = o.question
        missed = (o.rank != 1) if q.kind != "none" else bool(o.returned)
        if not missed:
            continue
        want = "" if q.kind == "none" else f" want {q.file} {q.start or 0:.0f}-{q.end or 0:.0f}s"
        print(f"\n[{q.kind} {q.id}] {q.query!r} rank={o.rank}{want}")
        for m in (o.returned or o.weak)[:5]:
            tag = "" if o.returned else "weak "
            print(f"   {tag}{m.score:.3f} {slugs.get(m.recording_id)} @{m.start:.1f}: {m.text[:90]}")


def calibrate(db, by_file, services, qs: list[Question]) -> None:
    """Fit the answer-or-not decision on the dev split and print it, with the trade-off it sets.

    Every dev question is searched with the decision always answering; a logistic model is fitted
    to tell answerable questions from the "none" ones by the evidence (leaving out questions that
    hold every word literally or name a talk: those are always answered). The table shows, for
    each probability threshold, the share of "none" questions left empty and the paraphrase
    recall that remains.
    """
    from search.ranking import Decision

    dev = [q for q in qs if q.split == "dev"]
    searcher = Searcher(
        services.embedder,
        dataclasses.replace(services.searcher.ranking, decision=Decision(bias=50)),
        languages=services.searcher.languages,
    )
    outcomes, rows = evaluate(db, by_file, searcher, dev, keep_evidence=True), []
    for o in outcomes:
        if not (o.evidence.literal or o.evidence.named):
            rows.append(([o.evidence.best_cosine, o.evidence.standout], o.question.kind != "none"))
    x, y = np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=float)
    w = _logistic(x, y)
    decision = Decision(bias=float(w[0]), best_cosine=float(w[1]), standout=float(w[2]))
    print(f"{len(rows)} dev questions decided by evidence ({int((y == 0).sum())} without an answer)")
    print(f"{'threshold':>9}{'none empty':>11}{'para R@1':>9}{'para R@5':>9}{'qa R@5':>8}")
    everything = summarize(outcomes)["paraphrase"]["R@5"]
    chosen = 0.5
    for threshold in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9):
        cut = dataclasses.replace(decision, threshold=threshold)
        table = summarize([_decided(o, cut) for o in outcomes])
        if table["paraphrase"]["R@5"] >= everything - 0.02:
            chosen = threshold
        print(
            f"{threshold:>9.2f}{table['none']['empty']:>11.2f}{table['paraphrase']['R@1']:>9.2f}"
            f"{table['paraphrase']['R@5']:>9.2f}{table['qa']['R@5']:>8.2f}"
        )
    # The rule: the highest threshold at which paraphrase Recall@5 stays within 0.02 of answering everything.
    print(repr(dataclasses.replace(decision, threshold=chosen)))


def _decided(outcome: Outcome, decision) -> Outcome:
    """The outcome had ``decision`` judged the evidence: no answers (only weak ones) if it abstains."""
    e = outcome.evidence
    if e.literal or e.named or decision.answered(e):
        return outcome
    return Outcome(
        outcome.question, None, [], outcome.returned[:3], outcome.rank if outcome.rank and outcome.rank <= 3 else None
    )


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.1, steps: int = 50) -> np.ndarray:
    """Logistic regression by Newton's method with a little L2 (intercept first)."""
    features = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(features.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-features @ w))
        gradient = features.T @ (p - y) + l2 * np.r_[0, w[1:]]
        hessian = features.T @ (features * (p * (1 - p))[:, None]) + l2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
        w -= np.linalg.solve(hessian, gradient)
    return w


# Topical single words no evaluation talk says (checked against the transcripts each run): a member
# who types one must get no answer, only weak matches (issue 25). Chosen without looking at results.
UNSAID_WORDS = (
    "toolkit",
    "podcast",
    "yoga",
    "mindfulness",
    "acupuncture",
    "dementia",
    "vaccination",
    "homelessness",
    "broadband",
    "dentistry",
)


def unsaid_words(db, searcher: Searcher, asked: tuple[str, ...] = UNSAID_WORDS) -> dict[str, list[str]]:
    """Of ``asked`` (``UNSAID_WORDS`` unless told), those answered and those some transcript does
    say after all (left out)."""
    lines = [text for (text,) in db.execute("SELECT text FROM segments")]
    bare = {w: re.escape(w.strip('"')) for w in asked}  # a quoted line is said where its words are
    said = [w for w in asked if any(re.search(rf"\b{bare[w]}\b", line, re.IGNORECASE) for line in lines)]
    answered = [w for w in asked if w not in said and searcher.search(db, w).results]
    return {"answered": answered, "said_after_all": said}


# Well-known lines no evaluation talk says, as a member who misremembers where they heard one might
# type them: never an answer, quoted or not. Written for this check after the answer model was seen
# answering other such lines on the demo talks (those are not among these).
UNSAID_LINES = (
    "a penny saved is a penny earned",
    "the quick brown fox jumps over the lazy dog",
    "houston we have a problem",
    "may the force be with you",
    "life is like a box of chocolates",
    "i have a dream",
    "one small step for man",
    "the only thing we have to fear is fear itself",
    "all that glitters is not gold",
    "an apple a day keeps the doctor away",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="", help="embedding model: a name (archive.core.model_files) or a folder")
    parser.add_argument("--whisper", default="", help="a Whisper model: base, tiny.en or a folder (default: base)")
    parser.add_argument("--rebuild", action="store_true", help="transcribe every recording again")
    parser.add_argument("--misses", nargs="?", const="dev", choices=SPLITS, help="show what missed (dev unless told)")
    parser.add_argument("--calibrate", action="store_true", help="fit the answer-or-not decision on dev and print it")
    parser.add_argument("--answer-all", action="store_true", help="never abstain: the ranking alone")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a tiny run: {' and '.join(SMOKE_FILES)} with {SMOKE_WHISPER}, their questions and the 'none' ones",
    )
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(whisper=SMOKE_WHISPER)
    args = parser.parse_args()

    started = time.perf_counter()
    db, by_file, services = build_archive(args.whisper, args.model, args.rebuild, args.smoke)
    print(
        f"archive: {len(by_file)} recordings, {store.count_rows(db)['passages']} passages, "
        f"model {services.embedder.model_name} ({time.perf_counter() - started:.1f} s to load)"
        + (" [--smoke: a check that it runs, not a measure of quality]" if args.smoke else "")
    )
    qs = [q for q in questions() if q.file is None or q.file in by_file]
    if args.calibrate:
        calibrate(db, by_file, services, qs)
        return 0
    searcher = services.searcher
    if args.answer_all:
        from search.ranking import Decision

        searcher.ranking = dataclasses.replace(searcher.ranking, decision=Decision(bias=50))
    started = time.perf_counter()
    outcomes = evaluate(db, by_file, searcher, qs)
    elapsed = time.perf_counter() - started
    if args.misses:
        print_misses([o for o in outcomes if o.question.split == args.misses], by_file)
    tables = {split: summarize([o for o in outcomes if o.question.split == split]) for split in SPLITS}
    decisions = {split: decision_figures([o for o in outcomes if o.question.split == split]) for split in SPLITS}
    for split in SPLITS:
        print_table(split, tables[split])
        print_decision(decisions[split])
    words = unsaid_words(db, searcher)
    asked = len(UNSAID_WORDS) - len(words["said_after_all"])
    print(
        f"\nsingle words no talk says: {len(words['answered'])} of {asked} answered (want 0)"
        + (f": {', '.join(words['answered'])}" if words["answered"] else "")
        + (f"; left out, a talk says them: {', '.join(words['said_after_all'])}" if words["said_after_all"] else "")
    )
    lines = {
        "unquoted": unsaid_words(db, searcher, UNSAID_LINES),
        "quoted": unsaid_words(db, searcher, tuple(f'"{line}"' for line in UNSAID_LINES)),
    }
    for way, found in lines.items():
        print(
            f"well-known lines no talk says, {way}: {len(found['answered'])} of "
            f"{len(UNSAID_LINES) - len(found['said_after_all'])} answered (want 0)"
            + (f": {', '.join(found['answered'])}" if found["answered"] else "")
        )
    print(f"\n{len(qs)} questions in {elapsed:.1f} s ({1000 * elapsed / len(qs):.0f} ms each)")
    print(
        json.dumps(
            {
                "model": services.embedder.model_name,
                "ranking": dataclasses.asdict(searcher.ranking),
                **tables,
                "decision": decisions,
                "unsaid_words": words,
                "unsaid_lines": lines,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
