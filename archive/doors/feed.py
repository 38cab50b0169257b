"""The archive as a podcast: RSS 2.0 with iTunes tags and Podcasting 2.0 transcripts and chapters.

Built with feedgen (its ``podcast`` extension writes the iTunes tags); the Podcasting 2.0
``<podcast:transcript>`` and ``<podcast:chapters>`` tags come from the small extension below.
Only public talks are in the feed: a podcast app signs in as nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from archive.core.export import CHAPTER_FORMATS, FORMATS
from archive.core.store.records import Recording

PODCAST_NAMESPACE = "https://podcastindex.org/namespace/1.0"
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")  # the namespace's own, for podcast:guid


@dataclass
class FeedItem:
    """A talk as the feed lists it, with the addresses and sizes the feed needs."""

    recording: Recording
    page_url: str
    media_url: str
    media_type: str
    media_bytes: int
    cover_url: str
    transcript_url: str  # ends in ".{fmt}": one per export format offered in feeds
    chapters_url: str | None  # Podcasting 2.0 JSON chapters, when the talk has any


def podcast_feed(
    title: str,
    site_url: str,
    feed_url: str,
    cover_url: str,
    items: Sequence[FeedItem],
    description: str = "Recordings of the Community of Practice: search them at the archive.",
    owner_email: str = "",
) -> bytes:
    """The RSS 2.0 document for ``items`` (newest first)."""
    from feedgen.ext.base import BaseEntryExtension, BaseExtension
    from feedgen.feed import FeedGenerator
    from lxml import etree

    class Podcasting20(BaseExtension):
        def extend_ns(self):
            return {"podcast": PODCAST_NAMESPACE}

        def extend_rss(self, rss):
            guid = etree.SubElement(rss.find("channel"), f"{{{PODCAST_NAMESPACE}}}guid")
            guid.text = feed_guid(feed_url)
            return rss

    class Podcasting20Entry(BaseEntryExtension):
        def __init__(self):
            self.links: list[tuple[str, dict]] = []

        def podcast_link(self, tag: str, **attributes: str) -> None:
            self.links.append((tag, attributes))

        def extend_rss(self, entry):
            for tag, attributes in self.links:
                etree.SubElement(entry, f"{{{PODCAST_NAMESPACE}}}{tag}", attributes)
            return entry

    feed = FeedGenerator()
    feed.load_extension("podcast")
    feed.register_extension("podcasting20", Podcasting20, Podcasting20Entry)
    feed.title(title)
    feed.link(href=feed_url, rel="self")
    feed.link(href=site_url, rel="alternate")  # after "self": feedgen makes the last link the RSS <link>
    feed.description(description)
    feed.language("en")
    feed.image(url=cover_url, title=title, link=site_url)
    feed.podcast.itunes_image(cover_url)
    feed.podcast.itunes_author(title)
    feed.podcast.itunes_summary(description)
    feed.podcast.itunes_category("Health & Fitness")
    feed.podcast.itunes_explicit("no")
    if owner_email:
        feed.podcast.itunes_owner(name=title, email=owner_email)
    for item in reversed(list(items)):  # feedgen puts each new entry first
        recording = item.recording
        entry = feed.add_entry()
        entry.id(item.page_url)
        entry.guid(item.page_url, permalink=True)
        entry.title(recording.title)
        entry.link(href=item.page_url)
        byline = ", ".join(x for x in (", ".join(recording.speakers), recording.organization) if x)
        entry.description(recording.description or byline or recording.title)
        entry.published(_published(recording))
        entry.enclosure(item.media_url, str(item.media_bytes), item.media_type)
        entry.podcast.itunes_duration(int(round(recording.duration)))
        entry.podcast.itunes_image(item.cover_url)
        if byline:
            entry.podcast.itunes_author(byline)
        stem = item.transcript_url.rsplit(".", 1)[0]
        for fmt in (f for f in FORMATS.values() if f.in_feeds):
            captions = {"rel": "captions"} if fmt.captions else {}
            entry.podcasting20.podcast_link("transcript", url=f"{stem}.{fmt.name}", type=fmt.media_type, **captions)
        if item.chapters_url:
            entry.podcasting20.podcast_link("chapters", url=item.chapters_url, type=CHAPTER_FORMATS["json"].media_type)
    return feed.rss_str(pretty=True)


def feed_guid(feed_url: str) -> str:
    """The Podcasting 2.0 ``<podcast:guid>``: a UUIDv5 of the feed's address without its scheme
    and trailing slashes, so apps know the show again if it moves."""
    address = feed_url.split("://", 1)[-1].rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, address))


def _published(recording: Recording) -> datetime:
    """When the talk was given (noon UTC on its date), else when it was added."""
    if recording.date:
        return datetime.fromisoformat(recording.date).replace(hour=12, tzinfo=timezone.utc)
    added = datetime.fromisoformat(recording.created_at)
    return added if added.tzinfo else added.replace(tzinfo=timezone.utc)
