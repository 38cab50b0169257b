"""Numbers a slide writes that the transcript seems to say differently: shown to staff to check.

Whisper mishears figures the way people do, most of all "-teen" and "-ty" ("eighteen thousand"
for a slide's 80,000). The deck is written with care, so where a slide's number is not said
anywhere near the slide and a number said there sounds like it, the talk page lists the pair
for staff to listen to (``numbers_to_check``). It is worked out when the page is shown, from the
lines and slides as they are now: a corrected line stops being listed.

Two numbers "sound alike" when, written out in words (num2words), they have as many words and
differ in one, and those two words are spelled alike (rapidfuzz ratio >= ``ALIKE_RATIO``):
eighteen/eighty 77, fourteen/forty 62, sixteen/sixty 67. Different figures that only share words
differ in their count of words (forty/forty-five, 1,200/1,250) or in a word spelled unlike
(hundred/thousand 27, seven/nine 44). Number words in lines and slides are read as numbers
first (text2num's ``alpha2digit``), so "forty percent" said matches a slide's 40%.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from archive.core.store.records import Segment, Slide

ALIKE_RATIO = 60
# A slide's lines are looked for from a little before it is reached to a little after the next slide.
REACH_SECONDS = 15.0
LAST_SLIDE_SECONDS = 180.0  # the last slide's span, where no slide follows
SMALLEST = 10  # single digits are list numbers and steps more often than figures
LARGEST = 1e15  # a thousand trillion
NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,]\d)|(?<![\w.,])\d+(?:\.\d+)?(?!\w)")


@dataclass(frozen=True)
class NumberToCheck:
    """A slide's number (``written``, as on the slide) and the nearby ``said`` one that sounds like it, at ``at`` seconds."""

    page: int
    written: str
    said: str
    at: float


def numbers_to_check(segments: Sequence[Segment], slides: Sequence[Slide]) -> list[NumberToCheck]:
    """Each slide number that no line near its slide says, paired with the first line near it
    that says a number sounding like it (see the module's docstring), in the order of the talk."""
    placed = sorted((s for s in slides if s.at is not None), key=lambda s: s.at or 0.0)
    found: list[NumberToCheck] = []
    for i, slide in enumerate(placed):
        written = [
            (t, value) for t, value in numbers_in(f"{slide.title}\n{slide.text}", words=False) if value >= SMALLEST
        ]
        if not written:
            continue
        start = (slide.at or 0.0) - REACH_SECONDS
        end = (placed[i + 1].at or 0.0) + REACH_SECONDS if i + 1 < len(placed) else start + LAST_SLIDE_SECONDS
        said = [
            (line.start, value) for line in segments if start <= line.start < end for _, value in numbers_in(line.text)
        ]
        values = {value for _, value in said}
        for text, value in dict((value, (text, value)) for text, value in written).values():
            if value in values:
                continue
            alike = next(((at, other) for at, other in said if sound_alike(value, other)), None)
            if alike is not None:
                found.append(NumberToCheck(slide.page, text, _shown(alike[1]), alike[0]))
    return sorted(found, key=lambda n: n.at)


def numbers_in(text: str, words: bool = True) -> list[tuple[str, float]]:
    """The numbers in ``text`` as written and as values: its digits, and with ``words`` its number
    words too ("eighteen thousand"; a slide is read for digits only, as it shows them)."""
    if words:
        from text_to_num import alpha2digit

        try:
            text = alpha2digit(text, "en", threshold=0)
        except (ValueError, RuntimeError):  # text2num refuses odd input rather than guessing: keep the digits
            pass
    found = [(m.group(), float(m.group().replace(",", ""))) for m in NUMBER.finditer(text)]
    # A run of digits longer than any figure (a phone or account number, a slide of digits) is not
    # one to say aloud: num2words cannot write it out, nor can float hold it.
    return [(written, value) for written, value in found if value < LARGEST]


def sound_alike(a: float, b: float) -> bool:
    """Whether two different numbers, said in English, differ in one word spelled alike."""
    if a == b:
        return False
    words_a, words_b = _spoken(a), _spoken(b)
    if len(words_a) != len(words_b):
        return False
    differ = [(x, y) for x, y in zip(words_a, words_b, strict=True) if x != y]
    if len(differ) != 1:
        return False
    from rapidfuzz import fuzz

    return fuzz.ratio(*differ[0]) >= ALIKE_RATIO


def _shown(value: float) -> str:
    return f"{int(value):,}" if value == int(value) else f"{value:g}"


@cache
def _spoken(value: float) -> tuple[str, ...]:
    from num2words import num2words

    number = int(value) if value == int(value) else value
    return tuple(re.split(r"[\s,-]+", num2words(number).replace(" and ", " ").strip()))
