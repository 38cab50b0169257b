"""Compressed responses: text goes out as Zstandard, Brotli or gzip, whichever the browser asks for.

Pages, JSON, CSS, JavaScript, captions, feeds and llms.txt shrink to a fifth or less (an hour-long
talk's page: see bench/bench_web.py). Media and images are left as they are: they are compressed
already, and a player's Range request must get the stored file's own bytes. Flask-Compress does the
work; this module only says which responses it may touch.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response
from flask_compress import Compress

# Every text type the archive serves, beside what Flask-Compress compresses by default (HTML, CSS,
# JavaScript, JSON, RSS, XML, SVG, plain text).
ARCHIVE_TEXT_TYPES = [
    "text/vtt",  # captions and chapters
    "application/x-subrip",  # SRT transcripts
    "text/markdown",  # llms.txt
    "application/json+chapters",  # Podcasting 2.0 chapters
    "application/vnd.citationstyles.csl+json",  # a collection's citations
]
# zstd and br where the browser takes them (both smaller and faster than gzip), else gzip; no deflate,
# whose framing browsers have disagreed on. Static files are sent as streams, and Flask-Compress
# leaves gzip out of its streaming list by default: it is put back for clients that take nothing else.
ALGORITHMS = ["zstd", "br", "gzip"]
# Below this many bytes the headers cost more than compression saves.
MIN_SIZE_BYTES = 500


def init_app(app: Flask) -> Compress:
    """Compress eligible responses of ``app``. Call it before other ``after_request`` hooks are
    registered: Flask runs those hooks last-registered first, so compression then sees the final body."""
    compress = Compress()
    app.config.setdefault("COMPRESS_ALGORITHM", ALGORITHMS)
    app.config.setdefault("COMPRESS_ALGORITHM_STREAMING", ALGORITHMS)
    app.config.setdefault("COMPRESS_MIN_SIZE", MIN_SIZE_BYTES)
    app.config["COMPRESS_REGISTER"] = False  # registered below, behind the check for partial content
    compress.init_app(app)
    compress.compress_mimetypes_set.update(ARCHIVE_TEXT_TYPES)

    def compress_whole_responses(response: Response) -> Response:
        """Compress ``response`` unless it is part of a file (206, Content-Range): its byte ranges
        count the file's own bytes, so it must stay as stored (media, or a static file asked in parts)."""
        if response.status_code == 206 or "Content-Range" in response.headers:
            return response
        return close_what_was_replaced(response, compress.after_request)

    app.after_request(compress_whole_responses)
    return compress


def close_what_was_replaced(response: Response, compress: Callable[[Response], Response]) -> Response:
    """``compress(response)``, closing the body it replaced when the response is closed.

    A static file is a stream over an open file; Flask-Compress swaps that stream for a compressing
    generator that nothing closes, so the file would stay open until garbage collection."""
    original = response.response
    compressed = compress(response)
    if compressed.response is not original and hasattr(original, "close"):
        compressed.call_on_close(original.close)
    return compressed
