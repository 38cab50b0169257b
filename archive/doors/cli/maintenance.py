"""Keeping the archive whole (the README's section of that name): ``check`` (SQLite integrity, index
rows, media files), ``models`` (each installed model's source, licence and hashes), ``backup`` and
``restore``."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click

from archive.doors.cli.common import cli, get_config, open_db, user_errors


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def check(ctx, as_json):
    """Check the archive is whole: SQLite integrity, index rows per recording, media files.

    Exits 1 if anything does not add up.
    """
    from archive.core.store.check import check_archive
    from archive.core.store.recordings import list_recordings
    from archive.library import Archive
    from ingest.covers import cover_problems

    config = get_config(ctx)
    with open_db(config) as db, user_errors():
        report = check_archive(db, config, search_model=Archive(config).embedder.model_name)
        report.problems += cover_problems(config, list_recordings(db))
    if as_json:
        click.echo(json.dumps({**dataclasses.asdict(report), "ok": report.ok}, indent=2))
    else:
        for problem in report.problems:
            click.echo(problem)
        for note in report.notes:
            click.echo(f"note: {note}")
        summary = f"{report.recordings} recording(s), {report.segments} segments, {report.passages} passages"
        if report.notes:
            summary += f", {len(report.notes)} note(s)"
        click.echo(f"{'ok' if report.ok else f'{len(report.problems)} problem(s)'}: {summary}", err=True)
    if not report.ok:
        sys.exit(1)


@cli.command("models")
@click.option("--quick", is_flag=True, help="Check sizes only, without re-reading every byte (about 10 s).")
@click.pass_context
def models_(ctx, quick):
    """The installed models: state, source (publisher and revision, or PyPI packages), licence, hash check.

    Exits 1 if a model the archive uses is missing or its files no longer match their SHA-256.
    """
    from archive.core.model_files import installed_models
    from search.embedder import DEFAULT_MODEL
    from search.onnx_export import describe_export

    config = get_config(ctx)
    # The default Whisper is "base" (ingest.transcribe.DEFAULT_WHISPER; importing it here would cost 1.7 s).
    used = {config.embedding_model or DEFAULT_MODEL, f"whisper-{config.whisper_model or 'base'}"}
    failed = False
    for model in installed_models(rehash=not quick):
        click.echo(f"{model.name}: {model.state}" + (f", {model.megabytes:.0f} MB" if model.megabytes else ""))
        if model.megabytes:
            click.echo(f"  from     {model.source}\n  licence  {model.licence}\n  folder   {model.folder}")
            if export := describe_export(model.folder, rehash=not quick):
                click.echo(f"  onnx     {export}")
                failed |= not export.startswith(("installed", "verified"))
        failed |= model.name in used and model.state not in ("installed", "verified")
    if failed:
        sys.exit(1)


@cli.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
@click.pass_context
def backup_(ctx, dest):
    """Copy the archive to DEST (a new or empty directory), safely while it runs."""
    from archive.core.store.backup import backup

    config = get_config(ctx)
    with open_db(config) as db, user_errors():
        summary = backup(db, config, dest)
    click.echo(f"backed up {summary.files} file(s), {summary.bytes / 2**20:,.1f} MB, to {summary.path}")


@cli.command("restore")
@click.argument("source", type=click.Path(path_type=Path))
@click.pass_context
def restore_(ctx, source):
    """Restore a backup into the (empty) data directory, after checking every file against its manifest."""
    from archive.core.store.backup import restore

    with user_errors():
        summary = restore(source, get_config(ctx))
    click.echo(f"restored {summary.files} file(s), {summary.bytes / 2**20:,.1f} MB, into {summary.path}")
