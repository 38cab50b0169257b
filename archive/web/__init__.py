"""The Flask app factory. Importing this module never imports torch or the Whisper model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from flask import Flask, current_app, g, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from archive.config import Config, load_config
from archive.store import connect
from archive.timecode import clock, link_time

ROOT = Path(__file__).resolve().parent.parent.parent


def create_app(test_config: Mapping[str, Any] | None = None, *, config: Config | None = None) -> Flask:
    """Build the web app: defaults, then ``ARCHIVE_*`` variables, then ``test_config`` overrides.

    ``test_config`` may hold archive settings by field name (``data_dir``) and Flask
    settings in capitals (``TESTING``). ``config`` passes a ready-made Config (the CLI's).
    """
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.url_map.converters["id"] = RowIdConverter
    archive_config = config or load_config(test_config)
    app.config["MAX_CONTENT_LENGTH"] = archive_config.max_upload_bytes
    app.config.update(archive_config.extra)
    app.config["ARCHIVE"] = archive_config

    from search.engine import Searcher

    from . import api, auth, pages, staff, workers
    from .uploads import UploadRequest

    app.request_class = UploadRequest
    connect(archive_config.db_path).close()  # migrations run here, once, not on every request
    auth.init_app(app, archive_config)

    app.extensions["searcher"] = Searcher.from_config(archive_config)  # the model loads on the first query

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(workers.bp)
    app.teardown_appcontext(_close_db)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.jinja_env.filters["clock"] = _clock
    app.jinja_env.filters["link_time"] = link_time
    app.jinja_env.filters["groupby_recording"] = _groupby_recording
    return app


class RowIdConverter(IntegerConverter):
    """``<id:...>``: a whole number SQLite can hold; a larger one is a 404, not an overflow."""

    def __init__(self, url_map):
        super().__init__(url_map, max=2**63 - 1)


def _clock(seconds: float) -> str:
    return clock(seconds or 0.0, always_hours=False)


def _groupby_recording(moments) -> list[list]:
    """Consecutive moments of one recording as one group (search results arrive grouped)."""
    groups: list[list] = []
    for moment in moments:
        if groups and groups[-1][0].recording_id == moment.recording_id:
            groups[-1].append(moment)
        else:
            groups.append([moment])
    return groups


def _close_db(exc: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _http_error(exc: HTTPException):
    message = exc.description
    if exc.code == 413:  # werkzeug's own words say nothing of files or limits
        limit = current_app.config["ARCHIVE"].max_upload_mb
        message = f"That file is larger than the archive accepts ({limit:,} MB). Ask an admin to raise ARCHIVE_MAX_UPLOAD_MB."
    if _wants_json():
        response = jsonify({"error": message, "status": exc.code})
    else:
        response = make_response(render_template("error.html", code=exc.code, title=exc.name, message=message))
    response.status_code = exc.code
    # Keep what the error itself says in headers: Content-Range on a 416, Allow on a 405.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _unexpected_error(exc: Exception):
    current_app.logger.exception("unhandled error on %s", request.path)
    message = "Something went wrong on our side. The error has been logged."
    if _wants_json():
        return jsonify({"error": message, "status": 500}), 500
    return render_template("error.html", code=500, title="Server error", message=message), 500
