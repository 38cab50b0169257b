"""Passage building: overlapping runs of whole segments."""

from __future__ import annotations

from archive.core.store.records import Segment
from search.passages import build_passages


def _segments(n, words_each=10, seconds_each=4.0):
    return [
        Segment(
            start=i * seconds_each, end=(i + 1) * seconds_each, text=" ".join(f"w{i}_{k}" for k in range(words_each))
        )
        for i in range(n)
    ]


def test_no_segments_no_passages():
    assert build_passages([]) == []


def test_passages_cover_every_segment_and_overlap():
    segments = _segments(40)
    passages = build_passages(segments, target_words=80, max_seconds=60, overlap_words=30)
    covered = set()
    for p in passages:
        covered.update(range(p.first_segment, p.last_segment + 1))
        assert p.start == segments[p.first_segment].start
        assert p.end == segments[p.last_segment].end
        assert p.text.split()[0] == segments[p.first_segment].text.split()[0]
    assert covered == set(range(40))
    for before, after in zip(passages, passages[1:], strict=False):
        assert before.first_segment < after.first_segment <= before.last_segment  # overlap, always forward
    assert [p.idx for p in passages] == list(range(len(passages)))


def test_passages_respect_the_time_limit():
    segments = _segments(30, words_each=2, seconds_each=10.0)  # few words, long time
    for p in build_passages(segments, target_words=80, max_seconds=60):
        assert p.end - p.start <= 60


def test_a_single_long_segment_is_its_own_passage():
    segments = [Segment(0.0, 90.0, "word " * 300)]
    passages = build_passages(segments)
    assert len(passages) == 1 and passages[0].first_segment == passages[0].last_segment == 0
