"""The database connection a request uses: one per server thread, opened once and kept.

Opening and closing a connection for every request cost about 2 ms of a 12 ms search
(``connect``'s pragmas, and the close of a WAL connection), measured with the Flask test client
on the demo archive; waitress's threads live as long as the server, so each keeps its own
connection (SQLite connections may not cross threads). Each request still ends its work: a
transaction left open by an error is rolled back when the request ends (``release_db``).
"""

from __future__ import annotations

import threading

from flask import Flask, current_app, g
from sqlite_utils import Database

from archive.core.store import connect


def get_db() -> Database:
    """This request's connection (its thread's); the schema was brought up to date once, when the app was made."""
    if "db" not in g:
        held = _thread_connections(current_app)
        if getattr(held, "db", None) is None:
            held.db = connect(current_app.config["ARCHIVE"].db_path, migrate=False)
        g.db = held.db
    return g.db


def _thread_connections(app: Flask) -> threading.local:
    """The app's per-thread connections; they close with the app (tests make many apps)."""
    return app.extensions.setdefault("archive_db", threading.local())


def release_db(exc: BaseException | None) -> None:
    """End the request's use of its connection: roll back what an error left half done."""
    db = g.pop("db", None)
    if db is not None and db.conn.in_transaction:
        db.conn.rollback()
