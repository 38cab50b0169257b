"""Opening the archive database: one connection per request or command, schema up to date."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from archive.core.errors import Busy
from archive.core.store.migrations import migrations

# Readers never wait for a writer in WAL mode; writers queue behind each other for
# up to this long instead of failing at once with "database is locked".
BUSY_TIMEOUT_MS = 15_000


def busy_refusal(exc: BaseException) -> Busy | None:
    """``exc`` as the refusal a person is shown, where it is SQLite's "database is locked" (a writer
    that waited the whole busy timeout); None for any other error, which stays the archive's bug.
    Each door translates it once: the CLI's ``user_errors`` and ``open_db``, the web app's error handler, the MCP tools."""
    if not _lock_refused(exc):
        return None
    return Busy(
        f"the archive is busy: another process has been writing to it for over {BUSY_TIMEOUT_MS / 1000:g} seconds. "
        "Nothing was changed; try again in a moment"
    )


def _lock_refused(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite refusing a lock ("database is locked", "database table is busy")."""
    from sqlite_utils.utils import sqlite3

    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


class ArchiveDatabase(sqlite_utils.Database):
    """sqlite-utils' Database whose ``atomic()`` takes the write lock as it begins (BEGIN IMMEDIATE),
    as ``write_transaction`` does; nested, it is a savepoint as before.

    sqlite-utils begins a deferred transaction, and its inserts read the table's schema before they
    write: in WAL mode a transaction that has read cannot take the write lock once another process
    has written since (SQLite answers "database is locked" at once, without waiting the busy
    timeout). With a worker writing its progress, 470 of 600 jobs queued from two threads failed
    so (``tests/test_faults.py``); taking the lock first, a writer waits its turn instead.
    """

    @contextmanager
    def atomic(self):
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        with write_transaction(self):
            yield self


def connect(db_path: Path | str, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the archive database at ``db_path`` and apply pending migrations."""
    path = Path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = ArchiveDatabase(path)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _write_ahead_log(db)
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


def _write_ahead_log(db: sqlite_utils.Database) -> None:
    """WAL mode (readers never wait for the writer). It stays set in the file, so this only checks,
    except on a new archive, where switching needs the file to itself: a process opening the new
    file at the same moment as another is answered "database is locked" at once (not after the busy
    timeout), so it tries again until the mode is set, as it waits for any other lock."""
    from sqlite_utils.utils import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            if db.execute("PRAGMA journal_mode = WAL").fetchone()[0] == "wal":
                return
        except sqlite3.OperationalError as exc:
            if not _lock_refused(exc):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked")
        time.sleep(0.01)


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
