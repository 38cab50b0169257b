"""Fits the reading stage (``search/reader.json``) on the train split, chooses its threshold on dev,
and reports dev and test side by side, with the reader and without it.

The train split is ``bench/train/scripts-*.json``: invented webinar and talk scripts with member
questions (paraphrases, Q&A, remembered phrases, names, and near misses nothing answers), written
for training only; no evaluation talk or question is among them (``bench/train/README.md``). They
are indexed as transcripts (one segment a sentence, timed by its words) with the archive's own
indexing and search model, in an archive of their own.

1. Every train question is searched with a blank reader; each candidate moment's signals
   (``search.reader.MOMENT_SIGNALS``) are kept, labelled by whether it is the answer (its talk,
   starting at most 15 s before the answer and not after it: the evaluation's rule).
2. The moment model (one hidden layer, pointwise cross-entropy) is fitted on those.
3. The train questions are searched again with it, and its remembered phrases once more with
   their own file's scripts out of sight (``hidden_reads``: near misses of another kind); the
   answer-or-not model (logistic) is fitted on the query signals and query embeddings of those the
   decision weighs (not literal, not a named talk), once for each strength of regularisation in
   ``ANSWER_L2``.
4. On the dev split of ``bench/bench_eval.py``'s archive: the talk penalty is the one with the best
   paraphrase and Q&A Recall@5 (then R@1, MRR); for each answer model the threshold is the highest
   at which at most ``MAX_WITHHELD`` of the answerable questions are left without answers, and the
   model kept is the one that then leaves the most near misses empty; the reader decides
   answer-or-not only if it leaves more dev near misses empty than ``search.ranking.Decision``.
5. ``search/reader.json`` is written and both splits are reported, test for reporting only.

    .venv/bin/python bench/train/fit_reader.py            # fit, choose on dev, write, report (~6 min with the train archive cached, ~28 cold)
    .venv/bin/python bench/train/fit_reader.py --report   # only report the reader as it is
    .venv/bin/python bench/train/fit_reader.py --smoke    # a check that it runs (two scripts, the smoke archive); writes nothing
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_eval  # noqa: E402

from archive.core.config import load_config  # noqa: E402
from archive.core.store import connect, write_transaction  # noqa: E402
from archive.core.store import recordings as store  # noqa: E402
from archive.core.store.records import RecordingMeta, Segment  # noqa: E402
from archive.library import Archive  # noqa: E402
from search.engine import Searcher  # noqa: E402
from search.index import reindex_talk  # noqa: E402
from search.reader import WEIGHTS, Reader  # noqa: E402

TRAIN_DIR = ROOT / "bench" / "train"
CACHE_DIR = ROOT / "bench" / ".cache" / "train"
WORDS_PER_SECOND = 2.6  # the presenters of the evaluation webinars speak at about 150 words a minute
SENTENCE_PAUSE, TURN_PAUSE = 0.3, 0.9
HIDDEN_UNITS = 12
MAX_WITHHELD = 0.05  # issue 25: answerable questions left without answers, at most
# The answer model reads a 768-dimension embedding from about 1,600 train questions: it needs
# strong regularisation (the L2 penalty of Newton's method, as 1/C in scikit-learn's terms). Dev
# chooses among these; before this script had the choice, a sweep by hand gave dev AUC 0.89-0.91
# from 30 to 1000 (train AUC 0.96-0.99, so weaker penalties learn the train questions by heart).
ANSWER_L2 = (30.0, 100.0, 300.0, 1000.0)
SEED = 20261205


@dataclass
class TrainQuestion:
    id: str
    kind: str
    query: str
    slug: str
    start: float | None = None
    end: float | None = None


def script_files(smoke: bool) -> list[Path]:
    files = sorted(TRAIN_DIR.glob("scripts-*.json"))
    return files[:1] if smoke else files


# Whisper's errors on the evaluation webinars (bench/eval/README.md, tiny.en and base runs): names
# and other rare words misspelt, split or run together ("Remeka Nwachukwu", "Connictados", "shimena
# Echeverri"); common words mostly right. The scripts are clean text, so the reader would learn
# that a name is always said as typed; these rates make them read more like a transcript.
NAME_MISHEARD = 0.4
WORD_MISHEARD = 0.03
VOWELS = "aeiou"


def misheard(text: str, rng: random.Random) -> str:
    """``text`` with the kind of errors Whisper makes (seeded: the same script gives the same text)."""
    words = text.split(" ")
    for i, word in enumerate(words):
        core = word.strip(".,;:!?\"'()")
        if len(core) < 4 or not core.isalpha():
            continue
        name = core[0].isupper() and i > 0
        if rng.random() >= (NAME_MISHEARD if name else WORD_MISHEARD):
            continue
        letters = list(core)
        edit = rng.choice(("vowel", "drop", "double", "split", "lower") if name else ("vowel", "drop", "double"))
        k = rng.randrange(1, len(letters) - 1)
        if edit == "vowel" and letters[k].lower() in VOWELS:
            letters[k] = rng.choice(VOWELS.replace(letters[k].lower(), ""))
        elif edit == "drop":
            del letters[k]
        elif edit == "double":
            letters.insert(k, letters[k])
        elif edit == "split" and len(letters) >= 6:
            letters.insert(k, " ")
        else:
            letters = list(core.lower())
        words[i] = word.replace(core, "".join(letters), 1)
    return " ".join(words)


def timed_talk(talk: dict) -> tuple[list[Segment], list[TrainQuestion]]:
    """The script as one segment a sentence, timed by its words, and its questions with answer times."""
    segments: list[Segment] = []
    spans: list[tuple[int, int, int]] = []  # (turn, first char, last char) of each segment
    clock = 0.0
    rng = random.Random(talk["slug"])
    for t, turn in enumerate(talk["turns"]):
        for match in re.finditer(r"\S.*?(?:[.!?](?=\s|$)|$)", turn["text"], flags=re.S):
            text = match.group().strip()
            if not text:
                continue
            seconds = max(0.8, len(text.split()) / WORDS_PER_SECOND)
            segments.append(Segment(round(clock, 2), round(clock + seconds, 2), misheard(text, rng)))
            spans.append((t, match.start(), match.end()))
            clock += seconds + SENTENCE_PAUSE
        clock += TURN_PAUSE - SENTENCE_PAUSE
    questions = []
    for i, q in enumerate(talk["questions"]):
        question = TrainQuestion(f"{talk['slug']}-{i:02d}", q["kind"], q["query"], talk["slug"])
        if q.get("answer"):
            turn = next(t for t, turn in enumerate(talk["turns"]) if q["answer"] in turn["text"])
            first = talk["turns"][turn]["text"].index(q["answer"])
            last = first + len(q["answer"])
            hit = [k for k, (t, a, b) in enumerate(spans) if t == turn and a < last and b > first]
            question.start, question.end = segments[hit[0]].start, segments[hit[-1]].end
        questions.append(question)
    return segments, questions


def talk_hash(talk: dict) -> str:
    """What the train archive knows a script by: its slug and its content, so an edited script is indexed again."""
    content = json.dumps([talk, NAME_MISHEARD, WORD_MISHEARD], sort_keys=True).encode()
    return f"{talk['slug']}-{hashlib.sha256(content).hexdigest()[:12]}"


def train_archive(smoke: bool):
    """(db, recording id by slug, questions, services): the train scripts indexed (each kept until it changes)."""
    talks = [talk for path in script_files(smoke) for talk in json.loads(path.read_text())["talks"]][
        : 2 if smoke else None
    ]
    services = Archive(load_config({"data_dir": CACHE_DIR / ("smoke" if smoke else "archive")}, environ={}))
    db = connect(services.config.db_path)
    wanted = {talk_hash(talk) for talk in talks}
    if any(recording.media_hash not in wanted for recording in store.list_recordings(db)):
        db.close()  # a script was edited or is gone: index them all again
        shutil.rmtree(services.config.data_dir)
        db = connect(services.config.db_path)
    questions: list[TrainQuestion] = []
    ids = {}
    started, indexed = time.perf_counter(), 0
    for talk in talks:
        segments, asked = timed_talk(talk)
        questions += asked
        found = store.get_recording_by_hash(db, talk_hash(talk))
        if found is None:
            meta = RecordingMeta.from_dict({**talk, "organization": talk.get("organisation", ""), "synthetic": True})
            with write_transaction(db):
                found_id = store.insert_recording(
                    db,
                    meta,
                    duration=segments[-1].end,
                    media_path="",
                    media_hash=talk_hash(talk),
                    media_kind="audio",
                    original_filename=f"{talk['slug']}.txt",
                    language="en",
                    model="script",
                )
                store.replace_segments(db, found_id, segments)
            reindex_talk(db, found_id, services.embedder)
            found, indexed = store.get_recording(db, found_id), indexed + 1
        assert found is not None
        ids[talk["slug"]] = found.id
    if indexed:
        print(f"  indexed {indexed} train scripts in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return db, ids, questions, services


def is_hit(moment, question, recording_id: int) -> bool:
    return (
        question.start is not None
        and moment.recording_id == recording_id
        and question.start - bench_eval.EARLY_SECONDS <= moment.start <= question.end
    )


def read_all(db, ids, questions, searcher: Searcher):
    """Each question's response, searched with the decision answering everything."""
    return [(q, searcher.search(db, q.query, limit=10)) for q in questions]


def moment_rows(responses, ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y, group = [], [], []
    for g, (q, response) in enumerate(responses):
        for moment in response.evidence.read:
            x.append(moment.signals)
            y.append(float(q.kind != "none" and is_hit(moment, q, ids[q.slug])))
            group.append(g)
    return np.array(x), np.array(y), np.array(group)


def fit_moments(x: np.ndarray, y: np.ndarray, units: int = HIDDEN_UNITS) -> dict:
    """A one-hidden-layer network with a linear path beside it, by pointwise cross-entropy (torch, CPU)."""
    import torch

    torch.manual_seed(SEED)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    xs = torch.tensor((x - mean) / scale, dtype=torch.float32)
    ys = torch.tensor(y, dtype=torch.float32)
    hidden, linear = torch.nn.Linear(x.shape[1], max(units, 1)), torch.nn.Linear(x.shape[1], 1)
    out = torch.nn.Linear(max(units, 1), 1, bias=False)
    if not units:  # linear only: the hidden path stays at zero
        for weight in (*hidden.parameters(), *out.parameters()):
            torch.nn.init.zeros_(weight)
            weight.requires_grad_(False)
    params = [p for p in (*hidden.parameters(), *linear.parameters(), *out.parameters()) if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=0.02, weight_decay=1e-3)
    positive = float((1 - y).sum() / max(y.sum(), 1))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(min(positive, 5.0)))
    for _ in range(600):
        optimiser.zero_grad()
        logits = out(torch.relu(hidden(xs))).squeeze(1) + linear(xs).squeeze(1)
        loss = loss_fn(logits, ys)
        loss.backward()
        optimiser.step()
    return {
        "mean": mean,
        "scale": scale,
        "hidden": hidden.weight.detach().numpy().astype(float),
        "hidden_bias": hidden.bias.detach().numpy().astype(float),
        "out": out.weight.detach().numpy()[0].astype(float),
        "linear": linear.weight.detach().numpy()[0].astype(float),
        "out_bias": float(linear.bias.detach().numpy()[0]),
    }


# Kinds of train question also asked with their file's seven scripts out of sight (``hidden_reads``).
# Chosen on dev. Names as well left more dev near misses empty (0.76 against 0.68) but cost dev name
# questions at rank 1 (0.93 -> 0.89), which the search issue wants all answered; paraphrases and
# Q&A questions as well (2,785 rows, 1,713 unanswered) left fewer empty (0.64).
HIDDEN_KINDS = ("exact",)


def hidden_reads(db, ids, questions, searcher: Searcher) -> list:
    """The train's remembered phrases (``HIDDEN_KINDS``) asked as if no talk had said them: each file's seven
    scripts hidden (made members-only, searched as staff-only) while its questions are searched,
    then shown again. Without these the answer model met remembered phrases only as answerable
    ones and answered any fluent line ("it was the best of times" at 0.98 on the demo talks); the
    written near misses are all questions."""
    from archive.core.store.recordings import RecordingFilter

    file_of = {
        talk["slug"]: path.stem for path in script_files(False) for talk in json.loads(path.read_text())["talks"]
    }
    out_of_sight = RecordingFilter(visibility=("staff",))
    responses = []
    for file in sorted({file_of[q.slug] for q in questions if q.slug in file_of}):
        hidden = [ids[slug] for slug, f in file_of.items() if f == file and slug in ids]
        asked = [q for q in questions if file_of.get(q.slug) == file and q.kind in HIDDEN_KINDS]
        for recording_id in hidden:
            store.set_visibility(db, recording_id, "members")
        try:
            for q in asked:
                unsaid = dataclasses.replace(q, kind="none", start=None, end=None)
                responses.append((unsaid, searcher.search(db, q.query, limit=10, filters=out_of_sight)))
        finally:
            for recording_id in hidden:
                store.set_visibility(db, recording_id, "staff")
    return responses


def decided_by_evidence(response) -> bool:
    """Whether the answer-or-not model is what decides this query (not literal, not a named talk, not short)."""
    e = response.evidence
    return e.reading is not None and not (e.literal or e.named or e.said_misheard)


def fit_answer(responses, l2: float) -> dict:
    rows = [(r.evidence.reading, q.kind != "none") for q, r in responses if decided_by_evidence(r)]
    x = np.array([row[0] for row in rows])
    y = np.array([row[1] for row in rows], dtype=float)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    w = bench_eval._logistic((x - mean) / scale, y, l2=l2)
    print(
        f"  answer model (l2 {l2:g}): {len(rows)} train questions ({int((y == 0).sum())} without an answer)",
        file=sys.stderr,
    )
    return {"answer_mean": mean, "answer_scale": scale, "answer_weights": w[1:], "answer_bias": float(w[0])}


def choose_answer_model(train_responses, dev_outcomes, reader: Reader) -> Reader:
    """Of the answer models fitted on train (one per ``ANSWER_L2``), each at its own dev threshold,
    the one that leaves the most dev near misses empty (the stronger penalty on a tie)."""
    best: tuple = ()
    for l2 in ANSWER_L2:
        tried = dataclasses.replace(reader, **fit_answer(train_responses, l2))
        tried = dataclasses.replace(tried, threshold=choose_threshold(dev_outcomes, tried))
        held, empty = withheld(dev_outcomes, tried, tried.threshold)
        print(f"  l2 {l2:g}: threshold {tried.threshold:.2f}, dev withheld {held:.2f}, near misses empty {empty:.2f}")
        if not best or empty >= best[0]:
            best = (empty, tried)
    return best[1]


def eval_outcomes(db, by_file, searcher: Searcher, qs):
    """bench_eval's outcomes, each with its evidence (the reader's probability among it)."""
    return bench_eval.evaluate(db, by_file, searcher, qs, keep_evidence=True)


def beyond_any_threshold(outcomes) -> set[str]:
    """Ids of the answerable questions left without answers with the threshold at 0 (``outcomes``
    searched so): no threshold answers them."""
    return {o.question.id for o in outcomes if o.question.kind != "none" and not o.returned}


def withheld(outcomes, reader: Reader, threshold: float) -> tuple[float, float]:
    """(share of answerable questions left without answers, share of 'none' ones left empty) at ``threshold``.

    ``outcomes`` are searched with the threshold at 0; an answerable question left without answers
    even then (a word or two no talk says as typed, a name Whisper misheard past recognition) is one
    no threshold can answer, and is left out of the share: with the 30 dev name searches added on
    December 8 (10 of them left empty that way, 6% of the answerable) every threshold broke the 5% and
    the rule chose none."""
    beyond = beyond_any_threshold(outcomes)
    answerable = [o for o in outcomes if o.question.kind != "none" and o.question.id not in beyond]
    none = [o for o in outcomes if o.question.kind == "none"]

    def empty(o) -> bool:
        e = o.evidence
        if not o.returned:
            return True  # the short-query rule, or nothing at all
        if e.literal or e.named or e.said_misheard or e.reading is None:
            return False
        return reader.answer_probability(e.reading) < threshold

    return (
        sum(map(empty, answerable)) / max(len(answerable), 1),
        sum(map(empty, none)) / max(len(none), 1),
    )


def reader_decides_better(db, by_file, services, dev, reader: Reader, unanswerable: set[str]) -> bool:
    """Whether the reader's answer-or-not model, at its threshold, leaves more of the dev near misses
    empty than ``search.ranking.Decision`` does with the reader's ranking (both within MAX_WITHHELD of
    the answerable questions but ``unanswerable``, those no threshold answers: ``withheld``)."""
    shares = {}
    for decides in (True, False):
        tried = dataclasses.replace(reader, decides=decides)
        searcher = Searcher(services.embedder, languages=services.config.whisper_languages, reader=tried)
        outcomes = bench_eval.evaluate(db, by_file, searcher, dev)
        answerable = [o for o in outcomes if o.question.kind != "none" and o.question.id not in unanswerable]
        none = [o for o in outcomes if o.question.kind == "none"]
        held = sum(not o.returned for o in answerable) / max(len(answerable), 1)
        empty = sum(not o.returned for o in none) / max(len(none), 1)
        shares[decides] = empty if held <= MAX_WITHHELD else -1.0
        print(
            f"  dev, decided by {'the reader' if decides else 'Decision'}: withheld {held:.2f}, none empty {empty:.2f}"
        )
    return shares[True] > shares[False]


def choose_threshold(outcomes, reader: Reader) -> float:
    """The highest threshold (in hundredths) that withholds at most ``MAX_WITHHELD`` of the answerable questions."""
    chosen = 0.0
    for threshold in np.round(np.arange(0.01, 1.0, 0.01), 2):
        if withheld(outcomes, reader, float(threshold))[0] <= MAX_WITHHELD:
            chosen = float(threshold)
    return chosen


PENALTIES = (0.0, 0.02, 0.05, 0.1)


def choose_knobs(db, by_file, services, dev, reader: Reader) -> Reader:
    """The talk penalty with the best dev paraphrase and Q&A Recall@5, then R@1, then MRR."""
    print(f"{'penalty':>8}{'para R@1':>9}{'para R@5':>9}{'qa R@5':>8}")
    best: tuple = ()
    for penalty in PENALTIES:
        tried = dataclasses.replace(reader, talk_penalty=penalty)
        searcher = Searcher(services.embedder, languages=services.config.whisper_languages, reader=tried)
        table = bench_eval.summarize(bench_eval.evaluate(db, by_file, searcher, dev))
        para, qa = table["paraphrase"], table.get("qa", {"R@1": 0.0, "R@5": 0.0, "MRR": 0.0})
        print(f"{penalty:>8.2f}{para['R@1']:>9.2f}{para['R@5']:>9.2f}{qa['R@5']:>8.2f}")
        key = (para["R@5"] + qa["R@5"], para["R@1"] + qa["R@1"], para["MRR"] + qa["MRR"], -penalty)
        if not best or key > best[0]:
            best = (key, tried)
    print(f"chosen: penalty {best[1].talk_penalty}")
    return best[1]


def report(db, by_file, services, qs, reader: Reader | None, label: str) -> dict:
    searcher = Searcher(
        services.embedder, languages=services.config.whisper_languages, reader=reader, query_cache=False
    )
    outcomes = bench_eval.evaluate(db, by_file, searcher, qs, keep_evidence=True)
    tables = {}
    for split in bench_eval.SPLITS:
        group = [o for o in outcomes if o.question.split == split]
        tables[split] = bench_eval.summarize(group)
        answerable = [o for o in group if o.question.kind != "none"]
        tables[split]["answerable"] = {
            "n": len(answerable),
            "withheld": round(sum(not o.returned for o in answerable) / max(len(answerable), 1), 3),
            **bench_eval.decision_figures(group),
        }
    print(f"\n== {label}")
    for split in bench_eval.SPLITS:
        bench_eval.print_table(split, {k: v for k, v in tables[split].items() if k != "answerable"})
        print(f"answerable withheld: {tables[split]['answerable']['withheld']:.2f} (want <= {MAX_WITHHELD})")
        bench_eval.print_decision(tables[split]["answerable"])
    return tables


class RememberedQueries:
    """The search model, each query embedded once per run: the fit asks the same questions of several
    searchers (in ``--smoke``, 21 of its 35 s went to embedding them again); documents pass straight through."""

    def __init__(self, embedder):
        self.embedder = embedder
        self.model_name = embedder.model_name
        self._vectors: dict[str, np.ndarray] = {}

    def load(self):
        return self.embedder.load()

    def embed_documents(self, texts, title: str = "") -> np.ndarray:
        return self.embedder.embed_documents(texts, title=title)

    def embed_query(self, text: str) -> np.ndarray:
        if text not in self._vectors:
            self._vectors[text] = self.embedder.embed_query(text)
        return self._vectors[text]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="two scripts and the smoke archive; writes nothing")
    parser.add_argument("--report", action="store_true", help="report the fitted reader without fitting")
    parser.add_argument("--units", type=int, default=HIDDEN_UNITS, help="hidden units of the moment model (0: linear)")
    parser.add_argument("--dry-run", action="store_true", help="fit and report, but do not write search/reader.json")
    parser.add_argument(
        "--questions-from",
        metavar="LETTERS",
        help="fit on the questions of these script files only (e.g. abcdef), every script still searched: an ablation",
    )
    args = parser.parse_args()
    if args.questions_from and any(not (TRAIN_DIR / f"scripts-{c}.json").is_file() for c in args.questions_from):
        parser.error(
            f"--questions-from: each letter must name a bench/train/scripts-X.json, not {args.questions_from!r}"
        )

    started = time.perf_counter()
    eval_db, by_file, eval_services = bench_eval.build_archive(
        bench_eval.SMOKE_WHISPER if args.smoke else "", "", False, args.smoke
    )
    eval_services.embedder = RememberedQueries(eval_services.embedder)
    qs = [q for q in bench_eval.questions() if q.file is None or q.file in by_file]
    model = eval_services.embedder.model_name
    if args.report:
        fitted = Reader.from_dict(json.loads(WEIGHTS.read_text()))
        report(eval_db, by_file, eval_services, qs, None, "without the reader")
        report(eval_db, by_file, eval_services, qs, fitted, "with the reader")
        return 0

    db, ids, train_qs, services = train_archive(args.smoke)
    if args.questions_from:
        kept = {
            talk["slug"]
            for letter in args.questions_from
            for talk in json.loads((TRAIN_DIR / f"scripts-{letter}.json").read_text())["talks"]
        }
        train_qs = [q for q in train_qs if q.slug in kept]
    services.embedder = RememberedQueries(services.embedder)
    kinds = {k: sum(q.kind == k for q in train_qs) for k in bench_eval.KINDS}
    print(f"train: {len(ids)} scripts, {len(train_qs)} questions {kinds}", file=sys.stderr)
    blank = Reader.blank(model, dimensions=len(services.embedder.embed_query("a question")))
    first = Searcher(services.embedder, languages=services.config.whisper_languages, reader=blank, query_cache=False)
    x, y, _ = moment_rows(read_all(db, ids, train_qs, first), ids)
    print(f"  moment model: {len(x)} candidate moments, {int(y.sum())} of them answers", file=sys.stderr)
    reader = dataclasses.replace(blank, **fit_moments(x, y, args.units))
    second = Searcher(services.embedder, languages=services.config.whisper_languages, reader=reader, query_cache=False)
    train_responses = read_all(db, ids, train_qs, second) + hidden_reads(db, ids, train_qs, second)

    dev = [q for q in qs if q.split == "dev"]
    reader = choose_knobs(eval_db, by_file, eval_services, dev, dataclasses.replace(reader, threshold=0.0))
    dev_searcher = Searcher(
        eval_services.embedder, languages=eval_services.config.whisper_languages, reader=reader, query_cache=False
    )
    dev_outcomes = eval_outcomes(eval_db, by_file, dev_searcher, dev)
    reader = choose_answer_model(train_responses, dev_outcomes, reader)
    decides = reader_decides_better(eval_db, by_file, eval_services, dev, reader, beyond_any_threshold(dev_outcomes))
    reader = dataclasses.replace(reader, decides=decides)
    reader = dataclasses.replace(
        reader,
        about=(
            f"Fitted by bench/train/fit_reader.py on {len(ids)} train scripts and {len(train_qs)} questions; "
            f"threshold chosen on dev (answerable withheld <= {MAX_WITHHELD})."
        ),
    )
    if not (args.smoke or args.dry_run):
        WEIGHTS.write_text(json.dumps(reader.to_dict(), indent=1) + "\n")
        print(f"wrote {WEIGHTS.relative_to(ROOT)}", file=sys.stderr)
    without = report(eval_db, by_file, eval_services, qs, None, "without the reader")
    with_reader = report(eval_db, by_file, eval_services, qs, reader, "with the reader")
    print(f"\n({time.perf_counter() - started:.0f} s)")
    print(json.dumps({"threshold": reader.threshold, "without": without, "with": with_reader}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
