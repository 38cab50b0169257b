"""Embeds: a compact player other sites may frame (only the configured ones, only that page), and oEmbed."""

from __future__ import annotations

import pytest

from archive.core.store import connect
from archive.core.store.records import RecordingMeta
from archive.doors.web import create_app
from ingest.pipeline import ingest_file

SITE = "https://socialprescribingusa.org"


@pytest.fixture
def talks(config, make_media):
    db = connect(config.db_path)
    public = ingest_file(
        db,
        config,
        make_media("talk.flac"),
        RecordingMeta(title='Checking In "Without" Calling', speakers=["Thu Huong Nguyen"], visibility="public"),
    ).recording
    draft = ingest_file(
        db, config, make_media("draft.mp3"), RecordingMeta(title="A draft", visibility="staff")
    ).recording
    db.close()
    return public, draft


@pytest.fixture
def site_client(data_dir):
    return create_app(
        {"data_dir": data_dir, "TESTING": True, "diarize": "off", "embed_origins": f"{SITE} https://partner.example"}
    ).test_client()


@pytest.mark.model
def test_only_the_embed_may_be_framed_and_only_by_the_configured_sites(site_client, client, talks):
    public, _ = talks
    embedded = site_client.get(f"/embed/{public.slug}?t=2&end=5")
    policy = embedded.headers["Content-Security-Policy"]
    assert embedded.status_code == 200 and f"frame-ancestors {SITE} https://partner.example" in policy
    assert "X-Frame-Options" not in embedded.headers
    body = embedded.get_data(as_text=True)
    assert 'data-start="2.0"' in body and 'data-end="5.0"' in body and 'id="transcript"' in body
    for path in (f"/recordings/{public.slug}", "/", "/search?q=country"):
        other = site_client.get(path)
        assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]
        assert other.headers["X-Frame-Options"] == "DENY"
    # No sites configured: the embed exists, and nobody may frame it.
    unconfigured = client.get(f"/embed/{public.slug}")
    assert "frame-ancestors 'none'" in unconfigured.headers["Content-Security-Policy"]


@pytest.mark.model
def test_a_talk_that_is_not_public_has_no_embed_and_no_oembed(site_client, talks):
    _, draft = talks
    assert site_client.get(f"/embed/{draft.slug}").status_code == 404
    answer = site_client.get("/oembed", query_string={"url": f"http://localhost/recordings/{draft.slug}"})
    assert answer.status_code == 404 and "not a public talk" in answer.json["error"]


@pytest.mark.model
def test_oembed_turns_a_talk_link_into_the_embedded_player(site_client, talks):
    public, _ = talks
    page = site_client.get(f"/recordings/{public.slug}").get_data(as_text=True)
    assert 'type="application/json+oembed"' in page and 'id="share-embed"' in page
    data = site_client.get(
        "/oembed", query_string={"url": f"http://localhost/recordings/{public.slug}?t=3", "maxwidth": "400"}
    ).json
    assert data["version"] == "1.0" and data["type"] == "rich" and data["width"] == 400
    assert f'src="http://localhost/embed/{public.slug}?t=3"' in data["html"]
    assert 'title="Checking In &#34;Without&#34; Calling"' in data["html"]
    assert data["thumbnail_url"].endswith(f"/recordings/{public.slug}/cover.png")
    for bad in ({"url": "https://elsewhere.example/recordings/x"}, {"url": "not a url"}, {}):
        assert site_client.get("/oembed", query_string=bad).status_code == 404
    assert (
        site_client.get("/oembed", query_string={"url": f"/recordings/{public.slug}", "format": "xml"}).status_code
        == 501
    )


@pytest.mark.model
def test_a_qr_code_is_made_only_for_links_into_the_archive(client, talks):
    public, _ = talks
    code = client.get("/qr.svg", query_string={"url": f"http://localhost/recordings/{public.slug}?t=3"})
    assert code.status_code == 200 and code.mimetype == "image/svg+xml" and b"<svg" in code.data
    assert client.get("/qr.svg", query_string={"url": "https://elsewhere.example/x"}).status_code == 404
    assert 'id="share-qr"' in client.get(f"/recordings/{public.slug}").get_data(as_text=True)


@pytest.mark.model
def test_llms_txt_describes_the_archive_and_lists_only_public_talks(client, talks):
    public, draft = talks
    answer = client.get("/llms.txt")
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200 and answer.mimetype == "text/markdown" and text.startswith("# Talk Archive")
    assert f"[{public.title}](/recordings/{public.slug}.txt)" in text and draft.title not in text
    assert "/api/search?q=" in text
