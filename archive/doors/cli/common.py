"""What every ``archive`` command shares: the ``cli`` group they hang on, the configuration and the
database they open, and the one way they refuse bad input (exit status 2, one line on stderr).

Nothing here imports more than click and archive.core: commands import the store (SQLite), ingest
and search themselves, when they run, so `archive --help` loads none of them (tests/test_config.py)."""

from __future__ import annotations

from contextlib import contextmanager

import click

from archive.core.config import Config, load_config
from archive.core.errors import UserError
from archive.core.store.records import split_terms


class BadInput(click.ClickException):
    """Input we cannot use: exit status 2, like a usage error."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


@contextmanager
def user_errors():
    """Turn what the person asked for and the archive refused into one clear line and exit status 2."""
    try:
        yield
    except UserError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:  # the machine, not the input: a full disk, a read-only directory
        raise click.ClickException(_os_reason(exc)) from None
    except Exception as exc:  # another process held the write lock past the busy timeout
        busy = _busy(exc)
        if busy is None:
            raise
        raise busy from None


def _busy(exc: BaseException) -> click.ClickException | None:
    """SQLite's "database is locked" after the busy timeout, as one line (exit 1); None for anything else."""
    from archive.core.store import busy_refusal

    refusal = busy_refusal(exc)
    return click.ClickException(refusal.sentence()) if refusal else None


def _os_reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason


def get_config(ctx: click.Context) -> Config:
    return ctx.ensure_object(dict)["config"]


@contextmanager
def open_db(config: Config):
    from sqlite_utils.db import sqlite3

    from archive.core.store import busy_refusal, connect

    try:
        db = connect(config.db_path)
    except (OSError, sqlite3.Error) as exc:
        refusal = busy_refusal(exc)
        reason = refusal.sentence() if refusal else _os_reason(exc) if isinstance(exc, OSError) else str(exc)
        raise click.ClickException(f"cannot open the archive in {config.data_dir} ({reason})") from None
    try:
        yield db
    except sqlite3.OperationalError as exc:
        busy = _busy(exc)
        if busy is None:
            raise
        raise busy from None
    finally:
        db.close()


@click.group()
@click.version_option(package_name="talk-archive")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Talk Archive: ingest, search and share Community of Practice recordings.

    The archive lives in ARCHIVE_DATA_DIR (default: ./media).
    """
    with user_errors():
        ctx.ensure_object(dict)["config"] = load_config()


def split_term_options(values: tuple[str, ...]) -> list[str]:
    """Every term of a repeatable option whose values may each hold several, comma-separated."""
    return [term for value in values for term in split_terms(value)]
