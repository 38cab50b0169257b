"""The podcast feed: every public talk, with its audio, cover, transcripts and chapters, parsed back."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from archive.core.store import connect
from archive.core.store.records import RecordingMeta
from archive.doors.web import create_app
from ingest.pipeline import ingest_file

ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
PODCAST = "{https://podcastindex.org/namespace/1.0}"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.model
def test_the_feed_lists_public_talks_with_everything_a_podcast_app_needs(client, config, make_media):
    db = connect(config.db_path)
    public = ingest_file(
        db,
        config,
        make_media("talk.flac"),
        RecordingMeta(
            title="Checking In Without Calling",
            speakers=["Thu Huong Nguyen"],
            organization="Hoa Sen Family Archive",
            date="2025-05-14",
            visibility="public",
        ),
    ).recording
    ingest_file(db, config, make_media("members.mp3"), RecordingMeta(title="Members only talk", visibility="members"))
    ingest_file(db, config, make_media("draft.wav"), RecordingMeta(title="A draft", visibility="staff"))
    db.close()

    response = client.get("/feed.xml")
    assert response.status_code == 200 and response.mimetype == "application/rss+xml"
    channel = ET.fromstring(response.data).find("channel")
    assert channel.findtext("title") == "Talk Archive" and channel.find(f"{ITUNES}image") is not None
    assert urlsplit(channel.findtext("link")).path == "/"  # the site, not the feed itself
    (item,) = channel.findall("item")  # the members-only talk and the draft stay out
    assert item.findtext("title") == "Checking In Without Calling"
    assert item.findtext("pubDate").startswith("Wed, 14 May 2025")
    assert item.findtext(f"{ITUNES}duration") == str(round(public.duration))
    enclosure = item.find("enclosure")
    with client.get(_path(enclosure.get("url"))) as media:
        assert media.status_code == 200 and int(enclosure.get("length")) == len(media.data)
        assert enclosure.get("type") == "audio/flac" == media.mimetype
    transcripts = {t.get("type"): t.get("url") for t in item.findall(f"{PODCAST}transcript")}
    assert set(transcripts) == {"text/vtt", "application/x-subrip", "application/json"}
    for kind, url in transcripts.items():
        got = client.get(_path(url))
        assert got.status_code == 200 and got.mimetype == kind
    chapters = item.find(f"{PODCAST}chapters")
    assert chapters.get("type") == "application/json+chapters"
    assert json.loads(client.get(_path(chapters.get("url"))).data)["chapters"]
    for image in (item.find(f"{ITUNES}image").get("href"), channel.find(f"{ITUNES}image").get("href")):
        with client.get(_path(image)) as picture:
            assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert 'type="application/rss+xml"' in client.get("/").get_data(as_text=True)  # discoverable


@pytest.mark.model
def test_a_feed_reader_parses_the_feed_without_complaint(data_dir, config, make_media):
    """feedparser (what many podcast apps and validators build on) reads it cleanly, with the
    fields a podcast directory requires of a show and of each episode."""
    import feedparser

    from archive.doors.feed import feed_guid

    db = connect(config.db_path)
    ingest_file(
        db,
        config,
        make_media("talk.flac"),
        RecordingMeta(
            title="Checking In Without Calling", speakers=["Thu Huong Nguyen"], date="2025-05-14", visibility="public"
        ),
    )
    db.close()
    client = create_app({"data_dir": data_dir, "TESTING": True, "contact_email": "archive@example.org"}).test_client()
    parsed = feedparser.parse(client.get("/feed.xml").data)
    assert parsed.bozo == 0 and parsed.version == "rss20"
    show = parsed.feed
    for required in ("title", "link", "subtitle", "language", "image", "tags"):
        assert show.get(required) not in (None, ""), required
    assert show["podcast_guid"] == feed_guid("http://localhost/feed.xml")  # the namespace's UUIDv5 of the address
    assert show["publisher_detail"]["email"] == "archive@example.org"  # <itunes:owner>, from ARCHIVE_CONTACT_EMAIL
    (episode,) = parsed.entries
    for required in ("title", "id", "published_parsed", "summary", "itunes_duration", "image"):
        assert episode.get(required) not in (None, ""), required
    (enclosure,) = episode.enclosures
    assert int(enclosure["length"]) > 0 and enclosure["type"] == "audio/flac"


@pytest.mark.model
def test_a_series_has_its_page_and_a_feed_of_its_public_talks(client, member_client, config, make_media):
    db = connect(config.db_path)
    series = "Community of Practice"
    ingest_file(
        db,
        config,
        make_media("one.flac"),
        RecordingMeta(
            title="Relational social prescribing", series=f"  {series} ", date="2025-01-08", visibility="public"
        ),
    )
    ingest_file(
        db,
        config,
        make_media("two.mp3"),
        RecordingMeta(title="Measuring what matters", series=series.lower(), date="2025-02-12", visibility="public"),
    )
    ingest_file(
        db,
        config,
        make_media("three.wav"),
        RecordingMeta(title="A members' session", series=series, visibility="members"),
    )
    ingest_file(db, config, make_media("four.ogg"), RecordingMeta(title="Not in a series", visibility="public"))
    db.close()

    home = client.get("/").get_data(as_text=True)
    assert "/series/community-of-practice" in home and ">Community of Practice</a>" in home
    page = client.get("/series/community-of-practice")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "2 talks in this series" in text and "A members&#39; session" not in text
    assert "Not in a series" not in text and "/series/community-of-practice/feed.xml" in text
    assert "3 talks in this series" in member_client.get("/series/community-of-practice").get_data(as_text=True)

    response = client.get("/series/community-of-practice/feed.xml")
    assert response.status_code == 200 and response.mimetype == "application/rss+xml"
    channel = ET.fromstring(response.data).find("channel")
    assert channel.findtext("title") == "Community of Practice · Talk Archive"
    assert [i.findtext("title") for i in channel.findall("item")] == [
        "Measuring what matters",
        "Relational social prescribing",
    ]
    assert urlsplit(channel.findtext("link")).path == "/series/community-of-practice"
    talk_page = client.get("/recordings/measuring-what-matters").get_data(as_text=True)
    assert 'href="/series/community-of-practice"' in talk_page  # a talk links to its series


@pytest.mark.model
def test_a_feed_of_no_series_or_a_hidden_one_is_a_clear_not_found(client, config, make_media):
    db = connect(config.db_path)
    ingest_file(
        db, config, make_media("one.flac"), RecordingMeta(title="Inner circle", series="Board", visibility="members")
    )
    db.close()
    for path in ("/series/nothing-here/feed.xml", "/series/board/feed.xml", "/series/board", "/series/%00/feed.xml"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "series" in response.get_data(as_text=True) and "Traceback" not in response.get_data(as_text=True)


def test_every_export_format_is_offered_by_every_door(demo_data_dir, client):
    """A format is one entry of the registry: the CLI offers it, the web serves it with its type, the
    talk page lists it, and feeds link the ones meant for podcast apps."""
    from click.testing import CliRunner

    from archive.core.export import CHAPTER_FORMATS, FORMATS
    from archive.doors.cli import cli

    page = client.get("/recordings/relational-social-prescribing-staying-with-clients").get_data(as_text=True)
    feed = client.get("/feed.xml").get_data(as_text=True)
    help_text = CliRunner().invoke(cli, ["export", "--help"]).output
    for fmt in FORMATS.values():
        served = client.get(f"/recordings/relational-social-prescribing-staying-with-clients.{fmt.name}")
        assert served.status_code == 200 and served.content_type == fmt.content_type
        assert fmt.label in page and fmt.name in help_text
        assert (f'relational-social-prescribing-staying-with-clients.{fmt.name}"' in feed) == fmt.in_feeds, fmt.name
    for fmt in CHAPTER_FORMATS.values():
        served = client.get(f"/recordings/relational-social-prescribing-staying-with-clients/chapters.{fmt.name}")
        assert served.status_code == 200 and served.content_type == fmt.content_type


def test_a_series_page_does_not_link_to_itself_and_chapter_marks_carry_their_titles(client, config):
    from archive.core.store import recordings as store
    from archive.core.store import write_transaction
    from archive.core.store.records import Segment
    from ingest.chapters import set_chapters

    db = connect(config.db_path)
    with write_transaction(db):
        talk_id = store.insert_recording(
            db,
            RecordingMeta(title="Linked up", series="Community of Practice", visibility="public").validated(),
            duration=30.0,
            media_path="linked.m4a",
            media_hash="linked",
            media_kind="audio",
            original_filename="linked.m4a",
            language="en",
            model="test",
        )
        store.replace_segments(db, talk_id, [Segment(0.0, 9.5, "Welcome."), Segment(10.0, 29.5, "We follow up.")])
    set_chapters(db, talk_id, "0:00 Welcome\n0:10 How link workers follow up")
    slug = store.get_recording(db, talk_id).slug
    db.close()

    series_page = client.get("/series/community-of-practice").get_data(as_text=True)
    assert "Linked up" in series_page and 'href="/series/community-of-practice"' not in series_page
    assert 'href="/series/community-of-practice"' in client.get("/").get_data(as_text=True)

    page = client.get(f"/recordings/{slug}").get_data(as_text=True)
    bar = page[page.index('class="chapter-bar"') :].split("</nav>", 1)[0]
    assert 'aria-hidden="true"' not in bar and 'tabindex="-1"' not in bar
    assert 'aria-label="Chapter at 0:10: How link workers follow up"' in bar
    assert 'data-title="0:10 How link workers follow up"' in bar
