"""The podcast feeds: every public talk (``/feed.xml``) and each series' public talks
(``/series/<slug>/feed.xml``), with the media, covers, transcripts and chapters podcast apps fetch.

A podcast app signs in as nobody, so only public talks are listed. The RSS itself is written by
``archive.doors.feed``; this module picks the talks and gives each its addresses.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, url_for

from archive.core.store import recordings as store
from archive.doors.feed import FeedItem, podcast_feed
from archive.doors.web.db import get_db
from archive.doors.web.files import media_type

bp = Blueprint("feeds", __name__)


@bp.get("/feed.xml")
def feed():
    """Every public talk as a podcast: RSS 2.0 with iTunes tags, transcripts and chapters (``archive.doors.feed``)."""
    return _podcast("Talk Archive", store.visible_only(("public",)), url_for("feeds.feed", _external=True))


@bp.get("/series/<slug>/feed.xml")
def series_feed(slug: str):
    """One series' public talks as a podcast of its own."""
    name = store.series_named(get_db(), slug, ("public",)) or abort(404, "There is no public series at this address.")
    return _podcast(
        f"{name} · Talk Archive",
        store.RecordingFilter(series=name, visibility=("public",)),
        url_for("feeds.series_feed", slug=slug, _external=True),
        site_url=url_for("pages.series", slug=slug, _external=True),
    )


def _podcast(title: str, wanted: store.RecordingFilter, feed_url: str, site_url: str | None = None) -> Response:
    """The podcast feed of the talks ``wanted`` picks (public ones: a podcast app signs in as nobody)."""
    db = get_db()
    config = current_app.config["ARCHIVE"]
    items = []
    for found in store.list_recordings(db, wanted):
        media_file = config.data_dir / found.media_path
        if not media_file.is_file():
            continue
        items.append(
            FeedItem(
                recording=found,
                page_url=url_for("pages.recording", slug=found.slug, _external=True),
                media_url=url_for("files.media", slug=found.slug, _external=True),
                media_type=media_type(media_file),
                media_bytes=media_file.stat().st_size,
                cover_url=url_for("files.cover_image", slug=found.slug, kind=found.cover_kind, _external=True),
                transcript_url=url_for("files.transcript", slug=found.slug, fmt="vtt", _external=True),
                chapters_url=url_for("files.chapters", slug=found.slug, fmt="json", _external=True)
                if store.chapters(db, found.id)
                else None,
            )
        )
    body = podcast_feed(
        title,
        site_url or url_for("pages.index", _external=True),
        feed_url,
        url_for("files.archive_cover_image", _external=True),
        items,
        owner_email=config.contact_email,
    )
    return Response(body, content_type="application/rss+xml; charset=utf-8")
