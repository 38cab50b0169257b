"""Visibility everywhere a talk can leak, for every role; traversal, XSS, headers and error pages."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import pytest

from archive.core.store import connect
from archive.core.store import recordings as store
from archive.core.store.records import RecordingMeta, visible_to
from ingest.pipeline import ingest_file

# The demo talks, each given one visibility level: (id, slug, title, a speaker named in it and its metadata).
TALKS = {
    "public": (
        1,
        "relational-social-prescribing-staying-with-clients",
        "Relational Social Prescribing",
        "Maya Torres",
    ),
    "members": (
        2,
        "measuring-what-matters-simple-data-tools-for-social",
        "Measuring What Matters",
        "Samuel Okafor",
    ),
    "staff": (3, "compassionate-communities-neighbors-caring-for-neighbors", "Compassionate Communities", "Elena Ruiz"),
}
ROLES = ["anonymous", "member", "staff", "admin"]


@pytest.fixture
def levelled(demo_data_dir, db):
    for level, (recording_id, *_rest) in TALKS.items():
        store.set_visibility(db, recording_id, level)
    return demo_data_dir


def client_for(request, role):
    return request.getfixturevalue("client" if role == "anonymous" else f"{role}_client")


def detail_routes(level):
    recording_id, slug, _, _ = TALKS[level]
    return [
        f"/recordings/{slug}",
        f"/recordings/{slug}?t=1:05&end=1:20",
        f"/recordings/{slug}.vtt",
        f"/recordings/{slug}.srt",
        f"/recordings/{slug}.txt?download=1",
        f"/recordings/{slug}.json",
        f"/media/{slug}",
        f"/api/recordings/{recording_id}",
        f"/api/recordings/{recording_id}/related?t=30",
    ]


LIST_ROUTES = [
    "/",
    "/?org=a",
    "/search?q=link+workers",
    "/search?q=Elena+Ruiz",
    "/search?q=Samuel+Okafor",
    "/search?q=neighbors+caring+for+a+dying+parent",
    "/api/search?q=Elena+Ruiz",
    "/api/search?q=Samuel+Okafor&limit=50",
    "/api/search?q=data+tools",
    "/api/recordings",
    "/api/recordings/1/related?t=0",
    "/api/recordings/1/related?t=100",
    f"/recordings/{TALKS['public'][1]}",
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("level", list(TALKS))
def test_a_talk_is_reachable_exactly_when_the_role_may_see_it(levelled, request, role, level):
    client = client_for(request, role)
    allowed = level in visible_to(None if role == "anonymous" else role)
    _, _, title, speaker = TALKS[level]
    for path in detail_routes(level):
        with client.get(path) as response:
            body = response.get_data()
        assert response.status_code == (200 if allowed else 404), (path, response.status_code)
        if not allowed:
            assert title.encode() not in body and speaker.encode() not in body, path


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", LIST_ROUTES)
def test_lists_and_searches_never_mention_what_the_role_may_not_see(levelled, request, role, path):
    client = client_for(request, role)
    response = client.get(path)
    assert response.status_code == 200
    asked = parse_qs(urlsplit(path).query).get("q", [""])[0]
    body = response.get_data(as_text=True).replace(asked, "")  # the query itself is echoed back
    visible = visible_to(None if role == "anonymous" else role)
    for level, (_, slug, title, speaker) in TALKS.items():
        if level not in visible:
            assert title not in body and speaker not in body and slug not in body, (level, path)


@pytest.mark.parametrize("role, shown", [("anonymous", 1), ("member", 2), ("staff", 3), ("admin", 3)])
def test_the_latest_talks_and_the_api_list_count_only_what_the_role_may_see(levelled, request, role, shown):
    client = client_for(request, role)
    assert len(client.get("/api/recordings").json["recordings"]) == shown
    assert client.get("/").get_data(as_text=True).count('class="talk-title"') == shown


@pytest.mark.model
def test_new_recordings_are_drafts_until_published(config, client, staff_client, jfk_copy):
    db = connect(config.db_path)
    recording = ingest_file(db, config, jfk_copy, RecordingMeta(title="Fresh talk")).recording
    db.close()
    assert recording.visibility == "staff"
    assert client.get(recording.url).status_code == 404
    assert "Draft: staff only" in staff_client.get(recording.url).get_data(as_text=True)
    published = staff_client.post(f"{recording.url}/visibility", data={"visibility": "public"})
    assert published.status_code == 303
    assert client.get(recording.url).status_code == 200
    assert staff_client.post(f"{recording.url}/visibility", data={"visibility": "everyone"}).status_code == 400


@pytest.mark.model
def test_cli_sets_visibility(runner, config, jfk_copy):
    from archive.doors.cli import cli

    result = runner.invoke(cli, ["ingest", str(jfk_copy), "--visibility", "members"])
    assert result.exit_code == 0, result.output
    assert "members" in runner.invoke(cli, ["list"]).output
    assert runner.invoke(cli, ["set-visibility", "1", "public"]).output.startswith("1\tpublic\t")
    bad = runner.invoke(cli, ["set-visibility", "1", "secret"])
    assert bad.exit_code == 2 and "Invalid value" in bad.output
    missing = runner.invoke(cli, ["set-visibility", "nope", "public"])
    assert missing.exit_code == 2 and "no recording 'nope'" in missing.output


# -- traversal -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/media/..%2Farchive.db",
        "/media/%2e%2e%2Farchive.db",
        "/media/%2e%2e",
        "/media/..",
        "/media//etc/passwd",
        "/media/%2Fetc%2Fpasswd",
        "/recordings/..%2F..%2Farchive.db.json",
        "/recordings/%2e%2e.vtt",
        "/static/..%2Farchive.db",
        "/static/%2e%2e/%2e%2e/archive/core/config.py",
        "/static/",
        "/media/",
    ],
)
def test_no_path_reaches_files_outside_the_routes(demo_data_dir, client, path):
    response = client.get(path)
    assert response.status_code == 404, path
    assert b"SQLite format" not in response.data and b"root:" not in response.data


@pytest.mark.parametrize("target", ["/etc/passwd", "archive.db"])
def test_media_behind_a_symlink_is_not_served(demo_data_dir, client, db, target):
    recording = store.get_recording(db, 1)
    stored = demo_data_dir / recording.media_path
    stored.unlink()
    os.symlink(target if target.startswith("/") else demo_data_dir / target, stored)
    assert client.get(f"/media/{recording.slug}").status_code == 404


# -- output safety ---------------------------------------------------------------------

PAYLOADS = {
    "title": '<script>alert("title")</script> Funding talk',
    "speaker": "<img src=x onerror=alert(1)>",
    "organization": '"><svg onload=alert(2)>',
    "description": "</p><iframe src=javascript:alert(3)></iframe>",
    "tag": "<b onmouseover=alert(4)>tag</b>",
    "segment": "<script>alert('segment')</script> funding for link workers",
}
RAW = ["<script>alert", "<img src=x", "<svg onload", "<iframe", "<b onmouseover"]


def test_hostile_text_comes_back_escaped_on_every_page(config, staff_client, client, jfk_copy, embedder):
    from ingest.corrections import correct_segment

    db = connect(config.db_path)
    meta = RecordingMeta(
        title=PAYLOADS["title"],
        speakers=[PAYLOADS["speaker"]],
        organization=PAYLOADS["organization"],
        description=PAYLOADS["description"],
        tags=[PAYLOADS["tag"]],
        visibility="public",
    )
    recording = ingest_file(db, config, jfk_copy, meta).recording
    correct_segment(db, recording.id, 0, PAYLOADS["segment"], embedder)
    db.close()
    pages = [
        "/",
        "/?speaker=%3Cimg",
        "/search?q=funding+link+workers",
        "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
        recording.url,
        f"{recording.url}.txt",
        f"{recording.url}/edit",
        "/jobs",
    ]
    for path in pages:
        response = staff_client.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, path
        for raw in RAW:
            assert raw not in body or response.mimetype == "text/plain", (path, raw)
    page = client.get(recording.url).get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in page or "&lt;script&gt;alert(&quot;title" in page
    assert "&lt;script&gt;alert(&#39;segment&#39;)&lt;/script&gt;" in page
    snippet = client.get("/api/search", query_string={"q": "funding link workers"}).json["results"][0]["snippet"]
    assert "&lt;script&gt;" in snippet and "<mark>" in snippet


# -- headers and errors ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/recordings", "/login", "/no-such-page", "/api/nothing"])
def test_every_response_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin" and headers["X-Frame-Options"] == "DENY"


def test_templates_have_no_inline_script_or_style():
    from pathlib import Path

    for template in (Path(__file__).parent.parent / "templates").glob("*.html"):
        text = template.read_text()
        assert "<script>" not in text and " style=" not in text and " on" + "click=" not in text, template.name


@pytest.fixture
def failing_app(data_dir):
    from archive.doors.web import create_app

    app = create_app({"data_dir": data_dir})  # not TESTING: errors are handled as in production

    @app.get("/boom")
    def boom():
        raise RuntimeError(f"secret detail in {data_dir}")

    @app.get("/api/boom")
    def api_boom():
        raise RuntimeError(f"secret detail in {data_dir}")

    return app


@pytest.mark.parametrize(
    "role, path, status",
    [
        ("anonymous", "/?since=someday", 400),
        ("member", "/jobs", 403),
        ("anonymous", "/recordings/nothing-here", 404),
        ("anonymous", "/boom", 500),
        ("anonymous", "/api/boom", 500),
        ("anonymous", "/api/search?q=", 400),
        ("anonymous", "/logout", 405),
    ],
)
def test_errors_are_friendly_and_never_show_internals(failing_app, data_dir, role, path, status, caplog):
    from .conftest import signed_in

    client = failing_app.test_client() if role == "anonymous" else signed_in(failing_app, role)
    response = client.get(path)
    body = response.get_data(as_text=True)
    assert response.status_code == status
    assert "Traceback" not in body and str(data_dir) not in body and "secret detail" not in body
    if path.startswith("/api/"):
        assert response.json["status"] == status and response.json["error"]
    else:  # the error page, or the page itself with the problem stated above its form
        assert "Back to the archive" in body or 'class="notice error" role="alert"' in body
