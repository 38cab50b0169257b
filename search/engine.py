"""The searcher: hybrid search over the passages, finding the talks that answer a query and the moment in each.

``Searcher`` does the reading (the in-memory vectors, FTS5, the passages' and segments' rows, the
reader's model) and runs the steps below; the rules it applies, pure and tunable on their own,
are in ``search.ranking``, and what it returns (``SearchResponse``, ``Moment``, ``Evidence``) in
``search.results``.

1. **Candidates**: the passages nearest the query's embedding (in-memory matrix, ``search.vectors``),
   the passages FTS5 ranks best for its words (BM25, Porter stems, quoted phrases, ``word*``, and
   the spellings Whisper may have written for words the transcripts never contain), and the best
   passages of the talks whose details (speakers, host, organisation, title) name what the query names
   (``search.names``).
2. Each candidate scores ``cosine + keyword_weight * coverage``: coverage is the share of the
   query's word weight (BM25 IDF) the passage holds, a word its talk's details name counting
   nearly in full and a misheard spelling at a discount. A question phrased in other words is
   carried by the cosine; a name, rare word or remembered phrase by the coverage, which lifts
   the passages that hold every word above every passage that does not.
3. The best passages are split into their segments. Each segment's window (``segment_vectors``)
   is scored the same way, and the moment starts at the best segment: where the answer begins.
   A query that is only a name lands where the talk it names says it (or at its start).
   **The reader** (``search.reader``), a small model fitted on a train split no evaluation talk is
   in, then orders the moments by all their signals together (``Searcher._read`` assembles them);
   without one (another embedding model), the formula's score orders them.
4. **Answer or not** (``search.ranking.is_answered``): a query whose every word a passage holds, or
   that names a talk, is answered. Otherwise the reader's answer model decides, from what the
   reader found and the query's own embedding (what it asks about), fitted on the train split;
   without a reader, ``Decision``: how close the best moment is in meaning alone and how far the
   nearest passage stands out from the next ones. A query not answered has no results; its
   nearest moments come back as ``weak_results``. A query of a few words that no passage says
   is not answered by meaning, and a greeting, thanks or outro is never an answer.
5. **Shown honestly**: each moment says how it matches (``Moment.match``: it says the query's
   words, its talk's details name them, it says words spelled close to them, or it is only similar
   in meaning), and a talk's further moments rank a little lower each, so one talk does not fill
   the top (``search.ranking.spread_talks``).

Every number here was chosen with ``bench/bench_eval.py`` on its dev split (README, "Search, measured").
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from archive.core.errors import UserError
from archive.core.store import read_transaction
from archive.core.store import recordings as store
from archive.core.store.recordings import RecordingFilter
from search import names
from search.asides import find_asides
from search.embedder import Embedder
from search.ranking import (
    CLOSE_WORDING,
    DECISIONS,
    Candidate,
    Decision,
    QueryWords,
    Ranking,
    answers_among,
    distinct_moments,
    grouped_by_talk,
    holds_every_word,
    is_answered,
    is_courtesy,
    is_short,
    nearest_wording,
    rank_key,
    spread_talks,
)
from search.reader import MOMENT_SIGNALS, Reader, query_reading
from search.reader import load as load_reader
from search.results import Evidence, Moment, SearchResponse, with_snippets, with_talk_details
from search.text import STOPWORDS, ParsedQuery, language_stems, parse_query, stems
from search.text import words as split_words
from search.vectors import VectorIndex

SORTS = ("relevance", "date")
# A moment shows the line it starts at and the two after it.
MOMENT_LINES = 3
MAX_LIMIT = 100
QUERY_CACHE_SIZE = 512


class SearchError(UserError):
    """A query or filter the archive cannot search with; the message is for the person who asked."""


# Search filters are the store's recording filters: one rule for listings, search and related moments.
SearchFilters = RecordingFilter


class Searcher:
    """Runs searches with one embedder, keeping each database's vectors in memory (``search.vectors``).

    Built once per process from the archive's configuration; safe to share between threads.
    """

    def __init__(
        self,
        embedder: Embedder,
        ranking: Ranking | None = None,
        *,
        query_cache: bool = True,
        languages: tuple[str, ...] = (),
        reader: Reader | None | str = "fitted",
    ):
        self.embedder = embedder
        # The reading stage (``search.reader``), for the embedding model it was fitted on; None: rank
        # by the cosine and keyword formula and decide by ``Decision`` alone.
        if reader == "fitted":
            fitted = load_reader()
            reader = fitted if fitted is not None and fitted.model == embedder.model_name else None
        self.reader: Reader | None = reader if isinstance(reader, Reader) else None
        # The talks' languages besides English: query words also match their stems in those.
        self.languages = tuple(language for language in languages if language != "en")
        self.ranking = ranking or Ranking(decision=DECISIONS.get(embedder.model_name, Decision()))
        self.query_cache = query_cache  # off in benchmarks, so every timing includes embedding the query
        self._query_vectors: dict[str, np.ndarray] = {}  # the last few hundred: people page and refine
        self._snapshots: dict[str, VectorIndex] = {}
        self._vocabularies: tuple[Any, list[str]] = (None, [])
        self._lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        """The query's vector, remembered for repeats unless ``query_cache`` is off."""
        with self._lock:
            cached = self._query_vectors.get(text)
        if cached is not None:
            return cached
        vector = self.embedder.embed_query(text)
        if self.query_cache:
            with self._lock:
                if len(self._query_vectors) >= QUERY_CACHE_SIZE:
                    self._query_vectors.pop(next(iter(self._query_vectors)))
                self._query_vectors[text] = vector
        return vector

    def _vocabulary(self, db: Database, index: VectorIndex) -> list[str]:
        """The transcripts' vocabulary (``names.vocabulary``), read again only when the index changed."""
        key = (_database_key(db), index.head)
        with self._lock:
            if self._vocabularies[0] == key:
                return self._vocabularies[1]
        found = names.vocabulary(db)
        with self._lock:
            self._vocabularies = (key, found)
        return found

    def vectors(self, db: Database) -> VectorIndex:
        """This database's passage vectors as of now (call inside the search's read transaction)."""
        key = _database_key(db)
        with self._lock:
            index = self._snapshots.get(key) or VectorIndex(self.embedder.model_name)
            self._snapshots[key] = index = index.updated(db)
        return index

    def search(
        self,
        db: Database,
        query: str,
        *,
        limit: int = 10,
        filters: RecordingFilter | None = None,
        sort: str = "relevance",
    ) -> SearchResponse:
        """The moments that answer ``query``, grouped by recording, best first (or newest first).

        ``filters.visibility`` limits everything the search reads, snippets included, to the
        talks the asker may see.
        """
        parsed = parse_query(query, self.languages)
        if parsed.empty:
            raise SearchError("type a word or a question to search for")
        if not parsed.phrases and parsed.terms and all(term.word in STOPWORDS for term in parsed.terms):
            raise SearchError(
                f"“{parsed.text}” is too common to search for: add words that say what you are looking for"
            )
        if sort not in SORTS:
            raise SearchError(f"sort must be one of: {', '.join(SORTS)}")
        limit = max(1, min(int(limit), MAX_LIMIT))
        notice = "Your query was long, so only its first words were searched." if parsed.shortened else ""
        wanted = filters or RecordingFilter()
        query_vector = self.embed_query(parsed.text)
        ranking = self.ranking
        with read_transaction(db):
            allowed = _allowed(db, wanted)
            if allowed is not None and not len(allowed):
                return SearchResponse(parsed.text, [], notice=notice)
            asides = find_asides(db, parsed, wanted)
            index = self.vectors(db)
            moments, evidence = self._rank(db, index, parsed, query_vector, allowed, wanted)
            quoted = parsed.phrase_words
            typed = [split_words(parsed.text)]  # the query's words as one phrase: its nearest wording
            if quoted and not evidence.literal:
                # Nothing says it word for word (Whisper may have misheard a word of it): the
                # nearest wording, said as such, rather than nothing, where it comes close.
                parsed = parse_query(parsed.text.replace('"', " "), self.languages)
                moments, evidence = self._rank(db, index, parsed, query_vector, allowed, wanted)
                evidence.wording = nearest_wording(quoted, [m.text for m in moments])
                notice = notice or "No talk has those exact words; these come closest."
            elif moments and not evidence.literal and len(parsed.terms) > 1:
                # A name, term or remembered line Whisper misheard ("Henrik Minnesota" said as
                # "Henryk from Minnesota"), typed without quotes: answered where its nearest wording
                # comes as close as a quoted phrase's must. On dev no near miss came closer than 0.73,
                # nor any well-known line no talk says. Single words are left to the short-query rule:
                # a word's nearest neighbour ("dentist" for "dentistry") is too often another word.
                # (0.2 ms for a 17-word question against three moments of 40 words)
                evidence.said_misheard = nearest_wording(typed, [m.text for m in moments[:3]]) >= CLOSE_WORDING
            answered = is_answered(parsed, evidence, ranking.decision, self.reader)
            answers = answers_among(moments, parsed, ranking.answer_margin) if answered else []
            if evidence.said_misheard:  # each answer that says it so is labelled "says words close to these"
                for moment in answers:
                    moment.close_wording = nearest_wording(typed, [moment.text]) >= CLOSE_WORDING
            weak = [] if answers else moments[: ranking.weak_results]
            recordings = store.get_recordings(db, {m.recording_id for m in answers + weak})
        results = with_talk_details(recordings, answers)
        # By date, the talks keep their order (newest first), each with its moments, best first.
        penalty = (
            (self.reader.talk_penalty if self.reader else ranking.more_from_talk_penalty)
            if sort == "relevance"
            else None
        )
        results = with_snippets(
            spread_talks(grouped_by_talk(results, sort, ranking.moments_per_talk), penalty)[:limit], parsed
        )
        weak = with_snippets(with_talk_details(recordings, weak), parsed)
        shown = {m.recording_id for m in results + weak}
        return SearchResponse(
            parsed.text, results, weak, notice, {k: v for k, v in recordings.items() if k in shown}, evidence, asides
        )

    def related(
        self, db: Database, recording_id: int, at: float, *, limit: int = 5, visibility: tuple[str, ...] | None = None
    ) -> list[Moment]:
        """Moments in other recordings (at the ``visibility`` levels) closest to what is said at ``at`` seconds."""
        with read_transaction(db):
            row = db.execute(
                "SELECT id FROM passages WHERE recording_id = ? ORDER BY "
                "CASE WHEN start <= ? AND ? < end THEN 0 ELSE 1 END, ABS(start - ?) LIMIT 1",
                [recording_id, at, at, at],
            ).fetchone()
            if row is None:
                return []
            index = self.vectors(db)
            vector = index.vector(row[0])
            if vector is None:
                return []
            wanted = store.visible_only(visibility)
            others = np.setdiff1d(np.asarray(store.matching_ids(db, wanted), np.int64), [recording_id])
            if not len(others):
                return []
            hits = index.search(vector, self.ranking.dense_candidates, others)
            cosines = dict(zip(hits.passage_ids.tolist(), hits.scores.tolist(), strict=True))
            candidates = _load_candidates(db, list(cosines), wanted)
            for candidate in candidates:
                candidate.cosine = cosines[candidate.passage_id]
            nothing = parse_query("")
            words = QueryWords(nothing, {}, names.Alternatives(), {}, self.ranking)
            moments = distinct_moments(
                sorted(self._moments(db, candidates, words, vector), key=rank_key, reverse=True),
                self.ranking.same_moment_seconds,
            )
            answers = [m for m in moments if m.score >= self.ranking.related_threshold and not is_courtesy(m.text)]
            answers = grouped_by_talk(answers, "relevance", self.ranking.moments_per_talk)[:limit]
            recordings = store.get_recordings(db, {m.recording_id for m in answers})
        return with_snippets(with_talk_details(recordings, answers), nothing)

    # -- steps -------------------------------------------------------------------------------

    def _rank(
        self,
        db: Database,
        index: VectorIndex,
        parsed: ParsedQuery,
        query_vector: np.ndarray,
        allowed: np.ndarray | None,
        wanted: RecordingFilter,
    ) -> tuple[list[Moment], Evidence]:
        """Every candidate moment, best first and one per place in a talk, and the evidence for the decision."""
        words = self._words(db, index, parsed, wanted)
        candidates, evidence = self._candidates(db, index, words, query_vector, allowed, wanted)
        moments = self._moments(db, candidates, words, query_vector, wanted.speaker)
        logits = self._read(moments, words)
        read = [m for m in moments if m.signals is not None]
        moments = moments + self._named_moments(db, words)
        moments = distinct_moments(sorted(moments, key=rank_key, reverse=True), self.ranking.same_moment_seconds)
        if moments:
            evidence.best_cosine = max(m.cosine for m in moments[:3])
            evidence.literal = moments[0].literal
        if logits:
            evidence.reading = query_reading(_query_signals(logits, moments, evidence, parsed), query_vector)
            evidence.read = read
        return moments, evidence

    def _read(self, moments: list[Moment], words: QueryWords) -> dict[int, float]:
        """Score each moment with the reader (in place), its signals completed by what the other
        candidates say (how far it is from the best, how many candidates its talk has); returns
        each talk's best logit."""
        if self.reader is None or not moments:
            return {}
        signals = np.stack([m.signals for m in moments if m.signals is not None])
        passage, window = signals[:, 0], signals[:, 1]
        talks = np.array([m.recording_id for m in moments])
        best_of_talk = {talk: passage[talks == talk].max() for talk in set(talks.tolist())}
        signals[:, 10] = passage.max() - passage
        signals[:, 11] = window.max() - window
        signals[:, 12] = passage.max() - np.array([best_of_talk[t] for t in talks.tolist()])
        signals[:, 13] = np.array([(talks == t).mean() for t in talks.tolist()])
        signals[:, 14] = np.log1p(np.argsort(np.argsort(-passage, kind="stable"), kind="stable"))
        signals[:, 15] = np.array([float(t in words.named) for t in talks.tolist()])
        signals[:, 16] = [m.score for m in moments]
        signals[:, 17] = signals[:, 16].max() - signals[:, 16]
        logits = self.reader.logits(signals)
        best: dict[int, float] = {}
        for moment, row, logit in zip(moments, signals, logits.tolist(), strict=True):
            moment.signals, moment.score = row, 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))
            best[moment.recording_id] = max(best.get(moment.recording_id, -math.inf), logit)
        return best

    def _words(self, db: Database, index: VectorIndex, parsed: ParsedQuery, wanted: RecordingFilter) -> QueryWords:
        counts = _DocCounts(db)
        total = max(len(index), 1)
        weights = _term_weights(counts, parsed, total)
        alternatives = names.misheard(parsed, counts, lambda: self._vocabulary(db, index))
        named = names.named_talks(db, parsed, weights, wanted, counts, total)
        return QueryWords(parsed, weights, alternatives, {n.recording_id: n for n in named}, self.ranking)

    def _candidates(
        self,
        db: Database,
        index: VectorIndex,
        words: QueryWords,
        query_vector: np.ndarray,
        allowed: np.ndarray | None,
        wanted: RecordingFilter,
    ) -> tuple[list[Candidate], Evidence]:
        ranking = self.ranking
        parsed = words.parsed
        common = frozenset(t for t in parsed.terms if words.weights.get(t, 0.0) < ranking.min_keyword_idf)
        keyword_ids = _keyword_hits(db, parsed, common, words.alternatives, ranking.keyword_candidates, allowed)
        dense = index.search(query_vector, ranking.dense_candidates, allowed)
        if parsed.phrases:
            ids = keyword_ids  # a quoted phrase must be there, word for word
        else:
            ids = [*dense.passage_ids.tolist(), *keyword_ids]
            for named in words.named.values():  # a talk the query names: its passages nearest the query
                ids += index.search(
                    query_vector, ranking.named_candidates, np.array([named.recording_id])
                ).passage_ids.tolist()
        ids = list(dict.fromkeys(ids))
        candidates = _load_candidates(db, ids, wanted)
        cosines = index.similarity(query_vector, ids)
        short = is_short(parsed)
        for candidate in candidates:
            candidate.cosine = cosines.get(candidate.passage_id, 0.0)
            spelled = names.letters(candidate.text) if words.alternatives.spells else ""
            candidate.coverage, candidate.said, by_name = words.shares(candidate.stems, candidate.recording_id, spelled)
            if short and candidate.said:
                candidate.said = min(candidate.said, words.said_as_typed(candidate.text, candidate.other_stems))
            candidate.literal = holds_every_word(candidate.said, by_name)
        candidates.sort(key=lambda c: (c.literal, c.score(ranking)), reverse=True)
        return candidates[: ranking.rescored_passages], self._evidence(dense, words, candidates)

    def _evidence(self, dense, words: QueryWords, candidates: list[Candidate]) -> Evidence:
        scores = dense.scores[:10]
        return Evidence(
            standout=float(scores[0] - scores.mean()) if len(scores) else 0.0,
            named=any(n.share >= 0.999 for n in words.named.values()),
            said=max((c.said for c in candidates), default=0.0),
        )

    def _moments(
        self, db: Database, candidates: list[Candidate], words: QueryWords, query_vector: np.ndarray, said_by: str = ""
    ) -> list[Moment]:
        """The best segment of each candidate passage as a scored moment.

        With ``said_by`` (the speaker filter), a passage whose lines have named speakers (a
        meeting transcript was attached) offers only the lines that person said.
        """
        ranking = self.ranking
        segments_of = _load_segments(db, candidates, self.embedder.model_name)
        said_by = said_by.strip().casefold()
        moments = []
        windows: dict[tuple, tuple[bool, float, float, float]] = {}  # passages overlap: each window scored once
        for candidate in candidates:
            segments = segments_of.get(candidate.passage_id)
            if not segments:
                continue
            eligible: Sequence[int] = range(len(segments))
            if said_by and any(seg["speaker"] for seg in segments):
                eligible = [i for i, seg in enumerate(segments) if said_by in (seg["speaker"] or "").casefold()]
                if not eligible:
                    continue
            scored = []
            for i in eligible:
                seg = segments[i]
                after = segments[i + 1] if i + 1 < len(segments) else None
                # (a line without a window vector falls back on its passage's cosine: then the passage too)
                fallback = candidate.passage_id if seg["vector"] is None else None
                key = (candidate.recording_id, seg["idx"], after["idx"] if after else None, fallback)
                if key not in windows:
                    windows[key] = _window(words, candidate, seg, after, query_vector)
                literal, own, cosine, coverage = windows[key]
                scored.append((literal, own, cosine + ranking.keyword_weight * coverage, -i, cosine, coverage))
            # As between passages, a window holding every query word beats one that only means alike;
            # among equals the earlier segment wins, so the player starts before the answer, not inside it.
            _, own, window_score, minus_i, cosine, coverage = max(scored)
            i = -minus_i
            score = ranking.passage_weight * candidate.score(ranking) + (1 - ranking.passage_weight) * window_score
            says = _says_words(words, segments, i, candidate.recording_id)
            moment = _moment(candidate.recording_id, segments, i, score, candidate.literal, cosine, says)
            if self.reader is not None:
                moment.signals = _own_signals(candidate, moment, coverage, own)
            moments.append(moment)
        return moments

    def _named_moments(self, db: Database, words: QueryWords) -> list[Moment]:
        """For a query that is a name and nothing else: the moment each talk it names says it
        (spelled closely enough); where no line says it, where that person starts speaking (a
        meeting transcript named the speakers), or else the talk's start."""
        moments = []
        for named in words.named.values():
            if named.share < 0.999:
                continue
            segments = _talk_segments(db, named.recording_id, self.embedder.model_name)
            if not segments:
                continue
            windows = [" ".join(s["text"] for s in segments[i : i + 2]) for i in range(len(segments))]
            at, similarity = names.spoken_at(windows, named.names)
            if similarity < names.SPOKEN_SIMILARITY / 100:
                at = _first_line_by(segments, named.names)
            says = _says_words(words, segments, at, named.recording_id)
            moments.append(_moment(named.recording_id, segments, at, 1.0 + similarity, True, 0.0, says, named=True))
        return moments


def _own_signals(candidate: Candidate, moment: Moment, window_coverage: float, own_coverage: float) -> np.ndarray:
    """A moment's ``MOMENT_SIGNALS`` that it has on its own (the rest are filled in by ``Searcher._read``)."""
    signals = np.zeros(len(MOMENT_SIGNALS))
    signals[:10] = [
        candidate.cosine,
        moment.cosine,
        candidate.coverage,
        candidate.said,
        window_coverage,
        own_coverage,
        float(candidate.literal),
        float(moment.says_words),
        float(is_courtesy(moment.text)),
        math.log1p(len(moment.text.split())),
    ]
    return signals


def _query_signals(best_by_talk: dict[int, float], moments: list[Moment], evidence: Evidence, parsed: ParsedQuery):
    """The query's ``QUERY_SIGNALS`` once the reader has scored its moments."""
    ranked = sorted(best_by_talk.values(), reverse=True)
    top = next((m for m in moments if m.signals is not None), None)
    return np.array(
        [
            ranked[0],
            ranked[0] - ranked[1] if len(ranked) > 1 else 5.0,
            evidence.best_cosine,
            evidence.standout,
            evidence.said,
            float(top.signals[2]) if top is not None and top.signals is not None else 0.0,
            math.log1p(len(parsed.text.split())),
        ]
    )


def _first_line_by(segments: list[dict], people: list[str]) -> int:
    """The first line one of ``people`` (details that named the talk) says, by the speaker names a
    meeting transcript gave the lines; 0 (the talk's start) where none of them is named there."""
    wanted = [names.letters(person) for person in people]
    for i, segment in enumerate(segments):
        speaker = names.letters(segment["speaker"] or "")
        if speaker and any(
            speaker == person or (len(speaker) >= 4 and speaker in person) or (len(person) >= 4 and person in speaker)
            for person in wanted
        ):
            return i
    return 0


def _window(
    words: QueryWords, candidate: Candidate, seg: dict, after: dict | None, query_vector: np.ndarray
) -> tuple[bool, float, float, float]:
    """(holds every query word, share of them its own line holds, cosine, coverage) of the window
    that is line ``seg`` and the one ``after`` it."""
    cosine = float(seg["vector"] @ query_vector) if seg["vector"] is not None else candidate.cosine
    window = seg["stems"] + (after["stems"] if after else [])
    present = seg["stem_set"] | after["stem_set"] if after else seg["stem_set"]
    spelled = names.letters(seg["text"] + (after["text"] if after else "")) if words.alternatives.spells else ""
    coverage, literal = words.coverage(window, candidate.recording_id, spelled, present)
    # Of the windows holding every query word, the one whose own line holds most of them: a word
    # only one line says lands on that line, not on the line before it (whose window reaches into
    # it), whatever the cosines say to the last bit.
    own = words.coverage(seg["stems"], candidate.recording_id, present=seg["stem_set"])[0] if literal else 0.0
    return literal, own, cosine, coverage


def _says_words(words: QueryWords, segments: list[dict], i: int, recording_id: int) -> bool:
    """Whether the lines a moment starting at segment ``i`` shows (``_moment``) hold every query word,
    as said (a word only the talk's details name, or only a look-alike spelling, does not count)."""
    shown = [stem for segment in segments[i : i + MOMENT_LINES] for stem in segment["stems"]]
    if not words.coverage(shown, recording_id)[1]:
        return False
    if not is_short(words.parsed):
        return True
    text = " ".join(segment["text"] for segment in segments[i : i + MOMENT_LINES])
    return words.said_as_typed(text, " ".join(shown)) >= 0.999  # a topic: its words as typed


def _moment(
    recording_id: int,
    segments: list[dict],
    i: int,
    score: float,
    literal: bool,
    cosine: float,
    says_words: bool = False,
    *,
    named: bool = False,
) -> Moment:
    shown = segments[i : i + MOMENT_LINES]
    return Moment(
        recording_id=recording_id,
        slug="",
        title="",
        start=segments[i]["start"],
        end=shown[-1]["end"],
        text=" ".join(s["text"].strip() for s in shown),
        snippet="",
        score=score,
        literal=literal,
        cosine=cosine,
        speaker=segments[i]["speaker"],
        says_words=says_words,
        named=named,
    )


def _allowed(db: Database, wanted: RecordingFilter) -> np.ndarray | None:
    """Ids of the recordings the search may read; None when that is every ready one (no filter to apply)."""
    if not wanted.restricts():
        return None
    ids = np.asarray(store.matching_ids(db, wanted), dtype=np.int64)
    total = db.execute("SELECT count(*) FROM recordings WHERE status = 'ready'").fetchone()[0]
    return None if len(ids) == total else ids  # say, every talk is public: skip the filter


def _database_key(db: Database) -> str:
    for _, name, filename in db.execute("PRAGMA database_list").fetchall():
        if name == "main" and filename:
            return str(Path(filename).resolve())
    return f"memory:{id(db)}"


def _keyword_hits(
    db: Database,
    parsed: ParsedQuery,
    common: frozenset,
    alternatives: names.Alternatives,
    k: int,
    allowed: np.ndarray | None,
) -> list[int]:
    expression = parsed.fts_expression(skip=common)
    spellings = " OR ".join(f'"{stem}"' for stem in alternatives.stems())
    if spellings:
        expression = f"{expression} OR {spellings}" if expression and not parsed.phrases else expression or spellings
    if expression is None:
        return []
    if allowed is None:
        sql, params = "SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? ORDER BY rank LIMIT ?", [expression, k]
    else:
        # A join, not "rowid IN (...)": given a rowid list FTS5 evaluates the query once per
        # rowid, which took 10 s instead of 30 ms at 100,000 passages (bench/bench_search.py).
        sql = (
            "SELECT f.rowid FROM passages_fts f JOIN passages p ON p.id = f.rowid "
            "WHERE passages_fts MATCH ? AND p.recording_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY f.rank LIMIT ?"
        )
        params = [expression, json.dumps(allowed.tolist()), k]
    return [row[0] for row in db.execute(sql, params)]


def _load_candidates(db: Database, passage_ids: list[int], wanted: RecordingFilter) -> list[Candidate]:
    """The passages with these ids whose talk passes ``wanted``: visibility is checked again here,
    on what the database holds now, not only on the ids the in-memory vectors carried."""
    if not passage_ids:
        return []
    where, params = wanted.sql("r")
    rows = db.execute(
        "SELECT p.id, p.recording_id, p.first_segment, p.last_segment, p.start, p.end, p.text, p.stems "
        "FROM passages p JOIN recordings r ON r.id = p.recording_id "
        f"WHERE p.id IN (SELECT value FROM json_each(?)) AND {where}",
        [json.dumps(passage_ids), *params],
    ).fetchall()
    return [Candidate(*row) for row in rows]


_SEGMENT_COLUMNS = "s.recording_id, s.idx, s.start, s.end, s.text, s.language, s.speaker, v.embedding"
# Window vectors of the search model only: another model's (before `archive reindex`) would not compare.
_SEGMENT_JOIN = (
    "FROM segments s LEFT JOIN segment_vectors v ON v.recording_id = s.recording_id AND v.idx = s.idx AND v.model = ?"
)


def _segment(idx, start, end, text, language, speaker, blob) -> dict[str, Any]:
    segment_stems = stems(text) + language_stems(text, language)
    return {
        "idx": idx,
        "start": start,
        "end": end,
        "text": text,
        "speaker": speaker,
        "stems": segment_stems,
        "stem_set": frozenset(segment_stems),
        "vector": np.frombuffer(blob, dtype=np.float32) if blob else None,
    }


def _load_segments(db: Database, candidates: list[Candidate], model: str) -> dict[int, list[dict[str, Any]]]:
    """Each candidate passage's segments (text, stems, times, window vector), in one query."""
    wanted = [(c.recording_id, i) for c in candidates for i in range(c.first_segment, c.last_segment + 1)]
    if not wanted:
        return {}
    rows = db.execute(
        f"SELECT {_SEGMENT_COLUMNS} {_SEGMENT_JOIN} WHERE (s.recording_id, s.idx) IN "
        "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))",
        [model, json.dumps(sorted(set(wanted)))],
    ).fetchall()
    by_key = {(row[0], row[1]): _segment(*row[1:]) for row in rows}
    return {
        c.passage_id: [
            by_key[(c.recording_id, i)]
            for i in range(c.first_segment, c.last_segment + 1)
            if (c.recording_id, i) in by_key
        ]
        for c in candidates
    }


def _talk_segments(db: Database, recording_id: int, model: str) -> list[dict[str, Any]]:
    sql = f"SELECT {_SEGMENT_COLUMNS} {_SEGMENT_JOIN} WHERE s.recording_id = ? ORDER BY s.idx"
    rows = db.execute(sql, [model, recording_id])
    return [_segment(*row[1:]) for row in rows]


class _DocCounts:
    """How many passages hold a stem (FTS5's vocabulary), looked up once per query and stem."""

    def __init__(self, db: Database):
        self.db = db
        self.known: dict[str, int] = {}

    def __call__(self, stem: str) -> int:
        if stem not in self.known:
            row = self.db.execute("SELECT doc FROM passages_fts_terms WHERE term = ?", [stem]).fetchone()
            self.known[stem] = row[0] if row else 0
        return self.known[stem]

    def prefix(self, prefix: str) -> int:
        row = self.db.execute(
            "SELECT MAX(doc) FROM passages_fts_terms WHERE term >= ? AND term < ?", [prefix, prefix + "\U0010ffff"]
        ).fetchone()
        return row[0] or 0


def _term_weights(counts: _DocCounts, parsed: ParsedQuery, total: int) -> dict[Any, float]:
    """BM25's IDF for each query term and phrase; a word the archive has never heard weighs most."""
    weights: dict[Any, float] = {}
    for term in parsed.terms:
        weights[term] = _idf(counts.prefix(term.stem) if term.prefix else counts(term.stem), total)
    for phrase in parsed.phrases:
        weights[phrase] = sum(_idf(counts(s), total) for s in phrase)
    return weights


def _idf(doc_count: int, total: int) -> float:
    return math.log((total - doc_count + 0.5) / (doc_count + 0.5) + 1.0)
