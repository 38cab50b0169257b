"""HTML pages for members: the home page, search results, and each talk with its player."""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from markupsafe import escape

from archive.core.errors import UserError
from archive.core.export import CHAPTER_FORMATS, FORMATS, LANGUAGE_NAMES, export, main_language
from archive.core.store import recordings as store
from archive.core.timecode import parse_timecode
from archive.doors.feed import FeedItem, podcast_feed
from archive.doors.web.auth import framable_by, is_staff, visible_levels, visible_or_404
from archive.doors.web.db import get_db
from archive.doors.web.search import filters_from, run_search
from ingest.chapters import chapters_text
from ingest.companions import chat_links
from ingest.covers import archive_cover, cover

bp = Blueprint("pages", __name__)

# Browsers need the right type to play a file; Python's table lacks some media suffixes.
MEDIA_TYPES = {".m4a": "audio/mp4", ".opus": "audio/ogg", ".mkv": "video/x-matroska", ".flac": "audio/flac"}
FILTER_ARGS = ("speaker", "org", "tag", "since", "until", "series")
NO_TALK = "There is no talk at this address."


@bp.get("/")
def index():
    """The search box, the filters and the latest talks (only the matching ones when filters are set)."""
    db = get_db()
    filters = filters_from(request.args)
    try:
        recordings, error = store.list_recordings(db, filters), None
    except UserError as exc:  # a date that is not one: say so beside the filters
        recordings, error = store.list_recordings(db, store.visible_only(visible_levels())), exc.sentence()
    return render_template(
        "index.html", recordings=recordings, filters=filters, facets=store.facets(db, visible_levels()), error=error
    ), (400 if error else 200)


@bp.get("/search")
def search():
    """Moments grouped by talk, or a plain statement that nothing matched."""
    query = request.args.get("q", "")
    if not query.strip():
        kept = {k: v for k in FILTER_ARGS if (v := request.args.get(k, "").strip())}
        return redirect(url_for("pages.index", **kept))
    if any(not value.strip() for value in request.args.values()):  # a clean address to share and bookmark
        return redirect(url_for("pages.search", **{k: v for k, v in request.args.items() if v.strip()}))
    db = get_db()
    filters = filters_from(request.args)
    facets = store.facets(db, visible_levels())
    context = {"query": query, "filters": filters, "facets": facets, "response": None, "error": None}
    try:
        response = run_search(request.args)
    except UserError as exc:  # shown beside the search form, which keeps what was typed
        return render_template("search.html", **{**context, "error": exc.sentence()}), exc.status
    return render_template("search.html", **{**context, "query": response.query, "response": response})


def visible_recording(slug: str):
    return visible_or_404(store.get_recording_by_slug(get_db(), slug), NO_TALK)


@bp.get("/recordings/<slug>")
def recording(slug: str):
    """A talk: player, transcript, share tools. ``?t=`` (and ``&end=``) start it at a moment.

    A time that cannot be read, or lies outside the talk, is ignored rather than refused:
    a link that is slightly wrong should still open the talk.
    """
    db = get_db()
    found = visible_recording(slug)
    segments = store.get_segments(db, found.id)
    moment = linked_moment(request.args, found.duration, segments)
    chat = store.chat_messages(db, found.id)  # authors are shown to staff only, unless the talk says otherwise
    slides = store.slides(db, found.id)
    outline = store.chapters(db, found.id)
    return render_template(
        "recording.html",
        recording=found,
        segments=segments,
        start=moment.start,
        end=moment.end,
        current=moment.current,
        talks_like=store.talks_like(db, found, visible=visible_levels()),
        redactions=store.list_redactions(db, found.id),
        speech_gaps=store.speech_gaps(db, found.id) if is_staff() else [],
        talk_language=main_language(found),
        chat=chat,
        chat_links=chat_links(chat),
        slides=slides,
        chapters=outline,
        past_end=moment.past_end,
        chapters_text=chapters_text(outline) if is_staff() else "",
        slides_from=_slides_by_line(segments, slides),
        language_names=LANGUAGE_NAMES,
        export_formats=FORMATS.values(),
    )


def _slides_by_line(segments, slides) -> dict[int, list]:
    """The slides that come up at each line (a line's index -> its slides), for marks in the transcript."""
    marks: dict[int, list] = {}
    for slide in slides:
        line = _segment_at(segments, slide.at) if slide.at is not None else None
        marks.setdefault(line or 0, []).append(slide)
    return marks


@dataclass(frozen=True)
class LinkedMoment:
    """Where a link's ``?t=`` (and ``&end=``) puts a talk: the time to play from, where to stop, the
    line to mark, and a ``?t=`` past the talk's end (kept to say so; the talk then plays from 0:00)."""

    start: float | None = None
    end: float | None = None
    current: int | None = None
    past_end: float | None = None


def linked_moment(args, duration: float, segments) -> LinkedMoment:
    """The one reading of a link's times, for the talk page and the embed alike.

    A time that cannot be read, or lies outside the talk, is ignored rather than refused (a link that
    is slightly wrong should still open the talk). ``?t=66`` for the line at 66.92 plays and marks
    that line from its start, not the line before it.
    """
    start, end = parse_timecode(args.get("t")), parse_timecode(args.get("end"))
    past_end = start if start is not None and start > duration else None
    if past_end is not None:
        start = None
    if end is not None and (end <= (start or 0.0) or end > duration + 1):
        end = None
    current = _segment_at(segments, start) if start is not None else None
    if current is not None and start is not None and segments[current].start > start:
        start = segments[current].start
    return LinkedMoment(start, end, current, past_end)


def _segment_at(segments, seconds: float) -> int | None:
    """Index of the segment being spoken at ``seconds`` (the last one started by then).

    A whole second (``?t=66``, a link written by hand or rounded) means that second: a line
    starting inside it (at 66.92) is the one meant, not the line before.
    """
    slack = 1.0 - 1e-6 if float(seconds).is_integer() else 1e-6
    current = None
    for i, segment in enumerate(segments):
        if segment.start > seconds + slack:
            break
        current = i
    return current


@bp.get(f"/recordings/<slug>.<any({', '.join(FORMATS)}):fmt>")
def transcript(slug: str, fmt: str):
    """The transcript as a file (the same formats as ``archive export``); the VTT is the player's captions."""
    db = get_db()
    found = visible_recording(slug)
    body = export(found, store.get_segments(db, found.id), fmt)
    response = Response(body, content_type=FORMATS[fmt].content_type)
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{found.slug}.{fmt}"'
    return response


@bp.get(f"/recordings/<slug>/chapters.<any({', '.join(CHAPTER_FORMATS)}):fmt>")
def chapters(slug: str, fmt: str):
    """The talk's outline: a WebVTT chapters track (the player's), Podcasting 2.0 JSON chapters, or text."""
    found = visible_recording(slug)
    chosen = CHAPTER_FORMATS[fmt]
    return Response(chosen.write(found, store.chapters(get_db(), found.id)), content_type=chosen.content_type)


@bp.get("/recordings/<slug>/cover.<any(png, jpg):kind>")
def cover_image(slug: str, kind: str):
    """The talk's cover (a video frame, or a card naming the talk): the page's picture and its link preview."""
    found = visible_recording(slug)
    path = cover(current_app.config["ARCHIVE"], found)
    return send_file(path, mimetype="image/jpeg" if path.suffix == ".jpg" else "image/png", max_age=86400)


@bp.get("/embed/<slug>")
def embed(slug: str):
    """A compact player with the transcript for other sites' pages (``?t=`` and ``&end=`` as on the talk's
    page): the one page the configured sites (ARCHIVE_EMBED_ORIGINS) may frame; public talks only."""
    found = store.get_recording_by_slug(get_db(), slug)
    if found is None or found.visibility != "public":
        abort(404, NO_TALK)
    segments = store.get_segments(get_db(), found.id)
    moment = linked_moment(request.args, found.duration, segments)
    response = make_response(
        render_template(
            "embed.html",
            recording=found,
            segments=segments,
            start=moment.start,
            end=moment.end,
            current=moment.current,
        )
    )
    return framable_by(response, current_app.config["ARCHIVE"].embed_origin_list)


EMBED_SIZE = (640, 400)


@bp.get("/oembed")
def oembed():
    """oEmbed (JSON) for a talk's address, so sites and editors turn a pasted link into the embedded player."""
    from urllib.parse import parse_qs, urlsplit

    url = request.args.get("url", "")
    if request.args.get("format", "json") != "json":
        abort(501, "Only the JSON format is offered.")
    parts = urlsplit(url)
    match = re.fullmatch(r"/recordings/([a-z0-9-]+)/?", parts.path)
    found = store.get_recording_by_slug(get_db(), match.group(1)) if match else None
    if found is None or found.visibility != "public" or parts.netloc not in ("", request.host):
        abort(404, "That address is not a public talk of this archive.")
    width = min(_positive(request.args.get("maxwidth"), EMBED_SIZE[0]), EMBED_SIZE[0])
    height = min(_positive(request.args.get("maxheight"), EMBED_SIZE[1]), EMBED_SIZE[1])
    times = {k: v[0] for k, v in parse_qs(parts.query).items() if k in ("t", "end")}
    src = url_for("pages.embed", slug=found.slug, _external=True, **times)
    html = (
        f'<iframe src="{escape(src)}" width="{width}" height="{height}" title="{escape(found.title)}" '
        f'style="border:0" allow="autoplay; fullscreen" loading="lazy"></iframe>'
    )
    return jsonify(
        {
            "version": "1.0",
            "type": "video" if found.media_kind == "video" else "rich",
            "provider_name": "Talk Archive",
            "provider_url": url_for("pages.index", _external=True),
            "title": found.title,
            "author_name": ", ".join(found.speakers) or found.organization,
            "html": html,
            "width": width,
            "height": height,
            "thumbnail_url": url_for("pages.cover_image", slug=found.slug, kind=found.cover_kind, _external=True),
            "thumbnail_width": 1200,
            "thumbnail_height": 630,
        }
    )


def _positive(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() and int(value) > 0 else default


@bp.get("/qr.svg")
def qr_code():
    """A QR code (SVG) of a link into this archive, for the share dialog: phones in the room open the moment."""
    import qrcode
    import qrcode.image.svg

    url = request.args.get("url", "")
    if not url.startswith(request.host_url) or len(url) > 2000:
        abort(404, "Only links into this archive get a QR code.")
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    return Response(image.to_string(), content_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


@bp.get("/llms.txt")
def llms_txt():
    """What the archive is and how to read it, for AI assistants (llmstxt.org): Markdown, public talks only."""
    talks = store.list_recordings(get_db(), store.visible_only(("public",)))
    body = render_template("llms.txt", talks=talks)
    return Response(body, content_type="text/markdown; charset=utf-8")


@bp.get("/cover.png")
def archive_cover_image():
    """The archive's own artwork (the podcast feed's)."""
    return send_file(archive_cover(current_app.config["ARCHIVE"]), mimetype="image/png", max_age=86400)


@bp.get("/feed.xml")
def feed():
    """Every public talk as a podcast: RSS 2.0 with iTunes tags, transcripts and chapters (``archive.doors.feed``)."""
    return _podcast("Talk Archive", store.visible_only(("public",)), url_for("pages.feed", _external=True))


@bp.get("/series/<slug>")
def series(slug: str):
    """A series' talks (those the visitor may see), newest first, with its podcast feed."""
    db = get_db()
    name = store.series_named(db, slug, visible_levels()) or abort(404, "There is no series at this address.")
    talks = store.list_recordings(db, store.RecordingFilter(series=name, visibility=visible_levels()))
    has_feed = store.series_named(db, slug, ("public",)) is not None
    return render_template("series.html", name=name, slug=slug, recordings=talks, has_feed=has_feed)


@bp.get("/series/<slug>/feed.xml")
def series_feed(slug: str):
    """One series' public talks as a podcast of its own."""
    name = store.series_named(get_db(), slug, ("public",)) or abort(404, "There is no public series at this address.")
    return _podcast(
        f"{name} · Talk Archive",
        store.RecordingFilter(series=name, visibility=("public",)),
        url_for("pages.series_feed", slug=slug, _external=True),
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
                media_url=url_for("pages.media", slug=found.slug, _external=True),
                media_type=media_type(media_file),
                media_bytes=media_file.stat().st_size,
                cover_url=url_for("pages.cover_image", slug=found.slug, kind=found.cover_kind, _external=True),
                transcript_url=url_for("pages.transcript", slug=found.slug, fmt="vtt", _external=True),
                chapters_url=url_for("pages.chapters", slug=found.slug, fmt="json", _external=True)
                if store.chapters(db, found.id)
                else None,
            )
        )
    body = podcast_feed(
        title,
        site_url or url_for("pages.index", _external=True),
        feed_url,
        url_for("pages.archive_cover_image", _external=True),
        items,
        owner_email=config.contact_email,
    )
    return Response(body, content_type="application/rss+xml; charset=utf-8")


@bp.get("/media/<slug>")
def media(slug: str):
    """The recording's media, with HTTP Range support so players can seek without downloading."""
    return send_media(visible_recording(slug), max_age=3600)


def media_type(path) -> str:
    return MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def send_media(recording, *, max_age: int):
    """A talk's stored file with HTTP Range support (the talk page's player, a presenter's review):
    only a plain file inside the media folder, never a symlink, never anything else on disk."""
    config = current_app.config["ARCHIVE"]
    stored = config.data_dir / recording.media_path
    path = stored.resolve()
    if stored.is_symlink() or not path.is_file() or not path.is_relative_to(config.media_dir.resolve()):
        abort(404, "The media for this talk is missing.")
    return send_file(path, mimetype=media_type(path), conditional=True, max_age=max_age)
