"""Citations of moments: one line of text for a report or a chat, and CSL-JSON for reference managers.

A moment is a talk and a time range in it. Collections export their clips' citations with
these, and the MCP server gives one with every moment it returns, so a quote can be traced to
the second it was said. Leaf module: it formats, it reads nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date as Date
from typing import Any, Iterable

from .store.models import Recording
from .timecode import clock, link_time

PUBLISHER = "Social Prescribing USA Community of Practice"


@dataclass(frozen=True)
class CitedMoment:
    """A stretch of a talk to cite: ``start``..``end`` seconds of ``recording``, at ``site_url``."""

    recording: Recording
    start: float
    end: float | None
    site_url: str  # where the archive is reached, no trailing slash
    note: str = ""  # what the person citing wrote beside it

    @property
    def url(self) -> str:
        """The talk's page, playing from the moment (and stopping at its end)."""
        times = f"?t={link_time(self.start)}" + (f"&end={link_time(self.end)}" if self.end is not None else "")
        return f"{self.site_url}/recordings/{self.recording.slug}{times}"

    @property
    def span(self) -> str:
        """``12:34–13:10`` (or ``12:34`` for a point)."""
        start = clock(self.start, always_hours=False)
        return f"{start}–{clock(self.end, always_hours=False)}" if self.end is not None else start


def citation_line(moment: CitedMoment) -> str:
    """``Ana Ruiz, Keralty. “Title” (2025-03-12), 12:34–13:10. Social Prescribing USA Community of Practice. https://…``"""
    recording = moment.recording
    who = ", ".join(x for x in (", ".join(recording.speakers), recording.organization) if x)
    dated = f" ({recording.date})" if recording.date else ""
    return f"{who + '. ' if who else ''}“{recording.title}”{dated}, {moment.span}. {PUBLISHER}. {moment.url}"


def csl_item(moment: CitedMoment, item_id: str) -> dict[str, Any]:
    """The moment as a CSL-JSON item (type ``speech``), as Zotero and citeproc read it."""
    recording = moment.recording
    item: dict[str, Any] = {
        "id": item_id,
        "type": "speech",
        "title": recording.title,
        "author": [{"literal": name} for name in recording.speakers] or
                  ([{"literal": recording.organization}] if recording.organization else []),
        "publisher": PUBLISHER,
        "genre": "Webinar recording",
        "event-title": PUBLISHER,
        "URL": moment.url,
        "accessed": _date_parts(Date.today().isoformat()),
        # An item has no field for a time inside it (a locator belongs to a citation), so the
        # span leads the note and the URL plays from it.
        "note": f"At {moment.span}." + (f" {moment.note}" if moment.note else ""),
    }
    if recording.date:
        item["issued"] = _date_parts(recording.date)
    return item


def csl_json(moments: Iterable[CitedMoment], id_prefix: str = "moment") -> str:
    """CSL-JSON (a list of items) for ``moments``, numbered in order."""
    items = [csl_item(moment, f"{id_prefix}-{n}") for n, moment in enumerate(moments, 1)]
    return json.dumps(items, indent=2, ensure_ascii=False)


def _date_parts(iso: str) -> dict[str, Any]:
    year, month, day = (int(x) for x in iso.split("-"))
    return {"date-parts": [[year, month, day]]}
