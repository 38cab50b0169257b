"""What a search gives back: the moments that answer a query, grouped by talk, and the evidence the
answer-or-not decision weighed.

These are the types every door renders (the search page, the API, ``archive search``, the MCP
server) and the evaluation reads; they hold no ranking rule and read no database, so a door can
show a result without knowing how it was found. The moments are made and ordered by
``search.engine`` and ``search.ranking``; the two helpers at the end fill in what a moment shows
(its talk's details, its snippet) once it is certain to be shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from archive.core.store.records import Recording
from archive.core.timecode import link_time
from search.asides import Aside
from search.labels import MATCH_LABELS
from search.text import ParsedQuery, highlight


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
    literal: bool = False  # its passage holds every word (and phrase) of the query, or its talk is named
    cosine: float = 0.0  # of its window, meaning only
    speaker: str | None = None  # who says it, where a meeting transcript named the speakers
    says_words: bool = False  # the words shown (its text) hold every word of the query
    named: bool = False  # found because its talk's details name what the query names
    close_wording: bool = False  # its lines say the query's words as Whisper misheard them (``Evidence.said_misheard``)
    more: bool = False  # not its talk's best moment: shown behind "more from this talk"
    # What the reader weighs (``search.reader.MOMENT_SIGNALS``), where the reader scored it.
    signals: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"/recordings/{self.slug}?t={link_time(self.start)}"

    @property
    def match(self) -> str:
        """How it matches, said plainly beside it: ``words`` (it says the query's words), ``name``
        (its talk's details name what the query names), ``close`` (it says words spelled close to
        them: Whisper misheard a name or a line) or ``meaning`` (only similar in meaning)."""
        if self.says_words:
            return "words"
        if self.named:
            return "name"
        return "close" if self.close_wording else "meaning"

    @property
    def match_label(self) -> str:
        return MATCH_LABELS[self.match]

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
            "match": self.match,
            "more_from_talk": self.more,
            **({"speaker": self.speaker} if self.speaker else {}),
        }


@dataclass
class Evidence:
    """The signals the answer-or-not decision weighs (kept on the response for the evaluation)."""

    best_cosine: float = 0.0  # the best of the top three moments' windows, meaning only
    standout: float = 0.0  # the nearest passage's cosine above the mean of the ten nearest
    literal: bool = False  # the best moment's passage holds every word of the query
    named: bool = False  # the query is a name the details of a talk give
    said: float = 0.0  # the most of the query's word weight any candidate passage holds as typed
    wording: float = 1.0  # for a quoted phrase no passage holds: how close the nearest wording comes (0-1)
    # A query of two words or more no passage holds as typed whose nearest wording among the best
    # moments comes close (``ranking.CLOSE_WORDING``): said there, as Whisper misheard it.
    said_misheard: bool = False
    reading: np.ndarray | None = None  # what the reader's answer-or-not decision weighs (``reader.query_reading``)
    read: list[Moment] = field(default_factory=list)  # every moment the reader scored (bench/train/fit_reader.py)


@dataclass
class TalkMoments:
    """One talk and its moments, best first: how results are shown."""

    recording: Recording
    moments: list[Moment]

    @property
    def best(self) -> Moment:
        return self.moments[0]

    @property
    def more(self) -> list[Moment]:
        """Its other moments, shown behind "more from this talk" so one talk never fills the top."""
        return self.moments[1:]


@dataclass
class SearchResponse:
    query: str
    results: list[Moment]  # answers, grouped by talk
    weak_results: list[Moment] = field(default_factory=list)  # the nearest moments, when nothing answers
    notice: str = ""  # something the person should know about how the query was read
    recordings: dict[int, Recording] = field(default_factory=dict)  # every talk the moments are in
    evidence: Evidence = field(default_factory=Evidence)
    asides: list[Aside] = field(default_factory=list)  # slides and chat messages holding every word

    @property
    def talks(self) -> list[TalkMoments]:
        return _talks_of(self.results, self.recordings)

    @property
    def weak_talks(self) -> list[TalkMoments]:
        return _talks_of(self.weak_results, self.recordings)

    @property
    def said_talks(self) -> list[TalkMoments]:
        """The talks whose best moment says the query's words (or is where a named talk is named):
        shown first, before anything only similar in meaning."""
        return [talk for talk in self.talks if talk.moments[0].match != "meaning"]

    @property
    def meaning_talks(self) -> list[TalkMoments]:
        """The talks whose best moment is only similar in meaning to the query."""
        return [talk for talk in self.talks if talk.moments[0].match == "meaning"]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "query": self.query,
            "results": [m.to_dict() for m in self.results],
            "weak_results": [m.to_dict() for m in self.weak_results],
            "asides": [a.to_dict() for a in self.asides],
        }
        if self.notice:
            data["notice"] = self.notice
        return data


def _talks_of(moments: list[Moment], recordings: dict[int, Recording]) -> list[TalkMoments]:
    """The moments (already grouped by talk) as one ``TalkMoments`` per talk, in their order."""
    groups: dict[int, TalkMoments] = {}
    for moment in moments:
        group = groups.setdefault(moment.recording_id, TalkMoments(recordings[moment.recording_id], []))
        group.moments.append(moment)
    return list(groups.values())


def with_talk_details(recordings: dict[int, Recording], moments: list[Moment]) -> list[Moment]:
    """The moments with their recording's slug, title and date (moments of talks not there are left out)."""
    return [
        replace(
            m,
            slug=recordings[m.recording_id].slug,
            title=recordings[m.recording_id].title,
            date=recordings[m.recording_id].date,
        )
        for m in moments
        if m.recording_id in recordings
    ]


def with_snippets(moments: list[Moment], parsed: ParsedQuery) -> list[Moment]:
    """Snippets are made only for the moments shown: marking words is the slow part of a result."""
    return [replace(m, snippet=_as_excerpt(highlight(m.text, parsed), m.text)) for m in moments]


def _as_excerpt(snippet: str, text: str) -> str:
    """ "…" where the moment's words start or stop inside a sentence, so a snippet never seems whole when it is not."""
    text = text.strip()
    if text and not snippet.endswith("\u2026") and not text.endswith((".", "?", "!", "\u2026", '"', "\u201d")):
        snippet += "\u2026"
    if text and text[0].islower() and not snippet.startswith("\u2026"):
        snippet = "\u2026" + snippet
    return snippet
