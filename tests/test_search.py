"""Search: query parsing, ranking on the real demo talks, moments, filters, the log, CLI, API and page."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from archive.core.errors import UserError
from archive.core.store import recordings as store
from archive.core.store.records import RecordingMeta
from archive.core.store.searches import search_counts
from archive.core.timecode import link_time
from ingest.pipeline import ingest_file
from search.engine import Searcher, SearchFilters
from search.index import log_index_change
from search.text import highlight, parse_query
from search.vectors import VectorIndex

from .fakes import WordHashEmbedder

BAD_QUERIES = [
    "NEAR(",
    "*",
    "AND OR",
    '"',
    '"unbalanced quote',
    "-",
    "- -- ---",
    'title:x OR "a" NEAR(b c, 2) ^start',
    "\x00\x01 follow\x7f up \u200b",
    "x" * 5000,
    "word " * 1000,
    "¿Cómo hacen el seguimiento de los clientes?",
    "如何跟进客户",
    "🙂🙂 funding 💸",
    "'; DROP TABLE recordings; --",
]


# -- query text (unit) -------------------------------------------------------------------------


def test_parse_query_separates_phrases_words_and_prefixes():
    parsed = parse_query('what did they say about "link workers" and fund* for clinics?')
    assert parsed.phrases == [("link", "worker")]
    assert [(t.word, t.prefix) for t in parsed.terms] == [("fund", True), ("clinics", False)]
    assert parsed.terms[1].stem == "clinic"
    assert parsed.fts_expression() == '"link workers" AND ("link workers" OR "fund"* OR "clinics")'


def test_parse_query_cleans_control_characters_unbalanced_quotes_and_length():
    parsed = parse_query('\x00follow\x07 up "with clients')
    assert parsed.text == 'follow up "with clients'
    assert parsed.phrases == []
    assert [t.word for t in parsed.terms] == ["follow", "clients"]
    long = parse_query("word " * 1000)
    assert long.shortened and len(long.text) <= 500
    assert parse_query(" \t\n\x00 ").empty


def test_a_query_of_stopwords_still_searches_its_words():
    assert [t.word for t in parse_query("what is it").terms] == ["what", "is", "it"]


def test_highlight_escapes_html_before_marking_stemmed_matches():
    text = 'Following up <script>alert("x")</script> with clients & families'
    html = highlight(text, parse_query("follow clients"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<mark>Following</mark>" in html and "<mark>clients</mark>" in html
    assert "&amp; families" in html


def test_highlight_cuts_long_text_around_the_first_match():
    text = " ".join(["filler"] * 100) + " the funding question " + " ".join(["more"] * 100)
    html = highlight(text, parse_query("funding"), max_chars=120)
    assert "<mark>funding</mark>" in html
    assert html.startswith("\u2026") and html.endswith("\u2026")
    assert len(html) < 200


# -- the vector index (real SQLite, stand-in vectors) --------------------------------------------


def _add_vectors(db, recording_id, ids, vectors):
    with db.atomic():
        for pid, vector in zip(ids, vectors, strict=True):
            db["passage_vectors"].insert(
                {"passage_id": pid, "recording_id": recording_id, "model": "test", "embedding": vector.tobytes()}
            )
        log_index_change(db, recording_id)


def test_vector_index_follows_writes_and_deletes(db):
    db.execute("PRAGMA foreign_keys = OFF")
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _add_vectors(db, 1, [1, 2, 3], vectors[:3])
    first = VectorIndex("test").updated(db)
    assert len(first) == 3
    assert first.search(vectors[1], 1).passage_ids.tolist() == [2]
    assert first.updated(db) is first  # nothing changed: the same snapshot

    _add_vectors(db, 2, [4, 5, 6], vectors[3:])
    with db.atomic():
        db.execute("DELETE FROM passage_vectors WHERE passage_id = 2")
        log_index_change(db, 1)
    second = first.updated(db)
    assert sorted(second.passage_ids.tolist()) == [1, 3, 4, 5, 6]
    assert second.search(vectors[4], 1).passage_ids.tolist() == [5]
    only_first = second.search(vectors[4], 5, recording_ids=np.array([1]))
    assert set(only_first.passage_ids.tolist()) == {1, 3}
    assert len(first) == 3  # the old snapshot is untouched for searches still using it


def _talk(
    db, title: str, lines: list[str], embedder, visibility: str = "public", speakers: tuple = (), host: str = ""
) -> int:
    """A recording with these lines (one a second) and its index, as ingest writes them."""
    from archive.core.store import write_transaction
    from archive.core.store.records import Segment
    from search.index import prepare_index, write_index

    segments = [Segment(float(i), i + 0.9, line) for i, line in enumerate(lines)]
    prepared = prepare_index(segments, embedder)
    with write_transaction(db):
        rid = store.insert_recording(
            db,
            RecordingMeta(title=title, visibility=visibility, speakers=list(speakers), host=host),
            duration=len(lines),
            media_path=f"{title}.m4a",
            media_hash=title,
            media_kind="audio",
            original_filename=f"{title}.m4a",
            language="en",
            model="test",
        )
        store.replace_segments(db, rid, segments)
        write_index(db, rid, prepared)
    return rid


def _shorten(db, recording_id: int, keep: int, embedder) -> None:
    from search.index import reindex_talk

    reindex_talk(db, recording_id, embedder, lambda segments: segments[:keep])


LINES = [" ".join(f"{topic} word{i}" for i in range(40)) for topic in ("apples", "bridges", "cellos", "dunes")]


def test_vectors_follow_the_newest_talk_rewritten_with_reused_passage_ids(db):
    """A takedown shortens the newest public talk, then a draft is ingested with no search in
    between: the draft's passages reuse the removed passages' ids. A visitor's search (only
    public talks) must never get the draft's text, and the public talk's vectors must be its new ones."""
    embedder = WordHashEmbedder()
    searcher = Searcher(embedder)
    public = _talk(db, "public talk", LINES, embedder)
    visitor = SearchFilters(visibility=("public",))
    assert searcher.search(db, "dunes", filters=visitor).results  # the snapshot now holds the public talk
    before = set(db.execute("SELECT id FROM passages").fetchall())

    _shorten(db, public, 1, embedder)  # only the apples are left
    draft = _talk(db, "draft", ["dunes " * 30, "dunes and more dunes " * 10], embedder, visibility="staff")
    reused = set(db.execute("SELECT id FROM passages WHERE recording_id = ?", [draft]).fetchall()) & before
    assert reused  # the situation that fooled the snapshot: the same ids, now another talk's

    index = searcher.vectors(db)
    rows = db.execute("SELECT passage_id, recording_id, embedding FROM passage_vectors").fetchall()
    assert sorted(index.passage_ids.tolist()) == sorted(r[0] for r in rows)
    for pid, rid, blob in rows:
        row = index.passage_ids.tolist().index(pid)
        assert index.recording_ids[row] == rid
        np.testing.assert_array_equal(index.matrix[row], np.frombuffer(blob, dtype=np.float32))
    found = searcher.search(db, "dunes", filters=visitor)
    assert all(m.recording_id == public for m in found.results + found.weak_results)
    assert not any("dunes" in m.text for m in found.results + found.weak_results)
    staff = searcher.search(db, "dunes")
    assert staff.results[0].recording_id == draft


def test_moments_are_checked_against_visibility_when_read_not_only_in_memory(db):
    """Even if the vectors in memory said a draft's passage belonged to a public talk, the search
    reads each passage's talk from the database and leaves out what the asker may not see."""
    embedder = WordHashEmbedder()
    searcher = Searcher(embedder)
    public = _talk(db, "public talk", LINES[:2], embedder)
    _talk(db, "draft", ["zeppelins " * 30], embedder, visibility="staff")
    index = searcher.vectors(db)
    lying = VectorIndex(
        index.model, index.passage_ids, np.full_like(index.recording_ids, public), index.matrix, index.head
    )
    searcher._snapshots = {key: lying for key in searcher._snapshots}
    found = searcher.search(db, "zeppelins", filters=SearchFilters(visibility=("public",)))
    assert not any("zeppelins" in m.text for m in found.results + found.weak_results)


def test_a_database_replaced_at_the_same_path_is_not_served_from_the_old_vectors(tmp_path):
    """A restore or a copy puts another database where the old one was: the snapshot notices."""
    from archive.core.store import connect

    embedder = WordHashEmbedder()
    searcher = Searcher(embedder)
    live, other = tmp_path / "archive.db", tmp_path / "other.db"
    first = connect(live)
    _talk(first, "bridges talk", LINES[1:2], embedder)
    assert searcher.search(first, "bridges").results
    first.close()
    second = connect(other)
    _talk(second, "cellos talk", LINES[2:3], embedder)  # the same number of index changes
    second.close()
    os.replace(other, live)
    replaced = connect(live)
    assert searcher.search(replaced, "bridges").results == []
    assert [m.title for m in searcher.search(replaced, "cellos").results] == ["cellos talk"]
    replaced.close()


# -- ranking on the real demo talks (Whisper base + EmbeddingGemma) --------------------------------


@pytest.fixture
def searcher(embedder):
    return Searcher(embedder)


def _segment_start(db, slug, words):
    """When the transcript segment containing ``words`` starts (and ends)."""
    recording = store.get_recording_by_slug(db, slug)
    for segment in store.get_segments(db, recording.id):
        if words.lower() in segment.text.lower():
            return recording.id, segment.start, segment.end
    raise AssertionError(f"{words!r} not in {slug}")


FOLLOW_UP = "relational-social-prescribing-staying-with-clients"
IMPACT = "measuring-what-matters-simple-data-tools-for-social"
COMPASSION = "compassionate-communities-neighbors-caring-for-neighbors"


def test_a_question_in_other_words_lands_on_the_answer(demo_data_dir, db, searcher):
    response = searcher.search(db, "how do they keep in touch with people after the first activity?")
    # The answer: "Follow-up is where most of the value is. Our link workers call each client within one
    # week ..."; anchored on the second sentence, which Whisper base writes the same on every CPU tried.
    recording_id, answer_start, _ = _segment_start(db, FOLLOW_UP, "call each client within one week")
    best = response.results[0]
    assert best.recording_id == recording_id
    assert answer_start - 15 <= best.start <= answer_start + 30
    assert best.url == f"/recordings/{FOLLOW_UP}?t={link_time(best.start)}"
    # The moment starts where a transcript segment starts, so the player lands on a sentence.
    starts = {s.start for s in store.get_segments(db, recording_id)}
    assert best.start in starts


def test_a_name_ranks_the_passages_that_contain_it_first(demo_data_dir, db, searcher):
    for query in ("Okafor", "Elena Ruiz"):
        response = searcher.search(db, query)
        assert response.results, query
        top = response.results[0]
        assert query.split()[-1].lower() in top.text.lower()
        assert "<mark>" in top.snippet


def test_a_quoted_phrase_must_be_there_word_for_word(demo_data_dir, db, searcher):
    response = searcher.search(db, '"piece of paper"')
    assert response.results and not response.notice
    assert all("piece of paper" in m.text.lower() for m in response.results)
    assert "<mark>piece</mark> <mark>of</mark> <mark>paper</mark>" in response.results[0].snippet


def test_a_quoted_phrase_said_nowhere_gets_the_nearest_wording_and_says_so(demo_data_dir, db, searcher):
    """Whisper may have written a remembered phrase a little differently: the talks that hold its
    words come back, with a notice that none holds them exactly as typed."""
    response = searcher.search(db, '"paper piece of"')
    assert response.notice == "No talk has those exact words; these come closest."
    assert response.results and all("paper" in m.text.lower() for m in response.results)


def test_a_question_no_talk_answers_gets_no_results_only_weak_ones(demo_data_dir, db, searcher):
    response = searcher.search(db, "how do I repair the brakes on my bicycle?")
    assert response.results == []
    assert 0 < len(response.weak_results) <= 3
    data = response.to_dict()
    assert data["results"] == [] and data["weak_results"]


def _scripted_talk(db, config, media, lines, **meta):
    from ingest.pipeline import ingest_file

    from .fakes import ScriptedTranscriber, WordHashEmbedder, script_for

    transcriber = ScriptedTranscriber(script_for(11.0, lines))
    return ingest_file(
        db, config, media, RecordingMeta(**meta), transcriber=transcriber, embedder=WordHashEmbedder()
    ).recording


def test_a_line_in_spanish_is_found_by_its_spanish_stem(db, config, jfk_copy):
    """Porter stems "acompañamos" and "acompañar" apart; the Spanish stemmer joins them. Only
    lines heard in Spanish get Spanish stems, and an archive without Spanish gets no new terms."""
    from ingest.pipeline import ingest_file

    from .fakes import ScriptedTranscriber, WordHashEmbedder

    transcriber = ScriptedTranscriber(
        [
            (0.0, 4.0, "Thank you all for coming today.", "en"),
            (4.0, 8.0, "No hace falta ser médico para acompañar.", "es"),
            (8.0, 11.0, "Nobody needs to be a doctor to do this.", "en"),
        ]
    )
    ingest_file(
        db, config, jfk_copy, RecordingMeta(title="Vecinos"), transcriber=transcriber, embedder=WordHashEmbedder()
    )
    assert db.execute("SELECT stems FROM passages").fetchone()[0] == "no hac falt ser medic par acompan"
    bilingual = Searcher(WordHashEmbedder(), languages=("en", "es"))
    found = bilingual.search(db, "acompañamos médicos")
    assert [m.start for m in found.results][:1] == [4.0] and found.results[0].literal
    assert parse_query("acompañamos", ("es",)).terms[0].others == ("acompan",)
    assert parse_query("clients", ("es",)).terms[0].others == ()  # the same token to FTS5: no new term
    assert not [m for m in Searcher(WordHashEmbedder()).search(db, "acompañamos").results if m.literal]


def test_a_speaker_whisper_misheard_is_found_by_the_talks_details(db, config, jfk_copy, make_media):
    """The transcript says "the democonco"; staff typed "Adaeze Okonkwo": her name finds her talk,
    at its start (where nothing spells it), and her surname alone does too."""
    talk = _scripted_talk(
        db,
        config,
        jfk_copy,
        ["Welcome everyone", "Please welcome the democonco", "She runs the billing team"],
        title="Who pays?",
        speakers=["Adaeze Okonkwo"],
        organization="Cass Avenue Community Health Center",
    )
    _scripted_talk(
        db,
        config,
        make_media("other.wav"),
        ["Okay thanks all", "We talk about billing today"],
        title="Another talk",
        speakers=["Sam Lee"],
    )
    searcher = Searcher(WordHashEmbedder())
    for query in ("Adaeze Okonkwo", "okonkwo", "Adaeze Okonkow", "Cass Avenue Community Health Center"):
        found = searcher.search(db, query)
        assert [m.recording_id for m in found.results][:1] == [talk.id], query
        assert found.results[0].start == 0.0, query


def test_a_name_said_but_misheard_lands_where_it_is_said(db, config, jfk_copy):
    """The host's name is not in the details; the transcript spells it loosely ("Namer Affair
    Weather"): the moment it is said still comes back, spelled closely enough."""
    lines = [
        "Hi everyone and welcome",
        "Okay my name is Namer Affair Weather and I host today",
        "Housekeeping first",
        "Our speaker runs a clinic",
    ]
    talk = _scripted_talk(db, config, jfk_copy, lines, title="Texting clients", speakers=["Thu Huong Nguyen"])
    found = Searcher(WordHashEmbedder()).search(db, "Fairweather")
    moments = found.results + found.weak_results
    assert moments and moments[0].recording_id == talk.id and "Affair Weather" in moments[0].text


def test_a_word_whisper_spelled_differently_is_found(db, config, jfk_copy):
    talk = _scripted_talk(
        db,
        config,
        jfk_copy,
        ["Clients reply on Zalah", "a messaging app", "that is popular with families"],
        title="Messaging",
    )
    found = Searcher(WordHashEmbedder()).search(db, "Zalo")
    moments = found.results + found.weak_results
    assert moments and moments[0].recording_id == talk.id and "Zalah" in moments[0].text


def test_a_talk_shows_at_most_three_moments(demo_data_dir, db, searcher):
    response = searcher.search(db, "community", limit=50)
    for talk in response.talks:
        assert 1 <= len(talk.moments) <= searcher.ranking.moments_per_talk


def test_the_answer_decision_weighs_meaning_not_just_one_number():
    from search.ranking import Decision
    from search.results import Evidence

    decision = Decision()
    standing_out = Evidence(best_cosine=0.30, standout=0.15)
    as_close_as_everything_else = Evidence(best_cosine=0.30, standout=0.0)
    assert decision.answered(standing_out) and not decision.answered(as_close_as_everything_else)
    assert decision.answered(Evidence(best_cosine=0.60, standout=0.0))
    assert not decision.answered(Evidence(best_cosine=0.20, standout=0.10))
    assert decision.probability(Evidence(best_cosine=5.0, standout=5.0)) == pytest.approx(1.0)  # no overflow


def test_results_of_one_recording_are_grouped(demo_data_dir, db, searcher):
    """The page groups each talk's moments; the results list keeps each talk's best first and
    flags its other moments as more from that talk (issue 25: one talk must not fill the top)."""
    response = searcher.search(db, "link workers", limit=20)
    seen = []
    for moment in response.results:
        assert moment.more == (moment.recording_id in seen), "a talk's best moment comes before its others"
        seen.append(moment.recording_id)
    assert len(set(seen)) >= 2
    assert [t.recording.id for t in response.talks] == list(dict.fromkeys(seen))
    for talk in response.talks:
        assert not talk.best.more and all(m.more for m in talk.more)


def test_filters_and_date_sort(demo_data_dir, db, searcher):
    torres = searcher.search(db, "link workers", filters=SearchFilters(speaker="torres"))
    assert torres.results and {m.slug for m in torres.results} == {FOLLOW_UP}
    by_org = searcher.search(db, "volunteers", filters=SearchFilters(organization="Harbor"))
    assert {m.slug for m in by_org.results} == {COMPASSION}
    tagged = searcher.search(db, "data", filters=SearchFilters(tag="Impact Measurement"))
    assert {m.slug for m in tagged.results} == {IMPACT}
    dated = searcher.search(db, "link workers", filters=SearchFilters(since="2025-01-01", until="2025-12-31"))
    assert {m.slug for m in dated.results} == {FOLLOW_UP}
    assert searcher.search(db, "link workers", filters=SearchFilters(speaker="nobody at all")).results == []

    newest_first = searcher.search(db, "link workers", sort="date", limit=30)
    dates = [m.date for m in newest_first.results]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) >= 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": SearchFilters(since="last week")}, "since must be a date"),
        ({"filters": SearchFilters(until="2025-13-01")}, "until must be a date"),
        ({"sort": "random"}, "sort must be one of"),
    ],
)
def test_bad_filters_are_user_errors(demo_data_dir, db, searcher, kwargs, message):
    with pytest.raises(UserError, match=message):
        searcher.search(db, "funding", **kwargs)


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_queries_never_fail(demo_data_dir, db, searcher, query):
    try:
        response = searcher.search(db, query)
    except UserError as exc:  # only one thing a query can be told: its words are too common
        assert "too common to search for" in str(exc)
        return
    assert isinstance(response.results, list)
    json.dumps(response.to_dict())


def test_a_talk_ingested_elsewhere_is_found_on_the_next_query(demo_data_dir, db, config, searcher, jfk_copy):
    assert searcher.search(db, '"ask not what your country"').results == []
    from archive.core.store import connect

    other = connect(config.db_path)  # another process's connection: a worker
    ingest_file(other, config, jfk_copy, RecordingMeta(title="Inaugural address"))
    other.close()
    found = searcher.search(db, '"ask not what your country"').results
    assert found and found[0].title == "Inaugural address"


def test_related_moments_come_from_other_talks(demo_data_dir, db, searcher):
    recording_id, start, _ = _segment_start(db, FOLLOW_UP, "hardest part has been funding")
    moments = searcher.related(db, recording_id, start + 1)
    assert moments
    assert all(m.recording_id != recording_id for m in moments)
    # Paying for link workers comes up in the impact talk too.
    assert any(m.slug == IMPACT for m in moments)


# -- API, page, CLI and the search log --------------------------------------------------------------


def test_api_search_shape(demo_data_dir, client):
    response = client.get("/api/search", query_string={"q": "Okafor", "limit": 3})
    assert response.status_code == 200
    data = response.get_json()
    assert data["query"] == "Okafor"
    assert 1 <= len(data["results"]) <= 3
    keys = {"recording_id", "slug", "title", "start", "end", "text", "snippet", "score", "url"}
    assert keys <= set(data["results"][0])
    assert data["results"][0]["url"].startswith(f"/recordings/{IMPACT}?t=")


@pytest.mark.parametrize(
    "params, message",
    [
        ({"q": ""}, "type a word"),
        ({"q": "   "}, "type a word"),
        ({"q": "x", "limit": "ten"}, "limit must be a whole number"),
        ({"q": "x", "limit": "0"}, "limit must be between"),
        ({"q": "x", "since": "yesterday"}, "since must be a date"),
    ],
)
def test_api_search_bad_input_is_a_json_400(demo_data_dir, client, params, message):
    response = client.get("/api/search", query_string=params)
    assert response.status_code == 400
    assert message in response.get_json()["error"]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_api_search_never_500s(demo_data_dir, client, query):
    response = client.get("/api/search", query_string={"q": query})
    assert response.status_code in (200, 400)
    assert "results" in response.get_json() or "error" in response.get_json()


def test_api_related(demo_data_dir, client, db):
    recording_id, start, _ = _segment_start(db, FOLLOW_UP, "hardest part has been funding")
    data = client.get(f"/api/recordings/{recording_id}/related?t={start}").get_json()
    assert data["recording_id"] == recording_id and data["results"]
    assert all(r["recording_id"] != recording_id for r in data["results"])
    assert client.get(f"/api/recordings/{recording_id}/related?t=soon").status_code == 400
    assert client.get("/api/recordings/999/related?t=1").status_code == 404


def test_search_page_shows_moments_and_says_when_nothing_matched(demo_data_dir, client):
    page = client.get("/search", query_string={"q": "how do they pay for link workers?"}).get_data(as_text=True)
    assert "<mark>" in page and "?t=" in page
    empty = client.get("/search", query_string={"q": "bicycle brake repair"}).get_data(as_text=True)
    assert "Nothing in the talks answers" in empty and "weak matches" in empty
    asked = client.get("/search", query_string={"q": "who repairs bicycle brakes?"}).get_data(as_text=True)
    assert "bicycle brakes?</strong> Try other words" in asked and "?</strong>." not in asked  # no "?."
    hostile = client.get("/search", query_string={"q": "<script>alert(1)</script>"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in hostile and "&lt;script&gt;" in hostile
    bad = client.get("/search", query_string={"q": "funding", "since": "soon"})
    assert bad.status_code == 400 and "Since must be a date" in bad.get_data(as_text=True)


def test_empty_searches_are_logged_without_personal_data(demo_data_dir, client, db, runner):
    client.get("/api/search", query_string={"q": "bicycle brake repair"})
    client.get("/api/search", query_string={"q": "Bicycle brake repair"})
    client.get("/api/search", query_string={"q": "Okafor"})
    assert set(db["search_log"].columns_dict) == {"id", "query", "results", "created_at"}
    empty = search_counts(db, empty_only=True)
    assert [(c.query.lower(), c.times) for c in empty] == [("bicycle brake repair", 2)]

    result = runner.invoke(cli_main(), ["search-log", "--empty"])
    assert result.exit_code == 0
    assert "brake" in result.output and "Okafor" not in result.output
    everything = json.loads(runner.invoke(cli_main(), ["search-log", "--json"]).output)
    assert {s["query"] for s in everything["searches"]} >= {"Okafor"}


def cli_main():
    from archive.doors.cli import cli

    return cli


def test_cli_search(demo_data_dir, runner):
    result = runner.invoke(cli_main(), ["search", "Okafor", "--json", "--limit", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["query"] == "Okafor" and data["results"][0]["slug"] == IMPACT

    text = runner.invoke(cli_main(), ["search", "how do they pay for link workers?"])
    assert text.exit_code == 0 and "/recordings/" in text.output
    # Each moment says how it matches, as the page does: the name is in the talk's details.
    named = runner.invoke(cli_main(), ["search", "Okafor"])
    assert re.search(r"\[[\d:.]+, (named in the talk's details|says these words)\]  .*/recordings/", named.output)

    nothing = runner.invoke(cli_main(), ["search", "bicycle brake repair"])
    assert nothing.exit_code == 0 and "Nothing in the archive answers that." in nothing.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["search", "  "], "type a word"),
        (["search", "x", "--since", "soon"], "since must be a date"),
        (["search", "x", "--limit", "0"], "0 is not in the range"),
    ],
)
def test_cli_search_bad_input_exits_2(demo_data_dir, runner, args, message):
    result = runner.invoke(cli_main(), args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_query_of_common_words_only_is_refused_with_a_reason(demo_data_dir, client):
    for query in ("the", "a", "how do they"):
        answer = client.get("/api/search", query_string={"q": query})
        assert answer.status_code == 400 and "too common to search for" in answer.json["error"]
    page = client.get("/search", query_string={"q": "the"}).get_data(as_text=True)
    assert "“the” is too common to search for" in page
    assert client.get("/api/search", query_string={"q": "the referral"}).status_code == 200


def test_a_backwards_date_range_is_named_and_empty_filters_leave_the_address(demo_data_dir, client):
    backwards = client.get("/search", query_string={"q": "funding", "since": "2025-06-01", "until": "2025-01-01"})
    assert backwards.status_code == 400 and "the date range runs backwards" in backwards.get_data(as_text=True).lower()
    tidy = client.get("/search?q=funding&speaker=&org=&tag=&since=&until=")
    assert tidy.status_code == 302 and tidy.headers["Location"] == "/search?q=funding"


@pytest.mark.parametrize(
    "text, courtesy",
    [
        ("Thank you, and I look forward to the discussion.", True),
        ("Thank you so much, everyone, for joining us today.", True),
        ("Hi, thanks.", True),
        ("We call the client a week after the referral to check the appointment happened.", False),
    ],
)
def test_greetings_and_thanks_are_told_from_content(text, courtesy):
    from search.ranking import is_courtesy

    assert is_courtesy(text) is courtesy


def test_answers_and_related_moments_leave_out_greetings_and_thanks(demo_data_dir, client):
    from search.ranking import is_courtesy

    found = client.get("/api/search", query_string={"q": "how do they follow up with clients?"}).json
    assert found["results"] and not [m for m in found["results"] if is_courtesy(m["text"])]
    for at in (0, 30, 120):
        related = client.get("/api/recordings/1/related", query_string={"t": at}).json["results"]
        assert not [m for m in related if is_courtesy(m["text"])]


# -- honest presentation (issue 25): exact first, said plainly, one talk never fills the top ------------


def _answering_everything() -> Searcher:
    """A searcher whose decision answers whatever it is asked, with every moment it finds (no margin
    below the best): what is left to decide is the presentation."""
    from dataclasses import replace

    from search.ranking import Decision, Ranking

    return Searcher(WordHashEmbedder(), replace(Ranking(), decision=Decision(bias=50), answer_margin=10.0))


TEAPOT_TALK = [
    "Good morning, and welcome.",
    "Our teapot repair workshop meets on Tuesdays in the library basement.",
    "Volunteers bring their own tools and glue.",
    "Cracked spouts are the most common repair we see.",
    "Thank you all for joining, see you next month.",
]
KETTLE_TALK = [
    "We repair kettles and toasters at the community hall.",
    "The workshop meets on Tuesdays as well.",
    "Volunteers teach each other how to fix small appliances.",
]


def test_a_moment_that_says_the_words_comes_first_and_says_so(db):
    """ "teapot workshop" is said in one talk; the other only shares "workshop" with it: the first is
    labelled "says these words" and ranks first, the other "similar in meaning"."""
    embedder = WordHashEmbedder()
    teapots = _talk(db, "Teapots", TEAPOT_TALK, embedder)
    _talk(db, "Kettles", KETTLE_TALK, embedder)
    found = _answering_everything().search(db, "teapot repair workshop")
    first = found.results[0]
    assert first.recording_id == teapots and first.match == "words" and first.match_label == "says these words"
    assert [m.match for m in found.results if m.recording_id != teapots] == ["meaning"]
    assert found.results[0].to_dict()["match"] == "words"
    assert [t.recording.title for t in found.said_talks] == ["Teapots"]
    assert [t.recording.title for t in found.meaning_talks] == ["Kettles"]


def test_each_talks_best_moment_comes_before_more_from_the_same_talk(db):
    """Three moments of one talk say "glue" better than the other talk's one: the other talk's best
    still comes second, and the first talk's other moments follow, flagged as more from it."""
    embedder = WordHashEmbedder()
    many = _talk(
        db, "Glue", [f"glue line {i} " + " ".join(f"w{i}x{j}" for j in range(30)) for i in range(12)], embedder
    )
    once = _talk(db, "Paper", ["paper and glue"] + [f"filler {i} " * 10 for i in range(4)], embedder)
    found = _answering_everything().search(db, "glue")
    talks = [m.recording_id for m in found.results]
    assert len(set(talks[:2])) == 2 and set(talks[:2]) == {many, once}
    assert [m.more for m in found.results[:2]] == [False, False] and all(m.more for m in found.results[2:])
    assert all(m.recording_id == many for m in found.results[2:])
    assert [m["more_from_talk"] for m in found.to_dict()["results"]] == [m.more for m in found.results]
    by_talk = {t.recording.id: t for t in found.talks}
    assert by_talk[many].best is found.results[0] or by_talk[many].best is found.results[1]
    assert len(by_talk[many].more) == len(found.results) - 2


def test_a_word_or_two_no_talk_says_gets_no_answer_only_weak_matches(db):
    """Even a decision that would answer anything does not answer a word the talks never say
    (the nearest moments follow as weak ones); a longer question in other words still is."""
    embedder = WordHashEmbedder()
    _talk(db, "Teapots", TEAPOT_TALK, embedder)
    searcher = _answering_everything()
    for query in ("toolkit", "soldering irons"):
        found = searcher.search(db, query)
        assert found.results == [] and found.weak_results, query
    assert searcher.search(db, "teapot").results  # said: answered
    assert searcher.search(db, "where do the volunteers meet to mend broken things").results


def test_a_word_counts_as_said_with_another_ending_but_not_as_another_word_from_its_root(db):
    """Porter stems "mindfulness" and "minds" alike; a talk that says only "minds" does not say
    "mindfulness", so that word gets no answer, while "volunteer" is said by "Volunteers"."""
    embedder = WordHashEmbedder()
    _talk(db, "Teapots", [*TEAPOT_TALK[:2], "Mending things calms our minds.", *TEAPOT_TALK[2:]], embedder)
    searcher = _answering_everything()
    found = searcher.search(db, "mindfulness")
    assert found.results == [] and found.weak_results and not found.evidence.literal
    assert [m.match for m in found.weak_results] == ["meaning"] * len(found.weak_results)  # not "says these words"
    for query in ("volunteer", "teapots", "repairing workshops"):
        assert searcher.search(db, query).results, query
    assert searcher.search(db, "where do people find mindfulness in mending").results  # a question: by meaning


def test_a_quoted_phrase_nobody_said_gets_no_answer_but_a_misheard_one_does(db):
    """Even a decision that would answer anything answers a quoted phrase no line holds only where
    the nearest wording comes close: a word Whisper misheard ("spots" for "spouts") or two words
    swapped, not a famous line that shares a few common words with the talk."""
    embedder = WordHashEmbedder()
    _talk(db, "Teapots", TEAPOT_TALK, embedder)
    searcher = _answering_everything()
    for misheard in ('"cracked spots are the most common repair"', '"spouts cracked are the most common"'):
        found = searcher.search(db, misheard)
        assert found.notice == "No talk has those exact words; these come closest.", misheard
        assert found.results and "Cracked spouts" in found.results[0].text, misheard
    nobody = searcher.search(db, '"we choose to go to the moon"')
    assert nobody.results == [] and nobody.weak_results


def test_a_name_or_line_whisper_misheard_is_answered_where_its_nearest_wording_comes_close(db):
    """Issue 25: "Henrik Minnesota" said as "Henryk from Minnesota", or a remembered line with a word
    misheard, is answered there even by a decision that answers nothing by meaning, as a quoted
    phrase Whisper misheard is; a name or line said nowhere is not, nor a single word whose nearest
    neighbour is another word."""
    from dataclasses import replace

    from search.ranking import Decision, Ranking

    embedder = WordHashEmbedder()
    lines = ["Let's take questions.", "Henryk from Minnesota, you had your hand up.", "Thanks, my worry is bias."]
    talk = _talk(db, "Questions", [*TEAPOT_TALK, *lines], embedder)
    meaning_never_answers = Searcher(embedder, replace(Ranking(), decision=Decision(bias=-50)), reader=None)
    found = meaning_never_answers.search(db, "Henrik Minnesota")
    assert found.evidence.said_misheard and not found.evidence.literal
    assert found.results[0].recording_id == talk and found.results[0].text.startswith("Henryk from Minnesota")
    assert found.results[0].match == "close" and found.results[0].match_label == "says words close to these"
    assert found.said_talks and found.said_talks[0].recording.id == talk  # shown before what only means alike
    remembered = meaning_never_answers.search(db, "cracked spots are the most common repair")  # unquoted
    assert remembered.evidence.said_misheard and "Cracked spouts" in remembered.results[0].text
    for unsaid in ("Nora Hackmann", "Minnesotan", "we choose to go to the moon"):
        nobody = meaning_never_answers.search(db, unsaid)
        assert nobody.results == [] and not nobody.evidence.said_misheard, unsaid


def test_nearest_wording_is_a_run_of_words_spelled_alike():
    from search.ranking import CLOSE_WORDING, nearest_wording
    from search.text import parse_query

    talk = ["Cracked spouts are the most common repair we see.", "The workshop meets on Tuesdays."]

    def wording(query: str) -> float:
        return nearest_wording(parse_query(query).phrase_words, talk)

    assert wording("cracked spouts, no quotes") == 1.0
    assert wording('"Cracked spouts"') == 1.0
    assert wording('"cracked spots are the most"') >= CLOSE_WORDING  # misheard
    assert wording('"spouts cracked are the most common"') >= CLOSE_WORDING  # two words swapped
    assert wording('"to be or not to be"') < CLOSE_WORDING
    # Every quoted phrase must come close, not just one of them.
    assert wording('"cracked spouts" or "to be or not to be"') < CLOSE_WORDING


def test_inflected_is_an_ending_not_a_derivation():
    from search.text import inflected

    assert inflected("policy", "policies") and inflected("train", "training") and inflected("minds", "mind")
    assert not inflected("mindfulness", "minds") and not inflected("happy", "happiness")


def test_a_greeting_or_outro_is_never_an_answer_but_a_name_said_in_one_is(db):
    embedder = WordHashEmbedder()
    _talk(db, "Teapots", TEAPOT_TALK, embedder)
    welcome = _talk(db, "Mending", ["Hi everyone, please welcome Ottoline Brackenbury.", *KETTLE_TALK], embedder)
    searcher = _answering_everything()
    closing = searcher.search(db, "thanks everyone for joining see you next month")
    assert not [m for m in closing.results if "see you next month" in m.text]
    named = searcher.search(db, "Ottoline Brackenbury").results[0]
    assert named.recording_id == welcome and named.start == 0.0 and named.match == "words"


@pytest.mark.parametrize(
    "text",
    [
        "See you next month, take care everyone.",
        "Thank you so much everyone for coming, it was great to see you all, see you next month, take care.",
        "Okay, good afternoon folks, welcome, really glad to have you here with us.",
    ],
)
def test_outros_and_long_thanks_are_courtesies(text):
    from search.ranking import is_courtesy

    assert is_courtesy(text)


def test_the_search_page_puts_a_chat_hit_first_and_labels_what_only_means_alike(app, client):
    """A word only the chat says: the chat message comes first, saying it has the words; no talk
    moment answers (weak matches follow). A question in other words is labelled "similar in meaning"."""
    from archive.core.store import connect, write_transaction
    from archive.core.store.records import ChatMessage

    archive = app.extensions["archive"]
    db = connect(archive.config.db_path)
    embedder = WordHashEmbedder()
    talk = _talk(db, "Teapots", TEAPOT_TALK, embedder)
    with write_transaction(db):
        store.replace_chat(db, talk, [ChatMessage(12.0, "Sam", "The repair toolkit list is on our website")])
    db.close()
    archive.searcher = _answering_everything()

    page = client.get("/search?q=toolkit").get_data(as_text=True)
    chat, nothing = page.index('class="aside-chat match-words"'), page.index("Nothing said in the talks answers")
    assert chat < nothing and "says these words" in page[chat : chat + 600]
    assert client.get("/api/search?q=toolkit").json["asides"][0]["match"] == "words"

    page = client.get("/search?q=where+do+volunteers+mend+spouts").get_data(as_text=True)
    assert 'class="match-meaning"' in page and "similar in meaning" in page


def test_a_name_no_line_says_lands_where_that_person_starts_speaking(db):
    """Whisper never wrote her name, but the meeting's transcript says who spoke each line: her
    name lands on her first line, not at 0:00."""
    from archive.core.store import write_transaction

    embedder = WordHashEmbedder()
    lines = ["Welcome all", "Our speaker today runs billing", *KETTLE_TALK]
    talk = _talk(db, "Who pays?", lines, embedder, speakers=("Adaeze Okonkwo",))
    with write_transaction(db):
        store.set_segment_speakers(db, talk, ["Host", "Host", "Adaeze Okonkwo (Cass Avenue)", None, None])
    found = Searcher(embedder).search(db, "Adaeze Okonkwo")
    assert found.results[0].recording_id == talk and found.results[0].start == 2.0
    assert found.results[0].match == "name"


def test_a_host_whisper_misheard_is_found_by_the_talks_details_where_they_open_the_call(db):
    """The host introduces herself and Whisper writes another name ("Arja Hagad"); the talk's
    details name her as its host, and the voices gave her lines her name: a search for her lands
    where she opens the call, labelled as found by name. Another talk's host is not matched."""
    from archive.core.store import write_transaction

    embedder = WordHashEmbedder()
    lines = ["I'm Arja Hagad, region leader for the Mid-Atlantic", "Our speaker today runs billing", *KETTLE_TALK]
    talk = _talk(db, "Who pays?", lines, embedder, speakers=("Adaeze Okonkwo",), host="Nadia Haddad")
    _talk(db, "Teapots", TEAPOT_TALK, embedder, host="Gwendolyn Tate")
    with write_transaction(db):
        store.set_segment_speakers(db, talk, ["Nadia Haddad", "Nadia Haddad", "Adaeze Okonkwo", None, None])
    found = Searcher(embedder).search(db, "nadia haddad")
    assert [(m.recording_id, m.start, m.match) for m in found.results] == [(talk, 0.0, "name")]


def test_a_talks_further_moments_rank_a_little_lower_and_by_date_stay_with_their_talk():
    from search.ranking import spread_talks
    from search.results import Moment

    def at(talk: int, score: float) -> Moment:
        return Moment(talk, "", "", score, score + 1, "", "", score)

    grouped = [at(1, 0.90), at(1, 0.88), at(1, 0.70), at(2, 0.86), at(3, 0.50)]
    spread = spread_talks(grouped, 0.05)
    # 0.88 - 0.05 falls behind talk 2's best (0.86); 0.70 - 0.10 is still above talk 3's (0.50).
    assert [(m.recording_id, m.score, m.more) for m in spread] == [
        (1, 0.90, False),
        (2, 0.86, False),
        (1, 0.88, True),
        (1, 0.70, True),
        (3, 0.50, False),
    ]
    by_date = spread_talks(grouped, None)
    assert [(m.recording_id, m.more) for m in by_date] == [(1, False), (1, True), (1, True), (2, False), (3, False)]


def test_a_question_naming_a_talk_is_answered_where_the_rest_of_its_words_are_said(db):
    """ "what did Okonkwo say about billing codes": her name is in the talk's details (Whisper never
    wrote it), the rest is said in one of its lines. That line holds every word the details do not,
    so it is the answer, found by its words, not a guess withheld as a weak match."""
    embedder = WordHashEmbedder()
    lines = [
        "Welcome all",
        "Our speaker today is the democonco",
        "Once a service has a billing code it shows up in the data",
        *KETTLE_TALK,
    ]
    talk = _talk(db, "Who pays?", lines, embedder, speakers=("Adaeze Okonkwo",))
    _talk(db, "Teapots", TEAPOT_TALK, embedder)
    found = Searcher(embedder).search(db, "what did Okonkwo say about billing codes")
    assert found.results, [m.text for m in found.weak_results]
    first = found.results[0]
    assert first.recording_id == talk and first.start == 2.0 and first.match == "words"


def test_every_way_a_moment_can_match_is_in_the_api_schema_and_labelled():
    """The API's schema lists exactly the ``match`` values a moment can take, each with its label:
    a new one (``close``) must reach the documented contract, not only the page."""
    import yaml

    from search.labels import MATCH_LABELS

    schema = yaml.safe_load((Path(__file__).resolve().parent.parent / "openapi.yaml").read_text())
    assert set(schema["components"]["schemas"]["Moment"]["properties"]["match"]["enum"]) == set(MATCH_LABELS)
    assert all(label and label == label.lower() for label in MATCH_LABELS.values())
