"""Presenter review: a signed, expiring link to one talk's draft; the presenter suggests, staff decide.

Real SQLite files, the real Flask test client, real media and the real correction and takedown
machinery; search vectors come from the deterministic word-hash embedder (tests/fakes.py).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from archive.core.store import recordings as store
from archive.core.store import reviews
from archive.core.store.records import RecordingMeta
from archive.doors.cli import cli
from archive.doors.web.auth import secret_key
from ingest import review as workflow
from ingest.corrections import correct_segment
from ingest.pipeline import ingest_file
from search.engine import Searcher

from .fakes import ScriptedTranscriber, WordHashEmbedder

LINES_A = [
    # Misheard as common words: what is left for a presenter once known names are respelled (ingest.respell)
    "my name is Maya tours from riverside",  # 0.0-2.74
    "we started the garden programme last spring",  # 2.75-5.49
    "this part about our funder is private",  # 5.5-8.24
    "thank you all for coming today",  # 8.25-10.99
]
LINES_B = ["talk B says hello", "talk B says goodbye"]
FIXED = "My name is Maya Torres from Riverside."


@pytest.fixture
def fake_search(app):
    """The app's search model, replaced by the word-hash embedder before anything loads the real one."""
    embedder = WordHashEmbedder()
    app.extensions["archive"].__dict__["embedder"] = embedder
    return embedder


@pytest.fixture
def talks(app, config, db, jfk_copy, make_media, fake_search):
    """Two drafts (visibility "staff") with real media: A (the JFK recording, 11 s) and B."""

    def ingest(path, title, lines):
        step = 11.0 / len(lines)
        script = [(round(i * step, 2), round((i + 1) * step - 0.01, 2), line) for i, line in enumerate(lines)]
        return ingest_file(
            db,
            config,
            path,
            RecordingMeta(title=title, speakers=["Maya Torres"]),
            transcriber=ScriptedTranscriber(script),
            embedder=fake_search,
        ).recording

    return ingest(jfk_copy, "Garden programmes", LINES_A), ingest(make_media("b.mp3"), "Another talk", LINES_B)


def make_link(db, config, recording_id, days=14):
    return workflow.create_link(
        db,
        recording_id,
        "Maya Torres",
        presenter_email="maya@example.org",
        days=days,
        created_by="staff@example.org",
        secret=secret_key(config),
    )


def presenter_csrf(client, token) -> str:
    """Open the review page as the presenter does, and return their session's CSRF token."""
    assert client.get(f"/review/{token}").status_code == 200
    with client.session_transaction() as session:
        return session["csrf"]


def texts(db, recording_id):
    return [s.text for s in store.get_segments(db, recording_id)]


def actions(db, recording_id):
    return [e.action for e in reversed(reviews.review_log(db, recording_id))]


def test_a_presenter_reviews_the_draft_and_staff_approve_through_the_real_machinery(
    talks, staff_client, client, db, config, fake_search
):
    talk, other = talks
    original_media = talk.media_path
    # Staff ask for a review on the talk's page; the link is shown once.
    page = staff_client.get(f"/recordings/{talk.slug}").get_data(as_text=True)
    assert "Ask the presenter to review" in page
    made = staff_client.post(
        f"/recordings/{talk.slug}/review-links",
        data={"presenter": "Maya Torres", "email": "maya@example.org", "days": "7"},
    )
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    assert 'data-copy="review-url"' in made.get_data(as_text=True)
    token = re.search(r'value="http://localhost/review/([^"]+)"', made.get_data(as_text=True)).group(1)
    assert workflow._token_hash(token) not in str(db.execute("SELECT token_hash FROM review_links").fetchall())

    # The presenter has no account: the talk itself is hidden from them, the review link is not.
    assert client.get(f"/recordings/{talk.slug}").status_code == 404
    assert client.get(f"/media/{talk.slug}").status_code == 404
    review_page = client.get(f"/review/{token}")
    body = review_page.get_data(as_text=True)
    assert review_page.status_code == 200 and review_page.headers["Cache-Control"] == "no-store"
    assert "Garden programmes" in body and LINES_A[0] in body and "Another talk" not in body
    with client.get(f"/review/{token}/media", headers={"Range": "bytes=0-99"}) as media:
        assert media.status_code == 206 and len(media.data) == 100
        assert media.data == (config.data_dir / original_media).read_bytes()[:100]
    with client.session_transaction() as session:
        csrf = session["csrf"]

    # A name fix and a withdrawal; a second wording for the same line replaces the first.
    for data in ({"line": "0", "text": "My name is Maya Torres."}, {"line": "0", "text": FIXED}):
        assert client.post(f"/review/{token}/corrections", data={**data, "csrf_token": csrf}).status_code == 303
    assert (
        client.post(
            f"/review/{token}/withdrawals",
            data={"start": "0:05.5", "end": "0:08.24", "note": "funder asked", "csrf_token": csrf},
        ).status_code
        == 303
    )
    # Without the session's CSRF token nothing is taken.
    assert client.post(f"/review/{token}/corrections", data={"line": "1", "text": "x y z"}).status_code == 400
    mine = reviews.suggestions_of_link(db, 1)
    assert [(s.kind, s.segment_idx, s.text) for s in mine] == [("correction", 0, FIXED), ("withdraw", None, None)]
    assert FIXED in client.get(f"/review/{token}").get_data(as_text=True)

    # Not sent yet: staff see a draft count, and cannot decide them.
    staff_page = staff_client.get(f"/recordings/{talk.slug}").get_data(as_text=True)
    assert "2 suggestions not sent by the presenter yet" in staff_page
    early = staff_client.post(f"/recordings/{talk.slug}/review-suggestions/{mine[0].id}/approve")
    assert early.status_code == 409 and texts(db, talk.id) == LINES_A

    assert client.post(f"/review/{token}/send", data={"csrf_token": csrf}).status_code == 303
    sent = client.get(f"/review/{token}").get_data(as_text=True)
    assert "You sent your suggestions" in sent and "Suggest this wording" not in sent
    with client.get(f"/review/{token}/media", headers={"Range": "bytes=0-99"}) as media:
        assert media.status_code == 206  # the player keeps playing until the review is finished
    assert (
        client.post(
            f"/review/{token}/corrections", data={"line": "1", "text": "too late", "csrf_token": csrf}
        ).status_code
        == 409
    )
    staff_page = staff_client.get(f"/recordings/{talk.slug}").get_data(as_text=True)
    assert "2 to decide" in staff_page and "Approve all 2" in staff_page
    # Staff see the words the correction changes, and each decision asks first.
    assert '<del><span class="visually-hidden">removed: </span>my</del>' in staff_page
    assert '<ins><span class="visually-hidden">added: </span>My</ins>' in staff_page
    assert "tours</del>" in staff_page and "Torres</ins>" in staff_page
    assert 'data-confirm="Approve all 2 suggestions?"' in staff_page and "confirm.js" in staff_page
    assert 'data-confirm="Withdraw 0:05–0:08 from the talk?"' in staff_page

    # Staff approve both: the correction goes through ingest.corrections, the withdrawal through
    # ingest.redaction (real FFmpeg on the real file).
    assert staff_client.post(f"/recordings/{talk.slug}/review-suggestions/approve-all").status_code == 303
    segments = store.get_segments(db, talk.id)
    assert [s.text for s in segments] == [FIXED, LINES_A[1], LINES_A[3]]
    assert segments[0].machine_text == LINES_A[0]
    found = Searcher(fake_search).search(db, "Torres").results
    assert found and found[0].recording_id == talk.id and "Torres" in found[0].text
    assert db.execute("SELECT count(*) FROM passages WHERE text LIKE '%funder%'").fetchone()[0] == 0
    (taken,) = store.list_redactions(db, talk.id)
    assert (taken.start, taken.end, taken.user_email) == (5.5, 8.24, "staff@example.org")
    assert "Maya Torres" in taken.reason and "funder asked" in taken.reason
    after = store.get_recording(db, talk.id)
    assert after.media_path != original_media and (config.data_dir / after.media_path).is_file()
    assert [s.state for s in reviews.suggestions_of_link(db, 1)] == ["approved", "approved"]

    # Decided: the link is finished, and using it again changes nothing.
    before = texts(db, talk.id)
    for response in (
        client.get(f"/review/{token}"),
        client.get(f"/review/{token}/media"),
        client.post(f"/review/{token}/corrections", data={"line": "0", "text": "Again", "csrf_token": csrf}),
        client.post(f"/review/{token}/send", data={"csrf_token": csrf}),
    ):
        assert response.status_code == 410
        assert "This review is finished" in response.get_data(as_text=True)
    assert texts(db, talk.id) == before and len(reviews.suggestions_of_link(db, 1)) == 2
    assert texts(db, other.id) == LINES_B

    # Every step is in the log, with who did it; staff see it on the page.
    assert actions(db, talk.id) == [
        "created the link",
        "opened the link",
        "suggested a correction",
        "suggested a correction",
        "asked to withdraw a part",
        "sent the suggestions",
        "approved",
        "approved",
        "closed the link",
    ]
    log = reviews.review_log(db, talk.id)
    assert {e.actor for e in log} == {"staff@example.org", "presenter: Maya Torres"}
    staff_page = staff_client.get(f"/recordings/{talk.slug}").get_data(as_text=True)
    assert "Review log" in staff_page and "every suggestion decided" in staff_page and "finished" in staff_page


def test_staff_make_and_list_links_from_the_command_line(talks, runner, client, db, monkeypatch):
    talk, _ = talks
    monkeypatch.setenv("ARCHIVE_PUBLIC_URL", "https://talks.example.org/")
    made = runner.invoke(cli, ["review", "create", talk.slug, "--presenter", "Maya Torres", "--days", "3"])
    assert made.exit_code == 0, made.output
    url = made.stdout.strip()
    assert url.startswith("https://talks.example.org/review/") and "shown once" in made.stderr
    assert client.get(url.removeprefix("https://talks.example.org")).status_code == 200

    listed = runner.invoke(cli, ["review", "list", str(talk.id)])
    assert listed.exit_code == 0 and "open" in listed.stdout and "Maya Torres" in listed.stdout
    assert "0 pending" in listed.stdout
    assert actions(db, talk.id) == ["created the link", "opened the link"]
    assert reviews.links_for(db, talk.id)[0].created_by == "command line"

    for args, message in [
        (["review", "create", talk.slug, "--presenter", "Maya", "--days", "0"], "1 to 90 days"),
        (["review", "create", "no-such-talk", "--presenter", "Maya"], "no recording"),
        (["review", "create", talk.slug, "--presenter", "  "], "presenter's name"),
        (["review", "list", "no-such-talk"], "no recording"),
    ]:
        refused = runner.invoke(cli, args)
        assert refused.exit_code == 2 and message in refused.stderr, refused.output
    assert len(reviews.links_for(db, talk.id)) == 1


def test_a_command_line_review_link_names_the_running_servers_address_or_refuses(talks, runner, config, db):
    from archive.doors.web.local import write_server_file

    talk, _ = talks
    refused = runner.invoke(cli, ["review", "create", talk.slug, "--presenter", "Maya"])
    assert refused.exit_code == 2 and "ARCHIVE_PUBLIC_URL is not set" in refused.stderr
    assert reviews.links_for(db, talk.id) == []  # nothing made for a link nobody could open
    write_server_file(config, "token", "0.0.0.0", 8123)  # `archive serve --port 8123`, alive (this process)
    made = runner.invoke(cli, ["review", "create", talk.slug, "--presenter", "Maya"])
    assert made.exit_code == 0 and made.stdout.strip().startswith("http://127.0.0.1:8123/review/")


def test_an_expired_link_says_so_and_changes_nothing(talks, client, db, config, monkeypatch):
    talk, _ = talks
    _, token = make_link(db, config, talk.id, days=1)
    csrf = presenter_csrf(client, token)
    later = workflow.now() + timedelta(days=1, seconds=1)
    monkeypatch.setattr(workflow, "now", lambda: later)
    for response in (
        client.get(f"/review/{token}"),
        client.get(f"/review/{token}/media"),
        client.post(f"/review/{token}/corrections", data={"line": "0", "text": FIXED, "csrf_token": csrf}),
        client.post(f"/review/{token}/withdrawals", data={"start": "0:01", "end": "0:02", "csrf_token": csrf}),
        client.post(f"/review/{token}/send", data={"csrf_token": csrf}),
    ):
        assert response.status_code == 410
        assert "This review link has expired; ask the archive team for a new one" in response.get_data(as_text=True)
    assert texts(db, talk.id) == LINES_A and reviews.suggestions_for(db, talk.id) == []
    assert store.list_redactions(db, talk.id) == []
    assert reviews.get_link(db, 1).submitted_at is None
    # Staff see that the presenter tried it after it expired (logged once).
    assert actions(db, talk.id) == ["created the link", "opened the link", "expired"]


def test_a_link_never_reads_or_changes_another_talk(talks, client, staff_client, db, config):
    talk, other = talks
    link, token = make_link(db, config, talk.id)
    other_link, other_token = make_link(db, config, other.id)
    csrf = presenter_csrf(client, token)
    # Line 3 exists only in talk A; line 1 is corrected in A whatever the form says about B.
    posted = client.post(
        f"/review/{token}/corrections",
        data={
            "line": "1",
            "text": "talk B says farewell",
            "recording_id": str(other.id),
            "slug": other.slug,
            "csrf_token": csrf,
        },
    )
    assert posted.status_code == 303
    (suggestion,) = reviews.suggestions_of_link(db, link.id)
    assert (suggestion.recording_id, suggestion.segment_idx, suggestion.original_text) == (talk.id, 1, LINES_A[1])
    # A line index past the end of this talk is refused with a message, not looked for elsewhere.
    beyond = client.post(f"/review/{token}/corrections", data={"line": "7", "text": "x", "csrf_token": csrf})
    assert beyond.status_code == 400 and "no such line" in beyond.get_data(as_text=True)

    # B's presenter has a suggestion; A's link cannot remove it.
    other_csrf = presenter_csrf(client, other_token)
    client.post(f"/review/{other_token}/corrections", data={"line": "0", "text": "B fixed", "csrf_token": other_csrf})
    (theirs,) = reviews.suggestions_of_link(db, other_link.id)
    refused = client.post(f"/review/{token}/suggestions/{theirs.id}/remove", data={"csrf_token": other_csrf})
    assert refused.status_code == 404
    assert reviews.get_suggestion(db, theirs.id).state == "pending"

    # A's page and media are A's.
    page = client.get(f"/review/{token}").get_data(as_text=True)
    assert LINES_A[0] in page and LINES_B[0] not in page
    with client.get(f"/review/{token}/media") as media:
        assert media.data == (config.data_dir / talk.media_path).read_bytes()

    # Staff decide a suggestion only on its own talk's page.
    client.post(f"/review/{token}/send", data={"csrf_token": other_csrf})
    crossed = staff_client.post(f"/recordings/{other.slug}/review-suggestions/{suggestion.id}/approve")
    assert crossed.status_code == 404
    assert staff_client.post(f"/recordings/{other.slug}/review-links/{link.id}/close").status_code == 404
    assert texts(db, talk.id) == LINES_A and texts(db, other.id) == LINES_B
    assert (
        reviews.get_suggestion(db, suggestion.id).state == "pending" and reviews.get_link(db, link.id).closed_at is None
    )


def test_an_unknown_or_tampered_link_is_a_404(talks, client, db, config):
    talk, _ = talks
    _, token = make_link(db, config, talk.id)
    payload, signature = token.split(".")

    def flip(text: str, at: int) -> str:  # another character at ``at``: a link mistyped or altered
        return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]

    tampered = [f"{flip(payload, 10)}.{signature}", f"{payload}.{flip(signature, 5)}"]
    forged = workflow._signer("not the archive's key").dumps("anything")
    unknown = workflow._signer(secret_key(config)).dumps("a token the archive never made")
    with client.session_transaction() as session:
        session["csrf"] = "csrf-presenter"
    for bad in (*tampered, forged, unknown, "nonsense"):
        assert client.get(f"/review/{bad}").status_code == 404
        assert client.get(f"/review/{bad}/media").status_code == 404
        posted = client.post(
            f"/review/{bad}/corrections", data={"line": "0", "text": FIXED, "csrf_token": "csrf-presenter"}
        )
        assert posted.status_code == 404 and "no review at this address" in posted.get_data(as_text=True)
    assert reviews.suggestions_for(db, talk.id) == [] and actions(db, talk.id) == ["created the link"]


def test_what_the_presenter_typed_wrong_comes_back_beside_the_form(talks, client, db, config):
    talk, _ = talks
    _, token = make_link(db, config, talk.id)
    csrf = presenter_csrf(client, token)
    for path, data, message in [
        ("withdrawals", {"start": "soon", "end": "later"}, "12:34"),
        ("withdrawals", {"start": "0:08", "end": "0:04"}, "start before it ends"),
        ("withdrawals", {"start": "5:00", "end": "6:00"}, "within the talk"),
        ("corrections", {"line": "0", "text": "   "}, "as it should read"),
        ("corrections", {"line": "0", "text": LINES_A[0]}, "says already"),
        ("corrections", {"line": "first", "text": "x"}, "a line of the transcript"),
    ]:
        response = client.post(f"/review/{token}/{path}", data={**data, "csrf_token": csrf})
        body = response.get_data(as_text=True)
        assert response.status_code == 400 and message in body and 'id="error"' in body, (data, body[-500:])
    assert client.post(f"/review/{token}/suggestions/999/remove", data={"csrf_token": csrf}).status_code == 404
    assert reviews.suggestions_for(db, talk.id) == [] and texts(db, talk.id) == LINES_A


def test_a_rejected_suggestion_changes_nothing(talks, client, staff_client, db, config):
    talk, _ = talks
    link, token = make_link(db, config, talk.id)
    csrf = presenter_csrf(client, token)
    client.post(f"/review/{token}/corrections", data={"line": "2", "text": "something else", "csrf_token": csrf})
    client.post(f"/review/{token}/send", data={"csrf_token": csrf})
    (suggestion,) = reviews.suggestions_of_link(db, link.id)
    assert staff_client.post(f"/recordings/{talk.slug}/review-suggestions/{suggestion.id}/reject").status_code == 303
    assert texts(db, talk.id) == LINES_A and store.list_redactions(db, talk.id) == []
    decided = reviews.get_suggestion(db, suggestion.id)
    assert (decided.state, decided.decided_by) == ("rejected", "staff@example.org")
    # Decided once: approving it afterwards is refused.
    assert staff_client.post(f"/recordings/{talk.slug}/review-suggestions/{suggestion.id}/approve").status_code == 409
    assert texts(db, talk.id) == LINES_A
    assert client.get(f"/review/{token}").status_code == 410
    assert actions(db, talk.id)[-2:] == ["rejected", "closed the link"]


def test_a_correction_whose_line_changed_meanwhile_is_refused(talks, client, staff_client, db, config, fake_search):
    talk, _ = talks
    link, token = make_link(db, config, talk.id)
    csrf = presenter_csrf(client, token)
    client.post(
        f"/review/{token}/corrections", data={"line": "1", "text": "we began the garden programme", "csrf_token": csrf}
    )
    client.post(f"/review/{token}/withdrawals", data={"start": "8.3", "end": "11", "csrf_token": csrf})
    client.post(f"/review/{token}/send", data={"csrf_token": csrf})
    correction, withdrawal = reviews.suggestions_of_link(db, link.id)
    staff_edit = "We started the Garden Programme last spring."
    correct_segment(db, talk.id, 1, staff_edit, fake_search)  # another staff member edits the line meanwhile

    page = staff_client.get(f"/recordings/{talk.slug}").get_data(as_text=True)
    assert "changed since the presenter suggested this" in page
    everything = staff_client.post(f"/recordings/{talk.slug}/review-suggestions/approve-all")
    assert everything.status_code == 409 and "othing was approved" in everything.get_data(as_text=True)
    assert store.list_redactions(db, talk.id) == []  # not even the withdrawal
    one = staff_client.post(f"/recordings/{talk.slug}/review-suggestions/{correction.id}/approve")
    assert one.status_code == 409 and "changed since the presenter suggested this" in one.get_data(as_text=True)
    assert texts(db, talk.id)[1] == staff_edit
    assert reviews.get_suggestion(db, correction.id).state == "pending"

    # The withdrawal alone goes through; the correction can still be rejected, which ends the review.
    staff_client.post(f"/recordings/{talk.slug}/review-suggestions/{withdrawal.id}/approve")
    assert texts(db, talk.id) == [LINES_A[0], staff_edit, LINES_A[2]]
    staff_client.post(f"/recordings/{talk.slug}/review-suggestions/{correction.id}/reject")
    assert reviews.get_link(db, link.id).closed_reason == "every suggestion decided"


def test_staff_close_a_review_and_the_link_stops_working(talks, client, staff_client, db, config):
    talk, _ = talks
    link, token = make_link(db, config, talk.id)
    csrf = presenter_csrf(client, token)
    assert staff_client.post(f"/recordings/{talk.slug}/review-links/{link.id}/close").status_code == 303
    assert client.get(f"/review/{token}").status_code == 410
    refused = client.post(f"/review/{token}/corrections", data={"line": "0", "text": FIXED, "csrf_token": csrf})
    assert refused.status_code == 410 and reviews.suggestions_for(db, talk.id) == []
    assert staff_client.post(f"/recordings/{talk.slug}/review-links/{link.id}/close").status_code == 409
    assert actions(db, talk.id)[-1] == "closed the link"
    assert reviews.get_link(db, link.id).closed_reason == "closed by staff"


def test_visitors_and_members_get_no_staff_review_tools(talks, client, member_client, staff_client, db, config):
    talk, _ = talks
    link, token = make_link(db, config, talk.id)
    csrf = presenter_csrf(client, token)
    client.post(f"/review/{token}/corrections", data={"line": "0", "text": FIXED, "csrf_token": csrf})
    client.post(f"/review/{token}/send", data={"csrf_token": csrf})
    (suggestion,) = reviews.suggestions_of_link(db, link.id)
    store.set_visibility(db, talk.id, "public")
    for visitor in (client, member_client):
        page = visitor.get(f"/recordings/{talk.slug}").get_data(as_text=True)
        assert "Ask the presenter to review" not in page and "Review log" not in page
    base = f"/recordings/{talk.slug}"
    staff_posts = [
        f"{base}/review-links",
        f"{base}/review-links/{link.id}/close",
        f"{base}/review-suggestions/{suggestion.id}/approve",
        f"{base}/review-suggestions/{suggestion.id}/reject",
        f"{base}/review-suggestions/approve-all",
    ]
    for path in staff_posts:
        assert client.post(path, data={"presenter": "X", "csrf_token": csrf}).status_code == 403
        assert member_client.post(path, data={"presenter": "X"}).status_code == 403
    assert texts(db, talk.id) == LINES_A and len(reviews.links_for(db, talk.id)) == 1
    assert reviews.get_suggestion(db, suggestion.id).state == "pending"
    assert "Ask the presenter to review" in staff_client.get(base).get_data(as_text=True)


def test_the_same_wording_from_two_links_is_approved_once_and_both_close(talks, db, config, staff_client):
    talk, _ = talks
    links = []
    for _ in range(2):  # staff sent the presenter a second link; they fixed the same name again
        link, token = make_link(db, config, talk.id)
        presenter = staff_client.application.test_client()
        csrf = presenter_csrf(presenter, token)
        presenter.post(f"/review/{token}/corrections", data={"line": "0", "text": FIXED, "csrf_token": csrf})
        presenter.post(f"/review/{token}/send", data={"csrf_token": csrf})
        links.append(link)
    approved = staff_client.post(f"/recordings/{talk.slug}/review-suggestions/approve-all")
    assert approved.status_code == 303
    assert texts(db, talk.id)[0] == FIXED
    assert [reviews.get_link(db, link.id).closed_reason for link in links] == ["every suggestion decided"] * 2
    assert actions(db, talk.id).count("approved") == 2
