"""`archive mcp`: the MCP server, driven by the official SDK's client.

The logic tests talk to the server in-process (the SDK's ``Client`` over an ``MCPServer``) with the
word-hash embedder over a small archive of a public, a members and a staff talk. The last test
starts ``archive mcp`` as a subprocess over stdio, on the real demo talks with the real model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from archive.core.citations import PUBLISHER, CitedMoment, citation_line
from archive.core.store import accounts, write_transaction
from archive.core.store import recordings as store
from archive.core.store.records import RecordingMeta, Segment, Slide
from archive.doors.mcp_server import NOTHING_ANSWERS, TokenRefused, build_server
from archive.library import Archive
from search.index import prepare_index, write_index

from .fakes import WordHashEmbedder

ROOT = Path(__file__).resolve().parent.parent
SITE = "https://talks.example.org"

# The words each talk is about, so a search finds it and no other.
PUBLIC_LINES = [
    ("Welcome everyone to the January meeting.", "Ana Ruiz"),
    ("Our link workers phone every client two weeks after the first referral.", "Ana Ruiz"),
    ("That follow up call is where most of the value is.", "Ana Ruiz"),
    ("We track the calls in a shared spreadsheet.", "Ben Cho"),
    ("Questions about the spreadsheet are welcome.", "Ben Cho"),
]
MEMBERS_LINES = [("Our gardening allotments grow vegetables for the food pantry.", None)] * 3
STAFF_LINES = [("The draft budget for the orchestra programme is not final.", None)] * 3


def add_talk(db, embedder, title: str, lines, *, visibility: str, **meta) -> str:
    """A ready talk with these lines (one every 10 s) and its search index, as ingest writes them; its slug."""
    segments = [Segment(i * 10.0, i * 10.0 + 9.5, text, speaker=who) for i, (text, who) in enumerate(lines)]
    prepared = prepare_index(segments, embedder, title=title)
    with write_transaction(db):
        rid = store.insert_recording(
            db,
            RecordingMeta(title=title, visibility=visibility, **meta).validated(),
            duration=len(lines) * 10.0,
            media_path=f"{title}.m4a",
            media_hash=title,
            media_kind="audio",
            original_filename=f"{title}.m4a",
            language="en",
            model="test",
        )
        store.replace_segments(db, rid, segments)
        write_index(db, rid, prepared)
    return store.get_recording(db, rid).slug


@dataclasses.dataclass
class ArchiveFixture:
    config: object
    services: Archive
    public: str
    members: str
    staff: str


@pytest.fixture
def archive(config, db) -> ArchiveFixture:
    """A public, a members-only and a staff-only (draft) talk, searched with the word-hash embedder."""
    config = dataclasses.replace(config, public_url=SITE + "/")  # ARCHIVE_PUBLIC_URL, with a trailing slash
    services = Archive(config)
    services.embedder = WordHashEmbedder()
    public = add_talk(
        db,
        services.embedder,
        "Following up with clients",
        PUBLIC_LINES,
        visibility="public",
        speakers=["Ana Ruiz", "Ben Cho"],
        host="Cal Ortiz",
        organization="Project Connection",
        date="2025-01-15",
        tags=["link workers"],
        series="Community of Practice",
    )
    members = add_talk(
        db,
        services.embedder,
        "Growing together",
        MEMBERS_LINES,
        visibility="members",
        speakers=["Dee Park"],
        organization="Green Roots",
        date="2025-03-01",
    )
    staff = add_talk(db, services.embedder, "Budget draft", STAFF_LINES, visibility="staff", date="2025-04-01")
    with write_transaction(db):
        rid = store.get_recording_by_slug(db, public).id
        store.replace_slides(db, rid, [Slide(1, "Calls", "Calls logged in the spreadsheet weekly", at=30.0)])
        store.replace_slides(
            db,
            store.get_recording_by_slug(db, staff).id,
            [Slide(1, "Spreadsheet", "The secret spreadsheet of the draft budget", at=0.0)],
        )
    return ArchiveFixture(config, services, public, members, staff)


def token_for(db, role: str) -> tuple[int, str]:
    accounts.add_user(db, f"{role}@example.org", "correct horse battery", role)
    token, secret = accounts.create_token(db, f"{role}@example.org")
    return token.id, secret


def call(server, tool: str, **arguments):
    """One tool call through the SDK's client, connected to ``server`` in-process."""

    async def run():
        async with Client(server) as client:
            return await client.call_tool(tool, arguments)

    return anyio.run(run)


def answer(server, tool: str, **arguments) -> dict:
    result = call(server, tool, **arguments)
    assert not result.is_error, result.content
    return result.structured_content


def error(server, tool: str, **arguments) -> str:
    result = call(server, tool, **arguments)
    assert result.is_error and result.structured_content is None
    (content,) = result.content
    assert "Traceback" not in content.text
    return content.text


def test_the_server_offers_three_tools_and_says_what_the_archive_is(archive):
    async def run():
        async with Client(build_server(archive.config, archive.services)) as client:
            return (await client.list_tools()).tools

    tools = anyio.run(run)
    assert {t.name for t in tools} == {"search_moments", "read_transcript", "list_talks"}
    for tool in tools:
        assert tool.description and tool.output_schema and tool.annotations.read_only_hint
    instructions = build_server(archive.config, archive.services).instructions
    assert PUBLISHER in instructions and "citation line" in instructions and "public talks" in instructions


# -- search_moments ------------------------------------------------------------------------------------


def test_a_search_returns_moments_with_links_and_citation_lines(archive, db):
    found = answer(
        build_server(archive.config, archive.services),
        "search_moments",
        query="how often do link workers phone a client after the referral?",
    )
    assert found["answered"] and found["results"]
    best = found["results"][0]
    assert best["slug"] == archive.public and best["title"] == "Following up with clients"
    # Where the moment starts is the search's choice; what comes back must describe that place.
    start, end = best["start"], best["end"]
    assert best["clock"] == f"0:{int(start):02d}" and best["speaker"] == "Ana Ruiz"
    assert "phone every client" in best["text"]
    assert best["url"] == f"{SITE}/recordings/{archive.public}?t={start:g}&end={end:g}"
    assert best["citation"] == citation_line(
        CitedMoment(store.get_recording_by_slug(db, archive.public), start, end, SITE, speaker="Ana Ruiz")
    )
    assert best["citation"].startswith("Ana Ruiz. “Following up with clients.” Project Connection, 2025-01-15.")
    assert best["speakers"] == ["Ana Ruiz", "Ben Cho"] and best["date"] == "2025-01-15"
    assert found["weak_results"] == []


def test_a_search_nothing_answers_says_so_and_marks_the_nearest_as_no_answer(archive):
    found = answer(build_server(archive.config, archive.services), "search_moments", query="bicycle brake repair")
    assert not found["answered"] and found["results"] == []
    assert found["message"] == (
        f"{NOTHING_ANSWERS} The nearest moments are in weak_results: probably not an "
        "answer, so do not present them as one."
    )
    assert found["weak_results"]
    assert all(m["url"].startswith(f"{SITE}/recordings/") and m["citation"] for m in found["weak_results"])


def test_a_search_gives_slides_as_asides_with_their_links(archive):
    found = answer(build_server(archive.config, archive.services), "search_moments", query="spreadsheet")
    assert [(a["kind"], a["slug"], a["page"]) for a in found["asides"]] == [("slide", archive.public, 1)]
    (aside,) = found["asides"]
    assert aside["url"] == f"{SITE}/recordings/{archive.public}?t=30" and aside["clock"] == "0:30"
    assert aside["citation"].endswith(aside["url"])


def test_search_filters_and_limits(archive):
    server = build_server(archive.config, archive.services)
    by_ben = answer(server, "search_moments", query="spreadsheet", speaker="Ben")
    assert by_ben["results"] and all(m["slug"] == archive.public for m in by_ben["results"])
    assert answer(server, "search_moments", query="spreadsheet", organization="Green Roots")["results"] == []
    assert answer(server, "search_moments", query="spreadsheet", until="2024-12-31")["results"] == []
    assert len(answer(server, "search_moments", query="spreadsheet", limit=1)["results"]) == 1


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"query": "   "}, "Type a word or a question to search for."),
        ({"query": "the and of"}, "too common to search for"),
        ({"query": "calls", "since": "soon"}, "Since must be a date in the form YYYY-MM-DD, not 'soon'."),
        ({"query": "calls", "since": "2025-02-01", "until": "2025-01-01"}, "the date range runs backwards"),
        ({"query": "calls", "limit": 0}, "limit must be between 1 and 20"),
        ({"query": "calls", "limit": 500}, "limit must be between 1 and 20"),
    ],
)
def test_bad_searches_are_one_clear_error(archive, arguments, message):
    assert (
        message.lower() in error(build_server(archive.config, archive.services), "search_moments", **arguments).lower()
    )


# -- read_transcript -----------------------------------------------------------------------------------


def test_read_transcript_gives_the_lines_around_a_time_with_a_link_and_a_citation(archive, db):
    server = build_server(archive.config, archive.services)
    window = answer(server, "read_transcript", talk=archive.public, at="0:20", before=10, after=10)
    assert [line["clock"] for line in window["lines"]] == ["0:10", "0:20"]
    assert [line["speaker"] for line in window["lines"]] == ["Ana Ruiz", "Ana Ruiz"]
    assert window["lines"][1]["text"] == "That follow up call is where most of the value is."
    assert window["lines"][1]["url"] == f"{SITE}/recordings/{archive.public}?t=20"
    assert window["url"] == f"{SITE}/recordings/{archive.public}?t=20" and window["at"] == 20
    assert window["citation"] == citation_line(
        CitedMoment(store.get_recording_by_slug(db, archive.public), 10, 29.5, SITE, speaker="Ana Ruiz")
    )
    assert window["citation"].endswith(f"{SITE}/recordings/{archive.public}?t=10&end=29.5")
    assert window["title"] == "Following up with clients" and window["duration"] == 50.0

    # The time as seconds or as a link writes it; the talk by its link (by id: the visibility tests).
    for at in (20, 20.0, "20", "20s", "0m20s"):
        assert (
            answer(server, "read_transcript", talk=archive.public, at=at, before=0, after=5)["lines"][0]["start"] == 20
        )
    link = f"{SITE}/recordings/{archive.public}?t=20"
    assert answer(server, "read_transcript", talk=link, at=20, before=0, after=5)["slug"] == archive.public
    everything = answer(server, "read_transcript", talk=archive.public)
    assert [line["clock"] for line in everything["lines"]] == ["0:00", "0:10", "0:20", "0:30", "0:40"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"talk": "no-such-talk"}, "No talk 'no-such-talk' in the archive"),
        ({"talk": ""}, "No talk '' in the archive"),
        ({"at": "soon"}, "'soon' is not a time in a talk"),
        ({"at": -5}, "is not a time in a talk"),
        ({"at": "1:00:00"}, "1:00:00 is past the end of the talk, which is 0:50 long"),
        ({"before": -1}, "before and after are seconds, from 0 to 600"),
        ({"after": 3600}, "before and after are seconds, from 0 to 600"),
    ],
)
def test_bad_transcript_requests_are_one_clear_error(archive, arguments, message):
    arguments = {"talk": archive.public, **arguments}
    assert (
        message.lower() in error(build_server(archive.config, archive.services), "read_transcript", **arguments).lower()
    )


# -- list_talks ----------------------------------------------------------------------------------------


def test_list_talks_newest_first_with_links(archive, db):
    server = build_server(archive.config, archive.services, token_for(db, "staff")[1])
    listed = answer(server, "list_talks")
    assert [t["slug"] for t in listed["talks"]] == [archive.staff, archive.members, archive.public]
    assert listed["total"] == 3
    public = listed["talks"][2]
    assert public == {
        "title": "Following up with clients",
        "slug": archive.public,
        "speakers": ["Ana Ruiz", "Ben Cho"],
        "host": "Cal Ortiz",
        "organization": "Project Connection",
        "date": "2025-01-15",
        "duration": 50.0,
        "length": "0:50",
        "tags": ["link workers"],
        "series": "Community of Practice",
        "description": "",
        "url": f"{SITE}/recordings/{archive.public}",
    }
    assert [t["slug"] for t in answer(server, "list_talks", organization="green")["talks"]] == [archive.members]
    assert [t["slug"] for t in answer(server, "list_talks", tag="link workers")["talks"]] == [archive.public]
    assert [t["slug"] for t in answer(server, "list_talks", since="2025-02-01", until="2025-03-31")["talks"]] == [
        archive.members
    ]
    limited = answer(server, "list_talks", limit=1)
    assert limited["total"] == 3 and len(limited["talks"]) == 1
    assert "must be a date" in error(server, "list_talks", since="last year")


# -- who sees what -------------------------------------------------------------------------------------


def test_without_a_token_only_public_talks_are_listed_searched_or_read(archive, db):
    server = build_server(archive.config, archive.services)
    assert [t["slug"] for t in answer(server, "list_talks")["talks"]] == [archive.public]
    for query in ("gardening allotments vegetables", "orchestra budget"):
        found = answer(server, "search_moments", query=query)
        assert all(m["slug"] == archive.public for m in found["results"] + found["weak_results"]), query
    assert answer(server, "search_moments", query="spreadsheet")["asides"][0]["slug"] == archive.public

    # A talk the caller may not see is answered exactly like one that does not exist.
    missing = error(server, "read_transcript", talk="no-such-talk")
    for hidden in (archive.members, archive.staff, str(store.get_recording_by_slug(db, archive.staff).id)):
        assert error(server, "read_transcript", talk=hidden) == missing.replace("no-such-talk", hidden)
    assert answer(server, "read_transcript", talk=archive.public)["lines"]


def test_a_member_token_sees_the_members_talks_and_not_the_drafts(archive, db):
    _, secret = token_for(db, "member")
    server = build_server(archive.config, archive.services, secret)
    assert "members" in server.instructions
    assert [t["slug"] for t in answer(server, "list_talks")["talks"]] == [archive.members, archive.public]
    found = answer(server, "search_moments", query="gardening allotments vegetables")
    assert found["results"][0]["slug"] == archive.members
    rid = store.get_recording_by_slug(db, archive.members).id
    assert answer(server, "read_transcript", talk=str(rid))["slug"] == archive.members
    assert "No talk" in error(server, "read_transcript", talk=archive.staff)
    assert all(
        m["slug"] != archive.staff for m in answer(server, "search_moments", query="orchestra budget")["results"]
    )


def test_an_unknown_or_revoked_token_is_refused_at_start_and_when_revoked_later(archive, db):
    with pytest.raises(TokenRefused, match="unknown or has been revoked"):
        build_server(archive.config, archive.services, "ta_not-a-token")
    token_id, secret = token_for(db, "member")
    server = build_server(archive.config, archive.services, secret)
    assert answer(server, "list_talks")["total"] == 2
    accounts.revoke_token(db, token_id)
    assert "revoked" in error(server, "list_talks")  # a running server stops at once
    with pytest.raises(TokenRefused):
        build_server(archive.config, archive.services, secret)


def test_the_command_refuses_a_bad_token_with_one_line_and_status_2(runner, db, monkeypatch):
    from archive.doors.cli import cli

    for args, env in ((["mcp", "--token", "ta_wrong"], {}), (["mcp"], {"ARCHIVE_MCP_TOKEN": "ta_wrong"})):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr.strip().splitlines() == [
            "Error: the archive token was not accepted: it is unknown or has been revoked "
            "(see `archive tokens list`; `archive tokens create` makes a new one)"
        ]


# -- the real thing: `archive mcp` over stdio, on the demo talks with the real model --------------------


def test_archive_mcp_over_stdio_on_the_demo_talks(demo_data_dir, tmp_path):
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "archive", "mcp"],
        cwd=os.getcwd(),  # where the relative data directory is, as a user runs it
        env={
            "ARCHIVE_DATA_DIR": str(demo_data_dir),
            "ARCHIVE_PUBLIC_URL": SITE,
            **{k: v for k, v in os.environ.items() if k in ("TMPDIR", "ARCHIVE_MODELS_DIR")},
        },
    )
    stderr_path = tmp_path / "stderr.txt"

    async def run():
        with stderr_path.open("w") as stderr:
            async with Client(stdio_client(server, errlog=stderr), read_timeout_seconds=180) as client:
                talks = await client.call_tool("list_talks", {})
                found = await client.call_tool(
                    "search_moments", {"query": "how do they keep in touch with people after the first activity?"}
                )
                best = found.structured_content["results"][0]
                window = await client.call_tool("read_transcript", {"talk": best["slug"], "at": best["clock"]})
                missing = await client.call_tool("read_transcript", {"talk": "no-such-talk"})
                return talks, found, window, missing

    talks, found, window, missing = anyio.run(run)
    listed = talks.structured_content["talks"]
    assert len(listed) == 3 and all(t["url"] == f"{SITE}/recordings/{t['slug']}" for t in listed)
    (follow_up,) = [t["slug"] for t in listed if t["title"].startswith("Relational Social Prescribing")]

    searched = found.structured_content
    assert searched["answered"] and searched["results"][0]["slug"] == follow_up
    best = searched["results"][0]
    assert best["url"].startswith(f"{SITE}/recordings/{follow_up}?t=")
    assert best["citation"].endswith(best["url"]) and f"“{best['title']}.”" in best["citation"]
    assert json.loads(found.content[0].text) == searched  # the same answer as text, for clients that read only that

    read = window.structured_content
    (said,) = [line for line in read["lines"] if line["start"] == best["start"]]  # the moment's first line
    assert said["text"] in best["text"] or best["text"] in said["text"]
    assert read["url"].startswith(f"{SITE}/recordings/{follow_up}?t=")
    assert f"“{read['title']}.”" in read["citation"] and f" {SITE}/recordings/{follow_up}?t=" in read["citation"]

    assert missing.is_error and "No talk 'no-such-talk'" in missing.content[0].text
    logged = stderr_path.read_text()
    assert "search model loaded" in logged and "Traceback" not in logged


def test_a_search_that_waits_out_another_writers_lock_is_one_clear_error(archive, monkeypatch):
    """Each search is logged (a write): past the busy timeout the tool says the archive is busy."""
    from archive.core.store import connect, connection

    server = build_server(archive.config, archive.services)
    monkeypatch.setattr(connection, "BUSY_TIMEOUT_MS", 200)
    holder = connect(archive.config.db_path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        message = error(server, "search_moments", query="how often do link workers phone a client after the referral?")
    finally:
        holder.conn.rollback()
        holder.close()
    assert "The archive is busy" in message and "try again" in message and "Traceback" not in message
    found = answer(server, "search_moments", query="how often do link workers phone a client after the referral?")
    assert found["answered"] and found["results"], "and once the lock is let go, it answers"
