"""Numbers a slide writes that the transcript seems to say differently, listed for staff to check."""

from __future__ import annotations

import pytest

from archive.core.store import recordings as store
from archive.core.store import write_transaction
from archive.core.store.records import Segment, Slide
from ingest.numbers import NumberToCheck, numbers_in, numbers_to_check, sound_alike

from .test_collections import add_talk


@pytest.mark.parametrize(
    ("a", "b", "alike"),
    [
        (18_000, 80_000, True),  # eighteen / eighty thousand
        (14, 40, True),
        (16, 60, True),
        (2019, 2009, True),  # nineteen / nine
        (40, 45, False),  # forty / forty-five: another figure, not a mishearing
        (1_200, 1_250, False),
        (100, 1_000, False),  # hundred / thousand are not spelled alike
        (7, 9, False),
        (2.5, 25, False),
        (40, 40, False),
    ],
)
def test_numbers_sound_alike_when_they_differ_in_one_word_spelled_alike(a, b, alike):
    assert sound_alike(a, b) is alike


def test_numbers_are_read_from_digits_and_from_words():
    assert numbers_in("We reach 80,000 families, 40% of them, in 2019.") == [
        ("80,000", 80_000),
        ("40", 40),
        ("2019", 2019),
    ]
    assert [v for _, v in numbers_in("about eighteen thousand families, forty percent")] == [18_000, 40]
    assert numbers_in("eighteen thousand", words=False) == []
    # Digits no one says as a number (a slide of them, an account number) are not read as one.
    assert numbers_in("9" * 400) == [] and numbers_in("Call 1234567890123456.") == []


def test_a_slide_of_digits_does_not_break_the_talk_page_for_staff():
    slides = [Slide(1, "Account", "9" * 400 + " and 80,000", at=0.0)]
    lines = [Segment(1.0, 4.0, "eighteen thousand and " + "9" * 400)]
    assert numbers_to_check(lines, slides) == [NumberToCheck(page=1, written="80,000", said="18,000", at=1.0)]


LINES = [
    Segment(100.0, 105.0, "We now reach about eighteen thousand families."),
    Segment(106.0, 110.0, "Forty percent of them are over 65."),
    Segment(200.0, 205.0, "Recruitment took about 40 months instead of seven."),
]
SLIDES = [
    Slide(3, "Reach", "80,000 families\n40% over 65", at=98.0),
    Slide(4, "What we'd do differently", "Recruitment: 14 mo vs 7 planned", at=199.0),
    Slide(5, "Thank you", "Questions? 2 minutes each", at=None),
]


def test_a_slide_number_said_differently_nearby_is_listed_with_where():
    assert numbers_to_check(LINES, SLIDES) == [
        NumberToCheck(page=3, written="80,000", said="18,000", at=100.0),
        NumberToCheck(page=4, written="14", said="40", at=200.0),
    ]
    # A number the slide's lines say as written is not listed, nor one said far from its slide.
    corrected = [LINES[0], LINES[1], Segment(200.0, 205.0, "Recruitment took about fourteen months instead of seven.")]
    assert [n.page for n in numbers_to_check(corrected, SLIDES)] == [3]
    far = [Segment(400.0, 405.0, "We now reach about eighteen thousand families.")]
    assert numbers_to_check(far, SLIDES[:1]) == []
    assert numbers_to_check(LINES, []) == []


def test_staff_see_the_numbers_to_check_on_the_talk_page_and_visitors_do_not(db, client, staff_client):
    slug = add_talk(db, "Reaching families", "public", ["Welcome.", "We now reach about eighteen thousand families."])
    recording = store.get_recording_by_slug(db, slug)
    with write_transaction(db):
        store.replace_slides(db, recording.id, [Slide(1, "Reach", "80,000 families", at=9.0)])
    page = staff_client.get(f"/recordings/{slug}").get_data(as_text=True)
    assert "1 number to check" in page and 'id="numbers-to-check"' in page
    assert "Slide 1 writes <strong>80,000</strong>; at" in page and "says <strong>18,000</strong>" in page
    assert 'href="?t=10' in page
    assert "numbers-to-check" not in client.get(f"/recordings/{slug}").get_data(as_text=True)
