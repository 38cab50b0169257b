"""The web app through Flask's test client, over a real archive."""

from __future__ import annotations

import pytest

from archive.timecode import clock
from archive.store import connect
from ingest.pipeline import RecordingMeta, ingest_file


@pytest.fixture
def talk(config, make_media):
    db = connect(config.db_path)
    video = make_media("webinar.mp4")
    meta = RecordingMeta(title="Ask <Not>", speakers=["JFK"], organization="USA", date="1961-01-20")
    recording = ingest_file(db, config, video, meta).recording
    db.close()
    return recording


def test_home_lists_the_latest_talks(client, talk):
    page = client.get("/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Ask &lt;Not&gt;" in body and "<Not>" not in body
    assert f'href="/recordings/{talk.slug}"' in body and "JFK" in body
    assert f">{clock(talk.duration, always_hours=False)}</span>" in body


def test_empty_archive_says_how_to_fill_it(client):
    assert "archive ingest" in client.get("/").get_data(as_text=True)


def test_recording_page_has_player_and_clickable_transcript(client, talk):
    body = client.get(f"/recordings/{talk.slug}").get_data(as_text=True)
    assert '<video id="player"' in body and f'src="/media/{talk.slug}"' in body
    assert 'data-start="0.0"' in body and "country" in body


def test_media_supports_range_requests(client, talk, config):
    size = (config.data_dir / talk.media_path).stat().st_size
    middle = size // 2
    with client.get(f"/media/{talk.slug}", headers={"Range": f"bytes={middle}-{middle + 999}"}) as response:
        body = response.data
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {middle}-{middle + 999}/{size}"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "video/mp4"
    assert body == (config.data_dir / talk.media_path).read_bytes()[middle : middle + 1000]


def test_api_lists_recordings_and_jobs(client, talk):
    assert client.get("/api/recordings").json["recordings"][0]["slug"] == talk.slug
    detail = client.get(f"/api/recordings/{talk.id}").json
    assert detail["segments"] and detail["url"] == f"/recordings/{talk.slug}"
    assert client.get("/api/jobs").json == {"jobs": []}


@pytest.mark.parametrize("path", ["/recordings/nope", "/media/nope", "/no-such-page"])
def test_unknown_pages_get_a_friendly_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Back to the archive" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/recordings/999", "/api/jobs/999", "/api/nothing"])
def test_api_errors_are_json(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response.json["status"] == 404
