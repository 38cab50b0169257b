"""Who may see and do what (the README's "Accounts, visibility and safety"): ``set-visibility`` of a
talk, ``users`` (accounts and their roles), ``tokens`` (API tokens for scripts) and ``review`` (a
signed, expiring link for a presenter to read a draft and suggest fixes)."""

from __future__ import annotations

import sys

import click

from archive.core.store.records import ROLES, VISIBILITIES
from archive.doors.cli.common import BadInput, cli, get_config, open_db, user_errors


@cli.command("set-visibility")
@click.argument("recording")
@click.argument("level", type=click.Choice(VISIBILITIES))
@click.pass_context
def set_visibility(ctx, recording, level):
    """Publish or hide a recording (RECORDING is its id or slug): public, members or staff."""
    from archive.core.store import recordings as store

    with open_db(get_config(ctx)) as db:
        found = store.find_recording(db, recording)
        if found is None:
            raise BadInput(f"no recording {recording!r} in the archive (see `archive list`)")
        store.set_visibility(db, found.id, level)
    click.echo(f"{found.id}\t{level}\t{found.title}")


@cli.group()
def users():
    """Accounts: admins, staff and members."""


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@click.pass_context
def users_add(ctx, email, role, password_stdin):
    """Make an account; the password is asked for (twice) unless --password-stdin."""
    from archive.core.store import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with open_db(get_config(ctx.find_root())) as db, user_errors():
        user = accounts.add_user(db, email, password, role)
    click.echo(f"{user.email}\t{user.role}")


@users.command("list")
@click.pass_context
def users_list(ctx):
    from archive.core.store import accounts

    with open_db(get_config(ctx.find_root())) as db:
        for user in accounts.list_users(db):
            click.echo(f"{user.email}\t{user.role}\t{user.created_at[:10]}")


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_context
def users_set_role(ctx, email, role):
    from archive.core.store import accounts

    with open_db(get_config(ctx.find_root())) as db, user_errors():
        user = accounts.set_role(db, email, role)
    click.echo(f"{user.email}\t{user.role}")


@users.command("remove")
@click.argument("email")
@click.pass_context
def users_remove(ctx, email):
    """Delete an account, its API tokens and its collections of moments."""
    from archive.core.store import accounts

    with open_db(get_config(ctx.find_root())) as db, user_errors():
        accounts.remove_user(db, email)
    click.echo(f"removed {email}")


@cli.group()
def tokens():
    """API tokens for scripts (Authorization: Bearer TOKEN)."""


@tokens.command("create")
@click.option("--user", "email", required=True, help="The staff account the token acts as.")
@click.option("--label", default="", help="What the token is for.")
@click.pass_context
def tokens_create(ctx, email, label):
    """Make a token; it is printed once and only its hash is kept."""
    from archive.core.store import accounts

    with open_db(get_config(ctx.find_root())) as db, user_errors():
        token, secret = accounts.create_token(db, email, label)
    click.echo(f"token {token.id} for {token.user_email} (shown once, keep it safe):", err=True)
    click.echo(secret)


@tokens.command("list")
@click.pass_context
def tokens_list(ctx):
    from archive.core.store import accounts

    with open_db(get_config(ctx.find_root())) as db:
        for token in accounts.list_tokens(db):
            state = f"revoked {token.revoked_at[:10]}" if token.revoked_at else "active"
            click.echo(f"{token.id:>4}  {token.user_email}  {state}  {token.label}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def tokens_revoke(ctx, token_id):
    """Revoke a token: requests with it are refused from now on."""
    from archive.core.store import accounts

    with open_db(get_config(ctx.find_root())) as db:
        if not accounts.revoke_token(db, token_id):
            raise BadInput(f"no active token {token_id} (see `archive tokens list`)")
    click.echo(f"revoked token {token_id}")


@cli.group()
def review():
    """Presenter review: a signed, expiring link for a presenter to read a draft and suggest fixes."""


@review.command("create")
@click.argument("recording")
@click.option("--presenter", required=True, help="The presenter's name, as the link greets them.")
@click.option("--email", default="", help="Their email, for the log (nothing is sent: you send the link).")
@click.option("--days", type=int, default=14, show_default=True, help="How long the link works.")
@click.pass_context
def review_create(ctx, recording, presenter, email, days):
    """Make a review link for RECORDING (its id or slug); it is printed once and only its hash is kept.

    The address starts with ARCHIVE_PUBLIC_URL, or else the running server's own address.
    """
    from archive.core.store import recordings as store
    from archive.doors.web.auth import secret_key
    from archive.doors.web.local import public_address
    from ingest import review as workflow

    config = get_config(ctx.find_root())
    with open_db(config) as db, user_errors():
        address = public_address(config)  # before the link exists: a refusal changes nothing
        found = store.find_recording(db, recording)
        if found is None:
            raise BadInput(f"no recording {recording!r} in the archive (see `archive list`)")
        link, token = workflow.create_link(
            db,
            found.id,
            presenter,
            presenter_email=email,
            days=days,
            created_by="command line",
            secret=secret_key(config),
        )
    click.echo(
        f"review link {link.id} for {link.presenter_name}, valid until {link.expires_at} "
        "(shown once: send it to them):",
        err=True,
    )
    click.echo(f"{address}/review/{token}")


@review.command("list")
@click.argument("recording")
@click.pass_context
def review_list(ctx, recording):
    """RECORDING's review links: id, state, presenter, until when, and suggestions pending / decided."""
    from archive.core.store import recordings as store
    from archive.core.store import reviews
    from ingest import review as workflow

    with open_db(get_config(ctx.find_root())) as db:
        found = store.find_recording(db, recording)
        if found is None:
            raise BadInput(f"no recording {recording!r} in the archive (see `archive list`)")
        for link, state in workflow.overview(db, found.id).links:
            counts = reviews.count_by_state(db, link.id)
            until = link.closed_at if state == "closed" else link.expires_at
            click.echo(
                f"{link.id:>4}  {state:<7}  {link.presenter_name}  {until[:16]}  "
                f"{counts['pending']} pending, {counts['approved']} approved, {counts['rejected']} rejected"
            )
