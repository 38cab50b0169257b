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
from datetime import date
from typing import Any

import numpy as np
from sqlite_utils import Database

from archive.config import Config
from archive.timecode import link_time

from .embedder import Embedder, SentenceTransformerEmbedder
from .text import ParsedQuery, contains_phrase, highlight, parse_query, stems
from .vectors import VectorIndex, vector_index

SORTS = ("relevance", "date")
MAX_LIMIT = 100
QUERY_CACHE_SIZE = 512


class SearchError(ValueError):
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


@dataclass
class SearchFilters:
    speaker: str = ""
    organization: str = ""
    tag: str = ""
    since: str | None = None
    until: str | None = None
    # The visibility levels the asker may see; None: every recording (the operator's CLI).
    visibility: tuple[str, ...] | None = None

    def active(self) -> bool:
        """Whether the asker chose any filter (visibility is not theirs to choose)."""
        return any([self.speaker, self.organization, self.tag, self.since, self.until])

    def restricts(self) -> bool:
        return self.active() or self.visibility is not None


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
class SearchResponse:
    query: str
    results: list[Moment]
    weak_results: list[Moment] = field(default_factory=list)
    notice: str = ""  # something the person should know about how the query was read

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "query": self.query,
            "results": [m.to_dict() for m in self.results],
            "weak_results": [m.to_dict() for m in self.weak_results],
        }
        if self.notice:
            data["notice"] = self.notice
        return data


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
    """Runs searches for one embedder; the model loads on the first query and stays loaded."""

    def __init__(self, embedder: Embedder | None = None, ranking: Ranking | None = None, *, query_cache: bool = True):
        self._embedder = embedder
        self.ranking = ranking or Ranking()
        self.query_cache = query_cache  # off in benchmarks, so every timing includes embedding the query
        self._query_vectors: dict[str, np.ndarray] = {}  # the last few hundred: people page and refine
        self._query_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> "Searcher":
        """A searcher with the archive's configured embedding model (loaded on the first query)."""
        return cls(SentenceTransformerEmbedder(config.embedding_model))

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = SentenceTransformerEmbedder()
        return self._embedder

    def embed_query(self, text: str) -> np.ndarray:
        """The query's vector, remembered for repeats unless ``query_cache`` is off."""
        with self._query_lock:
            cached = self._query_vectors.get(text)
        if cached is not None:
            return cached
        vector = self.embedder.embed([text])[0]
        if self.query_cache:
            with self._query_lock:
                if len(self._query_vectors) >= QUERY_CACHE_SIZE:
                    self._query_vectors.pop(next(iter(self._query_vectors)))
                self._query_vectors[text] = vector
        return vector

    def search(
        self,
        db: Database,
        query: str,
        *,
        limit: int = 10,
        filters: SearchFilters | None = None,
        sort: str = "relevance",
    ) -> SearchResponse:
        """The moments that answer ``query``, grouped by recording, best first (or newest first)."""
        parsed = parse_query(query)
        if parsed.empty:
            raise SearchError("type a word or a question to search for")
        if sort not in SORTS:
            raise SearchError(f"sort must be one of: {', '.join(SORTS)}")
        limit = max(1, min(int(limit), MAX_LIMIT))
        notice = "Your query was long, so only its first words were searched." if parsed.shortened else ""
        allowed = recordings_matching(db, filters) if filters and filters.restricts() else None
        if allowed is not None and not len(allowed):
            return SearchResponse(parsed.text, [], notice=notice)
        if allowed is not None and len(allowed) == _ready_recordings(db):
            allowed = None  # the filter keeps everything (say, every talk is public): skip it

        index = vector_index(db)
        query_vector = self.embed_query(parsed.text) if len(index) else None
        weights = _term_weights(db, parsed, max(len(index), 1))
        candidates = self._candidates(db, index, parsed, weights, query_vector, allowed)
        moments = self._moments(db, candidates, parsed, weights, query_vector)
        ranking = self.ranking
        answers = [m for m in moments if m.literal or m.score >= ranking.threshold]
        weak = [] if answers else moments[: ranking.weak_results]
        results = _with_snippets(_grouped(_with_meta(db, answers), sort)[:limit], parsed)
        return SearchResponse(parsed.text, results, _with_snippets(_with_meta(db, weak), parsed), notice)

    def related(
        self, db: Database, recording_id: int, at: float, *, limit: int = 5, visibility: tuple[str, ...] | None = None
    ) -> list[Moment]:
        """Moments in other recordings (at the ``visibility`` levels) closest to what is said at ``at`` seconds."""
        row = db.execute(
            "SELECT id FROM passages WHERE recording_id = ? ORDER BY "
            "CASE WHEN start <= ? AND ? < end THEN 0 ELSE 1 END, ABS(start - ?) LIMIT 1",
            [recording_id, at, at, at],
        ).fetchone()
        if row is None:
            return []
        index = vector_index(db)
        vector = index.vector(row[0])
        if vector is None:
            return []
        others = np.unique(index.recording_ids[index.recording_ids != recording_id])
        if visibility is not None:
            others = np.intersect1d(others, recordings_matching(db, SearchFilters(visibility=visibility)))
        if not len(others):
            return []
        hits = index.search(vector, self.ranking.dense_candidates, others)
        cosines = dict(zip(hits.passage_ids.tolist(), hits.scores.tolist()))
        candidates = _load_candidates(db, list(cosines))
        for candidate in candidates:
            candidate.cosine = cosines[candidate.passage_id]
        nothing = parse_query("")
        moments = self._moments(db, candidates, nothing, {}, vector)
        related_threshold = self.ranking.threshold  # no words to match: cosine alone must clear it
        answers = _grouped([m for m in moments if m.score >= related_threshold], "relevance")[:limit]
        return _with_snippets(_with_meta(db, answers), nothing)

    # -- steps -------------------------------------------------------------------------------

    def _candidates(
        self,
        db: Database,
        index: VectorIndex,
        parsed: ParsedQuery,
        weights: dict[Any, float],
        query_vector: np.ndarray | None,
        allowed: np.ndarray | None,
    ) -> list[_Candidate]:
        ranking = self.ranking
        common = frozenset(t for t in parsed.terms if weights.get(t, 0.0) < ranking.min_keyword_idf)
        keyword_ids = _keyword_hits(db, parsed, common, ranking.keyword_candidates, allowed)
        if parsed.phrases:
            ids = keyword_ids  # a quoted phrase must be there, word for word
        else:
            dense = index.search(query_vector, ranking.dense_candidates, allowed) if query_vector is not None else None
            ids = list(dict.fromkeys([*(dense.passage_ids.tolist() if dense else []), *keyword_ids]))
        candidates = _load_candidates(db, ids)
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
                scored.append((coverage >= 0.999, cosine + ranking.keyword_weight * coverage, -i))
            # As between passages, a window holding every query word beats one that only means alike;
            # among equals the earlier segment wins, so the player starts before the answer, not inside it.
            _, window_score, minus_i = max(scored)
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


def recordings_matching(db: Database, filters: SearchFilters) -> np.ndarray:
    """Ids of the ready recordings that pass ``filters`` (case-insensitive; names match in part)."""
    where, params = ["status = 'ready'"], []
    if filters.visibility is not None:
        where.append("visibility IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(filters.visibility)))
    if filters.speaker.strip():
        where.append(
            "id IN (SELECT recording_id FROM recording_speakers WHERE name LIKE ? ESCAPE '\\' COLLATE NOCASE)"
        )
        params.append(f"%{_like(filters.speaker.strip())}%")
    if filters.organization.strip():
        where.append("organization LIKE ? ESCAPE '\\' COLLATE NOCASE")
        params.append(f"%{_like(filters.organization.strip())}%")
    if filters.tag.strip():
        where.append("id IN (SELECT recording_id FROM recording_tags WHERE tag = ? COLLATE NOCASE)")
        params.append(filters.tag.strip())
    if filters.since:
        where.append("date >= ?")
        params.append(_iso_date(filters.since, "since"))
    if filters.until:
        where.append("date <= ?")
        params.append(_iso_date(filters.until, "until"))
    rows = db.execute(f"SELECT id FROM recordings WHERE {' AND '.join(where)}", params).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def _ready_recordings(db: Database) -> int:
    return db.execute("SELECT count(*) FROM recordings WHERE status = 'ready'").fetchone()[0]


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _iso_date(value: str, name: str) -> str:
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise SearchError(f"{name} must be a date in the form YYYY-MM-DD, not {value!r}") from None


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


def _load_candidates(db: Database, passage_ids: list[int]) -> list[_Candidate]:
    if not passage_ids:
        return []
    rows = db.execute(
        "SELECT p.id, p.recording_id, p.first_segment, p.last_segment, p.start, p.end, p.text "
        "FROM passages p JOIN recordings r ON r.id = p.recording_id "
        "WHERE r.status = 'ready' AND p.id IN (SELECT value FROM json_each(?))",
        [json.dumps(passage_ids)],
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


def _with_meta(db: Database, moments: list[Moment]) -> list[Moment]:
    """The moments with their recording's slug, title and date, read in one query."""
    if not moments:
        return []
    rows = db.execute(
        "SELECT id, slug, title, date FROM recordings WHERE id IN (SELECT value FROM json_each(?))",
        [json.dumps(sorted({m.recording_id for m in moments}))],
    ).fetchall()
    meta = {rid: (slug, title, day) for rid, slug, title, day in rows}
    return [
        replace(m, slug=meta[m.recording_id][0], title=meta[m.recording_id][1], date=meta[m.recording_id][2])
        for m in moments
        if m.recording_id in meta
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
