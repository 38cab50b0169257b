"""The archive for AI assistants: an MCP server (``archive mcp``, over stdio) built on the official SDK.

Three tools, the same library calls as the web pages and the API: ``search_moments`` (the search
behind ``/api/search``), ``read_transcript`` (what was said around a time in a talk) and
``list_talks``. Every moment comes back with a link that plays the talk from that second and a
citation line (``archive.core.citations``), so what an assistant quotes can be traced to where it was
said. Links use ``ARCHIVE_PUBLIC_URL``: there is no web request here to take an address from.

Who is asking decides what is seen, as on the site: without a token, public talks only; with
an API token, what its account may see. The token is checked when the server starts (a bad one
is refused there) and again on every call, so revoking it, or changing the account's role,
takes effect at once in a server that is already running. A talk the caller may not see is
answered exactly like one that does not exist.

The server is long-lived and the web server writes the same database, so each call opens its
own connection and closes it. The search model is loaded once, before serving (``serve_stdio``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from archive.core.citations import PUBLISHER, CitedMoment, citation_line
from archive.core.config import Config
from archive.core.errors import UserError
from archive.core.store import busy_refusal, connect
from archive.core.store import recordings as store
from archive.core.store.accounts import user_for_token
from archive.core.store.records import Recording, Viewer
from archive.core.timecode import clock, parse_timecode

log = logging.getLogger(__name__)

# What one call may return: every moment and line goes into the assistant's context.
MAX_MOMENTS = 20
MAX_TALKS = 200
MAX_WINDOW_SECONDS = 600
NOTHING_ANSWERS = "Nothing in the archive answers that."


class TokenRefused(UserError):
    """The token the server was given does not open the archive (unknown, or revoked)."""

    status = 401


# -- what the tools return (each also the tool's published output schema) -------------------------


class Moment(BaseModel):
    """A moment in a talk: where to start playing, what is said there, and how to cite it."""

    title: str = Field(description="The talk's title.")
    slug: str = Field(description="The talk's short name, for read_transcript.")
    speakers: list[str] = Field(description="The talk's speakers.")
    organization: str = Field(description="The organisation presenting the talk.")
    date: str | None = Field(description="When the talk was given, YYYY-MM-DD.")
    start: float = Field(description="Seconds into the talk where the moment starts.")
    end: float = Field(description="Seconds into the talk where it ends.")
    clock: str = Field(description="The start as a clock time in the talk, e.g. 12:34.")
    speaker: str | None = Field(None, description="Who says it, where the meeting's transcript named them.")
    text: str = Field(description="What is said there (a machine transcript: names may be misspelled).")
    url: str = Field(description="The talk's page, playing from this moment.")
    citation: str = Field(description="A citation line to quote beside anything used from this moment.")
    match: str = Field(
        "meaning",
        description='"words": it says every word of the query; "name": its talk\'s details name what the query '
        'names; "close": it says words spelled close to the query\'s (a name or line the transcript misheard); '
        '"meaning": only similar in meaning (say so when quoting it).',
    )
    more_from_talk: bool = Field(
        False, description="Not its talk's best moment: each talk's best moment comes first, these after."
    )


class Aside(BaseModel):
    """A slide or a chat message of a talk that holds the query's words."""

    kind: str = Field(description='"slide" or "chat".')
    title: str = Field(description="The talk's title.")
    slug: str
    page: int | None = Field(None, description="The slide's page number.")
    at: float = Field(description="Seconds into the talk where it is shown or posted.")
    clock: str
    text: str
    url: str
    citation: str


class SearchAnswer(BaseModel):
    """The moments that answer a query, or an honest statement that none does."""

    query: str = Field(description="The query as it was searched.")
    answered: bool = Field(description="Whether anything in the archive answers the query.")
    message: str = Field(description="What to tell the person, in a sentence or two.")
    notice: str = Field(
        "",
        description="How the query was read, where that matters (a shortened query, "
        "a phrase no talk has word for word).",
    )
    results: list[Moment] = Field(
        description="The answers: each talk's best moment first (those saying the query's words before those "
        "only similar in meaning), then at most two more moments a talk."
    )
    weak_results: list[Moment] = Field(
        description="Only when nothing answers: the nearest moments, PROBABLY NOT AN ANSWER. Never present them as one."
    )
    asides: list[Aside] = Field(description="Slides and chat messages holding every word of the query.")


class Line(BaseModel):
    """One line of a transcript."""

    start: float
    end: float
    clock: str = Field(description="The start as a clock time in the talk.")
    speaker: str | None = None
    text: str
    url: str = Field(description="The talk's page, playing from this line.")


class TranscriptWindow(BaseModel):
    """What was said in a talk around a time, with the link and citation for that stretch."""

    title: str
    slug: str
    speakers: list[str]
    organization: str
    date: str | None
    duration: float = Field(description="The talk's length in seconds.")
    at: float = Field(description="The time asked for, in seconds.")
    url: str = Field(description="The talk's page, playing from the time asked for.")
    citation: str = Field(description="A citation line for the stretch shown (first line to last).")
    lines: list[Line] = Field(description="The lines spoken from `before` seconds before the time to `after` after it.")


class Talk(BaseModel):
    """A talk in the archive."""

    title: str
    slug: str
    speakers: list[str]
    host: str = Field("", description="Who chaired it (introduced the speakers, took the questions), if known.")
    organization: str
    date: str | None
    duration: float = Field(description="Length in seconds.")
    length: str = Field(description="Length as a clock time, e.g. 58:12.")
    tags: list[str]
    series: str = Field("", description="The series the talk belongs to, if any.")
    description: str
    url: str


class TalkList(BaseModel):
    """The talks the caller may see that pass the filters, newest first."""

    total: int = Field(description="How many talks pass the filters (more than listed when over the limit).")
    talks: list[Talk]


# -- who is asking -----------------------------------------------------------------------------------


def role_for_token(db, token: str | None) -> str | None:
    """The role whose talks a caller with ``token`` sees: None (public talks) without one.

    TokenRefused for a token that is unknown or revoked: a server must not quietly fall back
    to public talks when its operator meant to give it more.
    """
    if not token:
        return None
    user = user_for_token(db, token)
    if user is None:
        raise TokenRefused(
            "the archive token was not accepted: it is unknown or has been revoked "
            "(see `archive tokens list`; `archive tokens create` makes a new one)"
        )
    return user.role


def instructions_for(role: str | None) -> str:
    """What the assistant is told about the archive when it connects."""
    seen = {
        None: "Only the public talks are visible through this connection.",
        "member": "This connection sees the public talks and those for Community of Practice members.",
    }.get(role, "This connection sees every talk in the archive, drafts included: do not share what is not public.")
    return (
        f"Talk Archive holds the recorded webinars of the {PUBLISHER}: talks by link workers, community "
        "health workers, health systems and community organisations about social prescribing, each with "
        "a timestamped machine transcript (names may be misspelled). "
        f"{seen}\n\n"
        "Use search_moments to find where a question is answered (a question in plain words works best; "
        'names, "quoted phrases" and prefix* work too), read_transcript to read what was said around a '
        "moment before quoting it, and list_talks to see which talks there are.\n\n"
        "Every moment comes with a url that plays the talk from that second and a citation line. When you "
        "use something from the archive, quote what was said, link the moment, and give its citation line. "
        "When search_moments says nothing in the archive answers, say so plainly: its weak_results are "
        "probably not an answer and must not be presented as one."
    )


# -- the server --------------------------------------------------------------------------------------


def build_server(config: Config, services, token: str | None = None) -> MCPServer:
    """The MCP server over ``config``'s archive, seeing what ``token``'s account may see (public talks without one).

    ``services`` is the process's ``archive.library.Archive``: its searcher answers the searches
    (passed in, not imported: this module sits below the services in the import layers). Each call
    opens its own database connection.
    """
    site_url = config.site_url

    @contextlib.contextmanager
    def archive_for_caller():
        """A connection to the archive and the archive as the caller may see it now; UserErrors as tool errors."""
        db = connect(config.db_path, migrate=False)
        try:
            yield db, services.as_viewer(Viewer(role=role_for_token(db, token)))
        except UserError as exc:
            raise ToolError(exc.sentence()) from None
        except Exception as exc:
            refusal = busy_refusal(exc)
            if refusal is None:
                raise
            raise ToolError(refusal.sentence()) from None
        finally:
            db.close()

    def cited(recording: Recording, start: float, end: float | None, speaker: str | None = None) -> CitedMoment:
        return CitedMoment(recording, start, end, site_url, speaker=speaker)

    def search_moments(
        query: Annotated[
            str, Field(description='A question in plain words, words, a "quoted phrase", prefix*, or a name.')
        ],
        limit: Annotated[int, Field(description=f"How many moments at most (1 to {MAX_MOMENTS}).")] = 5,
        speaker: Annotated[str, Field(description="Only talks by this speaker (part of the name will do).")] = "",
        organization: Annotated[
            str, Field(description="Only talks by this organisation (part of the name will do).")
        ] = "",
        tag: Annotated[str, Field(description="Only talks with this topic tag.")] = "",
        since: Annotated[str, Field(description="Only talks on or after this date, YYYY-MM-DD.")] = "",
        until: Annotated[str, Field(description="Only talks on or before this date, YYYY-MM-DD.")] = "",
    ) -> SearchAnswer:
        """Find the moments in the talks that answer a question: each with its words, a link that plays
        the talk from that second, and a citation line. Says so when nothing in the archive answers."""
        with archive_for_caller() as (db, view):
            if not 1 <= limit <= MAX_MOMENTS:
                raise UserError(f"limit must be between 1 and {MAX_MOMENTS}")
            wanted = store.RecordingFilter(speaker, organization, tag, since or None, until or None)
            found = view.search(db, query, limit=limit, filters=wanted)
            # An aside may be in a talk no moment is from: its details, for the citation.
            talks = {**store.get_recordings(db, {a.recording_id for a in found.asides}), **found.recordings}

        def moment(m) -> Moment:
            recording, place = talks[m.recording_id], cited(talks[m.recording_id], m.start, m.end, m.speaker)
            return Moment(
                title=recording.title,
                slug=recording.slug,
                speakers=list(recording.speakers),
                organization=recording.organization,
                date=recording.date,
                start=round(m.start, 2),
                end=round(m.end, 2),
                clock=clock(m.start, always_hours=False),
                speaker=m.speaker,
                text=m.text,
                url=place.url,
                citation=citation_line(place),
                match=m.match,
                more_from_talk=m.more,
            )

        def aside(a) -> Aside:
            place = cited(talks[a.recording_id], a.at, None)
            return Aside(
                kind=a.kind,
                title=a.title,
                slug=a.slug,
                page=a.page,
                at=round(a.at, 2),
                clock=clock(a.at, always_hours=False),
                text=a.text,
                url=place.url,
                citation=citation_line(place),
            )

        results, weak = [moment(m) for m in found.results], [moment(m) for m in found.weak_results]
        if results:
            talk_count = len({m.slug for m in results})
            message = f"{len(results)} moment(s) in {talk_count} talk(s) answer this; quote them with their links and citations."
        elif weak:
            message = (
                f"{NOTHING_ANSWERS} The nearest moments are in weak_results: probably not an answer, "
                "so do not present them as one."
            )
        else:
            message = NOTHING_ANSWERS
        return SearchAnswer(
            query=found.query,
            answered=bool(results),
            message=message,
            notice=found.notice,
            results=results,
            weak_results=weak,
            asides=[aside(a) for a in found.asides],
        )

    def read_transcript(
        talk: Annotated[str, Field(description="The talk: its slug (from list_talks or search_moments), id, or link.")],
        at: Annotated[
            float | str, Field(description='The time: seconds (754), or as written in a talk ("12:34", "12m34s").')
        ] = 0,
        before: Annotated[
            float, Field(description=f"Seconds of transcript before the time (0 to {MAX_WINDOW_SECONDS}).")
        ] = 60,
        after: Annotated[
            float, Field(description=f"Seconds of transcript after the time (0 to {MAX_WINDOW_SECONDS}).")
        ] = 120,
    ) -> TranscriptWindow:
        """Read what was said in a talk around a time: the transcript's lines (with who said them, where
        known), a link that plays from the time, and a citation line for the stretch."""
        with archive_for_caller() as (db, view):
            recording = view.talk(db, _talk_ref(talk), NO_SUCH_TALK.format(ref=talk.strip()[:80]))
            seconds = _seconds(at, recording)
            if not (0 <= before <= MAX_WINDOW_SECONDS and 0 <= after <= MAX_WINDOW_SECONDS):
                raise UserError(f"before and after are seconds, from 0 to {MAX_WINDOW_SECONDS}")
            first, last = seconds - before, seconds + after
            segments = store.segments_between(db, recording.id, first, last)
        lines = [
            Line(
                start=round(s.start, 2),
                end=round(s.end, 2),
                clock=clock(s.start, always_hours=False),
                speaker=s.speaker,
                text=s.text,
                url=cited(recording, s.start, None).url,
            )
            for s in segments
        ]
        speakers = {s.speaker for s in segments}
        speaker = speakers.pop() if len(speakers) == 1 else None  # the citation names who says it, if one person does
        span = (
            cited(recording, segments[0].start, segments[-1].end, speaker)
            if segments
            else cited(recording, seconds, None)
        )
        return TranscriptWindow(
            title=recording.title,
            slug=recording.slug,
            speakers=list(recording.speakers),
            organization=recording.organization,
            date=recording.date,
            duration=round(recording.duration, 2),
            at=seconds,
            url=cited(recording, seconds, None).url,
            citation=citation_line(span),
            lines=lines,
        )

    def list_talks(
        speaker: Annotated[str, Field(description="Only talks by this speaker (part of the name will do).")] = "",
        organization: Annotated[
            str, Field(description="Only talks by this organisation (part of the name will do).")
        ] = "",
        tag: Annotated[str, Field(description="Only talks with this topic tag.")] = "",
        since: Annotated[str, Field(description="Only talks on or after this date, YYYY-MM-DD.")] = "",
        until: Annotated[str, Field(description="Only talks on or before this date, YYYY-MM-DD.")] = "",
        limit: Annotated[int, Field(description=f"How many talks at most (1 to {MAX_TALKS}).")] = 50,
    ) -> TalkList:
        """List the talks in the archive, newest first: title, speakers, organisation, date, length and link."""
        with archive_for_caller() as (db, view):
            if not 1 <= limit <= MAX_TALKS:
                raise UserError(f"limit must be between 1 and {MAX_TALKS}")
            wanted = store.RecordingFilter(
                speaker, organization, tag, since or None, until or None, visibility=view.viewer.levels
            )
            recordings = store.list_recordings(db, wanted)
        return TalkList(
            total=len(recordings),
            talks=[
                Talk(
                    title=r.title,
                    slug=r.slug,
                    speakers=list(r.speakers),
                    host=r.host,
                    organization=r.organization,
                    date=r.date,
                    duration=round(r.duration, 2),
                    length=clock(r.duration, always_hours=False),
                    tags=list(r.tags),
                    series=r.series,
                    description=r.description,
                    url=f"{site_url}{r.url}",
                )
                for r in recordings[:limit]
            ],
        )

    server = MCPServer(
        name="talk-archive",
        title="Talk Archive",
        description=f"Search and read the {PUBLISHER} webinar recordings, with links and citations.",
        instructions=instructions_for(_start_role(config, token)),
        version=_version(),
    )
    reading = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    server.add_tool(search_moments, title="Search the talks", annotations=reading)
    server.add_tool(read_transcript, title="Read a talk's transcript", annotations=reading)
    server.add_tool(list_talks, title="List the talks", annotations=reading)
    return server


def serve_stdio(config: Config, services, token: str | None = None) -> None:
    """Serve the archive over stdin and stdout until the client closes them.

    The token is checked and the search model loaded first, so a bad token is refused at once and
    the first question is answered as fast as the rest. Stdout is the protocol: whatever the model
    libraries print while loading goes to stderr.
    """
    server = build_server(config, services, token)
    with contextlib.redirect_stdout(sys.stderr):
        seconds = services.warm(search=True)
    log.info("search model loaded in %.1f s; serving the archive in %s over stdio", seconds, config.data_dir)
    server.run("stdio")


def _start_role(config: Config, token: str | None) -> str | None:
    """The caller's role when the server starts (TokenRefused for a bad token); brings the schema up to date."""
    db = connect(config.db_path)
    try:
        return role_for_token(db, token)
    finally:
        db.close()


NO_SUCH_TALK = "no talk {ref!r} in the archive (list_talks shows the talks there are)"


def _talk_ref(ref: str) -> str:
    """A talk's slug or id, from either or from a moment's link (https://.../recordings/<slug>?t=...)."""
    wanted = ref.strip()
    if "/recordings/" in wanted:
        wanted = wanted.split("/recordings/", 1)[1].split("?", 1)[0].split("#", 1)[0].strip("/")
    return wanted


def _seconds(at: float | str, recording: Recording) -> float:
    """``at`` as seconds into ``recording``; a UserError for a time that is not one, or not in the talk."""
    seconds = float(at) if isinstance(at, (int, float)) else parse_timecode(str(at))
    if seconds is None or not (0 <= seconds and math.isfinite(seconds)):
        raise UserError(f'{str(at)[:40]!r} is not a time in a talk: give seconds (754) or a clock time ("12:34")')
    if seconds > recording.duration + 1:
        raise UserError(
            f"{clock(seconds, always_hours=False)} is past the end of the talk, "
            f"which is {clock(recording.duration, always_hours=False)} long"
        )
    return seconds


def _version() -> str:
    try:
        return version("talk-archive")
    except PackageNotFoundError:
        return ""
