"""Sharing a talk beyond this archive: the embeddable player, oEmbed, QR codes and llms.txt.

What other sites, editors, phones in the room and AI assistants read: ``/embed/<slug>`` (the one
page the configured sites may frame, public talks only), ``/oembed`` (turns a pasted link into
that player), ``/qr.svg`` (a link into this archive as a QR code, for the share dialog) and
``/llms.txt`` (the public talks, described for AI assistants).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, current_app, jsonify, make_response, render_template, request, url_for
from markupsafe import escape

from archive.core.store import recordings as store
from archive.doors.web.auth import framable_by
from archive.doors.web.db import get_db
from archive.doors.web.pages import NO_TALK, linked_moment

bp = Blueprint("sharing", __name__)


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
    src = url_for("sharing.embed", slug=found.slug, _external=True, **times)
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
            "thumbnail_url": url_for("files.cover_image", slug=found.slug, kind=found.cover_kind, _external=True),
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
