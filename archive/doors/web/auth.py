"""Who is asking, and what they may do: sign-in, sessions, API tokens, CSRF and roles.

Every request is read once (``load_user``): a ``Bearer`` API token, or the signed session
cookie. Every state-changing browser request must carry the session's CSRF token (a hidden
form field or the ``X-CSRF-Token`` header); token-authenticated API calls are exempt,
because a browser never sends an API token by itself.
"""

from __future__ import annotations

import functools
import hmac
import os
import secrets
from pathlib import Path

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from archive.core.store import accounts
from archive.core.store.records import Viewer
from archive.doors.web.db import get_db

bp = Blueprint("auth", __name__)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Who `archive serve`'s own token acts as: the operator's command line, which sees every talk.
# The token is written only into the data directory (mode 600), where whoever can read it can
# read the database and the session key too.
OPERATOR = accounts.User(id=0, email="operator@localhost", role="staff", created_at="")
# Failed sign-ins allowed in the window, per account and per address.
FAILURE_WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


class ArchiveSessionInterface(SecureCookieSessionInterface):
    """Session cookies marked Secure whenever the request came over HTTPS (directly or via ProxyFix)."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def secret_key(config) -> str:
    """The configured key, or one generated once into the data directory (readable by its owner only)."""
    if config.secret_key:
        return config.secret_key
    path: Path = config.secret_key_path
    if not path.exists():
        # Written aside, then linked into place: two processes starting at once agree on one
        # key, and neither ever reads a half-written file.
        config.data_dir.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink()
    return path.read_text().strip()


def load_user() -> None:
    """Set ``g.user`` (or None) from an API token or the session; an unknown token is refused."""
    g.user, g.token_auth = None, False
    if request.endpoint == "static":
        return  # stylesheets and scripts are the same for everyone: no database read for them
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        operator = current_app.config.get("OPERATOR_TOKEN")
        if operator and hmac.compare_digest(operator, header[7:].strip()):
            if request.method not in SAFE_METHODS:
                abort(403, "This token only reads.")
            # `archive search` on this machine (archive.doors.cli.local_client)
            g.user, g.token_auth = OPERATOR, True
            return
        user = accounts.user_for_token(get_db(), header[7:].strip())
        if user is None:
            abort(401, "That API token is not valid (it may have been revoked).")
        g.user, g.token_auth = user, True
        return
    user_id = session.get("user_id")
    if user_id is not None:
        g.user = accounts.get_user_by_id(get_db(), user_id)
        if g.user is None:  # the account was removed: sign the session out
            session.clear()


# Forms someone without an account may send (still with their session's CSRF token): signing in,
# and a presenter's steps on a review link, which is itself their credential (web/review.py).
ANONYMOUS_FORMS = {
    "auth.login",
    "review.suggest_correction",
    "review.suggest_withdrawal",
    "review.remove_suggestion",
    "review.send",
}


def check_csrf() -> None:
    if request.method in SAFE_METHODS or g.token_auth:
        return
    if g.user is None and request.endpoint not in ANONYMOUS_FORMS:
        abort(403, "Sign in to do that.")  # before reading a body nobody may send
    expected = session.get("csrf")
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    if not expected or not hmac.compare_digest(expected, sent):
        abort(400, "This form has expired or did not come from this site. Reload the page and try again.")


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def role() -> str | None:
    return g.user.role if g.get("user") else None


def viewer() -> Viewer:
    """Who this request is, for the archive's one visibility rule (``Viewer.may_see``)."""
    user = g.get("user")
    return Viewer(user.id, user.role) if user else Viewer()


def visible_levels() -> tuple[str, ...]:
    """The recording visibility levels this request may see."""
    return viewer().levels


def visible_or_404(recording, message: str):
    """``recording`` if this request may see it; otherwise 404, exactly as if it did not exist."""
    if not viewer().may_see(recording):
        abort(404, message)
    return recording


def is_staff() -> bool:
    return role() in ("staff", "admin")


def is_admin() -> bool:
    return role() == "admin"


def require_staff() -> None:
    """For staff-only views: anonymous visitors are sent to sign in (JSON callers get 401), members get 403."""
    if g.user is None:
        if request.path.startswith("/api/"):
            abort(401, "Sign in, or send a staff API token.")
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    if not is_staff():
        abort(403, "Only staff can do that.")


def staff_only(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        require_staff()
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (an open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", email="", next=request.args.get("next", ""), error=None)
    db = get_db()
    email = request.form.get("email", "").strip()[:200]
    password = request.form.get("password", "")[:1000]
    address = request.remote_addr or ""
    if (
        accounts.recent_failures(db, email=email, seconds=FAILURE_WINDOW_SECONDS) >= MAX_FAILURES_PER_ACCOUNT
        or accounts.recent_failures(db, address=address, seconds=FAILURE_WINDOW_SECONDS) >= MAX_FAILURES_PER_ADDRESS
    ):
        abort(429, "Too many failed sign-ins. Wait 15 minutes and try again.")
    user = accounts.authenticate(db, email, password)
    if user is None:
        accounts.record_login_failure(db, email, address)
        error = "That email and password do not match an account."
        return render_template("login.html", email=email, next=request.form.get("next", ""), error=error), 400
    accounts.clear_failures(db, email)
    session.clear()  # a fresh session (and CSRF token) on every sign-in
    session["user_id"] = user.id
    return redirect(_safe_next(request.form.get("next")), code=303)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("pages.index"), code=303)


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors {ancestors}"
)


def framable_by(response, origins: tuple[str, ...]):
    """Let ``origins`` show this response in a frame (the embed player); without any, nobody may."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(
        ancestors=" ".join(origins) or "'none'"
    )
    if origins:
        response.headers["X-Frame-Options"] = ""  # cannot name several sites; the policy above does
    return response


def security_headers(response):
    """Headers every response carries: no inline script, no sniffing, no framing by other sites."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY.format(ancestors="'none'"))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.headers.get("X-Frame-Options") == "":
        del response.headers["X-Frame-Options"]
    else:
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def init_app(app, config) -> None:
    app.secret_key = secret_key(config)
    app.session_interface = ArchiveSessionInterface()
    app.config["SESSION_COOKIE_SAMESITE"] = app.config.get("SESSION_COOKIE_SAMESITE") or "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.before_request(load_user)
    app.before_request(check_csrf)
    app.after_request(security_headers)
    app.context_processor(
        lambda: {"current_user": g.get("user"), "is_staff": is_staff, "is_admin": is_admin, "csrf_token": csrf_token}
    )
    app.register_blueprint(bp)
    if config.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = config.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)
