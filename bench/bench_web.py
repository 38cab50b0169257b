"""The web archive's costs: a big upload's memory, saving a transcript correction, page weight.

1. Upload: starts `archive serve --no-worker` on a scratch data directory and streams a
   --upload-mb WAV (real, decodable silence) through the upload form's multipart POST, the
   way a browser does. Prints the time, the throughput, and the server's resident memory
   before and at its peak (VmHWM): a recording the size of a long video must not sit in memory.
2. Correction: builds a one-hour talk (--minutes; --segments transcript lines taken from the demo and
   evaluation scripts) in a scratch archive with the real MiniLM model, then times saving a
   corrected line (re-indexing only what changed) against re-indexing the whole talk.
3. Page: times rendering that talk's page (every line of the transcript), plain and compressed
   for a browser, and prints its size as the app sends it (plain, gzip, Brotli, Zstandard), and
   its scripts' and stylesheet's (plain, gzip, Brotli).
4. Takedown: gives that talk an hour of AAC audio and times removing one minute of it
   (silencing the audio with FFmpeg, dropping the lines, re-indexing).

    .venv/bin/python bench/bench_web.py
    .venv/bin/python bench/bench_web.py --upload-mb 2048 --segments 720
    .venv/bin/python bench/bench_web.py --smoke    # 16 MB, a 5-minute talk of 60 lines: a check it runs
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory

from archive.core.config import load_config  # noqa: E402
from archive.core.store import accounts, connect  # noqa: E402
from archive.core.store import recordings as store  # noqa: E402
from archive.core.store.records import RecordingMeta, Segment  # noqa: E402


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def write_silent_wav(path: Path, megabytes: int) -> None:
    """A valid 16 kHz mono 16-bit WAV of silence, ``megabytes`` long, written in blocks."""
    data_bytes = megabytes * 1024 * 1024
    header = b"RIFF" + (36 + data_bytes).to_bytes(4, "little") + b"WAVEfmt "
    header += (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    header += (16000).to_bytes(4, "little") + (32000).to_bytes(4, "little") + (2).to_bytes(2, "little")
    header += (16).to_bytes(2, "little") + b"data" + data_bytes.to_bytes(4, "little")
    block = bytes(1 << 20)
    with open(path, "wb") as out:
        out.write(header)
        for _ in range(megabytes):
            out.write(block)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_upload(megabytes: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as scratch:
        scratch = Path(scratch)
        media = scratch / "long-webinar.wav"
        write_silent_wav(media, megabytes)
        port = free_port()
        env = {**os.environ, "ARCHIVE_DATA_DIR": str(scratch / "data"), "TMPDIR": str(scratch)}
        db = connect(scratch / "data" / "archive.db")
        accounts.add_user(db, "bench@example.org", "bench password", "staff")
        _, token = accounts.create_token(db, "bench@example.org")  # a staff token: no session or CSRF needed
        db.close()
        server = subprocess.Popen(
            [sys.executable, "-m", "archive", "serve", "--no-worker", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            for _ in range(100):
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")
                    break
                except OSError:
                    time.sleep(0.2)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            conn.request("GET", "/upload", headers={"Authorization": f"Bearer {token}"})
            conn.getresponse().read()
            before = rss_kb(server.pid, "VmRSS")

            boundary = uuid.uuid4().hex
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nLong webinar\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="{media.name}"\r\n'
                "Content-Type: audio/wav\r\n\r\n"
            ).encode()
            tail = f"\r\n--{boundary}--\r\n".encode()

            def body():
                yield head
                with open(media, "rb") as fh:
                    while block := fh.read(1 << 20):
                        yield block
                yield tail

            length = len(head) + media.stat().st_size + len(tail)
            started = time.perf_counter()
            conn.putrequest("POST", "/upload")
            conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
            conn.putheader("Content-Length", str(length))
            conn.putheader("Authorization", f"Bearer {token}")
            conn.endheaders()
            for chunk in body():
                conn.send(chunk)
            response = conn.getresponse()
            response.read()
            seconds = time.perf_counter() - started
            peak = rss_kb(server.pid, "VmHWM")
            return {
                "upload_mb": megabytes,
                "status": response.status,
                "location": response.getheader("Location"),
                "seconds": round(seconds, 1),
                "mb_per_s": round(megabytes / seconds, 1),
                "server_rss_before_mb": round(before / 1024),
                "server_rss_peak_mb": round(peak / 1024),
            }
        finally:
            server.terminate()
            server.wait(timeout=30)


def script_lines() -> list[str]:
    """Sentences from the demo and evaluation talk scripts, to make a long transcript of real English."""
    lines = []
    for path in [ROOT / "media" / "samples" / "samples.json", ROOT / "bench" / "eval" / "talks.json"]:
        for talk in json.loads(path.read_text())["talks"] if path.exists() else []:
            text = " ".join(talk["script"])
            lines += [s.strip() for s in re.split(r"(?<=[.?!])\s+", text) if len(s.split()) >= 4]
    return lines


def bench_correction(segment_count: int, rounds: int, minutes: float = 60.0) -> tuple[dict, Path, str]:
    from ingest.corrections import correct_segment
    from search.embedder import embedder_for
    from search.index import reindex_talk

    scratch = Path(tempfile.mkdtemp(prefix="bench-correct-"))
    config = load_config({"data_dir": scratch}, environ={})
    db = connect(config.db_path)
    lines = script_lines()
    duration = minutes * 60.0
    step = duration / segment_count
    segments = [
        Segment(start=round(i * step, 3), end=round((i + 1) * step - 0.2, 3), text=lines[i % len(lines)])
        for i in range(segment_count)
    ]
    with db.atomic():
        recording_id = store.insert_recording(
            db,
            RecordingMeta(title=f"{minutes:g}-minute webinar", speakers=["A Speaker"], visibility="public"),
            duration=duration,
            media_path="recordings/none.wav",
            media_hash=uuid.uuid4().hex,
            media_kind="audio",
            original_filename="none.wav",
            language="en",
            model="bench",
        )
        store.replace_segments(db, recording_id, segments)
    embedder = embedder_for(config)
    embedder.embed_query("warm up")

    started = time.perf_counter()
    passages = len(reindex_talk(db, recording_id, embedder).passages)
    full = time.perf_counter() - started

    saves, embedded = [], []
    for i in range(rounds):
        idx = (i * 97 + 13) % segment_count
        text = segments[idx].text + f" Corrected {i}."
        started = time.perf_counter()
        correction = correct_segment(db, recording_id, idx, text, embedder)
        saves.append(time.perf_counter() - started)
        embedded.append(correction.embedded)
    slug = store.get_recording(db, recording_id).slug
    db.close()
    return (
        {
            "segments": segment_count,
            "passages": passages,
            "full_reindex_s": round(full, 2),
            "save_correction_ms_median": round(1000 * statistics.median(saves)),
            "save_correction_ms_max": round(1000 * max(saves)),
            "texts_embedded_per_save": statistics.median(embedded),
            "texts_embedded_full": passages + segment_count,
        },
        scratch,
        slug,
    )


BROWSER_ENCODINGS = "gzip, deflate, br, zstd"  # what Chrome and Firefox send


def sent_bytes(client, path: str, encoding: str) -> int:
    """How many bytes of body the app sends for ``path`` to a client taking ``encoding``."""
    with client.get(path, headers={"Accept-Encoding": encoding}) as response:
        assert response.status_code == 200, (path, response.status_code)
        return len(response.get_data())


def bench_page(data_dir: Path, slug: str, rounds: int) -> dict:
    """Render the talk's page ``rounds`` times, plain and compressed as for a browser, and weigh
    the page and its static files as the app sends them: plain, gzip and Brotli."""
    from archive.doors.web import create_app

    client = create_app({"data_dir": data_dir}).test_client()
    path = f"/recordings/{slug}"
    timings: dict[str, list[float]] = {"identity": [], BROWSER_ENCODINGS: []}
    for _ in range(rounds):
        for encoding, times in timings.items():
            started = time.perf_counter()
            sent_bytes(client, path, encoding)
            times.append(time.perf_counter() - started)
    static = {
        name: tuple(sent_bytes(client, f"/static/{name}", encoding) for encoding in ("identity", "gzip", "br"))
        for name in ["player.js", "correct.js", "jobs.js", "style.css"]
    }
    return {
        "page_ms_median": round(1000 * statistics.median(timings["identity"]), 1),
        "page_ms_median_compressed": round(1000 * statistics.median(timings[BROWSER_ENCODINGS]), 1),
        "page_kb": round(sent_bytes(client, path, "identity") / 1024),
        "page_kb_gzip": round(sent_bytes(client, path, "gzip") / 1024),
        "page_kb_br": round(sent_bytes(client, path, "br") / 1024),
        "page_kb_zstd": round(sent_bytes(client, path, "zstd") / 1024),
        "static_bytes_plain_gzip_br": static,
    }


def bench_takedown(data_dir: Path) -> dict:
    """One minute from the middle of the talk, which is given AAC audio of its whole length."""
    import imageio_ffmpeg

    from ingest.redaction import redact_range
    from search.embedder import embedder_for

    config = load_config({"data_dir": data_dir}, environ={})
    db = connect(config.db_path)
    recording = store.list_recordings(db)[0]
    media_path = config.media_dir / "hour.m4a"
    media_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=300:duration={recording.duration:g}",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            str(media_path),
        ],
        check=True,
    )
    with db.atomic():
        db.execute("UPDATE recordings SET media_path = ? WHERE id = ?", ["recordings/hour.m4a", recording.id])
    embedder = embedder_for(config)
    embedder.embed_query("warm up")
    started = time.perf_counter()
    removed = redact_range(
        db,
        config,
        recording.id,
        recording.duration / 2,
        recording.duration / 2 + 60.0,
        reason="bench",
        user_email="bench@example.org",
        keep_original=False,
        embedder=embedder,
    )
    seconds = time.perf_counter() - started
    db.close()
    return {"takedown_s": round(seconds, 1), "lines_removed": removed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upload-mb", type=int, default=2048, help="size of the uploaded file (0 skips)")
    parser.add_argument("--segments", type=int, default=720, help="transcript lines in the talk")
    parser.add_argument("--minutes", type=float, default=60.0, help="the talk's length (and its audio's)")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run (16 MB upload, a 5-minute talk of 60 lines, 2 rounds)"
    )
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(upload_mb=16, segments=60, minutes=5.0, rounds=2)
    args = parser.parse_args()

    results = {}
    if args.upload_mb:
        results["upload"] = upload = bench_upload(args.upload_mb)
        print(
            f"upload {upload['upload_mb']} MB: HTTP {upload['status']} -> {upload['location']} "
            f"in {upload['seconds']} s "
            f"({upload['mb_per_s']} MB/s); server RSS {upload['server_rss_before_mb']} MB before, "
            f"{upload['server_rss_peak_mb']} MB at peak"
        )
    correction, data_dir, slug = bench_correction(args.segments, args.rounds, args.minutes)
    results["correction"] = correction
    print(
        f"{args.minutes:g}-minute talk, {correction['segments']} lines, {correction['passages']} passages: full re-index "
        f"{correction['full_reindex_s']} s ({correction['texts_embedded_full']} texts); saving a correction "
        f"{correction['save_correction_ms_median']} ms median, {correction['save_correction_ms_max']} ms max "
        f"({correction['texts_embedded_per_save']} texts embedded)"
    )
    try:
        results["page"] = page = bench_page(data_dir, slug, args.rounds)
        results["takedown"] = takedown = bench_takedown(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(
        f"recording page of that talk: {page['page_ms_median']} ms to render, "
        f"{page['page_ms_median_compressed']} ms compressed for a browser; sent as {page['page_kb']} KB plain, "
        f"{page['page_kb_gzip']} KB gzip, {page['page_kb_br']} KB Brotli, {page['page_kb_zstd']} KB Zstandard"
    )
    for name, (plain, gzipped, brotli) in page["static_bytes_plain_gzip_br"].items():
        print(f"  static/{name}: {plain / 1024:.1f} KB ({gzipped / 1024:.1f} KB gzip, {brotli / 1024:.1f} KB Brotli)")
    print(
        f"takedown of one minute in that talk with {args.minutes:g} minutes of AAC audio: {takedown['takedown_s']} s "
        f"({takedown['lines_removed']} lines removed, audio re-encoded, talk re-indexed)"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
