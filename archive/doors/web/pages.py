"""HTML pages for members: the home page, search results, each talk with its player, and each series.

The talk's files (media, covers, transcript downloads) are in ``files``, what shares a talk beyond
the archive (embed, oEmbed, QR, llms.txt) in ``sharing``, and the podcast feeds in ``feeds``.
``visible_recording`` and ``linked_moment`` are the one reading of a talk's address and of a
link's times that those share with the talk page.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, redirect, render_template, request, url_for

from archive.core.errors import UserError
from archive.core.export import FORMATS, LANGUAGE_NAMES, main_language
from archive.core.store import recordings as store
from archive.core.timecode import parse_timecode
from archive.doors.web.auth import is_staff, visible_levels, visible_or_404
from archive.doors.web.db import get_db
from archive.doors.web.search import filters_from, run_search
from ingest.chapters import chapters_text
from ingest.companions import chat_links
from ingest.numbers import numbers_to_check

bp = Blueprint("pages", __name__)


FILTER_ARGS = ("speaker", "org", "tag", "since", "until", "series")


NO_TALK = "There is no talk at this address."


@bp.get("/")
def index():
    """The search box, the filters and the latest talks (only the matching ones when filters are set)."""
    db = get_db()
    filters = filters_from(request.args)
    try:
        recordings, error = store.list_recordings(db, filters), None
    except UserError as exc:  # a date that is not one: say so beside the filters
        recordings, error = store.list_recordings(db, store.visible_only(visible_levels())), exc.sentence()
    return render_template(
        "index.html", recordings=recordings, filters=filters, facets=store.facets(db, visible_levels()), error=error
    ), (400 if error else 200)


@bp.get("/search")
def search():
    """Moments grouped by talk, or a plain statement that nothing matched."""
    query = request.args.get("q", "")
    if not query.strip():
        kept = {k: v for k in FILTER_ARGS if (v := request.args.get(k, "").strip())}
        return redirect(url_for("pages.index", **kept))
    if any(not value.strip() for value in request.args.values()):  # a clean address to share and bookmark
        return redirect(url_for("pages.search", **{k: v for k, v in request.args.items() if v.strip()}))
    db = get_db()
    filters = filters_from(request.args)
    facets = store.facets(db, visible_levels())
    context = {"query": query, "filters": filters, "facets": facets, "response": None, "error": None}
    try:
        response = run_search(request.args)
    except UserError as exc:  # shown beside the search form, which keeps what was typed
        return render_template("search.html", **{**context, "error": exc.sentence()}), exc.status
    return render_template("search.html", **{**context, "query": response.query, "response": response})


def visible_recording(slug: str):
    return visible_or_404(store.get_recording_by_slug(get_db(), slug), NO_TALK)


@bp.get("/recordings/<slug>")
def recording(slug: str):
    """A talk: player, transcript, share tools. ``?t=`` (and ``&end=``) start it at a moment.

    A time that cannot be read, or lies outside the talk, is ignored rather than refused:
    a link that is slightly wrong should still open the talk.
    """
    db = get_db()
    found = visible_recording(slug)
    segments = store.get_segments(db, found.id)
    moment = linked_moment(request.args, found.duration, segments)
    chat = store.chat_messages(db, found.id)  # authors are shown to staff only, unless the talk says otherwise
    slides = store.slides(db, found.id)
    outline = store.chapters(db, found.id)
    return render_template(
        "recording.html",
        recording=found,
        segments=segments,
        start=moment.start,
        end=moment.end,
        current=moment.current,
        talks_like=store.talks_like(db, found, visible=visible_levels()),
        redactions=store.list_redactions(db, found.id),
        speech_gaps=store.speech_gaps(db, found.id) if is_staff() else [],
        numbers_to_check=numbers_to_check(segments, slides) if is_staff() else [],
        talk_language=main_language(found),
        chat=chat,
        chat_links=chat_links(chat),
        slides=slides,
        chapters=outline,
        past_end=moment.past_end,
        chapters_text=chapters_text(outline) if is_staff() else "",
        slides_from=_slides_by_line(segments, slides),
        language_names=LANGUAGE_NAMES,
        export_formats=FORMATS.values(),
    )


def _slides_by_line(segments, slides) -> dict[int, list]:
    """The slides that come up at each line (a line's index -> its slides), for marks in the transcript."""
    marks: dict[int, list] = {}
    for slide in slides:
        line = _segment_at(segments, slide.at) if slide.at is not None else None
        marks.setdefault(line or 0, []).append(slide)
    return marks


@dataclass(frozen=True)
class LinkedMoment:
    """Where a link's ``?t=`` (and ``&end=``) puts a talk: the time to play from, where to stop, the
    line to mark, and a ``?t=`` past the talk's end (kept to say so; the talk then plays from 0:00)."""

    start: float | None = None
    end: float | None = None
    current: int | None = None
    past_end: float | None = None


def linked_moment(args, duration: float, segments) -> LinkedMoment:
    """The one reading of a link's times, for the talk page and the embed alike.

    A time that cannot be read, or lies outside the talk, is ignored rather than refused (a link that
    is slightly wrong should still open the talk). ``?t=66`` for the line at 66.92 plays and marks
    that line from its start, not the line before it.
    """
    start, end = parse_timecode(args.get("t")), parse_timecode(args.get("end"))
    past_end = start if start is not None and start > duration else None
    if past_end is not None:
        start = None
    if end is not None and (end <= (start or 0.0) or end > duration + 1):
        end = None
    current = _segment_at(segments, start) if start is not None else None
    if current is not None and start is not None and segments[current].start > start:
        start = segments[current].start
    return LinkedMoment(start, end, current, past_end)


def _segment_at(segments, seconds: float) -> int | None:
    """Index of the segment being spoken at ``seconds`` (the last one started by then).

    A whole second (``?t=66``, a link written by hand or rounded) means that second: a line
    starting inside it (at 66.92) is the one meant, not the line before.
    """
    slack = 1.0 - 1e-6 if float(seconds).is_integer() else 1e-6
    current = None
    for i, segment in enumerate(segments):
        if segment.start > seconds + slack:
            break
        current = i
    return current


@bp.get("/series/<slug>")
def series(slug: str):
    """A series' talks (those the visitor may see), newest first, with its podcast feed."""
    db = get_db()
    name = store.series_named(db, slug, visible_levels()) or abort(404, "There is no series at this address.")
    talks = store.list_recordings(db, store.RecordingFilter(series=name, visibility=visible_levels()))
    has_feed = store.series_named(db, slug, ("public",)) is not None
    return render_template("series.html", name=name, slug=slug, recordings=talks, has_feed=has_feed)
