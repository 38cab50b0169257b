"""Collections of moments: a member's ordered, titled list of clips from several talks, each with a note.

A collection is shared at one of three levels: ``private`` (its owner only), ``members`` or
``public``. Whatever its level, a reader sees only the clips of talks they may see themselves
(:func:`open_collection`), so a member's public collection never shows a visitor a members-only
talk or a draft, nor that one is there: the clips, their count, the citations and the playback
all come from the one filtered list. Staff may manage any collection they can see (moderation).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from archive.core.errors import NotFound, UserError, present
from archive.core.store.recordings import get_recordings, segments_between, slugify, utc_now
from archive.core.store.records import Recording, Segment, Viewer
from archive.core.timecode import clock

SHARING = ("private", "members", "public")
MAX_CLIPS = 100
MAX_CLIP_SECONDS = 15 * 60  # a clip is a moment, not a talk: longer ones are refused
MAX_NOTE_CHARS = 2000
MAX_TITLE_CHARS = 200
NO_COLLECTION = "there is no collection at this address"


class CollectionError(UserError):
    """A change to a collection that cannot be made; the message says why."""


@dataclass(frozen=True)
class Clip:
    """One moment of a collection: ``start``..``end`` seconds of ``recording``, with the owner's note."""

    id: int
    position: int
    recording: Recording
    start: float
    end: float
    note: str
    lines: tuple[Segment, ...] = ()  # the transcript lines the clip plays

    @property
    def span(self) -> str:
        return f"{clock(self.start, always_hours=False)}–{clock(self.end, always_hours=False)}"


@dataclass(frozen=True)
class Collection:
    id: int
    slug: str
    title: str
    description: str
    owner_id: int
    sharing: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class OpenCollection:
    """A collection as one reader sees it: only the clips of talks they may see."""

    collection: Collection
    clips: tuple[Clip, ...]
    can_edit: bool
    hidden_clips: int = 0  # clips this reader cannot see: told to the owner only, never to others

    @property
    def summary(self) -> str:
        """``6 moments across 4 talks``."""
        moments, talks = len(self.clips), len({clip.recording.id for clip in self.clips})
        return f"{moments} moment{'s' * (moments != 1)} across {talks} talk{'s' * (talks != 1)}"


@dataclass
class ClipRequest:
    """A clip someone asks to add: a talk (by id) and a time range, read from a form or the CLI."""

    recording_id: int
    start: float
    end: float
    note: str = ""


def _collection(row) -> Collection:
    return Collection(
        row["id"],
        row["slug"],
        row["title"],
        row["description"] or "",
        row["owner_id"],
        row["sharing"],
        row["created_at"],
        row["updated_at"],
    )


def _clean_title(title: str) -> str:
    title = " ".join(title.split())[:MAX_TITLE_CHARS]
    if not title:
        raise CollectionError("a collection needs a title")
    return title


def _check_sharing(sharing: str) -> str:
    if sharing not in SHARING:
        raise CollectionError(f"sharing must be one of: {', '.join(SHARING)}")
    return sharing


def _may_read(collection: Collection, reader: Viewer) -> bool:
    if reader.user_id is not None and collection.owner_id == reader.user_id:
        return True
    if collection.sharing == "public":
        return True
    return collection.sharing == "members" and reader.role is not None


def _may_edit(collection: Collection, reader: Viewer) -> bool:
    return reader.user_id is not None and (collection.owner_id == reader.user_id or reader.is_staff)


def _require_edit(collection: Collection, reader: Viewer) -> None:
    if not _may_edit(collection, reader):
        raise CollectionError("only the collection's owner can change it", status=403)


def create_collection(
    db: Database, owner: Viewer, title: str, description: str = "", sharing: str = "private"
) -> Collection:
    """A new, empty collection owned by ``owner`` (any signed-in account)."""
    if owner.user_id is None:
        raise CollectionError("sign in to make a collection", status=403)
    title, sharing = _clean_title(title), _check_sharing(sharing)
    base = slugify(title) or "collection"
    slug, n = base, 2
    with db.atomic():
        while db.execute("SELECT 1 FROM collections WHERE slug = ?", [slug]).fetchone():
            slug, n = f"{base}-{n}", n + 1
        now = utc_now()
        collection_id = present(
            db.table("collections")
            .insert(
                {
                    "slug": slug,
                    "title": title,
                    "description": description.strip()[:MAX_NOTE_CHARS],
                    "owner_id": owner.user_id,
                    "sharing": sharing,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            .last_pk
        )
    return get_collection(db, collection_id)


def get_collection(db: Database, collection_id: int) -> Collection:
    rows = list(db.table("collections").rows_where("id = ?", [collection_id]))
    if not rows:
        raise CollectionError(NO_COLLECTION, status=404)
    return _collection(rows[0])


def find_collection(db: Database, slug: str, reader: Viewer) -> Collection:
    """The collection at ``slug`` if ``reader`` may read it; otherwise NotFound, as if there were none."""
    rows = list(db.table("collections").rows_where("slug = ?", [slug]))
    found = _collection(rows[0]) if rows else None
    if found is None or not _may_read(found, reader):
        raise NotFound(NO_COLLECTION)
    return found


def editable_collection(db: Database, slug: str, reader: Viewer) -> Collection:
    """The collection at ``slug`` if ``reader`` may change it (its owner, or staff who can read it)."""
    found = find_collection(db, slug, reader)
    _require_edit(found, reader)
    return found


def collections_of(db: Database, reader: Viewer) -> list[Collection]:
    """The reader's own collections, most recently changed first."""
    if reader.user_id is None:
        return []
    rows = db.table("collections").rows_where("owner_id = ?", [reader.user_id], order_by="updated_at DESC, id DESC")
    return [_collection(row) for row in rows]


def open_collection(db: Database, collection: Collection, reader: Viewer) -> OpenCollection:
    """The collection's clips in order, each with its talk and lines, keeping only talks ``reader`` may see."""
    rows = list(
        db.execute(
            'SELECT id, position, recording_id, start, "end", note FROM collection_clips '
            "WHERE collection_id = ? ORDER BY position, id",
            [collection.id],
        )
    )
    talks = get_recordings(db, [row[2] for row in rows])
    clips, hidden = [], 0
    for clip_id, position, recording_id, start, end, note in rows:
        talk = talks.get(recording_id)
        if not reader.may_see(talk):
            hidden += 1
            continue
        lines = tuple(segments_between(db, recording_id, start, end))
        clips.append(Clip(clip_id, position, talk, start, end, note or "", lines))
    can_edit = _may_edit(collection, reader)
    return OpenCollection(collection, tuple(clips), can_edit, hidden if collection.owner_id == reader.user_id else 0)


def add_clip(db: Database, collection: Collection, reader: Viewer, wanted: ClipRequest) -> Clip:
    """Append a clip; the talk must be one ``reader`` may see, and the range inside it."""
    _require_edit(collection, reader)
    talk = get_recordings(db, [wanted.recording_id]).get(wanted.recording_id)
    if not reader.may_see(talk):
        raise NotFound("there is no such talk to take a clip from")
    start, end = _clip_range(wanted.start, wanted.end, talk)
    note = wanted.note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise CollectionError(f"a note can hold at most {MAX_NOTE_CHARS} characters")
    with db.atomic():
        count, last = db.execute(
            "SELECT count(*), coalesce(max(position), 0) FROM collection_clips WHERE collection_id = ?", [collection.id]
        ).fetchone()
        if count >= MAX_CLIPS:
            raise CollectionError(f"a collection holds at most {MAX_CLIPS} clips; start another one")
        clip_id = present(
            db.table("collection_clips")
            .insert(
                {
                    "collection_id": collection.id,
                    "position": last + 1,
                    "recording_id": talk.id,
                    "start": start,
                    "end": end,
                    "note": note,
                    "created_at": utc_now(),
                }
            )
            .last_pk
        )
        _touch(db, collection.id)
    return Clip(clip_id, last + 1, talk, start, end, note)


def _clip_range(start: float, end: float, talk: Recording) -> tuple[float, float]:
    if start < 0 or start >= talk.duration:
        raise CollectionError(
            f"the clip must start within the talk (it is {clock(talk.duration, always_hours=False)} long)"
        )
    end = min(end, talk.duration)
    if end <= start:
        raise CollectionError("the clip must end after it starts")
    if end - start > MAX_CLIP_SECONDS:
        raise CollectionError(
            f"a clip can be at most {MAX_CLIP_SECONDS // 60} minutes long; link the whole talk instead"
        )
    return round(start, 3), round(end, 3)


def _clip_row(db: Database, collection: Collection, clip_id: int) -> dict:
    rows = list(db.table("collection_clips").rows_where("id = ? AND collection_id = ?", [clip_id, collection.id]))
    if not rows:
        raise NotFound("this collection has no such clip")
    return rows[0]


def move_clip(db: Database, collection: Collection, reader: Viewer, clip_id: int, offset: int) -> None:
    """Move a clip ``offset`` places (-1: up, 1: down) among the clips; at either end it stays."""
    _require_edit(collection, reader)
    _clip_row(db, collection, clip_id)
    with db.atomic():
        order = [
            r[0]
            for r in db.execute(
                "SELECT id FROM collection_clips WHERE collection_id = ? ORDER BY position, id", [collection.id]
            )
        ]
        at = order.index(clip_id)
        to = max(0, min(len(order) - 1, at + offset))
        order.insert(to, order.pop(at))
        for position, moved in enumerate(order, 1):
            db.execute("UPDATE collection_clips SET position = ? WHERE id = ?", [position, moved])
        _touch(db, collection.id)


def set_clip_note(db: Database, collection: Collection, reader: Viewer, clip_id: int, note: str) -> None:
    _require_edit(collection, reader)
    note = note.strip()
    if len(note) > MAX_NOTE_CHARS:
        raise CollectionError(f"a note can hold at most {MAX_NOTE_CHARS} characters")
    _clip_row(db, collection, clip_id)
    with db.atomic():
        db.execute("UPDATE collection_clips SET note = ? WHERE id = ?", [note, clip_id])
        _touch(db, collection.id)


def remove_clip(db: Database, collection: Collection, reader: Viewer, clip_id: int) -> None:
    _require_edit(collection, reader)
    _clip_row(db, collection, clip_id)
    with db.atomic():
        db.execute("DELETE FROM collection_clips WHERE id = ?", [clip_id])
        _touch(db, collection.id)


def update_collection(
    db: Database, collection: Collection, reader: Viewer, *, title: str, description: str, sharing: str
) -> Collection:
    """Change the title, description and sharing level; the address stays, so shared links keep working."""
    _require_edit(collection, reader)
    title, sharing = _clean_title(title), _check_sharing(sharing)
    with db.atomic():
        db.table("collections").update(
            collection.id,
            {
                "title": title,
                "description": description.strip()[:MAX_NOTE_CHARS],
                "sharing": sharing,
                "updated_at": utc_now(),
            },
        )
    return get_collection(db, collection.id)


def delete_collection(db: Database, collection: Collection, reader: Viewer) -> None:
    _require_edit(collection, reader)
    with db.atomic():
        db.execute("DELETE FROM collection_clips WHERE collection_id = ?", [collection.id])
        db.execute("DELETE FROM collections WHERE id = ?", [collection.id])


def _touch(db: Database, collection_id: int) -> None:
    db.execute("UPDATE collections SET updated_at = ? WHERE id = ?", [utc_now(), collection_id])
