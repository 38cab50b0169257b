"""The podcast feed: every public talk, with its audio, cover, transcripts and chapters, parsed back."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from archive.store import connect
from archive.store.models import RecordingMeta
from ingest.pipeline import ingest_file

ITUNES = "{http://www.itunes.com/dtds/podcast-1.0.dtd}"
PODCAST = "{https://podcastindex.org/namespace/1.0}"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_the_feed_lists_public_talks_with_everything_a_podcast_app_needs(client, config, make_media):
    db = connect(config.db_path)
    public = ingest_file(db, config, make_media("talk.flac"), RecordingMeta(
        title="Checking In Without Calling", speakers=["Thu Huong Nguyen"], organization="Hoa Sen Family Services",
        date="2025-05-14", visibility="public")).recording
    ingest_file(db, config, make_media("members.mp3"), RecordingMeta(title="Members only talk", visibility="members"))
    ingest_file(db, config, make_media("draft.wav"), RecordingMeta(title="A draft", visibility="staff"))
    db.close()

    response = client.get("/feed.xml")
    assert response.status_code == 200 and response.mimetype == "application/rss+xml"
    channel = ET.fromstring(response.data).find("channel")
    assert channel.findtext("title") == "Talk Archive" and channel.find(f"{ITUNES}image") is not None
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
