"""The talk's files: its media, its covers, and its transcript and chapters as downloads.

Everything here is a file a player, a podcast app or a link preview fetches rather than a page a
person reads: the media with HTTP Range support (``send_media``, also the presenter's review
player), the cover images, the transcript in every ``archive export`` format (the VTT is the
player's captions) and the chapters track. Each is served only for a talk the asker may see.
"""

from __future__ import annotations

import mimetypes

from flask import Blueprint, Response, abort, current_app, request, send_file

from archive.core.export import CHAPTER_FORMATS, FORMATS, export
from archive.core.store import recordings as store
from archive.doors.web.db import get_db
from archive.doors.web.pages import visible_recording
from ingest.covers import archive_cover, cover

bp = Blueprint("files", __name__)

# Browsers need the right type to play a file; Python's table lacks some media suffixes.
MEDIA_TYPES = {".m4a": "audio/mp4", ".opus": "audio/ogg", ".mkv": "video/x-matroska", ".flac": "audio/flac"}


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


@bp.get("/recordings/<slug>/cover.<any(png, jpg):kind>")
def cover_image(slug: str, kind: str):
    """The talk's cover (a video frame, or a card naming the talk): the page's picture and its link preview."""
    found = visible_recording(slug)
    path = cover(current_app.config["ARCHIVE"], found)
    return send_file(path, mimetype="image/jpeg" if path.suffix == ".jpg" else "image/png", max_age=86400)


@bp.get("/cover.png")
def archive_cover_image():
    """The archive's own artwork (the podcast feed's)."""
    return send_file(archive_cover(current_app.config["ARCHIVE"]), mimetype="image/png", max_age=86400)


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
