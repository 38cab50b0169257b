"""Times in talks: written as clocks (``12:34``) and read back from links (``?t=12m34s``).

A leaf module like ``archive.core.config``: the web, the CLI and search all use it, it imports nothing of theirs.
"""

from __future__ import annotations

import math
import re

_PLAIN = re.compile(r"\d+(?:\.\d+)?")
_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)")
_UNITS = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")


def clock(seconds: float, *, decimal: str = ".", always_hours: bool = True) -> str:
    """Timestamp as ``HH:MM:SS.mmm`` (``,`` for SRT); ``MM:SS`` style when ``always_hours`` is off and it fits."""
    millis = int(round(max(seconds, 0.0) * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    if not always_hours:
        return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def parse_timecode(value: str | None) -> float | None:
    """Seconds from the ways people write a time in a link, or None for anything else.

    Accepts ``754``, ``754.5``, ``12:34``, ``1:02:03``, ``12m34s``, ``1h02m03s`` (and ``90s``,
    ``5m``). The same forms as ``static/player.js``, which reads ``#t=`` the same way.
    """
    if not value or len(value) > 32:
        return None
    value = value.strip().lower()
    if _PLAIN.fullmatch(value):
        seconds = float(value)
    elif match := _CLOCK.fullmatch(value):
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes) * 60 + float(secs)
    elif (match := _UNITS.fullmatch(value)) and any(match.groups()):
        hours, minutes, secs = match.groups()
        seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)
    else:
        return None
    return seconds if math.isfinite(seconds) else None


def link_time(seconds: float) -> str:
    """A time for a ``?t=`` link: exact to the millisecond the transcript stores, no trailing zeros.

    Whole seconds would land up to a second before a segment that starts at 66.92 s and
    show the segment before it as the one being spoken.
    """
    return f"{max(seconds, 0.0):.3f}".rstrip("0").rstrip(".")
