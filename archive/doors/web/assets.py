"""Static files under content-hashed addresses, cached by browsers for a year.

``url_for('static', filename='style.css')`` gives ``/static/style.css?v=<hash of the file>``: the
hash changes whenever the file does, so the address can be cached as ``immutable`` and a page never
revalidates its CSS and JavaScript. The hashes are read once, when the app is made (a deploy
restarts the server). A request without the hash, or with one that is no longer the file's (a page
cached from before a deploy), still gets the file, but marked ``no-cache``: the browser revalidates
it with its ETag.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

VERSION_ARG = "v"
HASH_CHARS = 12  # 48 bits of SHA-256: no two versions of one file will collide
IMMUTABLE = "public, max-age=31536000, immutable"  # a year, the most RFC 9111 asks caches to honour
REVALIDATE = "no-cache"


def fingerprint_files(folder: str | Path | None) -> dict[str, str]:
    """Every file under ``folder`` (its path relative to it, with ``/``) -> a short hash of its content."""
    root = Path(folder) if folder else None
    if root is None or not root.is_dir():
        return {}
    fingerprints = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
            fingerprints[path.relative_to(root).as_posix()] = digest[:HASH_CHARS]
    return fingerprints


def init_app(app: Flask) -> None:
    """Hash ``app``'s static files now, add the hash to every static URL, and cache hashed ones for a year."""
    fingerprints = fingerprint_files(app.static_folder)
    app.extensions["static_fingerprints"] = fingerprints

    def add_content_hash(endpoint: str, values: dict[str, Any]) -> None:
        """``url_for('static', ...)``: the file's hash as ``?v=``, unless the caller gave one."""
        if endpoint == "static" and VERSION_ARG not in values:
            fingerprint = fingerprints.get(values.get("filename", ""))
            if fingerprint:
                values[VERSION_ARG] = fingerprint

    def cache_static_files(response: Response) -> Response:
        """A year and ``immutable`` for the current hash's address; revalidation for any other."""
        if request.endpoint != "static" or response.status_code not in (200, 206, 304):
            return response
        filename = (request.view_args or {}).get("filename", "")
        asked = request.args.get(VERSION_ARG)
        current = asked is not None and asked == fingerprints.get(filename)
        response.headers["Cache-Control"] = IMMUTABLE if current else REVALIDATE
        return response

    app.url_defaults(add_content_hash)
    app.after_request(cache_static_files)
