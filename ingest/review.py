"""Presenter review: a presenter reads the draft of their talk and suggests fixes before it is published.

Staff make a link for one talk and send it themselves. The link is the presenter's only
credential, so it is random (32 bytes), signed with the archive's secret key (a tampered link is
refused before the database is asked), stored only as its SHA-256, bound to that one talk, and
it expires (14 days unless staff say otherwise). Through it the presenter suggests a line's
corrected wording ("fix names") or a range to withdraw, removes their own pending suggestions,
and sends them; after sending they edit no more. Staff approve or reject each suggestion: an
approval goes through the archive's own correction (``ingest.corrections``) and takedown
(``ingest.redaction``) machinery. A correction whose line changed since it was suggested is
refused rather than written over. Once every sent suggestion is decided, or staff close it,
the link is finished. Every step is in ``review_log``.

A link that does not work says why (expired: 410, finished: 410, unknown or tampered: 404)
and changes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from itsdangerous import BadData, URLSafeSerializer
from sqlite_utils import Database

from archive.core.config import Config
from archive.core.errors import UserError, present
from archive.core.store import recordings as store
from archive.core.store import reviews, write_transaction
from archive.core.store.accounts import normalize_email
from archive.core.store.records import Recording, Segment
from archive.core.store.reviews import (
    APPROVED,
    CLOSED,
    EXPIRED,
    OPEN,
    PENDING,
    REJECTED,
    SENT,
    ReviewLink,
    ReviewSuggestion,
)
from archive.core.timecode import clock, parse_timecode
from ingest.corrections import MAX_SEGMENT_CHARS, correct_segment
from ingest.redaction import redact_range
from search.embedder import Embedder

DEFAULT_DAYS = 14
MAX_DAYS = 90
MAX_SUGGESTIONS = 300  # per link: more than any talk needs, few enough that a leaked link cannot flood staff
MAX_NAME_CHARS = 120
MAX_NOTE_CHARS = 500
SIGNING_SALT = "talk-archive presenter review"

INVALID = "there is no review at this address; check that the whole link was copied"
EXPIRED_MESSAGE = "this review link has expired; ask the archive team for a new one"
FINISHED_MESSAGE = "this review is finished; thank you. Ask the archive team if there is anything more"


class ReviewError(UserError):
    """A review step that cannot be done; the message is for the presenter or staff member who asked.

    404: no such link (or suggestion); 410: a link that expired or is finished; 409: the step
    clashes with the review's state; 400: what was typed cannot be used.
    """


def now() -> datetime:
    """The time every review step is judged and stamped by (tests move it forward)."""
    return datetime.now(timezone.utc)


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _signer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=SIGNING_SALT)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# -- staff make a link -------------------------------------------------------------


def create_link(
    db: Database,
    recording_id: int,
    presenter_name: str,
    *,
    presenter_email: str = "",
    days: int = DEFAULT_DAYS,
    created_by: str,
    secret: str,
) -> tuple[ReviewLink, str]:
    """A new review link for one talk: (its record, the signed token for its URL, shown only now)."""
    recording = store.get_recording(db, recording_id)
    if recording is None:
        raise ReviewError(f"there is no recording {recording_id}", status=404)
    name = " ".join(presenter_name.split())
    if not name or len(name) > MAX_NAME_CHARS:
        raise ReviewError(f"write the presenter's name (at most {MAX_NAME_CHARS} characters)")
    email = normalize_email(presenter_email) if presenter_email.strip() else ""
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ReviewError(f"a review link can be valid for 1 to {MAX_DAYS} days")
    token = secrets.token_urlsafe(32)
    created = now()
    expires = created + timedelta(days=days)
    with write_transaction(db):
        link_id = reviews.insert_link(
            db,
            recording_id=recording_id,
            presenter_name=name,
            presenter_email=email,
            token_hash=_token_hash(token),
            created_by=created_by,
            created_at=_stamp(created),
            expires_at=_stamp(expires),
        )
        link = reviews.get_link(db, link_id)
        who = f"{name} <{email}>" if email else name
        reviews.log_event(
            db,
            link,
            _stamp(created),
            created_by,
            "created the link",
            f"for {who}, valid until {expires:%Y-%m-%d %H:%M} UTC",
        )
    return link, _signer(secret).dumps(token)


# -- the presenter's side ---------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """What the presenter's page shows: their talk's draft and their own suggestions."""

    link: ReviewLink
    state: str  # "open" (they may suggest) or "sent" (read only until staff finish)
    recording: Recording
    segments: list[Segment]
    suggestions: list[ReviewSuggestion]

    @property
    def editable(self) -> bool:
        return self.state == OPEN

    @property
    def pending(self) -> list[ReviewSuggestion]:
        return [s for s in self.suggestions if s.state == PENDING]

    def suggested_for(self, idx: int) -> ReviewSuggestion | None:
        """The presenter's pending wording for line ``idx``, if any."""
        return next((s for s in self.pending if s.kind == "correction" and s.segment_idx == idx), None)


def presenter_link(db: Database, token: str, secret: str) -> ReviewLink:
    """The link a presenter's token names, if it still works: 404 for an unknown or tampered
    token, 410 for an expired or finished link (an expiry is logged once, so staff see the
    presenter tried it)."""
    try:
        raw = _signer(secret).loads(token)
    except BadData:
        raise ReviewError(INVALID, status=404) from None
    link = reviews.link_by_token_hash(db, _token_hash(raw)) if isinstance(raw, str) else None
    if link is None:
        raise ReviewError(INVALID, status=404)
    at = now()
    state = link.state(at)
    if state == CLOSED:
        raise ReviewError(FINISHED_MESSAGE, status=410)
    if state == EXPIRED:
        if not reviews.logged(db, link.id, "expired"):
            with write_transaction(db):
                reviews.log_event(
                    db, link, _stamp(at), link.actor, "expired", "the presenter opened the link after it expired"
                )
        raise ReviewError(EXPIRED_MESSAGE, status=410)
    return link


def open_review(db: Database, token: str, secret: str, *, first_visit_logged: bool = True) -> Review:
    """The presenter's view of their review; the first visit is logged."""
    link = presenter_link(db, token, secret)
    if first_visit_logged and link.opened_at is None:
        at = _stamp(now())
        with write_transaction(db):
            if reviews.mark_link(db, link.id, "opened_at", at):
                reviews.log_event(db, link, at, link.actor, "opened the link")
        link = reviews.get_link(db, link.id)
    return Review(
        link=link,
        state=link.state(now()),
        recording=present(store.get_recording(db, link.recording_id)),
        segments=store.get_segments(db, link.recording_id),
        suggestions=reviews.suggestions_of_link(db, link.id),
    )


def _editable(db: Database, link_id: int) -> ReviewLink:
    """Inside the write transaction: the link as it is now, if the presenter may still change it."""
    link = reviews.get_link(db, link_id)
    state = link.state(now())
    if state == CLOSED:
        raise ReviewError(FINISHED_MESSAGE, status=410)
    if state == EXPIRED:
        raise ReviewError(EXPIRED_MESSAGE, status=410)
    if state == SENT:
        raise ReviewError(
            "you have sent your suggestions to the archive team already; ask them if you need to change something",
            status=409,
        )
    if len(reviews.suggestions_of_link(db, link.id)) >= MAX_SUGGESTIONS:
        raise ReviewError(f"a review holds at most {MAX_SUGGESTIONS} suggestions; send these first", status=409)
    return link


def _line_index(value: str | int | None) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ReviewError("choose a line of the transcript to correct") from None


def suggest_correction(db: Database, token: str, secret: str, line: str | int | None, text: str) -> ReviewSuggestion:
    """The presenter's wording for one line of their talk (``line``: its index in that talk).
    A new wording for a line replaces their earlier pending one."""
    link = presenter_link(db, token, secret)
    idx = _line_index(line)
    text = " ".join((text or "").split())
    if not text:
        raise ReviewError("write the line as it should read")
    if len(text) > MAX_SEGMENT_CHARS:
        raise ReviewError(f"a line can hold at most {MAX_SEGMENT_CHARS} characters")
    at = _stamp(now())
    with write_transaction(db):
        link = _editable(db, link.id)
        segments = store.get_segments(db, link.recording_id)  # the link's own talk, whatever the form says
        if not 0 <= idx < len(segments):
            raise ReviewError("this talk's transcript has no such line; reload the page and try again")
        if text == segments[idx].text:
            raise ReviewError("that is what the line says already")
        for earlier in reviews.suggestions_of_link(db, link.id):
            if earlier.state == PENDING and earlier.kind == "correction" and earlier.segment_idx == idx:
                reviews.delete_pending_suggestion(db, earlier.id)
        suggestion_id = reviews.insert_suggestion(
            db, link, at, kind="correction", segment_idx=idx, text=text, original_text=segments[idx].text
        )
        reviews.log_event(
            db,
            link,
            at,
            link.actor,
            "suggested a correction",
            f"line at {clock(segments[idx].start, always_hours=False)}: {text}",
        )
    return present(reviews.get_suggestion(db, suggestion_id))


def suggest_withdrawal(
    db: Database, token: str, secret: str, start: str | None, end: str | None, note: str = ""
) -> ReviewSuggestion:
    """A range of their talk the presenter asks to withdraw, typed as "12:34" (or 1:02:03, seconds)."""
    link = presenter_link(db, token, secret)
    begin, finish = parse_timecode(start), parse_timecode(end)
    if begin is None or finish is None:
        raise ReviewError("write the start and end of the part to withdraw as 12:34 or 1:02:03")
    note = " ".join((note or "").split())
    if len(note) > MAX_NOTE_CHARS:
        raise ReviewError(f"the reason can be at most {MAX_NOTE_CHARS} characters")
    at = _stamp(now())
    with write_transaction(db):
        link = _editable(db, link.id)
        duration = present(store.get_recording(db, link.recording_id)).duration
        if not begin < finish or begin >= duration:
            raise ReviewError(
                f"the part must start before it ends, within the talk's {clock(duration, always_hours=False)}"
            )
        finish = min(finish, duration)
        suggestion_id = reviews.insert_suggestion(db, link, at, kind="withdraw", start=begin, end=finish, note=note)
        reviews.log_event(
            db,
            link,
            at,
            link.actor,
            "asked to withdraw a part",
            f"{_range(begin, finish)}" + (f": {note}" if note else ""),
        )
    return present(reviews.get_suggestion(db, suggestion_id))


def remove_suggestion(db: Database, token: str, secret: str, suggestion_id: int) -> None:
    """The presenter takes back one of their own pending suggestions (another link's are not theirs: 404)."""
    link = presenter_link(db, token, secret)
    at = _stamp(now())
    with write_transaction(db):
        link = _editable(db, link.id)
        suggestion = reviews.get_suggestion(db, suggestion_id)
        if suggestion is None or suggestion.link_id != link.id or suggestion.state != PENDING:
            raise ReviewError("there is no such suggestion of yours to remove", status=404)
        reviews.delete_pending_suggestion(db, suggestion.id)
        reviews.log_event(db, link, at, link.actor, "removed a suggestion", describe(suggestion))


def send(db: Database, token: str, secret: str) -> int:
    """The presenter is done: their pending suggestions go to staff, and they edit no more.
    Returns how many were sent; sending none finishes the review ("nothing to change")."""
    link = presenter_link(db, token, secret)
    at = _stamp(now())
    with write_transaction(db):
        link = _editable(db, link.id)
        count = sum(s.state == PENDING for s in reviews.suggestions_of_link(db, link.id))
        reviews.mark_link(db, link.id, "submitted_at", at)
        reviews.log_event(
            db, link, at, link.actor, "sent the suggestions", f"{count} suggestion(s)" if count else "nothing to change"
        )
        _close_if_decided(db, reviews.get_link(db, link.id), at, link.actor)
    return count


# -- staff decide ------------------------------------------------------------------


@dataclass(frozen=True)
class PendingSuggestion:
    """A suggestion waiting for staff, with what they need to decide it."""

    suggestion: ReviewSuggestion
    presenter: str
    at: float | None  # where in the talk: the corrected line's start, or the range's
    current_text: str | None  # corrections: the line as it reads now (None: the line is gone)
    problem: str | None  # why approving it would be refused now (the line changed meanwhile)


@dataclass(frozen=True)
class ReviewOverview:
    """What staff see of a talk's reviews: its links, the suggestions to decide, and the log."""

    links: list[tuple[ReviewLink, str]]  # each with its state
    pending: list[PendingSuggestion]  # sent (or left on a link that ended), waiting for a decision
    drafts: int  # pending suggestions presenters have not sent yet
    log: list[reviews.ReviewEvent]


def overview(db: Database, recording_id: int, log_limit: int = 20) -> ReviewOverview:
    at = now()
    links = reviews.links_for(db, recording_id)
    states = {link.id: link.state(at) for link in links}
    names = {link.id: link.presenter_name for link in links}
    segments = store.get_segments(db, recording_id)
    pending, drafts = [], 0
    for suggestion in reviews.suggestions_for(db, recording_id, PENDING):
        if states[suggestion.link_id] == OPEN:
            drafts += 1
            continue
        pending.append(_pending(suggestion, names[suggestion.link_id], segments))
    return ReviewOverview(
        links=[(link, states[link.id]) for link in links],
        pending=pending,
        drafts=drafts,
        log=reviews.review_log(db, recording_id, log_limit),
    )


def _pending(suggestion: ReviewSuggestion, presenter: str, segments: list[Segment]) -> PendingSuggestion:
    if suggestion.kind == "withdraw":
        return PendingSuggestion(suggestion, presenter, suggestion.start, None, None)
    idx = suggestion.line
    line = segments[idx] if 0 <= idx < len(segments) else None
    return PendingSuggestion(
        suggestion,
        presenter,
        line.start if line else None,
        line.text if line else None,
        _correction_problem(suggestion, line),
    )


def _correction_problem(suggestion: ReviewSuggestion, line: Segment | None) -> str | None:
    """Why this correction must not be applied now: its line was removed, or no longer reads as
    it did when the presenter corrected it (applying it would overwrite someone's edit). A line
    that reads as suggested already (the same wording sent twice) has no problem: approving it writes nothing."""
    if line is not None and line.text == suggestion.text:
        return None
    if line is None:
        return (
            f"the line the presenter corrected (“{suggestion.original_text}”) is no longer in the transcript "
            "(a part was removed meanwhile)"
        )
    if line.text != suggestion.original_text:
        return (
            f"the line at {clock(line.start, always_hours=False)} changed since the presenter suggested this; "
            "reject the suggestion, or correct the line by hand"
        )
    return None


def _decidable(db: Database, suggestion_id: int, recording_id: int) -> ReviewSuggestion:
    suggestion = reviews.get_suggestion(db, suggestion_id)
    if suggestion is None or suggestion.recording_id != recording_id:
        raise ReviewError("this talk has no such review suggestion", status=404)
    if suggestion.state != PENDING:
        raise ReviewError(f"this suggestion was {suggestion.state} already", status=409)
    if reviews.get_link(db, suggestion.link_id).state(now()) == OPEN:
        raise ReviewError("the presenter has not sent this suggestion yet", status=409)
    return suggestion


def approve(
    db: Database, config: Config, suggestion_id: int, *, recording_id: int, staff_email: str, embedder: Embedder
) -> ReviewSuggestion:
    """Apply one sent suggestion of ``recording_id``'s presenter: correct the line, or take the range down."""
    suggestion = _decidable(db, suggestion_id, recording_id)
    _apply(db, config, suggestion, staff_email, embedder)
    return _decide(db, suggestion, APPROVED, staff_email)


def reject(db: Database, suggestion_id: int, *, recording_id: int, staff_email: str) -> ReviewSuggestion:
    """Decline a sent suggestion: the talk stays as it is."""
    return _decide(db, _decidable(db, suggestion_id, recording_id), REJECTED, staff_email)


def approve_all(db: Database, config: Config, recording_id: int, *, staff_email: str, embedder: Embedder) -> int:
    """Approve every sent suggestion of a talk; returns how many. If any correction's line changed
    meanwhile, none is applied and the message says which (decide those one by one)."""
    todo = overview(db, recording_id).pending
    problems = [p.problem for p in todo if p.problem]
    if problems:
        raise ReviewError("nothing was approved, because " + "; ".join(problems), status=409)
    # Corrections first: a takedown removes lines and moves the index of every line after them.
    corrections = [p.suggestion for p in todo if p.suggestion.kind == "correction"]
    withdrawals = sorted((p.suggestion for p in todo if p.suggestion.kind == "withdraw"), key=lambda s: s.span[0])
    for suggestion in [*corrections, *withdrawals]:
        approve(db, config, suggestion.id, recording_id=recording_id, staff_email=staff_email, embedder=embedder)
    return len(todo)


def _apply(db: Database, config: Config, suggestion: ReviewSuggestion, staff_email: str, embedder: Embedder) -> None:
    link = reviews.get_link(db, suggestion.link_id)
    if suggestion.kind == "correction":
        segments = store.get_segments(db, suggestion.recording_id)
        idx = suggestion.line
        line = segments[idx] if 0 <= idx < len(segments) else None
        if line is not None and line.text == suggestion.text:
            return  # it reads so already (the same wording came twice, from two links): nothing to write
        problem = _correction_problem(suggestion, line)
        if problem:
            raise ReviewError(problem, status=409)
        correct_segment(db, suggestion.recording_id, idx, suggestion.wording, embedder)
    else:
        reason = f"presenter review ({link.presenter_name})" + (f": {suggestion.note}" if suggestion.note else "")
        redact_range(
            db,
            config,
            suggestion.recording_id,
            *suggestion.span,
            reason=reason,
            user_email=staff_email,
            keep_original=False,
            embedder=embedder,
        )


def _decide(db: Database, suggestion: ReviewSuggestion, state: str, staff_email: str) -> ReviewSuggestion:
    at = _stamp(now())
    with write_transaction(db):
        if reviews.decide_suggestion(db, suggestion.id, state, staff_email, at):
            link = reviews.get_link(db, suggestion.link_id)
            reviews.log_event(db, link, at, staff_email, state, describe(suggestion))
            _close_if_decided(db, link, at, staff_email)
    return present(reviews.get_suggestion(db, suggestion.id))


def _close_if_decided(db: Database, link: ReviewLink, at: str, actor: str) -> None:
    """A link the presenter can no longer change, with nothing left to decide, is finished."""
    if link.state(now()) in (OPEN, CLOSED):
        return
    suggestions = reviews.suggestions_of_link(db, link.id)
    if any(s.state == PENDING for s in suggestions):
        return
    reason = "every suggestion decided" if suggestions else "the presenter had nothing to change"
    if reviews.close_link(db, link.id, reason, at):
        reviews.log_event(db, link, at, actor, "closed the link", reason)


def close(db: Database, link_id: int, *, recording_id: int, staff_email: str) -> ReviewLink:
    """Staff end a link (the review is over, or the link went astray): it no longer opens.
    Suggestions it sent stay to be decided."""
    at = _stamp(now())
    with write_transaction(db):
        link = reviews.get_link(db, link_id)
        if link is None or link.recording_id != recording_id:
            raise ReviewError("this talk has no such review link", status=404)
        if not reviews.close_link(db, link.id, "closed by staff", at):
            raise ReviewError("this review was finished already", status=409)
        reviews.log_event(db, link, at, staff_email, "closed the link", "closed by staff")
    return reviews.get_link(db, link_id)


# -- words for the log and the pages -------------------------------------------------


def _range(start: float, end: float) -> str:
    return f"{clock(start, always_hours=False)}–{clock(end, always_hours=False)}"


def describe(suggestion: ReviewSuggestion) -> str:
    """One line saying what a suggestion asks for."""
    if suggestion.kind == "withdraw":
        return f"withdraw {_range(*suggestion.span)}" + (f" ({suggestion.note})" if suggestion.note else "")
    return f"line {suggestion.line + 1}: {suggestion.original_text} → {suggestion.text}"
