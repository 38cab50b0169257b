"""Names and rare words that Whisper mishears: found through the talks' details and by spelling.

Whisper writes "Adaeze Okonkwo" as "the democonco" and "Zalo" as "Zalah"; the words a member
types are then nowhere in the transcript. Two things still find them:

- **The talk's details.** Staff type the speakers, the host, the organisation and the title correctly.
  ``named_talks`` finds the talks whose details name what the query names (a whole name, or a
  distinctive part of one such as a surname), allowing small spelling differences.
- **Spelling.** A query word the transcripts never contain is compared, by edit distance, with
  the words they do contain (the FTS5 vocabulary), and close ones count for it at a discount:
  "zalo" finds "zalah". Only words the archive has never heard are expanded, so a correctly
  spelled word never drags in look-alikes.

``spoken_at`` then finds where in a named talk the name is said, by the same spelling test on
the transcript's letters (spaces ignored: "Namer Affair Weather" holds "fairweather").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process
from sqlite_utils import Database

from archive.core.store.recordings import RecordingFilter
from search.text import STOPWORDS, ParsedQuery, Term, fold, stem, words

# Two spellings of a name token match at this similarity (rapidfuzz ratio, 0-100): one letter
# in six may differ ("Wroblewski"/"Wróblewski" fold to the same; "Okonkow" still matches).
NAME_SIMILARITY = 84
# A misheard word must be at least this close to a word the transcripts contain to stand in for
# it (edit similarity, 0-100: "zalo"/"zalah" is 67), and both must be this long: short words
# have too many neighbours. Only words the transcripts never contain are looked up at all.
SPELLING_SIMILARITY = 60
SPELLING_MIN_LETTERS = 4
SPELLING_ALTERNATIVES = 3
# A word is looked for letter by letter across a text's words only from this length: shorter
# ones turn up inside too many longer words.
SPELLED_MIN_LETTERS = 6
# A name is said somewhere in a talk when its letters appear there at least this closely.
SPOKEN_SIMILARITY = 70
# A word of a person's name is distinctive enough to name their talk on its own (a surname)
# when at most this share of passages (or 3) say it; a word of an organisation or a title must
# be all but absent from the transcripts (a programme's own name), or the whole name typed:
# otherwise "health equity" would name every talk by a Health Equity Collaborative.
PERSON_DISTINCTIVE_SHARE = 0.01
DETAIL_DISTINCTIVE_SHARE = 0.002


@dataclass
class NamedTalk:
    """A talk whose details (speakers, host, organisation, title) name what the query names."""

    recording_id: int
    names: list[str]  # the details that matched, as staff typed them
    terms: frozenset[Term]  # the query's words those details account for
    share: float = 0.0  # of the query's word weight


@dataclass
class Alternatives:
    """For query words the transcripts never contain: the stems written in their place, with similarity 0..1."""

    by_term: dict[Term, dict[str, float]] = field(default_factory=dict)
    unknown: frozenset[Term] = frozenset()  # every such word, with or without a stem close to it

    def __post_init__(self) -> None:
        # Whether any unknown word is long enough to be looked for letter by letter.
        self.spells = any(len(t.word) >= SPELLED_MIN_LETTERS for t in self.unknown)

    def stems(self) -> list[str]:
        return [s for found in self.by_term.values() for s in found]

    def spelled(self, term: Term, letters: str) -> float:
        """How closely ``letters`` (a text's, spaces left out) spell an unknown query word, 0..1:
        Whisper splits a name it does not know ("Namer Affair Weather" for "Fairweather")."""
        if term not in self.unknown or len(term.word) < SPELLED_MIN_LETTERS:
            return 0.0
        # (the cutoff returns 0 below it, and lets rapidfuzz stop early: called for every candidate window)
        return fuzz.partial_ratio(term.word, letters, score_cutoff=SPOKEN_SIMILARITY) / 100


def named_talks(
    db: Database, parsed: ParsedQuery, weights: dict, wanted: RecordingFilter, doc_count, total: int
) -> list[NamedTalk]:
    """The talks (among those ``wanted``) whose details name something in the query, best first.

    A detail names it when the query holds all of that detail's words (a full name, an
    organisation), or a distinctive one of them (a surname, a rare word of the title).
    """
    terms = [t for t in parsed.terms if not t.prefix]
    if not terms:
        return []
    where, params = wanted.sql("r")
    rows = db.execute(
        f"""SELECT r.id, r.title, r.organization, r.host, group_concat(s.name, char(31))
            FROM recordings r LEFT JOIN recording_speakers s ON s.recording_id = r.id
            WHERE {where} GROUP BY r.id""",
        params,
    ).fetchall()
    weight = sum(weights.values()) or 1.0
    person_limit = max(3, PERSON_DISTINCTIVE_SHARE * total)
    detail_limit = max(1, DETAIL_DISTINCTIVE_SHARE * total)
    found = []
    for rid, title, organization, host, speakers in rows:
        people = [*(speakers.split("\x1f") if speakers else []), *([host] if host else [])]
        details = [(name, person_limit) for name in people]
        details += [(name, detail_limit) for name in [*organization.split(";"), title]]
        matched_names, matched_terms = [], set()
        for detail, limit in details:
            hits = _terms_in(detail, terms)
            detail_words = [w for w in words(detail) if w not in STOPWORDS]
            whole = detail_words and len(hits) >= len(set(detail_words))
            distinctive = any(doc_count(term.stem) <= limit for term in hits)
            if hits and (whole or distinctive):
                matched_names.append(detail.strip())
                matched_terms |= hits
        if matched_terms:
            share = sum(weights.get(t, 0.0) for t in matched_terms) / weight
            found.append(NamedTalk(rid, matched_names, frozenset(matched_terms), share))
    found.sort(key=lambda n: n.share, reverse=True)
    return found


def _terms_in(detail: str, terms: list[Term]) -> set[Term]:
    """The query terms a detail contains, allowing small spelling differences."""
    detail_words = [w for w in words(detail) if w not in STOPWORDS]
    detail_stems = {stem(w) for w in detail_words}
    hits = set()
    for term in terms:
        if term.stem in detail_stems or any(
            len(term.word) >= SPELLING_MIN_LETTERS and fuzz.ratio(term.word, w) >= NAME_SIMILARITY for w in detail_words
        ):
            hits.add(term)
    return hits


def vocabulary(db: Database) -> list[str]:
    """Every stem the transcripts hold that is long enough to stand in for a misheard word.

    Reading FTS5's vocabulary takes 160 ms at 100,000 passages: the searcher keeps it until the
    index changes (``Searcher._vocabulary``).
    """
    return [
        row[0]
        for row in db.execute("SELECT term FROM passages_fts_terms WHERE length(term) >= ?", [SPELLING_MIN_LETTERS])
    ]


def misheard(parsed: ParsedQuery, doc_count, vocabulary) -> Alternatives:
    """Stems the transcripts contain that may be how Whisper wrote a query word they never contain.

    ``vocabulary()`` gives the stems to look among (called only if a word is unknown).
    """
    unknown = [
        t for t in parsed.terms if not t.prefix and len(t.word) >= SPELLING_MIN_LETTERS and not doc_count(t.stem)
    ]
    alternatives = Alternatives(unknown=frozenset(unknown))
    if not unknown:
        return alternatives
    vocabulary = vocabulary()
    for term in unknown:
        matches = process.extract(
            term.stem, vocabulary, scorer=fuzz.ratio, limit=SPELLING_ALTERNATIVES, score_cutoff=SPELLING_SIMILARITY
        )
        if matches:
            alternatives.by_term[term] = {match: score / 100 for match, score, _ in matches}
    return alternatives


def spoken_at(texts: list[str], names: list[str]) -> tuple[int, float]:
    """(index, similarity 0..1) of the text in which one of ``names`` is said most plainly."""
    wanted = [_letters(name) for name in names if len(_letters(name)) >= SPELLING_MIN_LETTERS]
    best, best_score = 0, 0.0
    for i, text in enumerate(texts):
        letters = _letters(text)
        score = max((fuzz.partial_ratio(name, letters) for name in wanted), default=0.0)
        if score > best_score:
            best, best_score = i, score
    return best, best_score / 100


def letters(text: str) -> str:
    """A text's letters and digits, folded, with no spaces: how ``Alternatives.spelled`` reads it."""
    return _letters(text)


@lru_cache(maxsize=16384)
def _letters(text: str) -> str:
    return _NOT_LETTERS.sub("", text.lower() if text.isascii() else fold(text))


_NOT_LETTERS = re.compile(r"[\W_]+")
