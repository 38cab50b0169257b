"""Backups that can be taken while the archive runs, and restored into an empty data directory.

The database is copied with SQLite's online backup API (a consistent snapshot, even while
the server and workers write). Media files are content-addressed and never changed in
place, so copying the ones the snapshot refers to gives a matching set. A manifest lists
every file with its SHA-256; restore checks each before it writes anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlite_utils import Database

from archive.core.config import Config
from archive.core.errors import UserError
from archive.core.store.connection import connect
from archive.core.store.recordings import utc_now

MANIFEST = "manifest.json"
DATABASE = "archive.db"
FORMAT = 1


class BackupError(UserError):
    """A backup or restore that cannot be done; the message is for the person who asked."""


@dataclass
class BackupSummary:
    path: Path
    files: int
    bytes: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _empty_dir(path: Path, what: str) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise BackupError(f"{path} is not an empty directory; {what} needs one")
    path.mkdir(parents=True, exist_ok=True)


def backup(db: Database, config: Config, dest: Path) -> BackupSummary:
    """Write a consistent copy of the archive (database, media, secret key) and its manifest to ``dest``."""
    dest = Path(dest)
    _empty_dir(dest, "a backup")
    snapshot = dest / DATABASE
    target = connect(snapshot, migrate=False)
    try:
        db.conn.backup(target.conn)
        media = sorted(
            {row[0] for row in target.execute("SELECT media_path FROM recordings")}
            | {row[0] for row in target.execute("SELECT original_path FROM redactions WHERE original_path IS NOT NULL")}
        )
        target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal beside it
    finally:
        target.close()
    files = [DATABASE]
    for relative in media:
        source = config.data_dir / relative
        if not source.is_file():
            raise BackupError(f"media {relative} is missing from {config.data_dir} (see `archive check`)")
        _copy(source, dest / relative)
        files.append(relative)
    if config.secret_key_path.is_file():  # keeps people signed in across a restore
        _copy(config.secret_key_path, dest / "secret_key")
        os.chmod(dest / "secret_key", 0o600)
        files.append("secret_key")
    entries = [{"path": f, "bytes": (dest / f).stat().st_size, "sha256": _sha256(dest / f)} for f in files]
    manifest = {"format": FORMAT, "created_at": utc_now(), "files": entries}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return BackupSummary(dest, len(files), sum((dest / f).stat().st_size for f in files))


def restore(source: Path, config: Config) -> BackupSummary:
    """Check a backup against its manifest, then copy it into the empty data directory of ``config``."""
    source = Path(source)
    try:
        manifest = json.loads((source / MANIFEST).read_text())
        entries = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise BackupError(f"{source} is not a Talk Archive backup (no readable {MANIFEST})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} was written by another version of the archive (format {manifest.get('format')})")
    for entry in entries:
        path = Path(entry["path"])
        if path.is_absolute() or ".." in path.parts:
            raise BackupError(f"the manifest names a file outside the backup: {entry['path']}")
        file = source / path
        if not file.is_file() or _sha256(file) != entry["sha256"]:
            raise BackupError(f"{entry['path']} is missing or damaged in the backup (its SHA-256 does not match)")
    _empty_dir(config.data_dir, "a restore")
    for entry in entries:
        _copy(source / entry["path"], config.data_dir / entry["path"])
    if (config.data_dir / "secret_key").exists():
        os.chmod(config.data_dir / "secret_key", 0o600)
    connect(config.db_path).close()  # bring an older backup's schema up to date
    return BackupSummary(config.data_dir, len(entries), sum(e["bytes"] for e in entries))
