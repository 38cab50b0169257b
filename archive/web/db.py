"""One database connection per request."""

from __future__ import annotations

from flask import current_app, g
from sqlite_utils import Database

from archive.store import connect


def get_db() -> Database:
    if "db" not in g:
        g.db = connect(current_app.config["ARCHIVE"].db_path)
    return g.db
