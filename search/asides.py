"""What the slides and the chat say: found by their words, beside the moments of the transcript.

A slide's title, a link shared in the chat, a name someone typed: often the words a member
remembers were on screen or in the chat, not said. Such "asides" are found by FTS5 (the porter
stemmer, like the transcript) when they hold every word of the query, in the talks the asker may
see, and link to the moment the slide came up or the message was sent. Chat authors are never
shown here: a talk's page decides who sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from archive.core.store.recordings import RecordingFilter
from archive.core.timecode import link_time
from search.text import ParsedQuery, highlight

MAX_ASIDES = 6


@dataclass
class Aside:
    """A slide or a chat message that holds the query's words."""

    kind: str  # "slide" or "chat"
    recording_id: int
    slug: str
    title: str  # the talk's
    at: float
    text: str
    snippet: str  # HTML: escaped, the query's words in <mark>
    page: int | None = None  # a slide's page number

    @property
    def url(self) -> str:
        return f"/recordings/{self.slug}?t={link_time(self.at)}"

    @property
    def label(self) -> str:
        return f"Slide {self.page}" if self.kind == "slide" else "Chat"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "recording_id": self.recording_id,
            "slug": self.slug,
            "title": self.title,
            "at": round(self.at, 2),
            "text": self.text,
            "snippet": self.snippet,
            "url": self.url,
            "match": "words",  # an aside holds every word of the query (find_asides)
            **({"page": self.page} if self.page is not None else {}),
        }


def find_asides(db: Database, parsed: ParsedQuery, wanted: RecordingFilter, limit: int = MAX_ASIDES) -> list[Aside]:
    """Slides and chat messages holding every word of the query, best match first (FTS5's rank).

    Nothing when the query asks for what a person said (``wanted.speaker``): asides are not said.
    """
    expression = parsed.fts_expression(every_word=True)
    if expression is None or wanted.speaker.strip():
        return []
    where, params = wanted.sql("r")
    rows = db.execute(
        f"""SELECT hit.kind, hit.recording_id, hit.at, hit.text, hit.page, r.slug, r.title FROM (
              SELECT 'slide' AS kind, s.recording_id, s.at, s.text, s.page, f.rank
              FROM slides_fts f JOIN slides s ON s.rowid = f.rowid
              WHERE slides_fts MATCH ? AND s.at IS NOT NULL
              UNION ALL
              SELECT 'chat', c.recording_id, c.at, c.text, NULL, f.rank
              FROM chat_messages_fts f JOIN chat_messages c ON c.rowid = f.rowid
              WHERE chat_messages_fts MATCH ?
            ) hit JOIN recordings r ON r.id = hit.recording_id
            WHERE {where} ORDER BY hit.rank LIMIT ?""",
        [expression, expression, *params, limit],
    ).fetchall()
    return [
        Aside(kind, recording_id, slug, title, at, text, highlight(" · ".join(text.splitlines()), parsed), page)
        for kind, recording_id, at, text, page, slug, title in rows
    ]
