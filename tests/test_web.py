"""The web app through Flask's test client, over a real archive."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from archive.core.store import connect
from archive.core.store import recordings as store
from archive.core.timecode import clock, link_time, parse_timecode
from ingest.pipeline import RecordingMeta, ingest_file

from .helpers import free_port


@pytest.fixture
def talk(config, make_media):
    db = connect(config.db_path)
    video = make_media("webinar.mp4")
    meta = RecordingMeta(
        title="Ask <Not>", speakers=["JFK"], organization="USA", date="1961-01-20", visibility="public"
    )
    recording = ingest_file(db, config, video, meta).recording
    db.close()
    return recording


@pytest.mark.model
def test_home_lists_the_latest_talks(client, talk):
    page = client.get("/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Ask &lt;Not&gt;" in body and "<Not>" not in body
    assert f'href="/recordings/{talk.slug}"' in body and "JFK" in body
    assert f">{clock(talk.duration, always_hours=False)}</span>" in body


def test_empty_archive_says_how_to_fill_it(client):
    assert "archive ingest" in client.get("/").get_data(as_text=True)


@pytest.mark.model
def test_recording_page_has_player_and_clickable_transcript(client, talk):
    body = client.get(f"/recordings/{talk.slug}").get_data(as_text=True)
    assert '<video id="player"' in body and f'src="/media/{talk.slug}"' in body
    assert re.search(r'<li data-idx="0" data-start="0\.\d+"', body) and "country" in body


@pytest.mark.model
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


@pytest.mark.model
def test_api_lists_recordings_and_jobs(client, talk):
    assert client.get("/api/recordings").json["recordings"][0]["slug"] == talk.slug
    detail = client.get(f"/api/recordings/{talk.id}").json
    assert detail["segments"] and detail["url"] == f"/recordings/{talk.slug}"
    assert client.get("/api/jobs").status_code == 401  # jobs name drafts: staff only


@pytest.mark.parametrize("path", ["/recordings/nope", "/media/nope", "/no-such-page"])
def test_unknown_pages_get_a_friendly_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Back to the archive" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/recordings/999", "/api/recordings/999/related", "/api/nothing"])
def test_api_errors_are_json(client, path):
    response = client.get(path)
    assert response.status_code == 404 and response.json["status"] == 404


# -- the recording page: times, clips, captions, downloads ------------------------

RELATIONAL = "relational-social-prescribing-staying-with-clients"


def article_tag(body: str) -> str:
    """The recording page's <article ...> tag, whose data- attributes carry the start and end."""
    return body[body.index('<article class="recording"') :].split(">", 1)[0]


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("754", 754.0),
        ("754.5", 754.5),
        ("12m34s", 754.0),
        ("1h02m03s", 3723.0),
        ("12:34", 754.0),
        ("1:02:03", 3723.0),
        ("90s", 90.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        (" 12:34 ", 754.0),
        ("12M34S", 754.0),
    ],
)
def test_timecodes_people_write_are_read(value, seconds):
    assert parse_timecode(value) == seconds


@pytest.mark.parametrize(
    "value", ["", None, "abc", "-5", "1e3", "nan", "inf", "12:", ":34", "12:345", "1h2x", "h", "1:2:3:4", "9" * 40]
)
def test_anything_else_is_not_a_time(value):
    assert parse_timecode(value) is None


@pytest.mark.parametrize("seconds, text", [(66.92, "66.92"), (66.925, "66.925"), (60.0, "60"), (0.0, "0"), (-1, "0")])
def test_links_carry_a_segment_start_exactly(seconds, text):
    assert link_time(seconds) == text and parse_timecode(text) == max(seconds, 0)


@pytest.mark.parametrize("value", ["65", "65.0", "1m05s", "0h01m05s", "1:05", "0:01:05", "65s"])
def test_every_t_form_opens_the_page_at_that_moment(demo_data_dir, client, value):
    page = client.get(f"/recordings/{RELATIONAL}", query_string={"t": value})
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-start="65.0"' in article_tag(body)
    # The line being spoken at 1:05 is marked as the current one: the last one started by then,
    # or one starting within that second (a link in whole seconds means that second).
    spoken = max(s["start"] for s in client.get("/api/recordings/1").json["segments"] if s["start"] < 66.0)
    current = re.search(r'<li data-idx="(\d+)" data-start="([\d.]+)"[^>]* class="current" aria-current="true"', body)
    assert current and float(current.group(2)) == spoken


def test_the_talk_page_and_its_embed_read_a_whole_second_t_alike(demo_data_dir, client):
    """``?t=`` in whole seconds just before a line starts means that line, on both pages (the embed
    once marked the line before)."""
    segments = client.get("/api/recordings/1").json["segments"]
    line = next(s for s in segments[1:] if s["start"] % 1 > 0.3)
    marked = []
    for page in (f"/recordings/{RELATIONAL}", f"/embed/{RELATIONAL}"):
        body = client.get(page, query_string={"t": str(int(line["start"]))}).get_data(as_text=True)
        current = re.search(r'<li [^>]*data-start="([\d.]+)"[^>]* class="current"', body)
        assert current, page
        marked.append(float(current.group(1)))
        player = re.search(r'<article class="(?:recording|embed-talk)"[^>]*>', body)
        assert player and f'data-start="{line["start"]}"' in player.group(0), page  # plays from the line's start
    assert marked == [line["start"], line["start"]]


@pytest.mark.parametrize("value", ["abc", "-3", "99999", "1:99", "1h-2m", "<script>"])
def test_a_bad_t_is_ignored_not_an_error(demo_data_dir, client, value):
    page = client.get(f"/recordings/{RELATIONAL}", query_string={"t": value})
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "data-start=" not in article_tag(body)
    assert 'class="current"' not in body and "<script>" not in body


def test_a_clip_link_carries_its_end_and_a_bad_end_is_dropped(demo_data_dir, client):
    clip = client.get(f"/recordings/{RELATIONAL}?t=1:05&end=1:20").get_data(as_text=True)
    assert 'data-start="65.0"' in article_tag(clip) and 'data-end="80.0"' in article_tag(clip)
    assert "Playing the clip 1:05–1:20" in clip
    backwards = client.get(f"/recordings/{RELATIONAL}?t=80&end=65").get_data(as_text=True)
    assert 'data-start="80.0"' in article_tag(backwards) and "data-end=" not in article_tag(backwards)


@pytest.mark.model
def test_media_range_requests_first_middle_suffix_and_out_of_range(client, talk, config):
    data = (config.data_dir / talk.media_path).read_bytes()
    size = len(data)
    url = f"/media/{talk.slug}"

    def get(range_header):
        with client.get(url, headers={"Range": range_header}) as response:
            return response, response.data

    first, body = get("bytes=0-99")
    assert first.status_code == 206 and body == data[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{size}" and first.headers["Content-Length"] == "100"
    middle, body = get(f"bytes={size // 2}-{size // 2 + 4095}")
    assert middle.status_code == 206 and body == data[size // 2 : size // 2 + 4096]
    suffix, body = get("bytes=-500")
    assert suffix.status_code == 206 and body == data[-500:]
    assert suffix.headers["Content-Range"] == f"bytes {size - 500}-{size - 1}/{size}"
    open_ended, body = get(f"bytes={size - 10}-")
    assert open_ended.status_code == 206 and body == data[-10:]
    beyond, _ = get(f"bytes={size + 10}-{size + 20}")
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    with client.get(url) as whole:
        assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes" and whole.data == data


SRT_TIME = r"(\d\d):(\d\d):(\d\d),(\d\d\d)"
VTT_TIME = r"(\d\d):(\d\d):(\d\d)\.(\d\d\d)"


def _seconds(parts) -> float:
    h, m, s, ms = map(int, parts)
    return h * 3600 + m * 60 + s + ms / 1000


def parse_cues(text: str, time_pattern: str, numbered: bool) -> list[tuple[float, float, str]]:
    """A strict reader of the SRT/VTT we write: numbered (SRT) cues, ``start --> end``, one text line."""
    cues = []
    for n, block in enumerate(text.strip().split("\n\n"), 1):
        lines = block.split("\n")
        if numbered:
            assert lines.pop(0) == str(n)
        match = re.fullmatch(f"{time_pattern} --> {time_pattern}", lines[0])
        assert match, lines[0]
        start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
        assert len(lines) == 2 and lines[1].strip()
        cues.append((start, end, lines[1]))
    return cues


def test_transcript_downloads_parse_and_match_the_transcript(demo_data_dir, client):
    segments = client.get("/api/recordings/1").json["segments"]
    srt = client.get(f"/recordings/{RELATIONAL}.srt")
    assert srt.headers["Content-Type"] == "application/x-subrip; charset=utf-8"
    vtt = client.get(f"/recordings/{RELATIONAL}.vtt")
    assert vtt.headers["Content-Type"] == "text/vtt; charset=utf-8"
    vtt_text = vtt.get_data(as_text=True)
    assert vtt_text.startswith("WEBVTT\n\n")
    for cues in (
        parse_cues(srt.get_data(as_text=True), SRT_TIME, numbered=True),
        parse_cues(vtt_text.removeprefix("WEBVTT\n\n"), VTT_TIME, numbered=False),
    ):
        assert len(cues) == len(segments)
        for (start, end, text), segment in zip(cues, segments, strict=True):
            assert abs(start - segment["start"]) < 0.001 and abs(end - segment["end"]) < 0.001
            assert start <= end and text == " ".join(segment["text"].split())
    as_json = client.get(f"/recordings/{RELATIONAL}.json").json
    assert [s["text"] for s in as_json["segments"]] == [s["text"] for s in segments]
    txt = client.get(f"/recordings/{RELATIONAL}.txt?download=1")
    assert txt.headers["Content-Disposition"] == f'attachment; filename="{RELATIONAL}.txt"'
    # A sentence Whisper base writes the same on every CPU tried ("Follow-up is where most of the value
    # is." came out garbled on an AMD EPYC's int8 kernels).
    assert re.search(r"\n\[1:0\d\] Our link workers call each client within one week", txt.get_data(as_text=True))
    assert client.get(f"/recordings/{RELATIONAL}.exe").status_code == 404


@pytest.mark.model
def test_recording_page_has_captions_downloads_metadata_and_talks_like_it(config, client, make_media):
    db = connect(config.db_path)
    talks = [
        ("First talk", ["Ada Lovelace"], "Engines", "a.wav"),
        ("Second talk", ["ada lovelace"], "", "b.mp3"),
        ("Third talk", ["Someone Else"], "Engines", "c.flac"),
        ("Unrelated", ["Nobody"], "Elsewhere", "d.ogg"),
    ]
    for title, speakers, org, name in talks:  # distinct formats: the same bytes would be one recording
        meta = RecordingMeta(
            title, speakers, org, tags=["ai", "impact"], description="About <engines>.", visibility="public"
        )
        ingest_file(db, config, make_media(name), meta)
    db.close()
    body = client.get("/recordings/first-talk").get_data(as_text=True)
    assert '<track kind="captions" srclang="en"' in body and 'src="/recordings/first-talk.vtt"' in body
    for fmt in ("txt", "srt", "vtt", "json"):
        assert f'href="/recordings/first-talk.{fmt}?download=1"' in body
    assert 'href="/?speaker=Ada+Lovelace"' in body and 'href="/?org=Engines"' in body and 'href="/?tag=ai"' in body
    assert "About &lt;engines&gt;." in body
    more = body.split('id="more-heading"')[1]
    assert "Second talk" in more and "Third talk" in more and "Unrelated" not in more and "First talk" not in more


@pytest.mark.model
def test_home_lists_talks_matching_the_filters(config, client, make_media):
    db = connect(config.db_path)
    ingest_file(
        db,
        config,
        make_media("a.wav"),
        RecordingMeta(title="By Ada", speakers=["Ada Lovelace"], date="2024-05-01", visibility="public"),
    )
    ingest_file(
        db,
        config,
        make_media("b.mp3"),
        RecordingMeta(title="By Grace", speakers=["Grace Hopper"], tags=["navy"], visibility="public"),
    )
    db.close()
    home = client.get("/").get_data(as_text=True)
    assert "By Ada" in home and "By Grace" in home and "autofocus" in home
    assert '<option value="Ada Lovelace">' in home  # the filters suggest the archive's speakers
    by_ada = client.get("/?speaker=ada").get_data(as_text=True)
    assert "By Ada" in by_ada and "By Grace" not in by_ada and "Talks matching the filters" in by_ada
    assert "By Grace" in client.get("/?tag=NAVY").get_data(as_text=True)
    assert "No talk matches" in client.get("/?since=2030-01-01").get_data(as_text=True)
    bad = client.get("/?since=someday")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    assert client.get("/search?q=%20&speaker=ada").headers["Location"] == "/?speaker=ada"


def test_a_real_http_range_request_in_the_middle_of_the_media(live_server, demo_archive):
    """Through waitress and a socket, as a browser's player asks for the part it seeks to."""
    import http.client
    from urllib.parse import urlsplit

    db = connect(demo_archive / "archive.db")
    recording = store.get_recording_by_slug(db, RELATIONAL)
    db.close()
    data = (demo_archive / recording.media_path).read_bytes()
    middle = len(data) // 2
    connection = http.client.HTTPConnection(urlsplit(live_server.url).netloc, timeout=10)
    connection.request("GET", f"/media/{RELATIONAL}", headers={"Range": f"bytes={middle}-{middle + 65535}"})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 206
    assert response.getheader("Content-Range") == f"bytes {middle}-{middle + 65535}/{len(data)}"
    assert response.getheader("Accept-Ranges") == "bytes" and response.getheader("Content-Type") == "audio/mp4"
    assert body == data[middle : middle + 65536]


# -- archive serve -----------------------------------------------------------------------------


def _serve(data_dir, port, *args):
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(data_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "archive", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_busy_port_is_one_line_saying_how_to_choose_another(data_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = _serve(data_dir, port, "--no-worker")
        _, err = server.communicate(timeout=60)
    assert server.returncode == 2
    assert err.strip().splitlines()[-1] == (
        f"Error: port {port} on 127.0.0.1 is taken (is the archive already running?); "
        f"choose another: archive serve --port {port + 1}, or make run PORT={port + 1}"
    )
    assert "Traceback" not in err and "Talk Archive at" not in err


def test_serve_loads_the_model_before_it_listens_and_runs_its_worker_at_lower_priority(demo_data_dir):
    port = free_port()
    server = _serve(demo_data_dir, port)
    try:
        lines = []
        while not (lines and lines[-1].startswith("Talk Archive at")):
            line = server.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert any(line.startswith("search model: loaded in") for line in lines), lines
        # The model is in memory already: the first search is answered like any other.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/search?q=follow+up", timeout=30) as response:
            assert json.load(response)["results"]
        # `archive search` on this machine asks the server, which has the model: it loads no torch itself.
        check = (
            "import sys; from archive.doors.cli import cli\n"
            "try: cli(['search', 'follow up with clients', '--json'])\n"
            "except SystemExit as exit: assert not exit.code, exit.code\n"
            "assert 'torch' not in sys.modules"
        )
        env = {**os.environ, "ARCHIVE_DATA_DIR": str(demo_data_dir)}
        found = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["results"][0]["slug"].startswith("relational-social-prescribing")
        # Its token only reads.
        token = json.loads((demo_data_dir / "server.json").read_text())["token"]
        refused = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/glossary",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {token}"},
        )
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(refused, timeout=30)
        assert denied.value.code == 403
        denied.value.close()
        children = [int(pid) for pid in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        workers = [pid for pid in children if b"worker" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(workers) == 1 and len(children) == os.cpu_count()  # the worker, and a server per core
        assert os.getpriority(os.PRIO_PROCESS, workers[0]) == os.getpriority(os.PRIO_PROCESS, server.pid) + 10
        server.send_signal(signal.SIGKILL)  # killed outright: nothing it started may be left behind
        server.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
            for pid in children:
                _reap(pid)
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        server.stderr.close()


def test_serve_processes_share_new_connections_evenly(data_dir):
    """A keep-alive connection stays with the process that accepted it: a process takes new ones
    only while it holds no more than the other (``ConnectionBalance``), so many clients connecting
    at once do not leave one process with most of them."""
    port = free_port()
    server = _serve(data_dir, port, "--no-worker", "--processes", "2")
    held = []
    try:
        while not server.stderr.readline().startswith("Talk Archive at"):
            assert server.poll() is None
        for _ in range(12):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", "/api/search?q=follow+up")
            assert connection.getresponse().read()  # kept open: keep-alive
            held.append(connection)
        children = [int(pid) for pid in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        per_process = sorted(_connections_to(port, pid) for pid in [server.pid, *children])
        assert sum(per_process) == 12 and per_process[-1] - per_process[0] <= 2, per_process
    finally:
        for connection in held:
            connection.close()
        server.terminate()
        server.wait(timeout=30)
        server.stderr.close()


def test_a_server_process_takes_new_connections_only_while_it_holds_no_more_than_the_others():
    from archive.doors.cli.supervisor import ConnectionBalance

    first, second = ConnectionBalance(2), ConnectionBalance(2)
    second.open = first.open  # as after the fork: one shared array, a slot each
    second.slot = 1
    assert first.takes_more(0) and second.takes_more(0)  # equal: both may
    assert not first.takes_more(1)  # one more than the other: it waits
    assert second.takes_more(1)  # until the other catches up
    assert first.takes_more(1) and not second.takes_more(2)
    assert ConnectionBalance(1).takes_more(100)  # alone: always


def _connections_to(port: int, pid: int) -> int:
    """The established TCP connections on ``port`` that process ``pid`` holds (by its sockets' inodes)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            count += local_port == port and state == "01" and inode in inodes
    return count


def _reap(pid: int) -> None:
    """An orphan is reaped by init, not us; a zombie of ours would keep its /proc entry."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def test_a_whole_second_link_lands_on_the_line_that_starts_in_it(demo_data_dir, client):
    segments = client.get("/api/recordings/1").json["segments"]
    line = next(s for s in segments[1:] if not float(s["start"]).is_integer())
    body = client.get(f"/recordings/{RELATIONAL}", query_string={"t": int(line["start"])}).get_data(as_text=True)
    current = re.search(r'data-start="([\d.]+)"[^>]* class="current"', body)
    assert current and float(current.group(1)) == line["start"]


def test_a_moment_past_the_end_is_said_and_a_clip_is_marked_in_the_transcript(demo_data_dir, client):
    past = client.get(f"/recordings/{RELATIONAL}?t=754").get_data(as_text=True)
    assert 'id="past-end"' in past and "12:34 is past its end" in past
    clip = client.get(f"/recordings/{RELATIONAL}?t=1:05&end=1:20").get_data(as_text=True)
    marked = re.findall(r'data-start="([\d.]+)" data-end="([\d.]+)"[^>]*class="[^"]*in-clip', clip)
    assert marked and all(float(end) > 65 and float(start) < 80 for start, end in marked)


@pytest.mark.model
def test_a_signed_out_visitor_on_a_missing_talk_is_offered_to_sign_in(client, member_client, config, make_media):
    db = connect(config.db_path)
    ingest_file(db, config, make_media("draft.flac"), RecordingMeta(title="Staff only draft", visibility="staff"))
    db.close()
    page = client.get("/recordings/staff-only-draft")
    assert page.status_code == 404 and 'id="sign-in-hint"' in page.get_data(as_text=True)
    assert "/login?next=/recordings/staff-only-draft" in page.get_data(as_text=True)
    assert 'id="sign-in-hint"' not in member_client.get("/recordings/staff-only-draft").get_data(as_text=True)


@pytest.mark.model
def test_lists_badge_drafts_and_undated_talks_do_not_sink_below_old_ones(staff_client, config, make_media):
    db = connect(config.db_path)
    ingest_file(
        db, config, make_media("old.flac"), RecordingMeta(title="Old speech", date="1961-01-20", visibility="public")
    )
    ingest_file(db, config, make_media("new.mp3"), RecordingMeta(title="Undated draft", visibility="staff"))
    db.close()
    home = staff_client.get("/").get_data(as_text=True)
    assert home.index("Undated draft") < home.index("Old speech")
    assert '<span class="badge visibility-staff">Draft</span>' in home


def test_long_titles_make_addresses_cut_at_a_word():
    from archive.core.store.recordings import slugify

    slug = slugify("Relational Social Prescribing: Staying With Clients After the Referral Ends")
    assert slug == "relational-social-prescribing-staying-with-clients"
    assert len(slugify("x" * 80)) == 60 and slugify("Kenji Health") == "kenji-health"


@pytest.mark.model
def test_every_talk_has_a_cover_for_its_page_its_lists_and_link_previews(client, config, talk, make_media):
    import io

    from PIL import Image

    page = client.get(f"/recordings/{talk.slug}").get_data(as_text=True)
    assert f'<meta property="og:image" content="http://localhost/recordings/{talk.slug}/cover.jpg">' in page
    assert '<meta property="og:title" content="Ask &lt;Not&gt;">' in page and 'name="twitter:card"' in page
    assert f'poster="/recordings/{talk.slug}/cover.jpg"' in page  # a video: its own frame
    with client.get(f"/recordings/{talk.slug}/cover.jpg") as frame:
        assert frame.status_code == 200 and frame.mimetype == "image/jpeg"

    db = connect(config.db_path)
    audio = ingest_file(
        db,
        config,
        make_media("talk.flac"),
        RecordingMeta(
            title="Checking In Without Calling",
            speakers=["Thu Huong Nguyen"],
            organization="Hoa Sen Family Archive",
            visibility="public",
        ),
    ).recording
    hidden = ingest_file(
        db, config, make_media("draft.mp3"), RecordingMeta(title="A draft", visibility="staff")
    ).recording
    db.close()
    with client.get(f"/recordings/{audio.slug}/cover.png") as card:
        assert card.status_code == 200 and card.mimetype == "image/png"
        assert Image.open(io.BytesIO(card.data)).size == (1200, 630)
    assert client.get(f"/recordings/{hidden.slug}/cover.png").status_code == 404  # a draft's cover is the draft's
    home = client.get("/").get_data(as_text=True)
    assert f'src="/recordings/{audio.slug}/cover.png"' in home and 'id="speakers-heading"' in home
    assert ">Thu Huong Nguyen</a>" in home and ">Hoa Sen Family Archive</a>" in home and "A draft" not in home


def test_each_server_thread_keeps_its_connection_and_a_failed_request_leaves_no_transaction(app):
    """Requests reuse their thread's connection (opening one per request cost 2 ms of a 12 ms
    search); what a request leaves half done is rolled back when it ends."""
    from flask import g

    from archive.doors.web.db import get_db

    with app.test_request_context("/"):
        first = get_db()
        first.execute("BEGIN")
        first.execute("INSERT INTO search_log (query, results, created_at) VALUES ('half done', 0, '2026-01-01')")
    with app.test_request_context("/"):
        again = get_db()
        assert again is first and not again.conn.in_transaction
        assert again.execute("SELECT count(*) FROM search_log WHERE query = 'half done'").fetchone()[0] == 0
        assert g.db is again
    seen = []
    worker = threading.Thread(target=lambda: seen.append(_db_in_request(app)))
    worker.start()
    worker.join()
    assert seen and seen[0] is not first  # SQLite connections stay in their thread


def _db_in_request(app):
    from archive.doors.web.db import get_db

    with app.test_request_context("/"):
        return get_db()
