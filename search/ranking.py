"""How a search orders what it found, and whether it answers at all: the settings and the rules.

The searcher (``search.engine``) reads the database and the vectors; everything here is pure and
reads neither, so each rule can be tested, tuned and explained on its own:

- ``Ranking``: the knobs (how many candidates of each kind, the keyword weight, the penalty for a
  talk's further moments...), and ``Decision`` with ``DECISIONS``: the logistic answer-or-not model
  on two signals of meaning, fitted for each embedding model.
- **Fusion and the formula score**: the dense, keyword and named candidates are pooled as
  ``Candidate``s, each scoring ``cosine + keyword_weight * coverage``; ``QueryWords.coverage``
  is the share of the query's word weight a text holds (its talk's details and misheard spellings
  at a discount).
- **Answer or not** (``is_answered``): every word held or a talk named; otherwise the reader's
  decision or ``Decision``, never for a short query no talk says (``SHORT_QUERY_WORDS``).
- **Ordering and cutting**: ``rank_key``, ``distinct_moments``, ``grouped_by_talk``,
  ``spread_talks``, ``answers_among`` and ``is_courtesy`` (a greeting or thanks is never an answer).

Every number here was chosen with ``bench/bench_eval.py`` on its dev split (README, "Search, measured").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rapidfuzz import fuzz, process

from search import names
from search.reader import Reader
from search.results import Evidence, Moment
from search.text import STOPWORDS, ParsedQuery, contains_phrase, inflected, stems, word_spans, words

# A query of at most this many words (no phrase; "what are the shop owners told" is a question) is a topic: answered by meaning alone only if some
# passage says at least this share of its word weight as typed. A look-alike spelling does not
# count: "toolkit" is spelled close enough to "tools" to stand in for a misheard word.
SHORT_QUERY_WORDS = 3
SHORT_QUERY_SAID = 0.5
# A quoted phrase no passage holds word for word is answered by its nearest wording only where
# that comes this close (``nearest_wording``). On the evaluation archive the remembered phrases
# Whisper misheard came 0.88-0.95 close (one on dev, two on test, which were looked at), the demo
# test's phrase with its words swapped ("paper piece of") 0.83, and eight famous lines no talk
# says 0.65-0.71: 0.8 lies between, the threshold the respelling of names uses (ingest/respell.py).
CLOSE_WORDING = 0.8


@dataclass(frozen=True)
class Decision:
    """Whether a query the passages do not hold word for word is answered: a logistic model on two
    signals of meaning, fitted on the dev split by ``bench/bench_eval.py --calibrate``.

    Of the signals measured there (leave-one-out AUC, answerable against unanswerable dev questions),
    how far the nearest passage stands out from the next nine (0.78) and the best moment's own
    cosine (0.74) told them apart; agreement of the keyword and meaning rankings (0.50), the share
    of the nearest passages from one talk (0.54), the query words its talk never says (0.42) and
    the share of the query's words the best moments hold (0.55) did not, nor did they add to the two.
    """

    # Fitted on dev for EmbeddingGemma with titled passages, on transcripts by Whisper base with
    # speech regions and sentence lines (bench/bench_eval.py --calibrate); each embedding model has its
    # own (DECISIONS below).
    bias: float = -1.59
    best_cosine: float = 6.22  # the best moment's window, meaning only (no keyword bonus)
    standout: float = 2.31  # the nearest passage's cosine above the mean of the ten nearest
    # Answered when the model's probability reaches this: the highest threshold at which dev
    # paraphrase Recall@5 stays within 0.02 of answering everything (0.94 against 0.94; 0.32 of
    # the unanswerable dev questions left empty). 0.70 would leave 0.48 empty at Recall@5 0.90,
    # 0.85 0.80 empty at 0.45: README, "Search, measured".
    threshold: float = 0.60

    def answered(self, evidence: Evidence) -> bool:
        return self.probability(evidence) >= self.threshold

    def probability(self, evidence: Evidence) -> float:
        z = self.bias + self.best_cosine * evidence.best_cosine + self.standout * evidence.standout
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


@dataclass(frozen=True)
class Ranking:
    """The knobs of the ranking, measured with ``bench/bench_eval.py``."""

    dense_candidates: int = 40
    keyword_candidates: int = 40
    named_candidates: int = 8  # passages of each talk the query names, nearest first
    rescored_passages: int = 24
    keyword_weight: float = 0.3  # coverage 1.0 is worth this much cosine
    passage_weight: float = 0.5  # the moment's score mixes its passage and its own window
    same_moment_seconds: float = 20.0  # moments of one talk closer than this are one moment
    moments_per_talk: int = 3  # results show at most this many moments of one talk
    # A talk's second moment ranks this much lower, its third twice this (``spread_talks``).
    more_from_talk_penalty: float = 0.05
    weak_results: int = 3
    # Of an answered query, moments scoring this far below its best are left out.
    answer_margin: float = 0.25
    # A word the talk's details name counts this much in its passages; a spelling Whisper may have
    # written for a word the transcripts never contain counts this much times its similarity.
    named_credit: float = 0.9
    spelling_credit: float = 0.7
    # Words in more than about one passage in eight (IDF below this) are not sent to FTS5:
    # ranking every passage that says "people" is slow and tells little. Coverage still counts them.
    min_keyword_idf: float = 2.0
    decision: Decision = field(default_factory=Decision)
    # Related moments have no words to match: the cosine alone must reach this.
    related_threshold: float = 0.37


# The decision fitted for each embedding model by the same rule (bench/bench_eval.py --model M --calibrate).
DECISIONS = {
    "embeddinggemma-300m": Decision(),
    # MiniLM separates answerable from unanswerable questions less well: at the rule's threshold
    # it leaves 0.12 of the unanswerable dev questions empty.
    "all-MiniLM-L6-v2": Decision(bias=-1.18, best_cosine=5.15, standout=0.70, threshold=0.60),
}


def is_answered(parsed: ParsedQuery, evidence: Evidence, decision: Decision, reader: Reader | None) -> bool:
    """Whether a query is answered: one whose every word a passage holds, that names a talk, or
    whose nearest wording a moment comes close to (a name or line Whisper misheard,
    ``Evidence.said_misheard``), is; otherwise the decision on its meaning (the reader's where it
    decides, else ``decision``), except that a word or two no talk says (nor spells closely) is
    never answered, nor a quoted phrase whose nearest wording is not close (``Evidence.wording``).

    A short query is a topic, not a question: if the talks never say it, the nearest moments
    in meaning are about something else ("toolkit" found greetings). They follow as weak matches.
    A quoted phrase asks for its words the same way: its nearest wording stands in for words
    Whisper misheard, not for a phrase nobody said ("ask not what your country" in talks on
    social prescribing found a presenter introducing himself).
    """
    if evidence.wording < CLOSE_WORDING:
        return False  # a quoted phrase's words, said apart from each other, do not say it
    if evidence.literal or evidence.named or evidence.said_misheard:
        return True
    if is_short(parsed) and evidence.said < SHORT_QUERY_SAID:
        return False
    if reader is not None and reader.decides and evidence.reading is not None:
        return reader.answers(evidence.reading)
    return decision.answered(evidence)


def nearest_wording(phrases: Sequence[Sequence[str]], texts: Sequence[str]) -> float:
    """How close (0-1) the nearest run of words in ``texts`` comes to each phrase (its words as
    ``ParsedQuery.phrase_words`` has them), for the phrase it comes least close to: rapidfuzz's
    ratio against every run of as many words, one fewer or one more. A word misheard or two
    swapped keeps it above 0.8; other words with a few in common stay near 0.7."""
    if not phrases:
        return 1.0
    worded = [words(text) for text in texts]
    closest = []
    for phrase in phrases:
        runs = [
            " ".join(said[i : i + n])
            for said in worded
            for n in {max(1, len(phrase) - 1), len(phrase), len(phrase) + 1}
            for i in range(max(1, len(said) - n + 1))
        ]
        found = process.extractOne(" ".join(phrase), runs, scorer=fuzz.ratio) if runs else None
        closest.append(found[1] / 100 if found else 0.0)
    return min(closest)


def is_short(parsed: ParsedQuery) -> bool:
    """A word or a few, no phrase: a topic, whose words must be said as typed (``QueryWords.said_as_typed``)."""
    return not parsed.phrases and len(parsed.text.split()) <= SHORT_QUERY_WORDS


@dataclass
class Candidate:
    """A passage found for a query (near it in meaning, ranked by FTS5 for its words, or in a talk the
    query names), pooled with the others and scored by the formula: ``cosine + keyword_weight * coverage``."""

    passage_id: int
    recording_id: int
    first_segment: int
    last_segment: int
    start: float
    end: float
    text: str
    other_stems: str | None = None  # its lines in another language, stemmed in it (passages.stems)
    cosine: float = 0.0
    coverage: float = 0.0
    said: float = 0.0  # the share of the query's word weight it holds as typed (coverage, less credits)
    literal: bool = False

    @property
    def stems(self) -> list[str]:
        return stems(self.text) + (self.other_stems or "").split()

    def score(self, ranking: Ranking) -> float:
        """The formula score: its cosine, plus its coverage of the query's words at ``keyword_weight``."""
        return self.cosine + ranking.keyword_weight * self.coverage


def holds_every_word(said: float, by_name: float) -> bool:
    """Whether a text holds every word of the query (shares from ``QueryWords.shares``): each said
    there as typed, or, for a query that names a talk and asks about something in it ("what did
    the Great Lakes Health Equity Collaborative say about managed care plans"), said there apart
    from the words the talk's details name. A query that is only a name is not held by any text
    this way: where the name is said is ``Searcher._named_moments``'s to find."""
    return said >= 0.999 or (said > 0.0 and said + by_name >= 0.999)


class QueryWords:
    """The query's words as this archive sees them: their weights, the spellings Whisper may have
    written instead, and the talks whose details name them. ``coverage`` runs for every window of
    every candidate passage, so what it needs is worked out once, here."""

    def __init__(
        self,
        parsed: ParsedQuery,
        weights: dict[Any, float],
        alternatives: names.Alternatives,
        named: dict[int, names.NamedTalk],
        ranking: Ranking,
    ):
        self.parsed, self.weights, self.alternatives, self.named = parsed, weights, alternatives, named
        self.total = sum(weights.values())
        # (term, stem, weight, prefix, written instead: {stem: similarity}, unknown) per query word;
        # a term's stems in other languages count as the term (search.text.language_stems)
        self._terms = [
            (t, t.stem, weights[t], t.prefix, alternatives.by_term.get(t, {}), t in alternatives.unknown)
            for t in parsed.terms
        ]
        self._phrases = [(p, weights[p]) for p in parsed.phrases]
        self._named_credit, self._spelling_credit = ranking.named_credit, ranking.spelling_credit

    def coverage(
        self,
        text_stems: list[str],
        recording_id: int | None = None,
        letters: str = "",
        present: frozenset[str] | None = None,
    ) -> tuple[float, bool]:
        """(share 0..1 of the query's word weight in a text, whether it holds every word: ``holds_every_word``).

        ``letters`` (the text's, from ``names.letters``) lets a word the transcripts never hold be
        found spelled across the text's words; ``present`` is ``set(text_stems)`` where the caller has it.
        """
        found, exact, by_name = self.shares(text_stems, recording_id, letters, present)
        return found, holds_every_word(exact, by_name)

    def shares(
        self,
        text_stems: list[str],
        recording_id: int | None = None,
        letters: str = "",
        present: frozenset[str] | None = None,
    ) -> tuple[float, float, float]:
        """(share 0..1 of the query's word weight in a text, share it holds exactly, as said there,
        share the talk's details name and the text does not say)."""
        if not self.total:
            return 0.0, 0.0, 0.0
        if present is None:
            present = frozenset(text_stems)
        named = self.named[recording_id].terms if recording_id in self.named else ()
        found = exact = by_name = 0.0
        for term, stem, weight, prefix, written, unknown in self._terms:
            if (
                (stem in present or any(o in present for o in term.others))
                if not prefix
                else any(s.startswith(stem) for s in present)
            ):
                found, exact = found + weight, exact + weight
            elif named and term in named:
                found += weight * self._named_credit
                by_name += weight
            elif unknown:
                similar = max((s for alt, s in written.items() if alt in present), default=0.0)
                if letters:
                    similar = max(similar, self.alternatives.spelled(term, letters))
                found += weight * similar * self._spelling_credit
        for phrase, weight in self._phrases:
            if contains_phrase(text_stems, phrase):
                found, exact = found + weight, exact + weight
        return found / self.total, exact / self.total, by_name / self.total

    def said_as_typed(self, text: str, other_stems: str | None = None) -> float:
        """The share of the query's word weight ``text`` says as typed: a word counts where a word of
        the text has its stem and differs from it only by an ending (``text.inflected``), or, for
        lines in another language, where they hold its stem in that language (``other_stems``).

        What a short query is judged by (``is_short``): "mindfulness" is not said by a talk that
        only says "minds", though porter stems both to "mind".
        """
        if not self.total:
            return 0.0
        spans = word_spans(text)
        others = frozenset((other_stems or "").split())
        said = 0.0
        for term, stem, weight, prefix, _, _ in self._terms:
            if prefix:
                hit = any(s.startswith(stem) for _, _, s, _ in spans)
            else:
                hit = any(s == stem and inflected(term.word, token) for _, _, s, token in spans) or any(
                    o in others for o in term.others
                )
            said += weight * hit
        for phrase, weight in self._phrases:
            said += weight * contains_phrase([s for _, _, s, _ in spans], phrase)
        return said / self.total


STOPWORD_STEMS = frozenset(stems(" ".join(STOPWORDS)))
# Words of greeting, thanks and farewell: a moment made mostly of these and common words says
# nothing about the talk ("Thank you all for joining", "See you next month, take care").
_COURTESY = STOPWORD_STEMS | frozenset(
    stems(
        "thank thanks thankful grateful welcome hello hi everyone everybody all great wonderful pleasure glad happy "
        "look forward discussion questions join joining today again much so very really invite inviting having "
        "see next month bye goodbye safe enjoy cheers morning afternoon evening good nice lovely "
        "folks guys us coming come here being okay ok well yes oh um uh"
    )
)
# A text is a courtesy when fewer than this many of its words are neither common nor courteous...
COURTESY_OTHER_WORDS = 3
# ...or when at least this share of its words that are not common are courteous: a long thank-you
# ("thank you so much everyone for coming, it was great to see you all, see you next month, take
# care") still has three other words.
COURTESY_SHARE = 0.75


def is_courtesy(text: str) -> bool:
    """A greeting, a thank-you or an outro ("Thank you, and I look forward to the discussion"):
    its words are (nearly) all greeting, thanks and farewell words, or common ones."""
    content = [stem for stem in stems(text) if stem not in STOPWORD_STEMS]
    other = sum(1 for stem in content if stem not in _COURTESY)
    return other < COURTESY_OTHER_WORDS or other <= (1 - COURTESY_SHARE) * len(content)


def answers_among(moments: list[Moment], parsed: ParsedQuery, margin: float) -> list[Moment]:
    """Of an answered query's moments (best first), those that answer it: every one that holds the
    query's words, and those that come within ``margin`` of the best answer in the formula's score.

    A greeting, thanks or outro is never an answer, however close in meaning; only where it says
    the query's own words (a name said in the host's welcome) and the query is not itself one.
    """
    greeting = all(stem in _COURTESY for stem in stems(parsed.text))  # "thanks everyone for joining"
    kept = [m for m in moments if not is_courtesy(m.text) or (m.says_words and not greeting)]
    if not kept:
        return []
    floor = max(map(_formula_score, kept)) - margin
    return [m for m in kept if m.literal or _formula_score(m) >= floor]


def _formula_score(moment: Moment) -> float:
    """The moment's score by the cosine and keyword formula, also where the reader ordered it: the
    reader's probabilities say which is the answer, not how far below the best the rest may go
    (a margin on them cut dev paraphrase Recall@5 from 0.94 to 0.87, bench/train/fit_reader.py)."""
    return float(moment.signals[16]) if moment.signals is not None else moment.score


def rank_key(moment: Moment) -> tuple[bool, float]:
    """How moments are ordered, best first (sort with ``reverse=True``)."""
    # Every word of the query there, literally: a name, a rare word or a remembered phrase
    # ranks above passages that only mean something similar.
    return (moment.literal, moment.score)


def distinct_moments(moments: list[Moment], seconds: float) -> list[Moment]:
    """Best first, leaving out a moment closer than ``seconds`` to a better one of the same talk."""
    kept: list[Moment] = []
    for moment in moments:
        if not any(k.recording_id == moment.recording_id and abs(k.start - moment.start) < seconds for k in kept):
            kept.append(moment)
    return kept


def spread_talks(moments: list[Moment], penalty: float | None) -> list[Moment]:
    """Moments grouped by talk (``grouped_by_talk``) reordered so one talk does not fill the top: a talk's
    further moments rank ``penalty`` lower for each one before them (marked ``more``: the page
    shows them behind "more from this talk"), so another talk's best comes first unless they are
    clearly better. A talk's best moment always stays before its others. With no ``penalty`` (by
    date: the member asked for the newest talks first) the order is kept, the flags still set.

    Three moments a talk let two talks fill the top five, pushing a third talk's answer out of it
    (6 of 19 misses on held-out talks, issue 25); putting every talk's best before any other moment
    pushed a top talk's second moment, often the answer, past ten talks (README, "Search, measured").
    """
    shown: dict[int, int] = {}
    keyed = []
    for position, moment in enumerate(moments):
        before = shown.get(moment.recording_id, 0)
        shown[moment.recording_id] = before + 1
        if penalty is None:
            key: tuple = (-position,)
        else:
            key = (moment.literal, moment.score - penalty * before, -position)
        keyed.append((key, replace(moment, more=before > 0)))
    keyed.sort(key=lambda pair: pair[0], reverse=True)
    return [moment for _, moment in keyed]


def grouped_by_talk(moments: list[Moment], sort: str, per_talk: int) -> list[Moment]:
    """Moments grouped by recording (at most ``per_talk`` each): recordings by their best moment
    (or newest first), best moments first."""
    by_recording: dict[int, list[Moment]] = {}
    for moment in sorted(moments, key=rank_key, reverse=True):
        group = by_recording.setdefault(moment.recording_id, [])
        if len(group) < per_talk:
            group.append(moment)
    groups = list(by_recording.values())
    if sort == "date":
        groups.sort(key=lambda g: g[0].date or "", reverse=True)
    return [m for group in groups for m in group]
