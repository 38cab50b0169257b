"""One database connection per request."""

from __future__ import annotations

from flask import current_app, g
from sqlite_utils import Database

from archive.core.store import connect


def get_db() -> Database:
    """This request's connection; the schema was brought up to date once, when the app was made."""
    if "db" not in g:
        g.db = connect(current_app.config["ARCHIVE"].db_path, migrate=False)
    return g.db
