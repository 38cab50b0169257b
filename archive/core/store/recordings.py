"""Reading and writing recordings, their transcripts and the archive-wide glossary."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from sqlite_utils import Database

from archive.core.errors import present
from archive.core.store.records import (
    VISIBILITIES,
    Chapter,
    ChatMessage,
    MetadataError,
    Recording,
    RecordingMeta,
    Segment,
    Slide,
    SpeechGap,
    parse_date,
)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def slugify(text: str, max_length: int = 60) -> str:
    """A URL-safe slug: ASCII letters, digits and dashes ("Kenji Health: AI" -> "kenji-health-ai")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:  # cut at a word's end, never inside one ("...-for-social-prescrib")
        cut = slug[: max_length + 1]
        words = (cut[: cut.rindex("-")] if "-" in cut else slug[:max_length]).split("-")
        while len(words) > 1 and words[-1] in _DANGLING:  # nor on a word that leads nowhere ("...-after-the")
            words.pop()
        slug = "-".join(words)
    return slug.rstrip("-") or "talk"


_DANGLING = frozenset("a an the and or of for to with in on at by after before from about into".split())


def unique_slug(db: Database, title: str) -> str:
    base = slugify(title)
    slug, n = base, 2
    while db.execute("SELECT 1 FROM recordings WHERE slug = ?", [slug]).fetchone():
        slug, n = f"{base}-{n}", n + 1
    return slug


def insert_recording(
    db: Database,
    meta: RecordingMeta,
    *,
    duration: float,
    media_path: str,
    media_hash: str,
    media_kind: str,
    original_filename: str,
    language: str,
    model: str,
) -> int:
    """Insert a recording row with its speakers and tags; returns the new id. Call inside a transaction."""
    recording_id = present(
        db.table("recordings")
        .insert(
            {
                "slug": unique_slug(db, meta.title),
                "title": meta.title,
                "host": meta.host,
                "organization": meta.organization,
                "date": meta.date,
                "description": meta.description,
                "series": meta.series,
                "duration": duration,
                "media_path": media_path,
                "media_hash": media_hash,
                "media_kind": media_kind,
                "original_filename": original_filename,
                "synthetic": int(meta.synthetic),
                "visibility": meta.visibility,
                "language": language,
                "model": model,
                "vocab": json.dumps(list(meta.vocab)) if meta.vocab else None,
                "status": "ready",
                "created_at": utc_now(),
            }
        )
        .last_pk
    )
    db.table("recording_speakers").insert_all(
        {"recording_id": recording_id, "position": i, "name": name} for i, name in enumerate(meta.speakers)
    )
    db.table("recording_tags").insert_all(
        ({"recording_id": recording_id, "tag": tag} for tag in dict.fromkeys(meta.tags)), ignore=True
    )
    return recording_id


def replace_segments(db: Database, recording_id: int, segments: Iterable[Segment]) -> int:
    """Make ``segments`` the recording's transcript, in order (corrections and what Whisper wrote
    beside them kept as the segments say); returns how many. Call inside the transaction that
    also re-indexes the recording."""
    rows = [
        {
            "recording_id": recording_id,
            "idx": i,
            "start": s.start,
            "end": s.end,
            "text": s.text,
            "machine_text": s.machine_text,
            "edited_at": s.edited_at,
            "language": s.language,
            "speaker": s.speaker,
        }
        for i, s in enumerate(segments)
    ]
    db.execute("DELETE FROM segments WHERE recording_id = ?", [recording_id])
    db.table("segments").insert_all(rows)
    return len(rows)


def set_segment_speakers(db: Database, recording_id: int, speakers: Sequence[str | None]) -> None:
    """Who said each line, in order (the transcript's text is left as it is). Call inside its transaction."""
    db.conn.executemany(
        "UPDATE segments SET speaker = ? WHERE recording_id = ? AND idx = ?",
        [(speaker, recording_id, idx) for idx, speaker in enumerate(speakers)],
    )


def replace_chat(db: Database, recording_id: int, messages: Sequence[ChatMessage]) -> None:
    """The talk's chat, replacing any before. Call inside its transaction."""
    db.execute("DELETE FROM chat_messages WHERE recording_id = ?", [recording_id])
    db.table("chat_messages").insert_all(
        {"recording_id": recording_id, "idx": i, "at": m.at, "author": m.author, "text": m.text}
        for i, m in enumerate(messages)
    )


def chat_messages(db: Database, recording_id: int) -> list[ChatMessage]:
    return [
        ChatMessage(*row)
        for row in db.execute(
            "SELECT at, author, text FROM chat_messages WHERE recording_id = ? ORDER BY idx", [recording_id]
        )
    ]


def set_chat_names_public(db: Database, recording_id: int, public: bool) -> None:
    db.execute("UPDATE recordings SET chat_names_public = ? WHERE id = ?", [int(public), recording_id])


def replace_chapters(db: Database, recording_id: int, chapters: Sequence[Chapter], *, edited: bool) -> None:
    """The talk's outline, replacing any before; ``edited``: staff wrote it (kept from then on)."""
    db.execute("DELETE FROM chapters WHERE recording_id = ?", [recording_id])
    db.table("chapters").insert_all(
        {"recording_id": recording_id, "idx": i, "start": c.start, "title": c.title} for i, c in enumerate(chapters)
    )
    db.execute("UPDATE recordings SET chapters_edited = ? WHERE id = ?", [int(edited), recording_id])


def chapters(db: Database, recording_id: int) -> list[Chapter]:
    return [
        Chapter(*row)
        for row in db.execute("SELECT start, title FROM chapters WHERE recording_id = ? ORDER BY idx", [recording_id])
    ]


def replace_slides(db: Database, recording_id: int, slides: Sequence[Slide]) -> None:
    """The talk's slides, replacing any before. Call inside its transaction."""
    db.execute("DELETE FROM slides WHERE recording_id = ?", [recording_id])
    db.table("slides").insert_all(
        {"recording_id": recording_id, "page": s.page, "at": s.at, "title": s.title, "text": s.text} for s in slides
    )


def slides(db: Database, recording_id: int) -> list[Slide]:
    """The talk's slides in page order."""
    return [
        Slide(page, title, text, at)
        for page, title, text, at in db.execute(
            "SELECT page, title, text, at FROM slides WHERE recording_id = ? ORDER BY page", [recording_id]
        )
    ]


def replace_speech_gaps(db: Database, recording_id: int, gaps: Iterable[SpeechGap]) -> None:
    """Record where the recording's speech got no text. Call inside its transaction."""
    db.execute("DELETE FROM speech_gaps WHERE recording_id = ?", [recording_id])
    db.table("speech_gaps").insert_all(
        ({"recording_id": recording_id, "start": g.start, "end": g.end} for g in gaps), ignore=True
    )


def speech_gaps(db: Database, recording_id: int) -> list[SpeechGap]:
    """Where speech got no text (a takedown's removed range no longer counts), in time order."""
    return [
        SpeechGap(*row)
        for row in db.execute(
            'SELECT start, "end" FROM speech_gaps WHERE recording_id = ? ORDER BY start', [recording_id]
        )
    ]


def speech_gap_counts(db: Database) -> dict[int, int]:
    """How many stretches of speech got no text, per recording that has any."""
    return dict(db.execute("SELECT recording_id, count(*) FROM speech_gaps GROUP BY recording_id").fetchall())


def _terms(stored: str | None) -> list[str]:
    """A recording's stored vocabulary (a JSON list; none for talks from before it was kept)."""
    try:
        terms = json.loads(stored or "[]")
    except ValueError:
        return []
    return [str(term) for term in terms] if isinstance(terms, list) else []


def _recording_from_row(
    db: Database, row: dict, speakers: list[str] | None = None, tags: list[str] | None = None
) -> Recording:
    if speakers is None:
        speakers = [
            r[0]
            for r in db.execute(
                "SELECT name FROM recording_speakers WHERE recording_id = ? ORDER BY position", [row["id"]]
            )
        ]
    if tags is None:
        tags = [
            r[0] for r in db.execute("SELECT tag FROM recording_tags WHERE recording_id = ? ORDER BY tag", [row["id"]])
        ]
    return Recording(
        id=row["id"],
        slug=row["slug"],
        title=row["title"],
        speakers=speakers,
        organization=row["organization"] or "",
        date=row["date"],
        tags=tags,
        description=row["description"] or "",
        duration=row["duration"],
        media_path=row["media_path"],
        media_hash=row["media_hash"],
        media_kind=row["media_kind"],
        original_filename=row["original_filename"] or "",
        synthetic=bool(row["synthetic"]),
        language=row["language"] or "",
        model=row["model"] or "",
        status=row["status"],
        created_at=row["created_at"],
        visibility=row["visibility"],
        chat_names_public=bool(row.get("chat_names_public")),
        chapters_edited=bool(row.get("chapters_edited")),
        series=row.get("series") or "",
        vocab=_terms(row.get("vocab")),
        host=row.get("host") or "",
    )


def _one(db: Database, where: str, params: list) -> Recording | None:
    rows = list(db.table("recordings").rows_where(where, params, limit=1))
    return _recording_from_row(db, rows[0]) if rows else None


def get_recordings(db: Database, ids: Iterable[int]) -> dict[int, Recording]:
    """The recordings with these ids (those that exist), read in three queries whatever their number."""
    wanted = json.dumps(sorted(set(ids)))
    in_wanted = "IN (SELECT value FROM json_each(?))"
    speakers: dict[int, list[str]] = {}
    for rid, name in db.execute(
        f"SELECT recording_id, name FROM recording_speakers WHERE recording_id {in_wanted} ORDER BY recording_id, position",
        [wanted],
    ):
        speakers.setdefault(rid, []).append(name)
    tags: dict[int, list[str]] = {}
    for rid, tag in db.execute(
        f"SELECT recording_id, tag FROM recording_tags WHERE recording_id {in_wanted} ORDER BY recording_id, tag",
        [wanted],
    ):
        tags.setdefault(rid, []).append(tag)
    return {
        row["id"]: _recording_from_row(db, row, speakers.get(row["id"], []), tags.get(row["id"], []))
        for row in db.table("recordings").rows_where(f"id {in_wanted}", [wanted])
    }


def get_recording(db: Database, recording_id: int) -> Recording | None:
    return _one(db, "id = ?", [recording_id])


def get_recording_by_slug(db: Database, slug: str) -> Recording | None:
    return _one(db, "slug = ?", [slug])


def find_recording(db: Database, ref: str) -> Recording | None:
    """Look a recording up by id (``12``) or slug (``kenji-health``), as people type them."""
    ref = ref.strip()
    if ref.isdigit():
        found = get_recording(db, int(ref))
        if found:
            return found
    return get_recording_by_slug(db, ref)


def get_recording_by_hash(db: Database, media_hash: str) -> Recording | None:
    return _one(db, "media_hash = ?", [media_hash])


@dataclass
class RecordingFilter:
    """Which talks someone wants (speaker, organisation, tag, date range) and may see (visibility).

    The one place the archive turns such a choice into SQL: listings, search and related moments use it.
    """

    speaker: str = ""
    organization: str = ""
    tag: str = ""
    since: str | None = None
    until: str | None = None
    series: str = ""  # matched whole, ignoring case
    # The visibility levels the asker may see; None: every recording (the operator's CLI).
    visibility: tuple[str, ...] | None = None

    def active(self) -> bool:
        """Whether the asker chose any filter (visibility is not theirs to choose)."""
        return any(
            [
                self.speaker.strip(),
                self.organization.strip(),
                self.tag.strip(),
                self.since,
                self.until,
                self.series.strip(),
            ]
        )

    def restricts(self) -> bool:
        return self.active() or self.visibility is not None

    def sql(self, alias: str = "recordings") -> tuple[str, list]:
        """A WHERE clause (on ``alias``) for the recordings that pass; MetadataError for a bad date.

        (Every stored recording is whole: one transaction writes it, so there is no state to test.)

        Names match case-insensitively and in part; the tag matches whole.
        """
        where: list[str] = []
        params: list = []
        if self.visibility is not None:
            where.append(f"{alias}.visibility IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(self.visibility)))
        if self.speaker.strip():  # a speaker of the talk, or someone a meeting transcript named in it
            where.append(
                f"({alias}.id IN (SELECT recording_id FROM recording_speakers "
                "WHERE name LIKE ? ESCAPE '\\' COLLATE NOCASE) OR "
                f"{alias}.id IN (SELECT recording_id FROM segments "
                "WHERE speaker IS NOT NULL AND speaker LIKE ? ESCAPE '\\' COLLATE NOCASE))"
            )
            params += [f"%{_like(self.speaker.strip())}%"] * 2
        if self.organization.strip():
            where.append(f"{alias}.organization LIKE ? ESCAPE '\\' COLLATE NOCASE")
            params.append(f"%{_like(self.organization.strip())}%")
        if self.tag.strip():
            where.append(f"{alias}.id IN (SELECT recording_id FROM recording_tags WHERE tag = ? COLLATE NOCASE)")
            params.append(self.tag.strip())
        if self.series.strip():
            where.append(f"{alias}.series = ? COLLATE NOCASE")
            params.append(" ".join(self.series.split()))
        since, until = parse_date(self.since, "since"), parse_date(self.until, "until")
        if since and until and since > until:
            raise MetadataError(f"the date range runs backwards: from {since} to {until}; swap the dates")
        if since:
            where.append(f"{alias}.date >= ?")
            params.append(since)
        if until:
            where.append(f"{alias}.date <= ?")
            params.append(until)
        return " AND ".join(where) or "1", params


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def visible_only(visibility: tuple[str, ...] | None) -> RecordingFilter:
    return RecordingFilter(visibility=visibility)


def matching_ids(db: Database, wanted: RecordingFilter) -> list[int]:
    """Ids of the ready recordings that pass ``wanted``."""
    where, params = wanted.sql()
    return [r[0] for r in db.execute(f"SELECT id FROM recordings WHERE {where} ORDER BY id", params)]


def list_recordings(db: Database, wanted: RecordingFilter | None = None) -> list[Recording]:
    """The recordings that pass ``wanted`` (None: all of them, whatever their state), newest talk first."""
    where, params = wanted.sql() if wanted else ("1", [])
    rows = list(
        db.table("recordings").rows_where(
            where, params, order_by="coalesce(date, substr(created_at, 1, 10)) DESC, id DESC"
        )
    )
    found = get_recordings(db, [row["id"] for row in rows])
    return [found[row["id"]] for row in rows]


def set_visibility(db: Database, recording_id: int, visibility: str) -> bool:
    """Publish or hide a recording; returns False if there is no such recording."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of: {', '.join(VISIBILITIES)}")
    with db.atomic():
        cursor = db.execute("UPDATE recordings SET visibility = ? WHERE id = ?", [visibility, recording_id])
    return cursor.rowcount > 0


def get_segments(db: Database, recording_id: int) -> list[Segment]:
    return [
        Segment(*row)
        for row in db.execute(
            'SELECT start, "end", text, machine_text, edited_at, language, speaker FROM segments '
            "WHERE recording_id = ? ORDER BY idx",
            [recording_id],
        )
    ]


def segments_between(db: Database, recording_id: int, start: float, end: float) -> list[Segment]:
    """The lines of a recording heard between ``start`` and ``end`` seconds (any part of them), in order."""
    return [
        Segment(*row)
        for row in db.execute(
            'SELECT start, "end", text, machine_text, edited_at, language, speaker FROM segments '
            'WHERE recording_id = ? AND "end" > ? AND start < ? ORDER BY idx',
            [recording_id, start, end],
        )
    ]


def with_text(segment: Segment, text: str | None) -> Segment:
    """``segment`` corrected to ``text``, keeping what Whisper wrote beside it; ``None`` reverts to that."""
    machine = segment.machine_text if segment.edited and segment.machine_text is not None else segment.text
    new_text = machine if text is None else text
    if new_text == machine:
        return replace(segment, text=machine, machine_text=None, edited_at=None)
    return replace(segment, text=new_text, machine_text=machine, edited_at=utc_now())


def set_transcribed_by(db: Database, recording_id: int, *, model: str, language: str) -> None:
    """Record the model a talk's lines are now from, and the languages they were heard in
    (a retranscribe). Call inside the transaction that writes the lines."""
    db.execute("UPDATE recordings SET model = ?, language = ? WHERE id = ?", [model, language, recording_id])


def set_media_path(db: Database, recording_id: int, media_path: str) -> None:
    """Point a recording at another stored file (a takedown's silenced copy). Call inside a transaction."""
    db.execute("UPDATE recordings SET media_path = ? WHERE id = ?", [media_path, recording_id])


def update_recording_meta(db: Database, recording_id: int, meta: RecordingMeta) -> None:
    """Replace a recording's title, speakers, host, organisation, date, tags, description and series.

    The slug stays as it was, so links people have shared keep working.
    """
    with db.atomic():
        db.table("recordings").update(
            recording_id,
            {
                "title": meta.title,
                "host": meta.host,
                "organization": meta.organization,
                "date": meta.date,
                "description": meta.description,
                "series": meta.series,
            },
        )
        db.execute("DELETE FROM recording_speakers WHERE recording_id = ?", [recording_id])
        db.execute("DELETE FROM recording_tags WHERE recording_id = ?", [recording_id])
        db.table("recording_speakers").insert_all(
            {"recording_id": recording_id, "position": i, "name": name} for i, name in enumerate(meta.speakers)
        )
        db.table("recording_tags").insert_all(
            ({"recording_id": recording_id, "tag": tag} for tag in dict.fromkeys(meta.tags)), ignore=True
        )


def talks_like(
    db: Database, recording: Recording, limit: int = 6, visible: tuple[str, ...] | None = None
) -> list[Recording]:
    """Other talks (at the ``visible`` levels) by one of this talk's speakers or from its organisation."""
    where, params = visible_only(visible).sql()
    rows = db.execute(
        f"""SELECT id FROM recordings
           WHERE id != ? AND {where} AND (
             (organization != '' AND organization = ? COLLATE NOCASE)
             OR id IN (SELECT recording_id FROM recording_speakers
                       WHERE name COLLATE NOCASE IN (SELECT value FROM json_each(?))))
           ORDER BY coalesce(date, '') DESC, id DESC LIMIT ?""",
        [recording.id, *params, recording.organization, json.dumps(recording.speakers), limit],
    ).fetchall()
    found = get_recordings(db, [r[0] for r in rows])
    return [found[r[0]] for r in rows]


def facets(db: Database, visible: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """The speakers, organisations, tags and series of the ``visible`` recordings, for the filters' suggestions."""
    where, params = visible_only(visible).sql("r")
    return {
        "speakers": [
            r[0]
            for r in db.execute(
                f"SELECT DISTINCT s.name FROM recording_speakers s JOIN recordings r ON r.id = s.recording_id "
                f"WHERE {where} ORDER BY 1",
                params,
            )
        ],
        "organizations": [
            r[0]
            for r in db.execute(
                f"SELECT DISTINCT r.organization FROM recordings r WHERE r.organization != '' AND {where} ORDER BY 1",
                params,
            )
        ],
        "tags": [
            r[0]
            for r in db.execute(
                f"SELECT DISTINCT t.tag FROM recording_tags t JOIN recordings r ON r.id = t.recording_id "
                f"WHERE {where} ORDER BY 1",
                params,
            )
        ],
        "series": [
            r[0]
            for r in db.execute(
                f"SELECT DISTINCT r.series FROM recordings r WHERE r.series != '' AND {where} ORDER BY 1", params
            )
        ],
    }


def series_named(db: Database, slug: str, visible: tuple[str, ...] | None = None) -> str | None:
    """The series whose name makes ``slug`` (its address), among the ``visible`` talks' series."""
    where, params = visible_only(visible).sql("r")
    names = [
        r[0] for r in db.execute(f"SELECT DISTINCT r.series FROM recordings r WHERE r.series != '' AND {where}", params)
    ]
    return next((name for name in sorted(names) if slugify(name) == slug), None)


def count_rows(db: Database) -> dict[str, int]:
    """Row counts of the tables an ingest writes; used to prove a failed ingest changed nothing."""
    tables = ["recordings", "recording_speakers", "recording_tags", "segments", "passages", "passage_vectors"]
    return {t: db.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in tables}


def glossary_terms(db: Database) -> list[str]:
    return [r[0] for r in db.execute("SELECT term FROM glossary ORDER BY rowid")]


def add_glossary_terms(db: Database, terms: Iterable[str]) -> list[str]:
    """Add terms to the archive glossary (ignoring blanks and ones already there); returns those added."""
    existing = {t.casefold() for t in glossary_terms(db)}
    added = []
    for term in terms:
        term = " ".join(term.split())
        if term and term.casefold() not in existing:
            existing.add(term.casefold())
            added.append(term)
    with db.atomic():
        db.table("glossary").insert_all(({"term": t, "created_at": utc_now()} for t in added), ignore=True)
    return added


def remove_glossary_term(db: Database, term: str) -> bool:
    with db.atomic():
        cursor = db.execute("DELETE FROM glossary WHERE term = ?", [term])
    return cursor.rowcount > 0


def get_meta(db: Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM archive_meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_meta(db: Database, key: str, value: str) -> None:
    with db.atomic():
        db.table("archive_meta").upsert({"key": key, "value": value}, pk="key")


@dataclass(frozen=True)
class Redaction:
    start: float
    end: float
    reason: str
    user_email: str
    created_at: str
    original_kept: bool


def list_redactions(db: Database, recording_id: int) -> list[Redaction]:
    """The time ranges taken down from a recording, in time order (the takedown log)."""
    rows = db.execute(
        "SELECT start, \"end\", coalesce(reason, ''), coalesce(user_email, ''), created_at, original_path IS NOT NULL "
        "FROM redactions WHERE recording_id = ? ORDER BY start",
        [recording_id],
    ).fetchall()
    return [Redaction(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]
