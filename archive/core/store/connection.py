"""Opening the archive database: one connection per request or command, schema up to date."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from archive.core.store.migrations import migrations

# Readers never wait for a writer in WAL mode; writers queue behind each other for
# up to this long instead of failing at once with "database is locked".
BUSY_TIMEOUT_MS = 15_000


def connect(db_path: Path | str, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the archive database at ``db_path`` and apply pending migrations."""
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    if migrate and migrations.pending(db):
        # One process migrates while the others wait for the write lock and then find nothing
        # left to do. Without the lock two processes opening a new archive at once (a server's
        # worker and an `archive ingest`) both saw the same migrations pending, and the second
        # failed with "database is locked" when its read snapshot went stale mid-migration.
        with write_transaction(db):
            migrations.apply(db)
    return db


@contextmanager
def write_transaction(db: sqlite_utils.Database):
    """A transaction that takes the write lock at once (BEGIN IMMEDIATE).

    What is read inside it stays true until it commits, so a read-check-write cannot
    interleave with another writer; it waits up to the busy timeout for the lock.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.conn.rollback()
        raise
    else:
        db.conn.commit()


@contextmanager
def read_transaction(db: sqlite_utils.Database):
    """Reads that see one moment of the database, whatever other processes write meanwhile (WAL).

    Inside a transaction already (the caller's), it simply runs there.
    """
    if db.conn.in_transaction:
        yield db
        return
    db.execute("BEGIN")
    try:
        yield db
    finally:
        db.conn.rollback()  # nothing was written; ending the read releases the snapshot
