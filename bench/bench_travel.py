"""What talks that travel cost: the podcast feeds, a collection of moments, and the MCP server's tools.

1. Feeds: a scratch archive of --talks public talks (--lines lines each, a small media file
   each, one series holding half of them); times rendering /feed.xml and a series' feed with the
   Flask test client and prints their sizes.
2. A collection of --clips moments across the talks: times its page, its CSL-JSON and its JSON.
3. MCP: the three tools through the SDK's in-process client over the demo archive (cached in
   bench/.cache/load-demo, as bench/bench_load.py makes it) with the archive's search model: load
   time, then median and worst latency of search_moments over the evaluation's questions,
   read_transcript and list_talks.

    .venv/bin/python bench/bench_travel.py
    .venv/bin/python bench/bench_travel.py --talks 300 --clips 100
    .venv/bin/python bench/bench_travel.py --smoke    # 10 talks of 30 lines, 5 clips, 3 rounds: a check it runs
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory

from archive.core.config import load_config  # noqa: E402
from archive.core.store import accounts, connect, write_transaction  # noqa: E402
from archive.core.store import recordings as store  # noqa: E402
from archive.core.store.records import RecordingMeta, Segment  # noqa: E402


def timed(fn, rounds: int) -> tuple[float, float]:
    """(median, worst) milliseconds of ``rounds`` calls."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def script_lines() -> list[str]:
    scripts = json.loads((ROOT / "bench" / "eval" / "questions.json").read_text())["questions"]
    return [q["query"] for q in scripts]


def build_archive(data_dir: Path, talks: int, lines: int) -> list[str]:
    """``talks`` public talks of ``lines`` 10-second lines each, half in one series; their slugs."""
    config = load_config({"data_dir": data_dir}, environ={})
    db = connect(config.db_path)
    words = " ".join(script_lines()).split()
    slugs = []
    with write_transaction(db):
        for n in range(talks):
            media = Path("recordings") / f"talk-{n}.m4a"
            (data_dir / media).parent.mkdir(parents=True, exist_ok=True)
            (data_dir / media).write_bytes(bytes(4096))
            meta = RecordingMeta(
                title=f"Community of Practice session {n}",
                speakers=[f"Speaker {n}"],
                organization="Social Prescribing USA",
                date=f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}",
                series="Community of Practice" if n % 2 else "",
                visibility="public",
            ).validated()
            rid = store.insert_recording(
                db,
                meta,
                duration=lines * 10.0,
                media_path=str(media),
                media_hash=f"h{n}",
                media_kind="audio",
                original_filename=media.name,
                language="en",
                model="bench",
            )
            segments = [
                Segment(i * 10.0, i * 10.0 + 9.5, " ".join(words[(n * 7 + i * 13) % 400 :][:18])) for i in range(lines)
            ]
            store.replace_segments(db, rid, segments)
            slugs.append(store.get_recording(db, rid).slug)
    accounts.add_user(db, "bench@example.org", "bench password 123", "member")
    db.close()
    return slugs


def bench_feeds_and_collection(talks: int, lines: int, clips: int, rounds: int) -> dict:
    from archive.doors.web import create_app

    scratch = Path(tempfile.mkdtemp(prefix="travel-"))
    try:
        slugs = build_archive(scratch, talks, lines)
        app = create_app({"data_dir": scratch, "TESTING": True, "diarize": "off"})
        client = app.test_client()
        results = {}
        for name, path in (("feed", "/feed.xml"), ("series feed", "/series/community-of-practice/feed.xml")):
            body = client.get(path).data
            results[name] = (*timed(lambda path=path: client.get(path), rounds), len(body))
        db = connect(scratch / "archive.db")
        user_id = accounts.get_user(db, "bench@example.org").id
        db.close()
        with client.session_transaction() as session:
            session["user_id"], session["csrf"] = user_id, "bench"
        client.environ_base["HTTP_X_CSRF_TOKEN"] = "bench"
        made = client.post("/collections", data={"title": "Measuring impact", "sharing": "public"})
        slug = made.headers["Location"].rsplit("/", 1)[-1]
        for n in range(clips):
            talk = slugs[(n * 3) % len(slugs)]
            at = (n * 37) % (lines * 10 - 60)
            client.post(
                "/collections/clips",
                data={
                    "recording": talk,
                    "start": str(at),
                    "end": str(at + 45),
                    "collection": slug,
                    "note": f"Moment {n}",
                },
            )
        visitor = app.test_client()
        for name, path in (
            ("collection page", f"/collections/{slug}"),
            ("collection CSL-JSON", f"/collections/{slug}/citations.json"),
            ("collection JSON", f"/api/collections/{slug}"),
        ):
            body = visitor.get(path).data
            results[name] = (*timed(lambda path=path: visitor.get(path), rounds), len(body))
        return results
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def bench_mcp(rounds: int) -> dict:
    import anyio
    from mcp import Client

    from archive.doors.mcp_server import build_server
    from archive.library import Archive

    if str(ROOT / "bench") not in sys.path:
        sys.path.append(str(ROOT / "bench"))  # the other bench scripts (bench_*: they shadow nothing)
    from bench_load import prepare

    scratch = Path(tempfile.mkdtemp(prefix="travel-mcp-"))
    try:
        data_dir, _ = prepare(scratch)
        config = load_config({"data_dir": data_dir}, environ={})
        services = Archive(config)
        load_seconds = services.warm(search=True)
        server = build_server(config, services)
        questions = script_lines()[:rounds]
        figures: dict[str, list[float]] = {"search_moments": [], "read_transcript": [], "list_talks": []}

        async def run() -> None:
            async with Client(server) as client:
                talks = (await client.call_tool("list_talks", {})).structured_content["talks"]
                for question in questions:
                    for tool, arguments in (
                        ("search_moments", {"query": question}),
                        ("read_transcript", {"talk": talks[0]["slug"], "at": 60}),
                        ("list_talks", {}),
                    ):
                        started = time.perf_counter()
                        result = await client.call_tool(tool, arguments)
                        figures[tool].append((time.perf_counter() - started) * 1000)
                        assert not result.is_error, result.content

        anyio.run(run)
        return {
            "model load s": load_seconds,
            **{tool: (statistics.median(ms), max(ms)) for tool, ms in figures.items()},
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--talks", type=int, default=100)
    parser.add_argument("--lines", type=int, default=360, help="lines per talk (10 s each: 360 is an hour)")
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (10 talks of 30 lines, 5 clips, 3 rounds)")
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(talks=10, lines=30, clips=5, rounds=3)
    args = parser.parse_args()
    web = bench_feeds_and_collection(args.talks, args.lines, args.clips, args.rounds)
    print(f"{args.talks} public talks of {args.lines} lines; a collection of {args.clips} clips (Flask test client)")
    for name, (median, worst, size) in web.items():
        print(f"  {name}: {median:.1f} ms median, {worst:.1f} ms worst; {size / 1024:.1f} KB")
    mcp = bench_mcp(args.rounds)
    print(
        f"MCP tools over the demo archive (in-process SDK client); search model loaded in {mcp.pop('model load s'):.1f} s"
    )
    for tool, (median, worst) in mcp.items():
        print(f"  {tool}: {median:.1f} ms median, {worst:.1f} ms worst")


if __name__ == "__main__":
    main()
