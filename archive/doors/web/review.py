"""Presenter review on the web: the presenter's page behind a signed link, and staff's tools for it.

The presenter has no account: ``/review/<token>`` and the forms and media under it act only on
the talk that link was made for (``ingest.review`` resolves the token every time), whatever a
form posts. Their forms still carry the session's CSRF token (``auth.ANONYMOUS_FORMS``). Staff
make links, decide suggestions and close reviews from the talk's page (``_review_staff.html``,
fed by the ``review_overview`` template function this blueprint provides). Every view is a thin
shell over ``ingest.review``.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from archive.core.store import recordings as store
from archive.doors.web.auth import is_staff, staff_only
from archive.doors.web.db import get_db
from archive.doors.web.files import send_media
from archive.doors.web.search import searcher
from archive.doors.web.staff import talk_or_404
from ingest import review as workflow

bp = Blueprint("review", __name__)


def _secret() -> str:
    return str(current_app.secret_key)


def _private(response):
    """A review page holds a draft and its link is a credential: never cached, never indexed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# -- the presenter ----------------------------------------------------------------


def _review_page(token: str, *, error: str | None = None, form=None, status: int = 200):
    review = workflow.open_review(get_db(), token, _secret(), first_visit_logged=error is None)
    page = render_template("review.html", review=review, token=token, error=error, form=form or {})
    return _private(make_response(page, status))


@bp.get("/review/<token>")
def page(token: str):
    """The draft's player and transcript, the presenter's suggestions, and the forms to make them."""
    return _review_page(token)


def _presenter_step(token: str, step, anchor: str):
    """Run one of the presenter's steps; what they typed wrong comes back beside the forms (400)."""
    try:
        step()
    except workflow.ReviewError as exc:
        if exc.status != 400:
            raise  # an expired, finished or unknown link: the plain page saying so
        return _review_page(token, error=exc.sentence(), form=request.form, status=400)
    return redirect(url_for("review.page", token=token) + anchor, code=303)


@bp.post("/review/<token>/corrections")
def suggest_correction(token: str):
    form = request.form
    return _presenter_step(
        token,
        lambda: workflow.suggest_correction(get_db(), token, _secret(), form.get("line"), form.get("text", "")),
        "#suggestions",
    )


@bp.post("/review/<token>/withdrawals")
def suggest_withdrawal(token: str):
    form = request.form
    return _presenter_step(
        token,
        lambda: workflow.suggest_withdrawal(
            get_db(), token, _secret(), form.get("start"), form.get("end"), form.get("note", "")
        ),
        "#suggestions",
    )


@bp.post("/review/<token>/suggestions/<id:suggestion_id>/remove")
def remove_suggestion(token: str, suggestion_id: int):
    return _presenter_step(
        token, lambda: workflow.remove_suggestion(get_db(), token, _secret(), suggestion_id), "#suggestions"
    )


@bp.post("/review/<token>/send")
def send(token: str):
    return _presenter_step(token, lambda: workflow.send(get_db(), token, _secret()), "")


@bp.get("/review/<token>/media")
def media(token: str):
    """The draft's media for the presenter's player, with Range support, as ``files.media`` serves it."""
    db = get_db()
    link = workflow.presenter_link(db, token, _secret())
    response = send_media(store.get_recording(db, link.recording_id), max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- staff ------------------------------------------------------------------------


def _back_to(found):
    return redirect(url_for("pages.recording", slug=found.slug) + "#review", code=303)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """The words that changed between a line and a presenter's wording, as ("same" | "removed" |
    "added", text) runs in reading order, so staff see what a suggestion changes without comparing
    two sentences by eye."""
    from difflib import SequenceMatcher

    old, new = before.split(), after.split()
    runs: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append(("same", " ".join(old[i1:i2])))
            continue
        if i2 > i1:
            runs.append(("removed", " ".join(old[i1:i2])))
        if j2 > j1:
            runs.append(("added", " ".join(new[j1:j2])))
    return runs


@bp.app_context_processor
def review_tools():
    """``review_overview(recording)`` for the talk page's staff section (None for anyone else), and
    ``word_diff`` to show what a suggestion changes."""

    def review_overview(recording):
        return workflow.overview(get_db(), recording.id) if is_staff() else None

    return {"review_overview": review_overview, "word_diff": word_diff}


@bp.post("/recordings/<slug>/review-links")
@staff_only
def create_link(slug: str):
    """Make a presenter's link and show it once, to copy into an email."""
    found = talk_or_404(slug)
    days = request.form.get("days", "") or str(workflow.DEFAULT_DAYS)
    if not days.isdigit():
        raise workflow.ReviewError(f"a review link can be valid for 1 to {workflow.MAX_DAYS} days")
    link, token = workflow.create_link(
        get_db(),
        found.id,
        request.form.get("presenter", ""),
        presenter_email=request.form.get("email", ""),
        days=int(days),
        created_by=g.user.email,
        secret=_secret(),
    )
    url = url_for("review.page", token=token, _external=True)
    return _private(make_response(render_template("review_link.html", recording=found, link=link, url=url)))


@bp.post("/recordings/<slug>/review-links/<id:link_id>/close")
@staff_only
def close_link(slug: str, link_id: int):
    found = talk_or_404(slug)
    workflow.close(get_db(), link_id, recording_id=found.id, staff_email=g.user.email)
    return _back_to(found)


@bp.post("/recordings/<slug>/review-suggestions/<id:suggestion_id>/<any(approve, reject):decision>")
@staff_only
def decide(slug: str, suggestion_id: int, decision: str):
    """Approve (correct the line, or take the range down) or reject one suggestion."""
    found = talk_or_404(slug)
    if decision == "approve":
        workflow.approve(
            get_db(),
            current_app.config["ARCHIVE"],
            suggestion_id,
            recording_id=found.id,
            staff_email=g.user.email,
            embedder=searcher().embedder,
        )
    else:
        workflow.reject(get_db(), suggestion_id, recording_id=found.id, staff_email=g.user.email)
    return _back_to(found)


@bp.post("/recordings/<slug>/review-suggestions/approve-all")
@staff_only
def approve_all(slug: str):
    found = talk_or_404(slug)
    workflow.approve_all(
        get_db(), current_app.config["ARCHIVE"], found.id, staff_email=g.user.email, embedder=searcher().embedder
    )
    return _back_to(found)
