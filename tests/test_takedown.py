"""Takedowns: a time range leaves the transcript, search, captions, exports, related moments and the audio."""

from __future__ import annotations

import numpy as np
import pytest

from archive.core.store import recordings as store
from ingest import media
from ingest.redaction import RedactionError, redact_range
from search.engine import Searcher

from .fakes import MeddlingEmbedder

RELATIONAL_ID = 1
SLUG = "relational-social-prescribing-staying-with-clients"
REMOVED = "you trust makes an enormous difference"  # said at 1:03.78
START, END = 60.0, 75.0


def rms(path, start, end) -> float:
    samples = np.concatenate(list(media.decode(path)))
    part = samples[int(start * media.SAMPLE_RATE) : int(end * media.SAMPLE_RATE)]
    return float(np.sqrt(np.mean(np.square(part))))


def test_a_takedown_removes_the_range_everywhere(demo_data_dir, staff_client, client, config, db, embedder):
    before = store.get_recording(db, RELATIONAL_ID)
    original = config.data_dir / before.media_path
    assert rms(original, 61, 74) > 0.01
    response = staff_client.post(
        f"/recordings/{SLUG}/redact",
        data={"start": "1:00", "end": "1:15", "reason": "presenter asked", "keep_original": "1"},
    )
    assert response.status_code == 303

    after = store.get_recording(db, RELATIONAL_ID)
    segments = store.get_segments(db, RELATIONAL_ID)
    assert all(s.end <= START or s.start >= END for s in segments)
    assert not any(REMOVED in s.text for s in segments)
    for path in [
        f"/recordings/{SLUG}",
        f"/recordings/{SLUG}.vtt",
        f"/recordings/{SLUG}.srt",
        f"/recordings/{SLUG}.txt",
        f"/recordings/{SLUG}.json",
    ]:
        assert "enormous difference" not in client.get(path).get_data(as_text=True), path
    assert "Parts of this talk were removed" in client.get(f"/recordings/{SLUG}").get_data(as_text=True)
    found = client.get("/api/search", query_string={"q": '"enormous difference"'}).json
    returned = found["results"] + found["weak_results"]
    assert not any(
        "enormous" in m["text"] or (m["recording_id"] == RELATIONAL_ID and START <= m["start"] < END) for m in returned
    )
    assert db.execute("SELECT count(*) FROM passages WHERE text LIKE '%enormous difference%'").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM passages_fts WHERE passages_fts MATCH 'enormous'").fetchone()[0] == 0
    related = Searcher(embedder).related(db, 2, 60.0, limit=20)
    assert not any(m.recording_id == RELATIONAL_ID and START <= m.start < END for m in related)

    # The served media is silent in the range, and only there; the duration is unchanged.
    served = config.data_dir / after.media_path
    assert served != original and served.is_file()
    assert rms(served, 61, 74) < 0.001 and rms(served, 20, 40) > 0.01
    assert media.probe(served).duration == pytest.approx(before.duration, abs=0.1)
    with client.get(f"/media/{SLUG}") as media_response:
        assert media_response.data == served.read_bytes()
    # A staff member cannot keep the original: only an admin may.
    assert not original.exists()
    (entry,) = store.list_redactions(db, RELATIONAL_ID)
    assert (entry.start, entry.end, entry.reason, entry.user_email) == (
        60.0,
        75.0,
        "presenter asked",
        "staff@example.org",
    )
    assert not entry.original_kept and entry.created_at


def test_an_admin_may_keep_the_original(demo_data_dir, admin_client, config, db):
    original = config.data_dir / store.get_recording(db, 2).media_path
    slug = store.get_recording(db, 2).slug
    response = admin_client.post(f"/recordings/{slug}/redact", data={"start": "10", "end": "20", "keep_original": "1"})
    assert response.status_code == 303
    assert original.exists() and store.list_redactions(db, 2)[0].original_kept


@pytest.mark.parametrize("start, end", [(50.0, 40.0), (-5.0, 10.0), (999.0, 1000.0)])
def test_impossible_ranges_are_refused_and_change_nothing(demo_data_dir, config, db, start, end, embedder):
    before = store.get_segments(db, RELATIONAL_ID)
    with pytest.raises(RedactionError):
        redact_range(
            db,
            config,
            RELATIONAL_ID,
            start,
            end,
            reason="",
            user_email="x@example.org",
            keep_original=False,
            embedder=embedder,
        )
    assert store.get_segments(db, RELATIONAL_ID) == before and store.list_redactions(db, RELATIONAL_ID) == []


def test_an_unreadable_range_in_the_form_is_a_clear_400(demo_data_dir, staff_client):
    response = staff_client.post(f"/recordings/{SLUG}/redact", data={"start": "soon", "end": "later"})
    assert response.status_code == 400 and "12:34" in response.get_data(as_text=True)


def test_a_correction_outside_the_range_survives_a_takedown(demo_data_dir, config, db, embedder):
    from ingest.corrections import correct_segment

    machine = store.get_segments(db, RELATIONAL_ID)[1].text
    correct_segment(db, RELATIONAL_ID, 1, "My name is Maya Torres of Riverside.", embedder)
    redact_range(
        db,
        config,
        RELATIONAL_ID,
        START,
        END,
        reason="",
        user_email="x@example.org",
        keep_original=False,
        embedder=embedder,
    )
    kept = store.get_segments(db, RELATIONAL_ID)[1]
    assert kept.text == "My name is Maya Torres of Riverside." and kept.machine_text == machine


def test_a_correction_saved_while_a_takedown_reindexes_is_kept_and_indexed(demo_data_dir, config, db, embedder):
    """Another staff member corrects a line outside the range while the takedown is embedding:
    the takedown starts again from their transcript instead of writing over it."""
    from archive.core.store import connect
    from ingest.corrections import correct_segment

    fixed = "My name is Maya Torres of Zanzibar Riverside."

    def correct_meanwhile():
        other = connect(config.db_path)
        correct_segment(other, RELATIONAL_ID, 1, fixed, embedder)
        other.close()

    redact_range(
        db,
        config,
        RELATIONAL_ID,
        START,
        END,
        reason="",
        user_email="x@example.org",
        keep_original=False,
        embedder=MeddlingEmbedder(embedder, correct_meanwhile),
    )
    segments = store.get_segments(db, RELATIONAL_ID)
    assert segments[1].text == fixed and segments[1].edited
    assert not any(REMOVED in s.text for s in segments)
    found = Searcher(embedder).search(db, "Zanzibar")
    assert found.results and found.results[0].recording_id == RELATIONAL_ID


def test_a_takedown_removes_the_chat_and_slides_of_its_range(demo_data_dir, config, db, embedder):
    from archive.core.store import write_transaction
    from archive.core.store.records import ChatMessage, Slide

    with write_transaction(db):
        store.replace_chat(db, RELATIONAL_ID, [ChatMessage(20.0, "Ana", "Before"), ChatMessage(66.0, "Ben", "Inside")])
        store.replace_slides(
            db,
            RELATIONAL_ID,
            [Slide(1, "Title", "Title", 0.0), Slide(2, "Trust", "Trust", 62.0), Slide(3, "After", "After", 80.0)],
        )
    redact_range(
        db,
        config,
        RELATIONAL_ID,
        START,
        END,
        reason="",
        user_email="x@example.org",
        keep_original=False,
        embedder=embedder,
    )
    assert [m.text for m in store.chat_messages(db, RELATIONAL_ID)] == ["Before"]
    assert [s.page for s in store.slides(db, RELATIONAL_ID)] == [1, 3]
    assert not db.execute("SELECT count(*) FROM slides_fts WHERE slides_fts MATCH 'trust'").fetchone()[0]
