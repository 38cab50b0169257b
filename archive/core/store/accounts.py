"""People who sign in, the API tokens their scripts use, and failed logins (for rate limiting).

Passwords are hashed with scrypt (memory-hard, werkzeug's implementation). Tokens are
32 random bytes shown once; only their SHA-256 is stored (a token is too random to guess,
so a fast hash is enough, and lookups stay one indexed query).
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlite_utils import Database
from werkzeug.security import check_password_hash, generate_password_hash

from archive.core.errors import UserError, present
from archive.core.store.recordings import utc_now
from archive.core.store.records import ROLES

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "ta_"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AccountError(UserError):
    """A request about accounts that cannot be met; the message is for the person who asked."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: str
    created_at: str


@dataclass(frozen=True)
class Token:
    id: int
    user_email: str
    label: str
    created_at: str
    revoked_at: str | None


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email):
        raise AccountError(f"{email!r} is not an email address")
    return email


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role must be one of: {', '.join(ROLES)}")
    return role


def _user(row) -> User:
    return User(id=row[0], email=row[1], role=row[2], created_at=row[3])


def add_user(db: Database, email: str, password: str, role: str) -> User:
    email, role = normalize_email(email), _check_role(role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if get_user(db, email):
        raise AccountError(f"{email} already has an account")
    with db.atomic():
        db.table("users").insert(
            {
                "email": email,
                "password_hash": generate_password_hash(password, method="scrypt"),
                "role": role,
                "created_at": utc_now(),
            }
        )
    return present(get_user(db, email), "account")


def get_user(db: Database, email: str) -> User | None:
    row = db.execute(
        "SELECT id, email, role, created_at FROM users WHERE email = ?", [email.strip().lower()]
    ).fetchone()
    return _user(row) if row else None


def get_user_by_id(db: Database, user_id: int) -> User | None:
    row = db.execute("SELECT id, email, role, created_at FROM users WHERE id = ?", [user_id]).fetchone()
    return _user(row) if row else None


def list_users(db: Database) -> list[User]:
    return [_user(r) for r in db.execute("SELECT id, email, role, created_at FROM users ORDER BY email")]


def set_role(db: Database, email: str, role: str) -> User:
    role = _check_role(role)
    with db.atomic():
        cursor = db.execute("UPDATE users SET role = ? WHERE email = ?", [role, email.strip().lower()])
    if not cursor.rowcount:
        raise AccountError(f"no account for {email}")
    return present(get_user(db, email), "account")


def remove_user(db: Database, email: str) -> None:
    """Delete an account, its API tokens and its collections of moments (theirs to keep or drop)."""
    user = get_user(db, email) or _missing(email)
    with db.atomic():
        db.execute("DELETE FROM api_tokens WHERE user_id = ?", [user.id])
        db.execute(
            "DELETE FROM collection_clips WHERE collection_id IN (SELECT id FROM collections WHERE owner_id = ?)",
            [user.id],
        )
        db.execute("DELETE FROM collections WHERE owner_id = ?", [user.id])
        db.execute("DELETE FROM users WHERE id = ?", [user.id])


def _missing(email: str):
    raise AccountError(f"no account for {email}")


def authenticate(db: Database, email: str, password: str) -> User | None:
    """The user whose email and password these are, or None (in the same time either way)."""
    row = db.execute(
        "SELECT id, email, role, created_at, password_hash FROM users WHERE email = ?", [email.strip().lower()]
    ).fetchone()
    if row is None:
        check_password_hash(_dummy_hash(), password)  # take as long as a real check: no account probing
        return None
    return _user(row) if check_password_hash(row[4], password) else None


# -- API tokens ----------------------------------------------------------------------


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash("not anyone's password", method="scrypt")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Database, email: str, label: str = "") -> tuple[Token, str]:
    """A new token for ``email``'s scripts: (its record, the token itself, shown only now)."""
    user = get_user(db, email) or _missing(email)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.atomic():
        token_id = present(
            db.table("api_tokens")
            .insert(
                {"user_id": user.id, "token_hash": _token_hash(token), "label": label.strip(), "created_at": utc_now()}
            )
            .last_pk
        )
    return present(get_token(db, token_id), "token"), token


def get_token(db: Database, token_id: int) -> Token | None:
    row = db.execute(
        "SELECT t.id, u.email, coalesce(t.label, ''), t.created_at, t.revoked_at "
        "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
        [token_id],
    ).fetchone()
    return Token(*row) if row else None


def list_tokens(db: Database) -> list[Token]:
    rows = db.execute(
        "SELECT t.id, u.email, coalesce(t.label, ''), t.created_at, t.revoked_at "
        "FROM api_tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id"
    ).fetchall()
    return [Token(*row) for row in rows]


def revoke_token(db: Database, token_id: int) -> bool:
    with db.atomic():
        cursor = db.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [utc_now(), token_id]
        )
    return cursor.rowcount > 0


def user_for_token(db: Database, token: str) -> User | None:
    """The user a token belongs to, if it exists and has not been revoked."""
    row = db.execute(
        "SELECT u.id, u.email, u.role, u.created_at FROM api_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.token_hash = ? AND t.revoked_at IS NULL",
        [_token_hash(token)],
    ).fetchone()
    return _user(row) if row else None


# -- login rate limits -----------------------------------------------------------------


def _since(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def record_login_failure(db: Database, email: str, address: str) -> None:
    with db.atomic():
        db.table("login_failures").insert({"email": email.strip().lower(), "address": address, "at": utc_now()})
        db.execute("DELETE FROM login_failures WHERE at < ?", [_since(86_400)])


def recent_failures(db: Database, *, email: str | None = None, address: str | None = None, seconds: float) -> int:
    """Failed logins in the last ``seconds`` for this account, or from this address."""
    column, value = ("email", email.strip().lower()) if email is not None else ("address", address)
    return db.execute(
        f"SELECT count(*) FROM login_failures WHERE {column} = ? AND at >= ?", [value, _since(seconds)]
    ).fetchone()[0]


def clear_failures(db: Database, email: str) -> None:
    with db.atomic():
        db.execute("DELETE FROM login_failures WHERE email = ?", [email.strip().lower()])
