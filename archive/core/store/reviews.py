"""Presenter review in the database: review links, the presenter's suggestions, and the log.

Only reads and writes live here; the workflow (who may do what, and when) is ``ingest.review``.
A link row keeps the SHA-256 of its token, never the token itself, as ``api_tokens`` do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlite_utils import Database

from archive.core.errors import present

# What a link is, in the order a review goes through them.
OPEN, SENT, EXPIRED, CLOSED = "open", "sent", "expired", "closed"
SUGGESTION_KINDS = ("correction", "withdraw")
PENDING, APPROVED, REJECTED = "pending", "approved", "rejected"


@dataclass(frozen=True)
class ReviewLink:
    id: int
    recording_id: int
    presenter_name: str
    presenter_email: str
    created_by: str
    created_at: str
    expires_at: str
    opened_at: str | None
    submitted_at: str | None  # when the presenter sent their suggestions; they edit no more after it
    closed_at: str | None
    closed_reason: str | None

    def state(self, now: datetime) -> str:
        """``closed`` (ended by staff or by their decisions), ``expired``, ``sent`` (waiting for
        staff) or ``open`` (the presenter is still reading)."""
        if self.closed_at:
            return CLOSED
        if now >= datetime.fromisoformat(self.expires_at):
            return EXPIRED
        return SENT if self.submitted_at else OPEN

    @property
    def actor(self) -> str:
        """How the log names the presenter."""
        return f"presenter: {self.presenter_name}"


@dataclass(frozen=True)
class ReviewSuggestion:
    id: int
    link_id: int
    recording_id: int
    kind: str  # "correction" or "withdraw"
    segment_idx: int | None  # corrections: the line's index within the talk
    text: str | None  # corrections: the presenter's wording
    original_text: str | None  # corrections: the line as it read when suggested
    start: float | None  # withdrawals: the range, in seconds
    end: float | None
    note: str  # withdrawals: the presenter's reason
    state: str
    created_at: str
    decided_by: str | None
    decided_at: str | None

    @property
    def line(self) -> int:
        """A correction's line index (a withdrawal has none: asking is a bug)."""
        return present(self.segment_idx, "corrected line")

    @property
    def wording(self) -> str:
        """A correction's new wording."""
        return present(self.text, "suggested wording")

    @property
    def span(self) -> tuple[float, float]:
        """A withdrawal's range, in seconds."""
        return present(self.start, "withdrawal start"), present(self.end, "withdrawal end")


@dataclass(frozen=True)
class ReviewEvent:
    id: int
    link_id: int
    recording_id: int
    at: str
    actor: str
    action: str
    detail: str


_LINK_COLUMNS = (
    "id, recording_id, presenter_name, coalesce(presenter_email, ''), created_by, created_at, expires_at, "
    "opened_at, submitted_at, closed_at, closed_reason"
)
_SUGGESTION_COLUMNS = (
    "id, link_id, recording_id, kind, segment_idx, text, original_text, start, \"end\", coalesce(note, ''), "
    "state, created_at, decided_by, decided_at"
)


# -- links ---------------------------------------------------------------------------


def insert_link(
    db: Database,
    *,
    recording_id: int,
    presenter_name: str,
    presenter_email: str,
    token_hash: str,
    created_by: str,
    created_at: str,
    expires_at: str,
) -> int:
    return present(
        db.table("review_links")
        .insert(
            {
                "recording_id": recording_id,
                "presenter_name": presenter_name,
                "presenter_email": presenter_email,
                "token_hash": token_hash,
                "created_by": created_by,
                "created_at": created_at,
                "expires_at": expires_at,
            }
        )
        .last_pk
    )


def get_link(db: Database, link_id: int) -> ReviewLink:
    """The link with this id; ids come from rows the caller holds, so a missing one is a bug."""
    row = db.execute(f"SELECT {_LINK_COLUMNS} FROM review_links WHERE id = ?", [link_id]).fetchone()
    return ReviewLink(*present(row, "review link"))


def link_by_token_hash(db: Database, token_hash: str) -> ReviewLink | None:
    row = db.execute(f"SELECT {_LINK_COLUMNS} FROM review_links WHERE token_hash = ?", [token_hash]).fetchone()
    return ReviewLink(*row) if row else None


def links_for(db: Database, recording_id: int) -> list[ReviewLink]:
    """A talk's review links, newest first."""
    rows = db.execute(
        f"SELECT {_LINK_COLUMNS} FROM review_links WHERE recording_id = ? ORDER BY id DESC", [recording_id]
    ).fetchall()
    return [ReviewLink(*row) for row in rows]


def mark_link(db: Database, link_id: int, column: str, at: str) -> bool:
    """Set ``opened_at`` or ``submitted_at`` once; False if it was set already."""
    if column not in ("opened_at", "submitted_at"):
        raise ValueError(column)
    with db.atomic():
        cursor = db.execute(f"UPDATE review_links SET {column} = ? WHERE id = ? AND {column} IS NULL", [at, link_id])
    return cursor.rowcount == 1


def close_link(db: Database, link_id: int, reason: str, at: str) -> bool:
    """End a link; False if it was closed already."""
    with db.atomic():
        cursor = db.execute(
            "UPDATE review_links SET closed_at = ?, closed_reason = ? WHERE id = ? AND closed_at IS NULL",
            [at, reason, link_id],
        )
    return cursor.rowcount == 1


# -- suggestions ---------------------------------------------------------------------


def insert_suggestion(db: Database, link: ReviewLink, created_at: str, **fields) -> int:
    """A pending suggestion of ``link``'s presenter, always for ``link``'s own talk."""
    return present(
        db.table("review_suggestions")
        .insert(
            {
                **fields,
                "link_id": link.id,
                "recording_id": link.recording_id,
                "state": PENDING,
                "created_at": created_at,
            }
        )
        .last_pk
    )


def get_suggestion(db: Database, suggestion_id: int) -> ReviewSuggestion | None:
    row = db.execute(f"SELECT {_SUGGESTION_COLUMNS} FROM review_suggestions WHERE id = ?", [suggestion_id]).fetchone()
    return ReviewSuggestion(*row) if row else None


def suggestions_of_link(db: Database, link_id: int) -> list[ReviewSuggestion]:
    rows = db.execute(
        f"SELECT {_SUGGESTION_COLUMNS} FROM review_suggestions WHERE link_id = ? ORDER BY id", [link_id]
    ).fetchall()
    return [ReviewSuggestion(*row) for row in rows]


def suggestions_for(db: Database, recording_id: int, state: str | None = None) -> list[ReviewSuggestion]:
    """A talk's suggestions from every link (only those in ``state`` if given), oldest first."""
    where, params = "recording_id = ?", [str(recording_id)]
    if state is not None:
        where, params = where + " AND state = ?", [*params, state]
    rows = db.execute(f"SELECT {_SUGGESTION_COLUMNS} FROM review_suggestions WHERE {where} ORDER BY id", params)
    return [ReviewSuggestion(*row) for row in rows.fetchall()]


def count_by_state(db: Database, link_id: int) -> dict[str, int]:
    """How many of a link's suggestions are pending, approved and rejected."""
    counts = dict.fromkeys((PENDING, APPROVED, REJECTED), 0)
    for state, count in db.execute(
        "SELECT state, count(*) FROM review_suggestions WHERE link_id = ? GROUP BY state", [link_id]
    ).fetchall():
        counts[state] = count
    return counts


def delete_pending_suggestion(db: Database, suggestion_id: int) -> bool:
    with db.atomic():
        cursor = db.execute("DELETE FROM review_suggestions WHERE id = ? AND state = ?", [suggestion_id, PENDING])
    return cursor.rowcount == 1


def decide_suggestion(db: Database, suggestion_id: int, state: str, by: str, at: str) -> bool:
    """Approve or reject a pending suggestion; False if it was decided already."""
    if state not in (APPROVED, REJECTED):
        raise ValueError(state)
    with db.atomic():
        cursor = db.execute(
            "UPDATE review_suggestions SET state = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = ?",
            [state, by, at, suggestion_id, PENDING],
        )
    return cursor.rowcount == 1


# -- the log -------------------------------------------------------------------------


def log_event(db: Database, link: ReviewLink, at: str, actor: str, action: str, detail: str = "") -> None:
    db.table("review_log").insert(
        {
            "link_id": link.id,
            "recording_id": link.recording_id,
            "at": at,
            "actor": actor,
            "action": action,
            "detail": detail,
        }
    )


def review_log(db: Database, recording_id: int, limit: int = 200) -> list[ReviewEvent]:
    """A talk's review steps, newest first."""
    rows = db.execute(
        "SELECT id, link_id, recording_id, at, actor, action, coalesce(detail, '') FROM review_log "
        "WHERE recording_id = ? ORDER BY id DESC LIMIT ?",
        [recording_id, limit],
    ).fetchall()
    return [ReviewEvent(*row) for row in rows]


def logged(db: Database, link_id: int, action: str) -> bool:
    """Whether the log has ``action`` for a link already (steps logged once, like "expired")."""
    row = db.execute("SELECT 1 FROM review_log WHERE link_id = ? AND action = ? LIMIT 1", [link_id, action]).fetchone()
    return row is not None
