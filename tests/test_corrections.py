"""Staff corrections: a segment's text changes, only that talk is re-indexed, and it can be reverted."""

from __future__ import annotations

import numpy as np
import pytest

from archive.core.store import connect
from archive.core.store import recordings as store
from archive.core.store.records import RecordingMeta
from ingest.corrections import CorrectionError, correct_segment, new_terms, revert_segment
from ingest.pipeline import ingest_file
from search.engine import Searcher
from search.index import prepare_index, reindex_talk

from .fakes import MeddlingEmbedder, ScriptedTranscriber, WordHashEmbedder, script_for

RELATIONAL_ID = 1


@pytest.fixture
def follow_up(demo_data_dir, config) -> int:
    """The demo line "Our link workers call each client within one week ..." (found by its words:
    where Whisper ends a line is the model's business)."""
    db = connect(config.db_path)
    try:
        return next(i for i, s in enumerate(store.get_segments(db, RELATIONAL_ID)) if "link workers call" in s.text)
    finally:
        db.close()


class CountingEmbedder:
    """The real model, counting how many texts it was asked to embed."""

    def __init__(self, embedder):
        self.inner = embedder
        self.model_name = embedder.model_name
        self.texts = 0

    def load(self):
        self.inner.load()

    def embed_documents(self, texts, title=""):
        self.texts += len(texts)
        return self.inner.embed_documents(texts, title)

    def embed_query(self, text):
        return self.inner.embed_query(text)


def index_rows(db, recording_id):
    passages = db.execute(
        "SELECT p.idx, p.text, v.embedding FROM passages p JOIN passage_vectors v ON v.passage_id = p.id "
        "WHERE p.recording_id = ? ORDER BY p.idx",
        [recording_id],
    ).fetchall()
    windows = db.execute(
        "SELECT idx, embedding FROM segment_vectors WHERE recording_id = ? ORDER BY idx", [recording_id]
    ).fetchall()
    fts = db.execute(
        "SELECT count(*) FROM passages_fts WHERE rowid IN (SELECT id FROM passages WHERE recording_id = ?)",
        [recording_id],
    ).fetchone()[0]
    return passages, windows, fts


def vectors(rows, column):
    return np.stack([np.frombuffer(r[column], dtype=np.float32) for r in rows])


def test_a_correction_reindexes_only_what_changed_and_matches_a_full_reindex(demo_data_dir, db, embedder, follow_up):
    counting = CountingEmbedder(embedder)
    machine = store.get_segments(db, RELATIONAL_ID)[follow_up].text
    fixed = machine.replace("link workers", "Keralty navigators")
    correction = correct_segment(db, RELATIONAL_ID, follow_up, fixed, counting)

    segments = store.get_segments(db, RELATIONAL_ID)
    assert segments[follow_up].text == fixed and segments[follow_up].machine_text == machine
    assert correction.new_terms == ["Keralty"]  # "navigators" is an ordinary word
    # Only the passages and windows holding that segment were embedded again ...
    total = len(index_rows(db, RELATIONAL_ID)[0]) + len(segments)
    assert 0 < counting.texts == correction.embedded <= 10 < total
    passages, windows, fts = index_rows(db, RELATIONAL_ID)
    assert any("Keralty navigators" in p[1] for p in passages) and fts == len(passages)
    # ... and the index is the one embedding the corrected transcript afresh gives.
    fresh = prepare_index(segments, embedder, title=store.get_recording(db, RELATIONAL_ID).title)
    assert [p[1] for p in passages] == [p.text for p in fresh.passages]
    # (The same vectors to within the model's precision: bfloat16 rounds differently in another batch.)
    assert np.min(np.sum(vectors(passages, 2) * fresh.passage_vectors, axis=1)) > 0.995
    assert np.min(np.sum(vectors(windows, 1) * fresh.window_vectors, axis=1)) > 0.995


def test_search_finds_the_correction_at_once_and_not_after_a_revert(demo_data_dir, db, embedder, follow_up):
    searcher = Searcher(embedder)
    segment = store.get_segments(db, RELATIONAL_ID)[follow_up]
    assert searcher.search(db, "Zanzibar").results == []
    correct_segment(db, RELATIONAL_ID, follow_up, "Our Zanzibar team adds the most value.", embedder)
    (moment,) = [m for m in searcher.search(db, "Zanzibar").results if m.literal]
    assert moment.recording_id == RELATIONAL_ID and moment.start == segment.start

    reverted = revert_segment(db, RELATIONAL_ID, follow_up, embedder)
    assert reverted.segment.text == segment.text and not reverted.segment.edited
    assert store.get_segments(db, RELATIONAL_ID)[follow_up] == segment
    assert not any(m.literal for m in searcher.search(db, "Zanzibar").results)


def test_typing_back_the_machine_text_is_a_revert(demo_data_dir, db, embedder):
    machine = store.get_segments(db, RELATIONAL_ID)[0].text
    correct_segment(db, RELATIONAL_ID, 0, "Good afternoon, everyone.", embedder)
    correct_segment(db, RELATIONAL_ID, 0, "  " + machine + " ", embedder)
    assert not store.get_segments(db, RELATIONAL_ID)[0].edited


@pytest.mark.parametrize(
    "idx, text, message",
    [(0, "   ", "cannot be empty"), (999, "Hi", "has no segment 999"), (0, "x" * 2001, "at most 2000")],
)
def test_bad_corrections_are_refused_and_change_nothing(demo_data_dir, db, embedder, idx, text, message):
    before = store.get_segments(db, RELATIONAL_ID)
    with pytest.raises(CorrectionError, match=message):
        correct_segment(db, RELATIONAL_ID, idx, text, embedder)
    assert store.get_segments(db, RELATIONAL_ID) == before


@pytest.mark.parametrize(
    "before, after, terms",
    [
        (
            "we work with the carrie ready program in kerala tea",
            "We work with the CareReady program in Keralty.",
            ["CareReady", "Keralty"],
        ),
        ("hello there", "hello there.", []),
        ("the link work is here", "the link worker is here", []),
        ("in the comfy eye care folder", "in the ComfyUI Keralty folder.", ["ComfyUI Keralty"]),
        ("then the comfy eye folder", "then the ComfyUI folder", ["ComfyUI"]),
        ("we offer tele health", "we offer telehealth", ["telehealth"]),
        ("yes we do", "Yes. We do, with Kenji Health.", ["Kenji Health"]),
        ("it was in 2020", "it was in 2021", []),
        ("we met on tuesday", "we met on Tuesday and then on the", ["Tuesday"]),
        ("a b", "a one two three four five b", []),
        ("most of their weakest spend at home", "most of their last weeks are spent at home", []),
        ("ask the sea oh", "ask the CEO", ["CEO"]),
    ],
)
def test_new_terms_are_the_words_a_correction_brought_in(before, after, terms):
    assert new_terms(before, after) == terms


# -- through the web ---------------------------------------------------------------


def test_staff_correct_revert_and_teach_the_glossary_through_the_api(demo_data_dir, staff_client, config, follow_up):
    client = staff_client
    url = f"/api/recordings/{RELATIONAL_ID}/segments/{follow_up}"
    original = client.get(f"/api/recordings/{RELATIONAL_ID}").json["segments"][follow_up]["text"]
    saved = client.put(url, json={"text": original.replace("link workers", "Keralty navigators")})
    assert saved.status_code == 200
    assert saved.json["segment"]["edited"] and saved.json["segment"]["machine_text"] == original
    assert saved.json["new_terms"] == ["Keralty"]
    assert "Keralty navigators" in client.get(
        "/recordings/relational-social-prescribing-staying-with-clients.txt"
    ).get_data(as_text=True)
    results = client.get("/api/search", query_string={"q": "Keralty navigators"}).json["results"]
    assert results and results[0]["recording_id"] == RELATIONAL_ID

    added = client.post("/api/glossary", json={"term": "Keralty"})
    assert added.json == {"term": "Keralty", "added": True}
    db = connect(config.db_path)
    assert "Keralty" in store.glossary_terms(db)  # every later ingest passes it to Whisper
    db.close()
    again = client.put(
        url, json={"text": original.replace("link workers", "Keralty navigators") + " Yes. Kenji Health."}
    )
    assert again.json["new_terms"] == ["Kenji Health"]  # terms already in the glossary are not offered again

    reverted = client.post(f"{url}/revert")
    assert reverted.json["segment"]["text"] == original and not reverted.json["segment"]["edited"]
    page = client.get("/recordings/relational-social-prescribing-staying-with-clients").get_data(as_text=True)
    assert "data-edited" not in page and 'id="edit-toggle"' in page


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("put", f"/api/recordings/{RELATIONAL_ID}/segments/0", {"text": " "}, 400),
        ("put", f"/api/recordings/{RELATIONAL_ID}/segments/0", {"words": "x"}, 400),
        ("put", f"/api/recordings/{RELATIONAL_ID}/segments/999", {"text": "x"}, 400),
        ("put", "/api/recordings/999/segments/0", {"text": "x"}, 404),
        ("post", "/api/glossary", {"term": ""}, 400),
        ("post", "/api/glossary", {"term": ["a"]}, 400),
    ],
)
def test_bad_correction_requests_get_a_json_error(demo_data_dir, staff_client, method, path, body, status):
    response = getattr(staff_client, method)(path, json=body)
    assert response.status_code == status and response.json["error"]


def test_a_reindex_never_indexes_text_a_correction_replaced_meanwhile(demo_data_dir, config, db, embedder, follow_up):
    """`archive reindex` (here after a change of model, so every text is embedded again) reads the
    transcript, embeds, then writes: a correction saved in between must be what ends up indexed
    (and kept), not the text read before it."""
    from archive.core.store import connect

    def correct_meanwhile():
        other = connect(config.db_path)
        correct_segment(other, RELATIONAL_ID, follow_up, "Our Zanzibar team adds value.", embedder)
        other.close()

    reindex_talk(db, RELATIONAL_ID, MeddlingEmbedder(embedder, correct_meanwhile, model_name="a-new-model"))
    assert "Zanzibar" in store.get_segments(db, RELATIONAL_ID)[follow_up].text
    passages, _, fts = index_rows(db, RELATIONAL_ID)
    assert any("Zanzibar" in p[1] for p in passages) and fts == len(passages)
    assert {r[0] for r in db.execute("SELECT model FROM passage_vectors WHERE recording_id = ?", [RELATIONAL_ID])} == {
        "a-new-model"
    }


def test_a_word_only_one_line_says_lands_on_that_line(tmp_path, config, db, jfk_copy):
    """The window of the line before also holds the word (windows reach into the next line);
    the moment must start at the line that says it, however close the two windows' cosines are."""
    lines = ["we begin with the garden programme today", "the Zanzibar team adds value", "and then we close"]
    transcriber = ScriptedTranscriber(script_for(11.0, lines))
    ingest_file(
        db, config, jfk_copy, RecordingMeta(title="Garden"), transcriber=transcriber, embedder=WordHashEmbedder()
    )
    (moment,) = Searcher(WordHashEmbedder()).search(db, "Zanzibar").results
    assert moment.text.startswith("the Zanzibar team")
