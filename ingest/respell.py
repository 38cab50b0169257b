"""Names the archive knows, spelled as written: Whisper's near misses of a talk's own names replaced.

A talk's details, slides, chat and the glossary name people and organisations before anything is
transcribed; they go to Whisper as hints (``transcribe.talk_hints``), and still Whisper base writes
"Adae Okonkwo" for Adaeze Okonkwo, "Messinos Compasivos" for Vecinos Compasivos, "P. R. Zybylska"
for Przybylska. After transcription, a run of words whose letters come within
``RESPELL_SIMILARITY`` of a known name's (and that holds a word Whisper does not know whole: plain
words that happen to look alike are left alone) is written as the name is.

Measured on the evaluation webinars' transcripts (README, "Transcription settings, measured").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from rapidfuzz import fuzz

from archive.core.store.records import Segment
from ingest.transcribe import unknown_to_whisper
from search.names import letters

# The least similarity (rapidfuzz's ratio, 0-100, on the letters without spaces or accents:
# ``search.names.letters``) at which a run of words is taken for a known name. Chosen on the dev
# webinars (README).
RESPELL_SIMILARITY = 80
# Names shorter than this (in letters) are too easily met by chance ("Ana", "Bao").
MIN_NAME_LETTERS = 5
# A run of words may have this many more or fewer than the name ("P. R. Zybylska" for one word).
EXTRA_WORDS = 2

_WORD = re.compile(r"\S+")
_EDGE = re.compile(r"^\W*(.*?)\W*$", re.DOTALL)


@dataclass(frozen=True)
class KnownName:
    """A name to respell: as written, the letters of each of its words, and all its letters."""

    text: str
    parts: tuple[str, ...]
    letters: str

    @classmethod
    def of(cls, text: str) -> KnownName:
        parts = tuple(letters(word) for word in text.split())
        return cls(text, parts, "".join(parts))

    @property
    def words(self) -> int:
        return len(self.parts)


def known_names(hints: str, rare: Callable[[str], bool]) -> list[KnownName]:
    """The names among a talk's hints worth respelling: written with a capital, no digits, and with
    a word ``rare`` says Whisper does not know whole; each whole name and each such word of it."""
    found: dict[str, KnownName] = {}
    for term in re.split(r"[,;]\s*", hints):
        term = " ".join(term.split())
        if not term or any(c.isdigit() for c in term) or not any(c.isupper() for c in term):
            continue
        rare_words = [w for w in term.split() if len(letters(w)) >= MIN_NAME_LETTERS and rare(w)]
        if not rare_words:
            continue
        for name in [term, *rare_words] if len(term.split()) > 1 else [term]:
            known = KnownName.of(name)
            if len(known.letters) >= MIN_NAME_LETTERS and known.letters not in found:
                found[known.letters] = known
    return list(found.values())


def respelled(text: str, names: Sequence[KnownName], rare: Callable[[str], bool]) -> str:
    """``text`` with each run of words that is a near miss of a known name written as the name is:
    the most similar runs first, longer names first among equals, none overlapping."""
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    if not words or not names:
        return text
    word_letters = [letters(w) for _, _, w in words]
    ends = [0]  # letters before each word: a run's length without joining it
    for part in word_letters:
        ends.append(ends[-1] + len(part))
    found = []
    for name in names:
        for length in range(max(1, name.words - EXTRA_WORDS), name.words + EXTRA_WORDS + 1):
            for first in range(len(words) - length + 1):
                size = ends[first + length] - ends[first]
                if not size or abs(size - len(name.letters)) > len(name.letters) // 3:
                    continue
                run = words[first : first + length]
                run_parts = tuple(word_letters[first : first + length])
                run_letters = "".join(run_parts)
                said = " ".join(_bare(w) for _, _, w in run)
                if said.casefold() == name.text.casefold():  # as written, or only capitalised otherwise
                    continue
                if run_letters == name.letters:  # split ("Fair weather") or spelled out ("P. R. Zybylska")
                    found.append((100.0, name.words, first, first + length, name))
                    continue
                # A near miss is made only of words Whisper does not know whole ("you, Krzysztof"
                # is two words, not a misheard name), and is neither part of the name nor the name
                # with more to it: "Huong Nguyen" is Thu Huong Nguyen's name already spelled right,
                # "Barbers" a word of its own, not a mishearing of "Barbershop".
                if _within(run_parts, name.parts) or _within(name.parts, run_parts):
                    continue
                if run_letters.startswith(name.letters) or name.letters.startswith(run_letters):
                    continue
                if not all(rare(_bare(w)) for _, _, w in run):
                    continue
                score = fuzz.ratio(run_letters, name.letters)
                if score >= RESPELL_SIMILARITY:
                    found.append((score, name.words, first, first + length, name))
    taken = [False] * len(words)
    chosen = []
    for _score, _, first, last, name in sorted(found, key=lambda f: (-f[0], -f[1], f[2])):
        if any(taken[first:last]):
            continue
        taken[first:last] = [True] * (last - first)
        chosen.append((first, last, name))
    for first, last, name in sorted(chosen, key=lambda c: -c[0]):
        start, end = words[first][0], words[last - 1][1]
        lead = re.match(r"^\W*", words[first][2]).group()  # type: ignore[union-attr]
        trail = re.search(r"[^\w]*$", words[last - 1][2]).group()  # type: ignore[union-attr]
        text = text[:start] + lead + name.text + trail + text[end:]
    return text


def respelled_lines(
    lines: Sequence[Segment], hints: str, rare: Callable[[str], bool] = unknown_to_whisper
) -> list[Segment]:
    """Each line with the talk's known names respelled (``respelled``); the rest as they were.
    ``rare``: whether Whisper needs more than one token for a word."""
    names = known_names(hints, rare)
    if not names:
        return list(lines)
    return [replace(line, text=respelled(line.text, names, rare)) for line in lines]


def _within(part: tuple[str, ...], whole: tuple[str, ...]) -> bool:
    """Whether ``part`` is a run of consecutive items of ``whole``."""
    return any(whole[i : i + len(part)] == part for i in range(len(whole) - len(part) + 1))


def _bare(word: str) -> str:
    return _EDGE.match(word).group(1)  # type: ignore[union-attr]
