"""What the search page and the search API share: reading the request into one library call."""

from __future__ import annotations

from collections.abc import Mapping

from flask import current_app

from archive.core.store.recordings import RecordingFilter
from archive.doors.web.auth import viewer, visible_levels
from archive.doors.web.db import get_db
from archive.library import Archive, ArchiveView
from search.engine import Searcher, SearchError
from search.results import SearchResponse


def services() -> Archive:
    return current_app.extensions["archive"]


def viewing() -> ArchiveView:
    """The archive as this request's viewer sees it."""
    return services().as_viewer(viewer())


def searcher() -> Searcher:
    return services().searcher


def filters_from(args: Mapping[str, str]) -> RecordingFilter:
    """The filters a request chose, limited to the talks the asker may see."""
    return RecordingFilter(
        speaker=args.get("speaker", ""),
        organization=args.get("org", ""),
        tag=args.get("tag", ""),
        since=args.get("since") or None,
        series=args.get("series", ""),
        until=args.get("until") or None,
        visibility=visible_levels(),
    )


def run_search(args: Mapping[str, str]) -> SearchResponse:
    """Search with the request's ``q``, ``limit``, ``sort`` and filters, as this viewer, logged;
    SearchError for bad values."""
    raw_limit = args.get("limit", "") or "10"
    try:
        limit = int(raw_limit)
    except ValueError:
        raise SearchError(f"limit must be a whole number, not {raw_limit[:40]!r}") from None
    if not 1 <= limit <= 100:
        raise SearchError("limit must be between 1 and 100")
    return viewing().search(
        get_db(),
        args.get("q", ""),
        limit=limit,
        filters=filters_from(args),
        sort=args.get("sort", "") or "relevance",
    )
