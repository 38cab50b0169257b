"""Collections of moments: made from the share dialog, ordered, noted, played, shared and cited,
and never showing anyone a talk they may not see."""

from __future__ import annotations

import json
import re

import pytest

from archive.core.store import connect, write_transaction
from archive.core.store import recordings as store
from archive.core.store.records import RecordingMeta, Segment
from ingest.pipeline import ingest_file

from .conftest import signed_in

LINES = {
    "public": ["Our link workers phone every client two weeks after the referral.", "The call is where the value is."],
    "members": ["The allotments grow vegetables for the food pantry.", "Volunteers run the Saturday market."],
    "staff": ["The draft budget for the orchestra programme is not final.", "Do not share the numbers yet."],
}


def add_talk(db, title: str, visibility: str, lines, speakers=("Ana Ruiz",)) -> str:
    """A ready talk with these lines (one every 10 s), as ingest stores it; its slug."""
    with write_transaction(db):
        rid = store.insert_recording(
            db,
            RecordingMeta(
                title=title,
                visibility=visibility,
                speakers=list(speakers),
                organization="Kenji Health",
                date="2025-03-12",
            ).validated(),
            duration=len(lines) * 10.0,
            media_path=f"{title}.m4a",
            media_hash=title,
            media_kind="audio",
            original_filename=f"{title}.m4a",
            language="en",
            model="test",
        )
        store.replace_segments(db, rid, [Segment(i * 10.0, i * 10.0 + 9.5, text) for i, text in enumerate(lines)])
    return store.get_recording(db, rid).slug


@pytest.fixture
def talks(config):
    db = connect(config.db_path)
    slugs = {level: add_talk(db, f"The {level} talk", level, lines) for level, lines in LINES.items()}
    db.close()
    return slugs


def add(client, talk: str, start="0:02", end="0:12", collection="new", new_title="Follow-up", note=""):
    return client.post(
        "/collections/clips",
        data={
            "recording": talk,
            "start": start,
            "end": end,
            "collection": collection,
            "new_title": new_title,
            "note": note,
        },
    )


def slug_of(response) -> str:
    return re.match(r"/collections/([a-z0-9-]+)", response.headers["Location"]).group(1)


def test_a_staff_member_gathers_moments_from_several_talks_in_order_with_notes(app, talks):
    staff = signed_in(app, "staff")
    made = add(staff, talks["public"], "0:02", "0:15", new_title="Measuring impact", note="The two-week call")
    assert made.status_code == 303
    slug = slug_of(made)
    assert add(staff, talks["members"], "10", "19.5", collection=slug, note="Food").status_code == 303
    assert (
        add(staff, talks["staff"], "0:00", "", collection=slug).status_code == 303
    )  # no end: a minute, cut at the talk's end
    page = staff.get(f"/collections/{slug}").get_data(as_text=True)
    assert "3 moments across 3 talks" in page
    order = [m for m in re.findall(r"The (public|members|staff) talk</a>", page)]
    assert order == ["public", "members", "staff"]
    assert "The two-week call" in page and "phone every client" in page and "Volunteers run the Saturday market" in page
    assert "0:02–0:15" in page and "0:00–0:20" in page

    data = staff.get(f"/api/collections/{slug}").get_json()
    clip_ids = [int(i) for i in re.findall(r'id="clip-(\d+)"', page)]
    moved = staff.post(f"/collections/{slug}/clips/{clip_ids[2]}", data={"action": "up"})
    assert moved.status_code == 303
    staff.post(f"/collections/{slug}/clips/{clip_ids[0]}", data={"action": "note", "note": "  Where the value is  "})
    staff.post(f"/collections/{slug}/clips/{clip_ids[1]}", data={"action": "remove"})
    after = staff.get(f"/api/collections/{slug}").get_json()
    assert [c["title"] for c in after["clips"]] == ["The public talk", "The staff talk"]
    assert after["clips"][0]["note"] == "Where the value is" and after["summary"] == "2 moments across 2 talks"
    assert data["clips"][0]["url"].endswith(f"/recordings/{talks['public']}?t=2&end=15")


def test_nothing_hidden_leaks_through_a_collection_its_citations_or_its_playback(app, talks):
    staff = signed_in(app, "staff", "curator@example.org")
    slug = slug_of(add(staff, talks["public"], new_title="Across the archive"))
    for level in ("members", "staff"):
        add(staff, talks[level], collection=slug)
    staff.post(f"/collections/{slug}", data={"title": "Across the archive", "sharing": "public"})
    visitor, member = app.test_client(), signed_in(app, "member")

    seen = {}
    for who, client in (("visitor", visitor), ("member", member), ("staff", staff)):
        page = client.get(f"/collections/{slug}").get_data(as_text=True)
        text = client.get(f"/collections/{slug}/citations.txt").get_data(as_text=True)
        csl = json.loads(client.get(f"/collections/{slug}/citations.json").data)
        api = client.get(f"/api/collections/{slug}").get_json()
        seen[who] = {level for level in LINES if f"The {level} talk" in page}
        for level in set(LINES) - seen[who]:  # not its title, its words, its address or its media
            for shown in (page, text, json.dumps(csl), json.dumps(api)):
                assert f"The {level} talk" not in shown and talks[level] not in shown
                assert LINES[level][0] not in shown
        assert {item["title"] for item in csl} == {f"The {level} talk" for level in seen[who]}
        # The player is handed only the media of talks the reader may play.
        assert re.findall(r'data-media="([^"]+)"', page) == [
            f"/media/{talks[level]}" for level in LINES if level in seen[who]
        ]
    assert seen == {"visitor": {"public"}, "member": {"public", "members"}, "staff": set(LINES)}
    assert "1 moment across 1 talk" in visitor.get(f"/collections/{slug}").get_data(as_text=True)


def test_a_private_collection_is_its_owners_alone_and_sharing_opens_it(app, talks):
    owner = signed_in(app, "member", "owner@example.org")
    other, visitor = signed_in(app, "member", "other@example.org"), app.test_client()
    slug = slug_of(add(owner, talks["public"], new_title="Mine"))
    for client in (other, visitor):
        for path in (f"/collections/{slug}", f"/collections/{slug}/citations.txt", f"/api/collections/{slug}"):
            assert client.get(path).status_code == 404  # exactly as if there were none
    owner.post(f"/collections/{slug}", data={"title": "Mine", "sharing": "members"})
    assert (
        other.get(f"/collections/{slug}").status_code == 200 and visitor.get(f"/collections/{slug}").status_code == 404
    )
    # Another member reads it but cannot change it; the change is refused and nothing moves.
    refused = other.post(f"/collections/{slug}", data={"title": "Taken over", "sharing": "public"})
    assert refused.status_code == 403
    assert add(other, talks["public"], collection=slug).status_code == 403
    assert owner.get(f"/api/collections/{slug}").get_json()["title"] == "Mine"
    assert len(owner.get(f"/api/collections/{slug}").get_json()["clips"]) == 1


def test_bad_clips_get_one_clear_message_and_change_nothing(app, talks, config):
    member = signed_in(app, "member")
    slug = slug_of(add(member, talks["public"], new_title="Good"))
    cases = [
        (dict(talk=talks["staff"]), 404, "no such talk"),  # a draft a member may not see
        (dict(talk="no-such-talk"), 404, "no such talk"),
        (dict(start="soon"), 400, "12:34"),
        (dict(start="0:10", end="0:05"), 400, "end after it starts"),
        (dict(start="9:00"), 400, "within the talk"),
        (dict(end="later"), 400, "leave it empty"),
        (dict(collection="new", new_title="  "), 400, "needs a title"),
        (dict(collection="new", new_title="Fresh", start="9:00"), 400, "within the talk"),  # no empty collection left
        (dict(collection="someone-elses"), 404, "no collection"),
        (dict(note="x" * 2001), 400, "at most 2000"),
    ]
    db = connect(config.db_path)
    before = (
        db.execute("SELECT count(*) FROM collection_clips").fetchone()[0],
        db.execute("SELECT count(*) FROM collections").fetchone()[0],
    )
    for change, status, message in cases:
        fields = {"talk": talks["public"], "collection": slug, **change}
        response = add(member, fields.pop("talk"), **fields)
        assert response.status_code == status, change
        assert message in response.get_data(as_text=True), change
    after = (
        db.execute("SELECT count(*) FROM collection_clips").fetchone()[0],
        db.execute("SELECT count(*) FROM collections").fetchone()[0],
    )
    db.close()
    assert before == after == (1, 1)
    visitor = app.test_client()
    assert add(visitor, talks["public"]).status_code == 403  # signed-out: "Sign in to do that."
    assert visitor.get("/collections").status_code == 302  # to the sign-in page


def test_citations_export_as_text_and_csl_json(app, talks):
    member = signed_in(app, "member")
    slug = slug_of(add(member, talks["public"], "0:02", "0:15", new_title="For the grant report", note="Key quote"))
    text = member.get(f"/collections/{slug}/citations.txt?download=1")
    assert text.headers["Content-Disposition"] == f'attachment; filename="{slug}-citations.txt"'
    body = text.get_data(as_text=True)
    assert body.startswith("For the grant report\n")
    assert (
        "1. Ana Ruiz. “The public talk.” Kenji Health, 2025-03-12. Recording, 0:02–0:15. http://localhost/recordings/"
        in body
    )
    assert "Note: Key quote" in body
    (item,) = json.loads(member.get(f"/collections/{slug}/citations.json").data)
    assert (
        item["type"] == "speech" and item["title"] == "The public talk" and item["author"] == [{"literal": "Ana Ruiz"}]
    )
    assert item["issued"] == {"date-parts": [[2025, 3, 12]]} and item["URL"].endswith("?t=2&end=15")
    assert item["note"] == "Recording, 0:02–0:15. Key quote"


def test_deleting_a_collection_or_its_owners_account_leaves_the_talks(app, talks, runner):
    from archive.doors.cli import cli

    member = signed_in(app, "member", "leaving@example.org")
    slug = slug_of(add(member, talks["public"], new_title="Short-lived"))
    second = slug_of(add(member, talks["public"], new_title="Another"))
    kept = member.post(f"/collections/{slug}/delete")  # not confirmed: nothing goes
    assert kept.status_code == 400 and "for good" in kept.get_data(as_text=True)
    assert member.get(f"/collections/{slug}").status_code == 200
    assert member.post(f"/collections/{slug}/delete", data={"confirm": "1"}).status_code == 303
    assert member.get(f"/collections/{slug}").status_code == 404
    assert runner.invoke(cli, ["users", "remove", "leaving@example.org"]).exit_code == 0
    assert app.test_client().get(f"/collections/{second}").status_code == 404
    assert app.test_client().get(f"/recordings/{talks['public']}").status_code == 200


@pytest.mark.model
def test_a_real_talk_clip_is_added_from_the_share_dialog_and_plays(app, config, make_media):
    """The talk page offers the form to signed-in readers only, and the clip's media plays (with ranges)."""
    db = connect(config.db_path)
    talk = ingest_file(
        db, config, make_media("speech.flac"), RecordingMeta(title="Ask not", visibility="public")
    ).recording
    db.close()
    member = signed_in(app, "member")
    page = member.get(f"/recordings/{talk.slug}").get_data(as_text=True)
    assert 'id="collect-form"' in page and 'name="start" form="collect-form"' in page
    assert 'id="collect-form"' not in app.test_client().get(f"/recordings/{talk.slug}").get_data(as_text=True)
    slug = slug_of(add(member, talk.slug, "0:01", "0:05", new_title="Speeches"))
    collection = member.get(f"/collections/{slug}").get_data(as_text=True)
    (media,) = re.findall(r'data-media="([^"]+)"', collection)
    with member.get(media, headers={"Range": "bytes=0-99"}) as played:
        assert played.status_code == 206 and len(played.data) == 100
    assert "Speeches" in member.get("/collections").get_data(as_text=True)
    assert 'src="/static/collection.js?v=' in collection


def test_a_talk_unpublished_later_leaves_its_clip_hidden_and_tells_only_the_owner(app, talks):
    owner = signed_in(app, "member", "owner@example.org")
    slug = slug_of(add(owner, talks["public"], new_title="Shared widely"))
    add(owner, talks["members"], collection=slug)
    owner.post(f"/collections/{slug}", data={"title": "Shared widely", "sharing": "public"})
    staff = signed_in(app, "staff")
    assert staff.post(f"/recordings/{talks['members']}/visibility", data={"visibility": "staff"}).status_code in (
        302,
        303,
    )
    mine = owner.get(f"/collections/{slug}").get_data(as_text=True)
    assert "1 moment across 1 talk" in mine and "1 of your clips is from talks you can no longer see" in mine
    theirs = app.test_client().get(f"/collections/{slug}").get_data(as_text=True)
    assert "1 moment across 1 talk" in theirs and "can no longer see" not in theirs and "The members talk" not in theirs
    assert "The members talk" in staff.get(f"/collections/{slug}").get_data(as_text=True)  # staff may see drafts
