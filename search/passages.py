"""Grouping transcript segments into overlapping search passages.

A passage is a run of whole segments: about ``target_words`` words (well inside
MiniLM's 256-token window, near the 128 it was trained on), never longer than
``max_seconds``. Each passage starts part-way through the previous one, so an answer
that straddles a boundary is whole in at least one passage. Because passages hold
whole segments, every segment start inside a passage is an exact place to jump to.
"""

from __future__ import annotations

from collections.abc import Sequence

from archive.core.store.records import Passage, Segment

TARGET_WORDS = 80
MAX_SECONDS = 60.0
OVERLAP_WORDS = 30


def _word_count(segment: Segment) -> int:
    return len(segment.text.split())


def build_passages(
    segments: Sequence[Segment],
    target_words: int = TARGET_WORDS,
    max_seconds: float = MAX_SECONDS,
    overlap_words: int = OVERLAP_WORDS,
) -> list[Passage]:
    """Overlapping passages over ``segments`` (in time order); empty input gives no passages."""
    passages: list[Passage] = []
    first = 0
    n = len(segments)
    while first < n:
        last = first
        words = _word_count(segments[first])
        while last + 1 < n and words < target_words and segments[last + 1].end - segments[first].start <= max_seconds:
            last += 1
            words += _word_count(segments[last])
        passages.append(
            Passage(
                idx=len(passages),
                first_segment=first,
                last_segment=last,
                start=segments[first].start,
                end=segments[last].end,
                text=" ".join(s.text.strip() for s in segments[first : last + 1]),
            )
        )
        if last + 1 >= n:
            break
        # Step back from the end until the overlap holds enough words, but always move forward.
        next_first, tail_words = last + 1, 0
        while next_first - 1 > first and tail_words < overlap_words:
            next_first -= 1
            tail_words += _word_count(segments[next_first])
        first = next_first
    return passages


WINDOW_WORDS = 24


def segment_windows(segments: Sequence[Segment], min_words: int = WINDOW_WORDS) -> list[str]:
    """For each segment, its text followed by the next segments up to ``min_words`` words.

    Search embeds these to find where inside a passage an answer starts: one short
    sentence alone says too little, and a window beginning at the segment ranks the
    place where the answer begins above the places just after it.
    """
    texts = []
    for i in range(len(segments)):
        parts, count, j = [], 0, i
        while j < len(segments) and (count < min_words or j == i):
            parts.append(segments[j].text.strip())
            count += _word_count(segments[j])
            j += 1
        texts.append(" ".join(parts))
    return texts
