"""Hybrid search over the passages: find the talks that answer a query and the moment in each.

1. Candidates: the passages nearest the query's embedding (in-memory matrix, ``search.vectors``)
   and the passages FTS5 ranks best for its words (BM25, Porter stems, quoted phrases, ``word*``).
2. Each candidate scores ``cosine + keyword_weight * coverage``, where coverage is the share of
   the query's word weight (BM25 IDF) the passage contains. A question phrased in other
   words is carried by the cosine; a name, rare word or remembered phrase by the coverage,
   which lifts the passages that contain it above every passage that does not.
3. The best passages are split into their segments. Each segment's window (``segment_vectors``)
   is scored the same way, and the moment starts at the best segment: where the answer begins.
4. A moment is an answer only if its score clears ``threshold``; otherwise the query has no
   results and the nearest moments come back separately as ``weak_results``.

The weights and the threshold were chosen with ``bench/eval.py`` (README, "Search").
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlite_utils import Database

from archive.errors import UserError
from archive.store import read_transaction
from archive.store import recordings as store
from archive.store.models import Recording
from archive.store.recordings import RecordingFilter
from archive.timecode import link_time

from .embedder import Embedder
from .text import ParsedQuery, contains_phrase, highlight, parse_query, stems
from .vectors import VectorIndex

SORTS = ("relevance", "date")
MAX_LIMIT = 100
QUERY_CACHE_SIZE = 512


class SearchError(UserError):
    """A query or filter the archive cannot search with; the message is for the person who asked."""


@dataclass(frozen=True)
class Ranking:
    """The knobs of the ranking, measured with ``bench/eval.py``."""

    dense_candidates: int = 40
    keyword_candidates: int = 40
    rescored_passages: int = 24
    keyword_weight: float = 0.3  # coverage 1.0 is worth this much cosine
    passage_weight: float = 0.5  # the moment's score mixes its passage and its own window
    threshold: float = 0.37  # below this a moment is not presented as an answer
    same_moment_seconds: float = 20.0  # moments of one talk closer than this are one moment
    weak_results: int = 3
    # Words in more than about one passage in eight (IDF below this) are not sent to FTS5:
    # ranking every passage that says "people" is slow and tells little. Coverage still counts them.
    min_keyword_idf: float = 2.0


# Search filters are the store's recording filters: one rule for listings, search and related moments.
SearchFilters = RecordingFilter


@dataclass
class Moment:
    """A place in a recording that answers a query: where to start playing and what is said there."""

    recording_id: int
    slug: str
    title: str
    start: float
    end: float
    text: str
    snippet: str  # HTML: escaped text with the query's words in <mark>
    score: float
    date: str | None = None
    literal: bool = False  # its passage holds every word (and phrase) of the query

    @property
    def url(self) -> str:
        return f"/recordings/{self.slug}?t={link_time(self.start)}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "recording_id": self.recording_id,
            "slug": self.slug,
            "title": self.title,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "text": self.text,
            "snippet": self.snippet,
            "score": round(self.score, 4),
            "url": self.url,
        }


@dataclass
class TalkMoments:
    """One talk and its moments, best first: how results are shown."""

    recording: Recording
    moments: list[Moment]


@dataclass
class SearchResponse:
    query: str
    results: list[Moment]  # answers, grouped by talk
    weak_results: list[Moment] = field(default_factory=list)  # the nearest moments, when nothing answers
    notice: str = ""  # something the person should know about how the query was read
    recordings: dict[int, Recording] = field(default_factory=dict)  # every talk the moments are in

    @property
    def talks(self) -> list[TalkMoments]:
        return _by_talk(self.results, self.recordings)

    @property
    def weak_talks(self) -> list[TalkMoments]:
        return _by_talk(self.weak_results, self.recordings)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "query": self.query,
            "results": [m.to_dict() for m in self.results],
            "weak_results": [m.to_dict() for m in self.weak_results],
        }
        if self.notice:
            data["notice"] = self.notice
        return data


def _by_talk(moments: list[Moment], recordings: dict[int, Recording]) -> list[TalkMoments]:
    groups: dict[int, TalkMoments] = {}
    for moment in moments:
        group = groups.setdefault(moment.recording_id, TalkMoments(recordings[moment.recording_id], []))
        group.moments.append(moment)
    return list(groups.values())


@dataclass
class _Candidate:
    passage_id: int
    recording_id: int
    first_segment: int
    last_segment: int
    start: float
    end: float
    text: str
    cosine: float = 0.0
    coverage: float = 0.0

    def score(self, ranking: Ranking) -> float:
        return self.cosine + ranking.keyword_weight * self.coverage


class Searcher:
    """Runs searches with one embedder, keeping each database's vectors in memory (``search.vectors``).

    Built once per process from the archive's configuration; safe to share between threads.
    """

    def __init__(self, embedder: Embedder, ranking: Ranking | None = None, *, query_cache: bool = True):
        self.embedder = embedder
        self.ranking = ranking or Ranking()
        self.query_cache = query_cache  # off in benchmarks, so every timing includes embedding the query
        self._query_vectors: dict[str, np.ndarray] = {}  # the last few hundred: people page and refine
        self._snapshots: dict[str, VectorIndex] = {}
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
        parsed = parse_query(query)
        if parsed.empty:
            raise SearchError("type a word or a question to search for")
        if sort not in SORTS:
            raise SearchError(f"sort must be one of: {', '.join(SORTS)}")
        limit = max(1, min(int(limit), MAX_LIMIT))
        notice = "Your query was long, so only its first words were searched." if parsed.shortened else ""
        wanted = filters or RecordingFilter()
        query_vector = self.embed_query(parsed.text)
        with read_transaction(db):
            allowed = _allowed(db, wanted)
            if allowed is not None and not len(allowed):
                return SearchResponse(parsed.text, [], notice=notice)
            index = self.vectors(db)
            weights = _term_weights(db, parsed, max(len(index), 1))
            candidates = self._candidates(db, index, parsed, weights, query_vector, allowed, wanted)
            moments = self._moments(db, candidates, parsed, weights, query_vector)
            ranking = self.ranking
            answers = [m for m in moments if m.literal or m.score >= ranking.threshold]
            weak = [] if answers else moments[: ranking.weak_results]
            recordings = store.get_recordings(db, {m.recording_id for m in answers + weak})
        results = _with_snippets(_grouped(_with_meta(recordings, answers), sort)[:limit], parsed)
        weak = _with_snippets(_with_meta(recordings, weak), parsed)
        shown = {m.recording_id for m in results + weak}
        return SearchResponse(parsed.text, results, weak, notice, {k: v for k, v in recordings.items() if k in shown})

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
            cosines = dict(zip(hits.passage_ids.tolist(), hits.scores.tolist()))
            candidates = _load_candidates(db, list(cosines), wanted)
            for candidate in candidates:
                candidate.cosine = cosines[candidate.passage_id]
            nothing = parse_query("")
            moments = self._moments(db, candidates, nothing, {}, vector)
            related_threshold = self.ranking.threshold  # no words to match: cosine alone must clear it
            answers = _grouped([m for m in moments if m.score >= related_threshold], "relevance")[:limit]
            recordings = store.get_recordings(db, {m.recording_id for m in answers})
        return _with_snippets(_with_meta(recordings, answers), nothing)

    # -- steps -------------------------------------------------------------------------------

    def _candidates(
        self,
        db: Database,
        index: VectorIndex,
        parsed: ParsedQuery,
        weights: dict[Any, float],
        query_vector: np.ndarray | None,
        allowed: np.ndarray | None,
        wanted: RecordingFilter,
    ) -> list[_Candidate]:
        ranking = self.ranking
        common = frozenset(t for t in parsed.terms if weights.get(t, 0.0) < ranking.min_keyword_idf)
        keyword_ids = _keyword_hits(db, parsed, common, ranking.keyword_candidates, allowed)
        if parsed.phrases:
            ids = keyword_ids  # a quoted phrase must be there, word for word
        else:
            dense = index.search(query_vector, ranking.dense_candidates, allowed) if query_vector is not None else None
            ids = list(dict.fromkeys([*(dense.passage_ids.tolist() if dense else []), *keyword_ids]))
        candidates = _load_candidates(db, ids, wanted)
        cosines = index.similarity(query_vector, ids) if query_vector is not None else {}
        for candidate in candidates:
            candidate.cosine = cosines.get(candidate.passage_id, 0.0)
            candidate.coverage = _coverage(stems(candidate.text), parsed, weights)
        candidates.sort(key=lambda c: c.score(ranking), reverse=True)
        return candidates[: ranking.rescored_passages]

    def _moments(
        self,
        db: Database,
        candidates: list[_Candidate],
        parsed: ParsedQuery,
        weights: dict[Any, float],
        query_vector: np.ndarray | None,
    ) -> list[Moment]:
        """The best segment of each candidate passage as a scored moment, one per place in a talk."""
        ranking = self.ranking
        segments_of = _load_segments(db, candidates)
        best: dict[tuple[int, int], Moment] = {}
        for candidate in candidates:
            segments = segments_of.get(candidate.passage_id)
            if not segments:
                continue
            scored = []
            for i, seg in enumerate(segments):
                cosine = (
                    float(seg["vector"] @ query_vector)
                    if seg["vector"] is not None and query_vector is not None
                    else candidate.cosine
                )
                coverage = _coverage(seg["stems"] + (segments[i + 1]["stems"] if i + 1 < len(segments) else []),
                                     parsed, weights)
                literal = coverage >= 0.999
                # Of the windows holding every query word, the one whose own line holds most of
                # them: a word only one line says lands on that line, not on the line before it
                # (whose window reaches into it), whatever the cosines say to the last bit.
                own = _coverage(seg["stems"], parsed, weights) if literal else 0.0
                scored.append((literal, own, cosine + ranking.keyword_weight * coverage, -i))
            # As between passages, a window holding every query word beats one that only means alike;
            # among equals the earlier segment wins, so the player starts before the answer, not inside it.
            _, _, window_score, minus_i = max(scored)
            i = -minus_i
            score = ranking.passage_weight * candidate.score(ranking) + (1 - ranking.passage_weight) * window_score
            shown = segments[i : i + 3]
            key = (candidate.recording_id, segments[i]["idx"])
            if key not in best or best[key].score < score:
                best[key] = Moment(
                    recording_id=candidate.recording_id,
                    slug="",
                    title="",
                    start=segments[i]["start"],
                    end=shown[-1]["end"],
                    text=" ".join(s["text"].strip() for s in shown),
                    snippet="",
                    score=score,
                    literal=candidate.coverage >= 0.999,
                )
        moments = sorted(best.values(), key=_rank_key, reverse=True)
        kept: list[Moment] = []
        for moment in moments:
            if not any(
                k.recording_id == moment.recording_id and abs(k.start - moment.start) < ranking.same_moment_seconds
                for k in kept
            ):
                kept.append(moment)
        return kept


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
    db: Database, parsed: ParsedQuery, common: frozenset, k: int, allowed: np.ndarray | None
) -> list[int]:
    expression = parsed.fts_expression(skip=common)
    if expression is None:
        return []
    if allowed is None:
        sql, params = "SELECT rowid FROM passages_fts WHERE passages_fts MATCH ? ORDER BY rank LIMIT ?", [expression, k]
    else:
        # A join, not "rowid IN (...)": given a rowid list FTS5 evaluates the query once per
        # rowid, which took 10 s instead of 30 ms at 100,000 passages (bench/search.py).
        sql = (
            "SELECT f.rowid FROM passages_fts f JOIN passages p ON p.id = f.rowid "
            "WHERE passages_fts MATCH ? AND p.recording_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY f.rank LIMIT ?"
        )
        params = [expression, json.dumps(allowed.tolist()), k]
    return [row[0] for row in db.execute(sql, params)]


def _load_candidates(db: Database, passage_ids: list[int], wanted: RecordingFilter) -> list[_Candidate]:
    """The passages with these ids whose talk passes ``wanted``: visibility is checked again here,
    on what the database holds now, not only on the ids the in-memory vectors carried."""
    if not passage_ids:
        return []
    where, params = wanted.sql("r")
    rows = db.execute(
        "SELECT p.id, p.recording_id, p.first_segment, p.last_segment, p.start, p.end, p.text "
        "FROM passages p JOIN recordings r ON r.id = p.recording_id "
        f"WHERE p.id IN (SELECT value FROM json_each(?)) AND {where}",
        [json.dumps(passage_ids), *params],
    ).fetchall()
    return [_Candidate(*row) for row in rows]


def _load_segments(db: Database, candidates: list[_Candidate]) -> dict[int, list[dict[str, Any]]]:
    """Each candidate passage's segments (text, stems, times, window vector), in one query."""
    wanted = [(c.recording_id, i) for c in candidates for i in range(c.first_segment, c.last_segment + 1)]
    if not wanted:
        return {}
    rows = db.execute(
        "SELECT s.recording_id, s.idx, s.start, s.end, s.text, v.embedding FROM segments s "
        "LEFT JOIN segment_vectors v ON v.recording_id = s.recording_id AND v.idx = s.idx "
        "WHERE (s.recording_id, s.idx) IN "
        "(SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))",
        [json.dumps(sorted(set(wanted)))],
    ).fetchall()
    by_key = {
        (rid, idx): {
            "idx": idx,
            "start": start,
            "end": end,
            "text": text,
            "stems": stems(text),
            "vector": np.frombuffer(blob, dtype=np.float32) if blob else None,
        }
        for rid, idx, start, end, text, blob in rows
    }
    return {
        c.passage_id: [
            by_key[(c.recording_id, i)]
            for i in range(c.first_segment, c.last_segment + 1)
            if (c.recording_id, i) in by_key
        ]
        for c in candidates
    }


def _term_weights(db: Database, parsed: ParsedQuery, total: int) -> dict[Any, float]:
    """BM25's IDF for each query term and phrase; a word the archive has never heard weighs most."""
    weights: dict[Any, float] = {}
    for term in parsed.terms:
        if term.prefix:
            row = db.execute(
                "SELECT MAX(doc) FROM passages_fts_terms WHERE term >= ? AND term < ?",
                [term.stem, term.stem + "\U0010ffff"],
            ).fetchone()
            count = row[0] or 0
        else:
            count = _doc_count(db, term.stem)
        weights[term] = _idf(count, total)
    for phrase in parsed.phrases:
        weights[phrase] = sum(_idf(_doc_count(db, s), total) for s in phrase)
    return weights


def _doc_count(db: Database, stem: str) -> int:
    row = db.execute("SELECT doc FROM passages_fts_terms WHERE term = ?", [stem]).fetchone()
    return row[0] if row else 0


def _idf(doc_count: int, total: int) -> float:
    return math.log((total - doc_count + 0.5) / (doc_count + 0.5) + 1.0)


def _coverage(text_stems: list[str], parsed: ParsedQuery, weights: dict[Any, float]) -> float:
    """Share (0..1) of the query's word weight found in a text, given the text's stems."""
    total = sum(weights.values())
    if not total:
        return 0.0
    present = set(text_stems)
    found = 0.0
    for term in parsed.terms:
        if term.prefix:
            if any(s.startswith(term.stem) for s in present):
                found += weights[term]
        elif term.stem in present:
            found += weights[term]
    for phrase in parsed.phrases:
        if contains_phrase(text_stems, phrase):
            found += weights[phrase]
    return found / total


def _with_meta(recordings: dict[int, Recording], moments: list[Moment]) -> list[Moment]:
    """The moments with their recording's slug, title and date (moments of talks not there are left out)."""
    return [
        replace(m, slug=recordings[m.recording_id].slug, title=recordings[m.recording_id].title,
                date=recordings[m.recording_id].date)
        for m in moments
        if m.recording_id in recordings
    ]


def _with_snippets(moments: list[Moment], parsed: ParsedQuery) -> list[Moment]:
    """Snippets are made only for the moments shown: marking words is the slow part of a result."""
    return [replace(m, snippet=highlight(m.text, parsed)) for m in moments]


def _rank_key(moment: Moment) -> tuple[bool, float]:
    # Every word of the query there, literally: a name, a rare word or a remembered phrase
    # ranks above passages that only mean something similar.
    return (moment.literal, moment.score)


def _grouped(moments: list[Moment], sort: str) -> list[Moment]:
    """Moments grouped by recording: recordings by their best moment (or newest first), best moments first."""
    by_recording: dict[int, list[Moment]] = {}
    for moment in sorted(moments, key=_rank_key, reverse=True):
        by_recording.setdefault(moment.recording_id, []).append(moment)
    groups = list(by_recording.values())
    if sort == "date":
        groups.sort(key=lambda g: g[0].date or "", reverse=True)
    return [m for group in groups for m in group]
