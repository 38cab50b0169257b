"""Whisper's hints for a talk, from what the archive knows about it: its details, slides and chat.

A fake tokenizer stands in for Whisper's (a word it "knows" is one token, any other word one
token per two letters), so ranking and budget are checked without the model's files; one test
counts with the real tokenizer file.
"""

from __future__ import annotations

import math
import re

from archive.core.store.records import ChatMessage, Companions, RecordingMeta, Segment, Slide
from ingest import pipeline
from ingest.transcribe import (
    MAX_HINT_TOKENS,
    build_hints,
    distinctive_terms,
    talk_hints,
    whisper_token_count,
)
from search.text import STOPWORDS

KNOWN = frozenset(
    "the a of and our in for we with to at is how people family services health center program text message "
    "follow up after referral replies results why garden grove lotus sunday library county district using "
    "meeting chat great thanks hi welcome about today questions budget families percent team visits checks".split()
)


def fake_tokens(text: str) -> int:
    """One token for a word the fake tokenizer knows (in lower case) or a punctuation mark, one per
    two letters for any other word."""
    pieces = re.findall(r"\w+|[^\w\s]", text)
    return sum(1 if p.lower() in KNOWN or not p.isalnum() else math.ceil(len(p) / 2) for p in pieces)


def hints(meta: RecordingMeta, companions: Companions = Companions(), glossary=(), max_tokens=MAX_HINT_TOKENS):
    return talk_hints(meta, companions, glossary, max_tokens=max_tokens, count_tokens=fake_tokens).split(", ")


def slide(page: int, title: str, text: str) -> Slide:
    return Slide(page, title, f"{title}\n{text}", None)


MEETING = RecordingMeta(
    title="Texting after a referral: the Hoa Sen way",
    series="Community of Practice",
    speakers=["Thu Huong Nguyen"],
    organization="Hoa Sen Family Services",
    description="How Hoa Sen follows up with Vietnamese-speaking families by text, on Zalo.",
)
DECK = Companions(
    slides=(
        slide(1, "Why text?", "Replies after a referral went up to 64%"),
        slide(2, "Results", "About 18,000 messages sent\nKrzysztofowicz Wróblewska evaluated it (Sunday)"),
        slide(3, "Questions?", "Zalo or SMS, see https://example.org/zalo-guide"),
    ),
    chat=(
        ChatMessage(30.0, "Adaeze Okonkwo", "Is Zalo free? Call me on 555-0100 or 2,500 times"),
        ChatMessage(45.0, "Rick", "Great talk, thanks"),
    ),
)


def test_what_staff_typed_comes_first_then_the_rarest_names_and_terms_then_numbers_then_the_glossary():
    terms = hints(MEETING, DECK, glossary=["Keralty"])
    assert terms[:2] == ["Thu Huong Nguyen", "Hoa Sen Family Services"]
    drawn = terms[2:-1]
    # Rarest first: the long surname needs the most extra tokens; then the chat's asker.
    assert drawn.index("Krzysztofowicz Wróblewska") < drawn.index("Adaeze Okonkwo") < drawn.index("Zalo")
    # Numbers written on the slides come after every word, and the chat's numbers not at all.
    numbers = [t for t in drawn if t[0].isdigit()]
    assert numbers == ["64%", "18,000"] and drawn[-len(numbers) :] == numbers
    assert terms[-1] == "Keralty"


def test_terms_written_more_often_rank_above_as_rare_ones_written_once():
    ranked = distinctive_terms(["Zalo and Viber", "Viber again", "on Viber"], fake_tokens)
    assert [t.text for t in ranked] == ["Viber", "Zalo"]
    assert ranked[0].mentions == 3


def test_the_host_is_a_name_to_spell_like_the_speakers():
    meta = RecordingMeta(speakers=["Thu Huong Nguyen"], host="Deborah Fairweather", organization="Hoa Sen")
    assert hints(meta, Companions()) == ["Thu Huong Nguyen", "Deborah Fairweather", "Hoa Sen"]


def test_each_term_once_and_never_inside_a_name_already_given():
    meta = RecordingMeta(speakers=["Thu Huong Nguyen", "thu huong  nguyen"], organization="Hoa Sen Family Services")
    companions = Companions(
        slides=(slide(1, "Nguyen's team", "Hoa Sen; Thu Huong Nguyen, HOA SEN FAMILY SERVICES"),),
        chat=(ChatMessage(1.0, "Thu Huong Nguyen", "Zalo"), ChatMessage(2.0, "Zalo", "zalo")),
    )
    assert hints(meta, companions) == ["Thu Huong Nguyen", "Hoa Sen Family Services", "Zalo"]


def test_no_stop_words_common_words_links_or_abbreviations():
    meta = RecordingMeta(
        title="The Vecinos Compasivos Program and Our Results", description="Our text message program, wk 3."
    )
    companions = Companions(
        slides=(slide(1, "Follow-Up", "Mon, Tue: www.hoasen.example/texting CHW visits BP checks"),),
    )
    terms = hints(meta, companions)
    assert "Vecinos Compasivos" in terms and "Vecinos Compasivos Program" not in terms and "CHW" in terms
    for term in terms:
        assert term.casefold() not in STOPWORDS and not term.startswith(("The ", "Our "))
    assert not {"Results", "Follow-Up", "wk", "Mon", "Tue", "BP"} & set(terms)
    assert not [t for t in terms if "example" in t or "www" in t]


def test_the_hints_stay_within_the_prompt_budget_most_distinctive_kept():
    many = RecordingMeta(speakers=[f"Speaker Wróblewskiewicz{i}" for i in range(40)], vocab=["Zalo"])
    budget = 80
    kept = talk_hints(many, max_tokens=budget, count_tokens=fake_tokens)
    assert fake_tokens(" This talk mentions. " + kept) <= budget
    assert kept.startswith("Speaker Wróblewskiewicz0, Speaker Wróblewskiewicz1")
    assert kept.endswith("Zalo")  # too little room for another name, enough for a short term after them


def test_build_hints_counts_whisper_tokens_not_characters():
    names = [f"Przybylska Szczepańska{i}" for i in range(60)]
    prompt = build_hints(names)
    assert len(prompt) < 600 and whisper_token_count(" " + prompt) <= 223  # Whisper's prompt holds 223
    assert prompt.startswith("Przybylska Szczepańska0, Przybylska Szczepańska1")


def test_the_pipeline_hints_come_from_the_talks_slides_and_chat_too(db):
    companions = Companions(slides=(slide(1, "Partners", "Vecinos Compasivos, Bogotá"),))
    meta = RecordingMeta(title="Neighbours", speakers=["Ximena Echeverri"])
    assert pipeline.hints_for(db, meta, companions).split(", ")[:3] == [
        "Ximena Echeverri",
        "Vecinos Compasivos",
        "Bogotá",
    ]
    assert pipeline.hints_for(db, meta) == "Ximena Echeverri"


def test_a_written_name_is_hinted_without_the_common_words_at_its_ends():
    companions = Companions(slides=(slide(1, "Find the ComfyUI Program", "Hoa Sen Family Services"),))
    terms = hints(RecordingMeta(title="Texting"), companions)
    assert "ComfyUI" in terms and "ComfyUI Program" not in terms
    assert "Hoa Sen" in terms and "Hoa Sen Family Services" not in terms


# -- names the archive knows, spelled as written (ingest.respell) ------------------------------


def _respell(line: str, hints: str) -> str:
    from ingest.respell import respelled_lines
    from ingest.transcribe import unknown_to_whisper

    return respelled_lines([Segment(0.0, 5.0, line)], hints, unknown_to_whisper)[0].text


def test_a_near_miss_of_a_known_name_is_written_as_the_name_is():
    """Whisper base's own near misses on the evaluation webinars, with the talk's hints."""
    assert _respell("Adae Okonkwo supervises the team.", "Adaeze Okonkwo") == "Adaeze Okonkwo supervises the team."
    assert _respell("Thanks, Przysztof.", "Krzysztof Wróblewski") == "Thanks, Krzysztof."
    assert _respell("the director of Messinos Compasivos in", "Vecinos Compasivos") == (
        "the director of Vecinos Compasivos in"
    )
    # Spelled out, or split into words Whisper knows: the same letters.
    assert _respell("My name is Małgorzata P. R. Zybylska, but", "Małgorzata Przybylska") == (
        "My name is Małgorzata Przybylska, but"
    )


def test_words_that_only_look_like_a_known_name_are_left_as_said():
    hints = "Thu Huong Nguyen, Fade and Faith Barbershop, Braided Funding, Krzysztof Wróblewski"
    for line in (
        "Today I'm really pleased to introduce Thu Huong Nguyen.",  # a part of the name, spelled right
        "Barbers get $25 an hour for the training.",  # a word of its own, not the name's start
        "we pay for it with four sources braided together",  # only capitalised otherwise
        "Thank you, Krzysztof, and hello everyone.",  # "you, Krzysztof" is not a misheard name
        "The weather was fine and everyone came.",
    ):
        assert _respell(line, hints) == line


def test_an_ingest_spells_the_names_of_the_talks_details_as_written(config, db):
    from archive.core.store import recordings as store

    from .fakes import ScriptedTranscriber, WordHashEmbedder
    from .helpers import JFK

    transcriber = ScriptedTranscriber([(0.5, 10.5, "Our speaker is Adae Okonkwo from Detroit.")])
    meta = RecordingMeta(title="Paying for community health workers", speakers=["Adaeze Okonkwo"])
    result = pipeline.ingest_file(db, config, JFK, meta, transcriber=transcriber, embedder=WordHashEmbedder())
    assert [s.text for s in store.get_segments(db, result.recording.id)] == [
        "Our speaker is Adaeze Okonkwo from Detroit."
    ]
