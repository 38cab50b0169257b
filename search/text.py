"""Query text: cleaning, words and phrases, the FTS5 expression, word matching and snippets.

Words are split and stemmed the way the ``passages_fts`` table does it (FTS5's ``porter``
tokenizer over ``unicode61``: runs of letters and digits, lower-cased, accents removed,
Porter-stemmed), so what Python decides matches is what FTS5 matched. User text only
ever reaches FTS5 as double-quoted strings, so its syntax (``NEAR(``, ``*``, ``AND``,
stray quotes) is searched for as words, never run as a query.
"""

from __future__ import annotations

import html
import os
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache, lru_cache

import Stemmer

MAX_QUERY_CHARS = 500  # longer queries are cut at a word boundary; nobody types more
MAX_TERMS = 16

_stemmer = Stemmer.Stemmer("porter")
_WORD = re.compile(r"[^\W_]+")
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"'})

# Words that carry no topic: English function words and the framing of a question
# ("what did they say about ..."). They still reach the embedder, which reads the whole query.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each few for from further
    get got had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours ourselves
    out over own same she should so some such than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself yourselves
    say says said saying talk talks talked talking speak spoke mention mentioned discuss discussed
    tell told explain explained describe described someone somebody anyone anything something thing
    things way ways there's what's it's they're we're i'm don't didn't doesn't s t
    """.split()
)


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The FTS5 porter stem of one lower-cased, accent-free word."""
    return _stemmer.stemWord(word) if word.isascii() else word


def fold(text: str) -> str:
    """Lower-case and strip accents, as FTS5's unicode61 tokenizer does."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The FTS5 tokens of ``text``: folded runs of letters and digits."""
    return _WORD.findall(fold(text))


# Snowball stemmers (PyStemmer) for lines in a language other than English, whose words FTS5's
# porter tokenizer stems: "acompañar" and "acompañamos" share "acompan", which porter misses.
LANGUAGE_STEMMERS = {
    "es": "spanish",
    "de": "german",
    "fr": "french",
    "pt": "portuguese",
    "it": "italian",
    "nl": "dutch",
    "ca": "catalan",
}


@cache
def _language_stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(LANGUAGE_STEMMERS[language])


def language_stems(text: str, language: str | None) -> list[str]:
    """The words of ``text`` stemmed by ``language``'s stemmer, folded as FTS5 folds them; none
    for English (porter's) or a language without a stemmer."""
    if language not in LANGUAGE_STEMMERS:
        return []
    return [w for w in _language_stemmer(language).stemWords(words(text)) if w]


@lru_cache(maxsize=65536)
def _stems(text: str) -> tuple[str, ...]:
    folded = text.lower() if text.isascii() else fold(text)
    return tuple(stem(w) for w in _WORD.findall(folded))


def stems(text: str) -> list[str]:
    """The stems of ``text``'s FTS5 tokens, in order (remembered: the same lines come back query after query)."""
    return list(_stems(text))


@lru_cache(maxsize=16384)
def word_spans(text: str) -> tuple[tuple[int, int, str, str], ...]:
    """(start, end, stem, folded word) for each token of ``text``, with offsets into ``text`` itself
    (remembered, as ``stems``: snippets of the same lines are marked query after query)."""
    spans = []
    for match in _WORD.finditer(text):
        word = match.group()
        folded = word.lower() if word.isascii() else fold(word)
        for token in _WORD.findall(folded) or [folded]:
            spans.append((match.start(), match.end(), stem(token), folded))
    return tuple(spans)


def clean_query(text: str) -> tuple[str, bool]:
    """Control characters become spaces, whitespace collapses, and overlong text is cut.

    Returns (clean text, whether it was shortened).
    """
    chars = [" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") else c for c in str(text)]
    cleaned = " ".join("".join(chars).translate(_QUOTES).split())
    if len(cleaned) <= MAX_QUERY_CHARS:
        return cleaned, False
    cut = cleaned[:MAX_QUERY_CHARS]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut, True


@dataclass(frozen=True)
class Term:
    """One query word: as typed (folded) for FTS5, which stems it itself, and its stem for
    matching here; ``prefix`` for ``word*``, whose stem is the prefix as typed."""

    word: str
    stem: str
    prefix: bool = False
    others: tuple[str, ...] = ()  # its stems in the archive's other languages (LANGUAGE_STEMMERS)

    def fts(self) -> str:
        if self.prefix:
            return f'"{self.word}"*'
        if self.others:
            return "(" + " OR ".join(f'"{w}"' for w in (self.word, *self.others)) + ")"
        return f'"{self.word}"'

    def matches(self, token_stem: str, token: str) -> bool:
        return token.startswith(self.stem) if self.prefix else token_stem == self.stem


@dataclass
class ParsedQuery:
    """A cleaned query: the text for the embedder, content words and quoted phrases for FTS5."""

    text: str
    terms: list[Term] = field(default_factory=list)  # content words outside quotes
    phrases: list[tuple[str, ...]] = field(default_factory=list)  # stemmed words of each quoted phrase
    phrase_words: list[tuple[str, ...]] = field(default_factory=list)  # the same phrases as typed (folded)
    shortened: bool = False

    @property
    def empty(self) -> bool:
        return not self.text

    def fts_expression(self, skip: frozenset[Term] = frozenset(), *, every_word: bool = False) -> str | None:
        """An FTS5 MATCH expression: quoted phrases required, other words optional (or, with
        ``every_word``, required too); None if no words.

        Terms in ``skip`` are left out (words so common that ranking by them costs more than it tells).
        """
        phrases = [_phrase_fts(p) for p in self.phrase_words]
        optional = [t.fts() for t in self.terms if t not in skip]
        if every_word:
            return " AND ".join(phrases + optional) or None
        if phrases:
            required = " AND ".join(phrases)
            return f"{required} AND ({' OR '.join(phrases + optional)})" if optional else required
        return " OR ".join(optional) or None


def _phrase_fts(folded_words: tuple[str, ...]) -> str:
    return '"' + " ".join(folded_words) + '"'


def parse_query(raw: str, languages: tuple[str, ...] = ()) -> ParsedQuery:
    """Split a member's query into quoted phrases and content words (see the module docstring).

    With ``languages`` (besides English), each word also matches its stem in those languages,
    which passages hold for their lines in them (the ``stems`` column of ``passages_fts``).
    """
    text, shortened = clean_query(raw)
    phrases: list[tuple[str, ...]] = []
    phrase_words: list[tuple[str, ...]] = []
    outside: list[str] = []
    parts = text.split('"')
    if len(parts) % 2 == 0:  # an unbalanced quote: the last one is just a character
        parts[-2:] = [parts[-2] + " " + parts[-1]]
    for i, part in enumerate(parts):
        if i % 2 == 1:
            folded = tuple(words(part))
            if folded:
                phrase_words.append(folded)
                phrases.append(tuple(stem(w) for w in folded))
        else:
            outside.append(part)
    terms: list[Term] = []
    seen: set[Term] = set()
    candidates = []
    for chunk in outside:
        for match in re.finditer(r"[^\W_]+(\*?)", fold(chunk)):
            word = match.group().rstrip("*")
            for token in _WORD.findall(word):
                candidates.append((token, bool(match.group(1)) and len(token) >= 2))
    content = [(w, p) for w, p in candidates if w not in STOPWORDS] or (candidates if not phrases else [])
    for word, prefix in content:
        # Only stems FTS5 would not reach through the word itself (porter stems both again).
        others = (
            ()
            if prefix
            else tuple(
                dict.fromkeys(
                    s for language in languages for s in language_stems(word, language) if stem(s) != stem(word)
                )
            )
        )
        term = Term(word, word if prefix else stem(word), prefix, others)
        if term not in seen:
            seen.add(term)
            terms.append(term)
    return ParsedQuery(
        text=text,
        terms=terms[:MAX_TERMS],
        phrases=phrases[:MAX_TERMS],
        phrase_words=phrase_words[:MAX_TERMS],
        shortened=shortened,
    )


# A word said with another ending is the word as typed ("policy", "policies"; "train", "training")
# when neither differs from the letters they share by more than this; porter gives "mindfulness"
# and "minds" one stem, "mind", but a member who typed the one was not asking about the other.
INFLECTION_LETTERS = 4


def inflected(typed: str, token: str) -> bool:
    """Whether ``token`` (folded, as ``word_spans`` gives it) is the folded word ``typed`` or it with
    another ending, not a word derived from it or its root."""
    shared = len(os.path.commonprefix([typed, token]))
    return len(typed) - shared <= INFLECTION_LETTERS and len(token) - shared <= INFLECTION_LETTERS


def contains_phrase(stems: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(stems[i : i + n]) == phrase for i in range(len(stems) - n + 1))


def matched_spans(text: str, query: ParsedQuery) -> list[tuple[int, int]]:
    """Character spans in ``text`` of the words the query matches (its terms and phrases)."""
    spans = word_spans(text)
    stems = [s for _, _, s, _ in spans]
    marked = [False] * len(spans)
    for i, (_, _, token_stem, token) in enumerate(spans):
        if any(term.matches(token_stem, token) for term in query.terms):
            marked[i] = True
    for phrase in query.phrases:
        n = len(phrase)
        for i in range(len(stems) - n + 1):
            if tuple(stems[i : i + n]) == phrase:
                marked[i : i + n] = [True] * n
    return [(start, end) for (start, end, _, _), hit in zip(spans, marked, strict=True) if hit]


def highlight(text: str, query: ParsedQuery, max_chars: int = 240) -> str:
    """HTML for ``text`` (escaped) with the query's words in ``<mark>``, cut to about ``max_chars``.

    The text is escaped piece by piece before the marks are added, so transcript text can
    never inject markup.
    """
    spans = matched_spans(text, query)
    lo, hi = 0, len(text)
    if len(text) > max_chars:
        first = spans[0][0] if spans else 0
        lo = max(0, min(first - max_chars // 4, len(text) - max_chars))
        lo = text.rfind(" ", 0, lo) + 1 if lo > 0 else 0
        hi = min(len(text), lo + max_chars)
        if hi < len(text) and " " in text[lo:hi]:
            hi = text.rindex(" ", lo, hi)
    out, cursor = [], lo
    for start, end in spans:
        if start < lo or end > hi:
            continue
        out.append(html.escape(text[cursor:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        cursor = end
    out.append(html.escape(text[cursor:hi]))
    return ("\u2026" if lo > 0 else "") + "".join(out) + ("\u2026" if hi < len(text) else "")
