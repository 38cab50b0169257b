"""The Flask app factory. Importing this module never imports torch or the Whisper model."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, jsonify, make_response, render_template, request
from sqlite_utils.utils import sqlite3
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import IntegerConverter

from archive.core.config import Config, load_config
from archive.core.errors import UserError
from archive.core.store import busy_refusal, connect
from archive.core.store.recordings import slugify
from archive.core.timecode import clock, link_time
from archive.doors.web.db import release_db
from archive.doors.web.uploads import too_large_message
from archive.library import Archive

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parents[2]  # archive/doors/web -> the repository's top


def _assets(name: str) -> str:
    """``templates`` or ``static``: inside the installed package (a wheel puts them there, see
    pyproject.toml), or at the top of the checkout an editable install runs from."""
    packaged = HERE / name
    return str(packaged if packaged.is_dir() else CHECKOUT / name)


def create_app(
    test_config: Mapping[str, Any] | None = None, *, config: Config | None = None, services: Archive | None = None
) -> Flask:
    """Build the web app: defaults, then ``ARCHIVE_*`` variables, then ``test_config`` overrides.

    ``test_config`` may hold archive settings by field name (``data_dir``) and Flask
    settings in capitals (``TESTING``). ``config`` passes a ready-made Config (the CLI's), and
    ``services`` the models and queue already built for it (``archive serve`` warms them first).
    """
    app = Flask(__name__, template_folder=_assets("templates"), static_folder=_assets("static"))
    app.url_map.converters["id"] = RowIdConverter
    archive_config = services.config if services else (config or load_config(test_config))
    app.config["MAX_CONTENT_LENGTH"] = archive_config.max_upload_bytes
    app.config.update(archive_config.extra)
    app.config["ARCHIVE"] = archive_config

    from archive.doors.web import (
        api,
        assets,
        auth,
        collections,
        compression,
        feeds,
        files,
        pages,
        review,
        sharing,
        staff,
        workers,
    )
    from archive.doors.web.uploads import UploadRequest

    app.request_class = UploadRequest
    connect(archive_config.db_path).close()  # migrations run here, once, not on every request
    compression.init_app(app)  # first: its after_request hook then runs last, on the final response
    assets.init_app(app)
    auth.init_app(app, archive_config)

    app.extensions["archive"] = services or Archive(archive_config)

    app.register_blueprint(pages.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(sharing.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(staff.bp)
    app.register_blueprint(workers.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(collections.bp)
    app.teardown_appcontext(release_db)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(UserError, _user_error)
    app.register_error_handler(sqlite3.OperationalError, _store_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.jinja_env.filters["clock"] = _clock
    app.jinja_env.filters["link_time"] = link_time
    app.jinja_env.filters["slug"] = slugify
    return app


class RowIdConverter(IntegerConverter):
    """``<id:...>``: a whole number SQLite can hold; a larger one is a 404, not an overflow."""

    def __init__(self, url_map):
        super().__init__(url_map, max=2**63 - 1)


def _clock(seconds: float) -> str:
    return clock(seconds or 0.0, always_hours=False)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/oembed"  # oEmbed consumers read JSON


def _error_response(code: int, title: str, message: str):
    if _wants_json():
        response = jsonify({"error": message, "status": code})
    else:
        response = make_response(render_template("error.html", code=code, title=title, message=message))
    response.status_code = code
    return response


def _user_error(exc: UserError):
    """What the person asked for and the archive refused: their message, as a page or JSON."""
    message = str(exc) if _wants_json() else exc.sentence()
    return _error_response(exc.status, HTTP_STATUS_CODES.get(exc.status, "Error"), message)


def _http_error(exc: HTTPException):
    message = exc.description
    if exc.code == 413:
        message = too_large_message()
    response = _error_response(exc.code or 500, exc.name, message or "")
    # Keep what the error itself says in headers: Content-Range on a 416, Allow on a 405.
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _store_error(exc: sqlite3.OperationalError):
    """A write that waited out the busy timeout is the machine's moment, not a bug: the person is told
    to try again (503, Retry-After) and the log gets one line, not a traceback."""
    refusal = busy_refusal(exc)
    if refusal is None:
        return _unexpected_error(exc)
    current_app.logger.warning("archive busy on %s: a write waited out the busy timeout", request.path)
    response = _user_error(refusal)
    response.headers["Retry-After"] = "5"
    return response


def _unexpected_error(exc: Exception):
    current_app.logger.exception("unhandled error on %s", request.path)
    return _error_response(500, "Server error", "Something went wrong on our side. The error has been logged.")
