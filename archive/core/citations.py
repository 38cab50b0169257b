"""Citations of moments: one line of text for a report or a chat, and CSL-JSON for reference managers.

A moment is a talk and a time range in it. Collections export their clips' citations with
these, and the MCP server gives one with every moment it returns, so a quote can be traced to
the second it was said. Leaf module: it formats, it reads nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date as Date
from typing import Any

from archive.core.store.records import Recording
from archive.core.timecode import clock, link_time

PUBLISHER = "Social Prescribing USA Community of Practice"


@dataclass(frozen=True)
class CitedMoment:
    """A stretch of a talk to cite: ``start``..``end`` seconds of ``recording``, at ``site_url``."""

    recording: Recording
    start: float
    end: float | None
    site_url: str  # where the archive is reached, no trailing slash
    note: str = ""  # what the person citing wrote beside it
    speaker: str | None = None  # who says it, where the transcript names them

    @property
    def url(self) -> str:
        """The talk's page, playing from the moment (and stopping at its end)."""
        times = f"?t={link_time(self.start)}" + (f"&end={link_time(self.end)}" if self.end is not None else "")
        return f"{self.site_url}/recordings/{self.recording.slug}{times}"

    @property
    def span(self) -> str:
        """``12:34–13:10``, or ``at 12:34`` for a point; whole seconds, the start rounded down and the end up."""
        start = clock(math.floor(self.start), always_hours=False)
        if self.end is None:
            return f"at {start}"
        return f"{start}–{clock(math.ceil(self.end), always_hours=False)}"


def citation_line(moment: CitedMoment) -> str:
    """``Ana Ruiz. “Title.” Kenji Health, 2025-03-12. Recording, 12:34–13:10. https://…``

    The same form as the share dialog's (static/player.js ``citation``): the person who says it
    first, else the talk's speakers.
    """
    recording = moment.recording
    parts = []
    speakers = ", ".join(recording.speakers)
    if moment.speaker:
        outside = speakers and moment.speaker not in recording.speakers
        parts.append(moment.speaker + (f" (in a talk by {speakers})." if outside else "."))
    elif speakers:
        parts.append(f"{speakers}.")
    parts.append(f"“{recording.title}.”")
    where = ", ".join(x for x in (recording.organization, recording.date or "") if x)
    if where:
        parts.append(f"{where}.")
    parts.append(f"Recording, {moment.span}.")
    parts.append(moment.url)
    return " ".join(parts)


def csl_item(moment: CitedMoment, item_id: str) -> dict[str, Any]:
    """The moment as a CSL-JSON item (type ``speech``), as Zotero and citeproc read it."""
    recording = moment.recording
    item: dict[str, Any] = {
        "id": item_id,
        "type": "speech",
        "title": recording.title,
        "author": [{"literal": name} for name in recording.speakers]
        or ([{"literal": recording.organization}] if recording.organization else []),
        "publisher": PUBLISHER,
        "genre": "Webinar recording",
        "event-title": PUBLISHER,
        "URL": moment.url,
        "accessed": _date_parts(Date.today().isoformat()),
        # An item has no field for a time inside it (a locator belongs to a citation), so the
        # span leads the note and the URL plays from it.
        "note": f"Recording, {moment.span}." + (f" {moment.note}" if moment.note else ""),
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
