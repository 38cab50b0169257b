"""Uploads written straight to the archive's uploads folder, never held in memory.

Werkzeug's form parser reads a multipart body in small chunks and writes each file part
to the stream this request class gives it: a partial file in ``<data>/uploads``. A view
that keeps the file moves it to a generated name (``keep_upload``); any partial file a
request leaves behind (a bad form, a dropped connection) is removed when the request ends.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import uuid
from pathlib import Path

from flask import Request, current_app, request
from werkzeug.datastructures import FileStorage, iter_multi_items
from werkzeug.exceptions import RequestEntityTooLarge

from archive.core.errors import UserError
from ingest.pipeline import media_suffix

PARTIAL = ".partial"


def too_large_message() -> str:
    """What a person sending more than the archive accepts is told (werkzeug's words say nothing of files or limits)."""
    limit = current_app.config["ARCHIVE"].max_upload_mb
    return f"That file is larger than the archive accepts ({limit:,} MB). Ask an admin to raise ARCHIVE_MAX_UPLOAD_MB."


def sent_form(field: str | None = None):
    """(files, form) of this request. A body over the upload limit is the person's error like any
    other (``field``: the file input to mark), so the form that sent it can show it by its button."""
    try:
        return request.files, request.form
    except RequestEntityTooLarge:
        raise UserError(too_large_message(), status=413, field=field) from None


class UploadRequest(Request):
    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        folder = current_app.config["ARCHIVE"].uploads_dir
        folder.mkdir(parents=True, exist_ok=True)
        stream = tempfile.NamedTemporaryFile("w+b", dir=folder, prefix=".upload-", suffix=PARTIAL, delete=False)
        # Held while the upload is written: start-up cleanup deletes only partial files nobody holds.
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX)
        return stream

    def close(self) -> None:
        files = self.__dict__.get("files")
        super().close()
        for _, storage in iter_multi_items(files or ()):
            name = getattr(storage.stream, "name", None)
            if isinstance(name, str) and name.endswith(PARTIAL):
                Path(name).unlink(missing_ok=True)


def keep_upload(storage: FileStorage, folder: Path) -> Path:
    """Give an uploaded file a generated name in ``folder`` (the suffix kept if it is a plain one)."""
    stream = storage.stream
    stream.flush()
    os.fsync(stream.fileno())
    stream.close()
    target = folder / f"{uuid.uuid4().hex}{media_suffix(Path(storage.filename or ''))}"
    os.replace(stream.name, target)
    return target


def original_name(storage: FileStorage) -> str:
    """The name the file had on the uploader's machine, without any folders."""
    name = (storage.filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:200] or "upload"
