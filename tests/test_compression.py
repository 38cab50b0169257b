"""Compressed text, uncompressed media, and static files under content-hashed addresses cached for a year."""

from __future__ import annotations

import gzip
import re
import shutil
import uuid

import brotli
import pytest
from flask import Flask, url_for

from archive.core.store import connect
from archive.core.store import recordings as store
from archive.core.store.records import RecordingMeta, Segment
from archive.doors.web import assets

from .helpers import JFK

IMMUTABLE = "public, max-age=31536000, immutable"
SENTENCES = [
    "Welcome to the community of practice webinar on caring for older relatives at home.",
    "Today we talk about medication reminders, check-in calls and how families share the work.",
    "The first question is always who notices when something has changed.",
]


@pytest.fixture
def long_talk(config):
    """A public talk with a 300-line transcript and the JFK recording as its media, made without any model."""
    target = config.media_dir / "long-talk.flac"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(JFK, target)
    segments = [Segment(start=i * 10.0, end=i * 10.0 + 9.5, text=f"{SENTENCES[i % 3]} ({i})") for i in range(300)]
    db = connect(config.db_path)
    with db.atomic():
        recording_id = store.insert_recording(
            db,
            RecordingMeta(title="Caring at home", speakers=["A Speaker"], visibility="public"),
            duration=3000.0,
            media_path="recordings/long-talk.flac",
            media_hash=uuid.uuid4().hex,
            media_kind="audio",
            original_filename="long-talk.flac",
            language="en",
            model="test",
        )
        store.replace_segments(db, recording_id, segments)
    recording = store.get_recording(db, recording_id)
    db.close()
    return recording


def fetch(client, path: str, headers: dict[str, str] | None = None):
    """GET ``path`` and read the whole body, closing the response (and so the file behind it)."""
    with client.get(path, headers=headers or {}) as response:
        response.get_data()
    return response


def text_addresses(talk) -> dict[str, str]:
    """One address for each kind of text the archive serves -> the type it is served as."""
    slug = talk.slug
    return {
        f"/recordings/{slug}": "text/html",
        f"/api/recordings/{talk.id}": "application/json",
        "/static/style.css": "text/css",
        "/static/player.js": "text/javascript",
        f"/recordings/{slug}.vtt": "text/vtt",
        f"/recordings/{slug}.srt": "application/x-subrip",
        "/feed.xml": "application/rss+xml",
        "/llms.txt": "text/markdown",
    }


def test_text_is_gzipped_and_unzips_to_the_same_bytes(client, long_talk):
    for path, mimetype in text_addresses(long_talk).items():
        plain = fetch(client, path)
        packed = fetch(client, path, {"Accept-Encoding": "gzip"})
        assert plain.status_code == packed.status_code == 200, path
        assert plain.mimetype == mimetype, path
        assert "Content-Encoding" not in plain.headers, path
        assert packed.headers["Content-Encoding"] == "gzip", path
        assert "Accept-Encoding" in packed.headers["Vary"], path
        assert gzip.decompress(packed.data) == plain.data, path
        assert len(packed.data) < len(plain.data), path


def test_a_client_taking_only_brotli_gets_brotli(client, long_talk):
    for path in text_addresses(long_talk):
        plain = fetch(client, path)
        packed = fetch(client, path, {"Accept-Encoding": "br"})
        assert packed.headers["Content-Encoding"] == "br", path
        assert brotli.decompress(packed.data) == plain.data, path


def test_a_small_response_is_sent_as_it_is(client):
    response = fetch(client, "/api/recordings/999", {"Accept-Encoding": "gzip"})
    assert response.status_code == 404 and len(response.data) < 500
    assert "Content-Encoding" not in response.headers


def test_media_and_its_range_requests_stay_uncompressed(client, long_talk):
    stored = JFK.read_bytes()
    whole = fetch(client, f"/media/{long_talk.slug}", {"Accept-Encoding": "gzip, br, zstd"})
    assert whole.status_code == 200 and "Content-Encoding" not in whole.headers and whole.data == stored
    part = fetch(client, f"/media/{long_talk.slug}", {"Accept-Encoding": "gzip, br, zstd", "Range": "bytes=1000-1999"})
    assert part.status_code == 206 and "Content-Encoding" not in part.headers
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(stored)}"
    assert part.data == stored[1000:2000]
    cover = fetch(client, f"/recordings/{long_talk.slug}/cover.png", {"Accept-Encoding": "gzip, br"})
    assert cover.status_code == 200 and "Content-Encoding" not in cover.headers


def test_part_of_a_static_file_is_its_own_bytes(client, app):
    with open(f"{app.static_folder}/style.css", "rb") as fh:
        first = fh.read(100)
    part = fetch(client, "/static/style.css", {"Accept-Encoding": "gzip", "Range": "bytes=0-99"})
    assert part.status_code == 206 and "Content-Encoding" not in part.headers and part.data == first


def test_conditional_requests_still_get_304(client, long_talk):
    for headers in ({}, {"Accept-Encoding": "gzip"}, {"Accept-Encoding": "br"}):
        for path in ("/static/style.css", f"/media/{long_talk.slug}"):
            first = fetch(client, path, headers)
            again = fetch(client, path, {**headers, "If-None-Match": first.headers["ETag"]})
            assert again.status_code == 304, (path, headers)
    plain = fetch(client, "/static/player.js")
    packed = fetch(client, "/static/player.js", {"Accept-Encoding": "gzip"})
    assert plain.headers["ETag"] != packed.headers["ETag"]  # two representations, two validators


def static_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


def test_pages_link_static_files_by_content_hash_and_those_are_cached_for_a_year(client, staff_client, long_talk):
    html = fetch(client, f"/recordings/{long_talk.slug}").get_data(as_text=True)
    html += fetch(staff_client, "/upload").get_data(as_text=True)
    html += fetch(client, f"/embed/{long_talk.slug}").get_data(as_text=True)
    urls = static_urls(html)
    assert {url.split("?")[0] for url in urls} >= {
        "/static/style.css",
        "/static/player.js",
        "/static/jobs.js",
        "/static/embed.js",
    }
    for url in urls:
        assert re.fullmatch(r"/static/[\w.-]+\?v=[0-9a-f]{12}", url), url
        response = fetch(client, url, {"Accept-Encoding": "gzip"})
        assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE, url
        assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("query", ["", "?v=000000000000"])
def test_a_static_file_without_its_current_hash_is_served_but_revalidated(client, query):
    response = fetch(client, f"/static/style.css{query}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache"


def static_app(folder) -> Flask:
    """A bare app serving ``folder`` as its static files, hashed the way the archive's are."""
    app = Flask(__name__, static_folder=str(folder))
    assets.init_app(app)
    return app


def test_a_changed_static_file_gets_a_new_address(tmp_path):
    folder = tmp_path / "static"
    folder.mkdir()
    (folder / "style.css").write_text("body { color: black; }")
    before = static_app(folder)
    (folder / "style.css").write_text("body { color: navy; }")
    after = static_app(folder)  # what a restart after a deploy does: the files hashed again

    addresses = []
    for app in (before, after):
        with app.test_request_context():
            addresses.append(url_for("static", filename="style.css"))
    assert addresses[0] != addresses[1]
    with after.test_client() as client:
        assert fetch(client, addresses[1]).headers["Cache-Control"] == IMMUTABLE
        assert fetch(client, addresses[0]).headers["Cache-Control"] == "no-cache"  # the old page's address
        assert fetch(client, addresses[0]).data == b"body { color: navy; }"
