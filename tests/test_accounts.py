"""Accounts: the CLI that makes them, signing in and out, sessions, rate limits, API tokens, CSRF."""

from __future__ import annotations

import io
import os
import re
import stat

import pytest
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from archive.core.store import accounts, connect
from archive.doors.cli import cli
from archive.doors.web.auth import MAX_FAILURES_PER_ACCOUNT, MAX_FAILURES_PER_ADDRESS

from .helpers import JFK

PASSWORD = "correct horse battery"


def add(runner, email, role="member", password=PASSWORD):
    return runner.invoke(cli, ["users", "add", email, "--role", role, "--password-stdin"], input=password + "\n")


def login(client, email, password=PASSWORD, **extra):
    client.get("/login")  # a session, with its CSRF token
    with client.session_transaction() as session:
        token = session["csrf"]
    form = {"email": email, "password": password, "csrf_token": token, **extra}
    return client.post("/login", data=form)


def test_users_cli_adds_lists_changes_and_removes(runner, db):
    assert add(runner, "Ada@Example.org", "admin").output == "ada@example.org\tadmin\n"
    prompted = runner.invoke(
        cli, ["users", "add", "bo@example.org", "--role", "member"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert prompted.exit_code == 0, prompted.output
    listed = runner.invoke(cli, ["users", "list"]).output
    assert "ada@example.org\tadmin" in listed and "bo@example.org\tmember" in listed
    assert runner.invoke(cli, ["users", "set-role", "bo@example.org", "staff"]).output == "bo@example.org\tstaff\n"
    assert runner.invoke(cli, ["users", "remove", "bo@example.org"]).exit_code == 0
    assert "bo@example.org" not in runner.invoke(cli, ["users", "list"]).output
    stored = db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert stored.startswith("scrypt:") and PASSWORD not in stored


@pytest.mark.parametrize(
    "args, message",
    [
        (["users", "add", "not-an-email", "--role", "member", "--password-stdin"], "is not an email address"),
        (["users", "add", "a@b.org", "--role", "member", "--password-stdin"], "at least 10 characters"),
        (["users", "add", "a@b.org", "--role", "king", "--password-stdin"], "Invalid value for '--role'"),
        (["users", "set-role", "nobody@b.org", "staff"], "no account for nobody@b.org"),
        (["users", "remove", "nobody@b.org"], "no account for nobody@b.org"),
        (["tokens", "create", "--user", "nobody@b.org"], "no account for nobody@b.org"),
        (["tokens", "revoke", "99"], "no active token 99"),
    ],
)
def test_account_mistakes_are_one_line_and_exit_2(runner, args, message):
    result = runner.invoke(cli, args, input="short\n")
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_duplicate_accounts_are_refused(runner):
    add(runner, "ada@example.org")
    again = add(runner, "ADA@example.org")
    assert again.exit_code == 2 and "already has an account" in again.output


def test_sign_in_and_out_with_a_secure_session_cookie(runner, app, client):
    add(runner, "ada@example.org", "member")
    response = login(client, "ada@example.org", next="/search?q=funding")
    assert response.status_code == 303 and response.headers["Location"] == "/search?q=funding"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert "ada@example.org" in client.get("/").get_data(as_text=True)
    with client.session_transaction() as session:
        token = session["csrf"]
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert "ada@example.org" not in client.get("/").get_data(as_text=True)

    https = app.test_client()
    https.get("/login", base_url="https://archive.example.org")
    with https.session_transaction(base_url="https://archive.example.org") as session:
        token = session["csrf"]
    secure = https.post(
        "/login",
        base_url="https://archive.example.org",
        data={"email": "ada@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert "Secure" in secure.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]
)
def test_sign_in_never_redirects_off_the_site(runner, client, target):
    add(runner, "ada@example.org")
    assert login(client, "ada@example.org", next=target).headers["Location"] == "/"


def test_a_wrong_password_says_so_without_telling_which_part(runner, client):
    add(runner, "ada@example.org")
    wrong = login(client, "ada@example.org", "not the password")
    unknown = login(client, "nobody@example.org", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert "do not match an account" in response.get_data(as_text=True)


def test_sign_in_attempts_are_limited_per_account_and_per_address(runner, client, app):
    add(runner, "ada@example.org")
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        assert login(client, "ada@example.org", "guess guess guess").status_code == 400
    blocked = login(client, "ada@example.org")  # even the right password, until the window passes
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.get_data(as_text=True)
    # Another address may still sign in to another account ...
    other = app.test_client()
    add(runner, "bo@example.org")
    other.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert login(other, "bo@example.org").status_code == 303
    # ... but one address trying many accounts is stopped too.
    spray = app.test_client()
    spray.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for i in range(MAX_FAILURES_PER_ADDRESS):
        login(spray, f"user{i}@example.org", "guess guess guess")
    assert login(spray, "bo@example.org").status_code == 429


def test_state_changes_need_the_sessions_csrf_token(demo_data_dir, staff_client):
    url = "/recordings/relational-social-prescribing-staying-with-clients/visibility"
    forged = staff_client.post(url, data={"visibility": "staff"}, headers={"X-CSRF-Token": "wrong"})
    assert forged.status_code == 400 and "did not come from this site" in forged.get_data(as_text=True)
    del staff_client.environ_base["HTTP_X_CSRF_TOKEN"]
    assert staff_client.post(url, data={"visibility": "staff"}).status_code == 400
    with staff_client.session_transaction() as session:
        token = session["csrf"]
    assert staff_client.post(url, data={"visibility": "staff", "csrf_token": token}).status_code == 303
    assert staff_client.get("/logout").status_code == 405  # GET never changes anything


def test_a_login_form_without_its_token_is_refused(runner, client):
    add(runner, "ada@example.org")
    response = client.post("/login", data={"email": "ada@example.org", "password": PASSWORD})
    assert response.status_code == 400


def upload_with_token(client, token, **headers):
    media = FileStorage(io.BytesIO(JFK.read_bytes()), filename="jfk.flac", content_type="audio/flac")
    boundary, body = encode_multipart({"title": "Scripted", "speakers": "JFK", "visibility": "members", "media": media})
    return client.post(
        "/api/recordings",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Authorization": f"Bearer {token}", **headers},
    )


def test_api_tokens_upload_without_csrf_and_revocation_is_immediate(runner, client, config):
    add(runner, "ops@example.org", "staff")
    created = runner.invoke(cli, ["tokens", "create", "--user", "ops@example.org", "--label", "nightly import"])
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("ta_") and created.exit_code == 0
    db = connect(config.db_path)
    assert token not in str(db.execute("SELECT * FROM api_tokens").fetchall())  # only its hash is kept
    db.close()

    response = upload_with_token(client, token)
    assert response.status_code == 202 and re.fullmatch(r"/api/jobs/\d+", response.headers["Location"])
    job = response.json
    assert job["state"] == "queued" and job["title"] == "Scripted"
    state = client.get(response.headers["Location"], headers={"Authorization": f"Bearer {token}"})
    assert state.status_code == 200 and state.json["id"] == job["id"]

    token_id = re.search(r"^\s*(\d+)", runner.invoke(cli, ["tokens", "list"]).output).group(1)
    assert runner.invoke(cli, ["tokens", "revoke", token_id]).exit_code == 0
    assert "revoked" in runner.invoke(cli, ["tokens", "list"]).output
    refused = client.get(f"/api/jobs/{job['id']}", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and refused.json["error"]
    assert upload_with_token(client, token).status_code == 401


def test_a_members_token_cannot_upload(runner, client):
    add(runner, "bo@example.org", "member")
    token = runner.invoke(cli, ["tokens", "create", "--user", "bo@example.org"]).stdout.strip().splitlines()[-1]
    assert upload_with_token(client, token).status_code == 403


def test_removing_an_account_ends_its_sessions_and_tokens(runner, app):
    from .conftest import signed_in

    client = signed_in(app, "staff", "gone@example.org")
    assert client.get("/jobs").status_code == 200
    db = connect(app.config["ARCHIVE"].db_path)
    _, token = accounts.create_token(db, "gone@example.org")
    db.close()
    assert runner.invoke(cli, ["users", "remove", "gone@example.org"]).exit_code == 0
    assert client.get("/jobs").status_code == 302  # signed out: sent to the sign-in page
    assert app.test_client().get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_secret_key_is_made_once_and_kept_private(data_dir):
    from archive.doors.web import create_app

    first = create_app({"data_dir": data_dir}).secret_key
    assert create_app({"data_dir": data_dir}).secret_key == first and len(first) >= 64
    assert stat.S_IMODE(os.stat(data_dir / "secret_key").st_mode) == 0o600
    assert create_app({"data_dir": data_dir, "secret_key": "from-config"}).secret_key == "from-config"
