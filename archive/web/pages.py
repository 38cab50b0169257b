"""HTML pages: the latest talks and each recording with its player and transcript."""

from __future__ import annotations

import mimetypes

from flask import Blueprint, abort, current_app, render_template, request, send_file

from archive.store import recordings as store
from archive.store.searches import log_search
from search.engine import SearchError

from .db import get_db
from .search import filters_from, run_search

bp = Blueprint("pages", __name__)

# Browsers need the right type to play a file; Python's table lacks some media suffixes.
MEDIA_TYPES = {".m4a": "audio/mp4", ".opus": "audio/ogg", ".mkv": "video/x-matroska", ".flac": "audio/flac"}


@bp.get("/")
def index():
    return render_template("index.html", recordings=store.list_recordings(get_db()))


@bp.get("/search")
def search():
    """The search page: moments grouped by talk, or a plain statement that nothing matched."""
    query = request.args.get("q", "")
    filters = filters_from(request.args)
    if not query.strip():
        return render_template("search.html", query="", filters=filters, response=None, error=None)
    try:
        response = run_search(request.args)
    except SearchError as exc:
        return render_template("search.html", query=query, filters=filters, response=None, error=str(exc)), 400
    log_search(get_db(), response.query, len(response.results))
    ids = {m.recording_id for m in response.results + response.weak_results}
    recordings = {rid: store.get_recording(get_db(), rid) for rid in ids}
    return render_template(
        "search.html", query=response.query, filters=filters, response=response, recordings=recordings, error=None
    )


@bp.get("/recordings/<slug>")
def recording(slug: str):
    db = get_db()
    found = store.get_recording_by_slug(db, slug) or abort(404, "There is no talk at this address.")
    return render_template("recording.html", recording=found, segments=store.get_segments(db, found.id))


@bp.get("/media/<slug>")
def media(slug: str):
    """The recording's media, with HTTP Range support so players can seek without downloading."""
    found = store.get_recording_by_slug(get_db(), slug) or abort(404, "There is no talk at this address.")
    config = current_app.config["ARCHIVE"]
    path = (config.data_dir / found.media_path).resolve()
    if not path.is_file() or config.data_dir.resolve() not in path.parents:
        abort(404, "The media for this talk is missing.")
    mimetype = MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return send_file(path, mimetype=mimetype, conditional=True, max_age=3600)
