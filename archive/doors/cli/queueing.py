"""The ingest queue: ``jobs`` lists it, ``retry`` queues a failed job again, and ``worker`` runs the
jobs, on this machine or (``--server``) for an archive on another one, over its API."""

from __future__ import annotations

import dataclasses
import json

import click

from archive.core.errors import UserError
from archive.doors.cli.common import BadInput, cli, get_config, open_db, user_errors
from archive.doors.cli.supervisor import load_models, log_to_stderr


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def jobs(ctx, as_json):
    """List ingest jobs, newest first."""
    from archive.core.store import jobs as job_store

    with open_db(get_config(ctx)) as db:
        found = job_store.list_jobs(db)
    if as_json:
        click.echo(json.dumps({"jobs": [j.summary() for j in found]}, indent=2))
        return
    for j in found:
        tail = f"  recording {j.recording_id}" if j.recording_id else (f"  {j.error}" if j.error else "")
        click.echo(f"{j.id:>4}  {j.state:<8} {j.percent:5.1f}%  {j.title}{tail}")


@cli.command()
@click.argument("job_id", type=int)
@click.pass_context
def retry(ctx, job_id):
    """Queue a failed job again."""
    from archive.library import Archive

    if not Archive(get_config(ctx)).queue.retry(job_id):
        raise BadInput(f"job {job_id} is not a failed job")
    click.echo(f"job {job_id}\tqueued")


@cli.command()
@click.option("--workers", default=1, show_default=True, help="Jobs to run at once.")
@click.option("--until-empty", is_flag=True, help="Run the queued jobs, then exit.")
@click.option("--server", default="", help="The archive's URL: work over its API (no shared disk; needs Redis).")
@click.option("--token", envvar="ARCHIVE_TOKEN", default="", help="A staff API token for --server (or ARCHIVE_TOKEN).")
@click.option("--model", help="The Whisper model: base, tiny.en (faster) or a CTranslate2 model folder.")
@click.option("--device", default="", help="cpu or cuda (default: ARCHIVE_WHISPER_DEVICE).")
@click.pass_context
def worker(ctx, workers, until_empty, server, token, model, device):
    """Run queued ingest jobs, here or (with --server) for an archive on another machine."""
    from archive.library import Archive

    log_to_stderr()
    config = get_config(ctx)
    if model:
        config = dataclasses.replace(config, whisper_model=str(model))
    if device:
        config = dataclasses.replace(config, whisper_device=device)
    if server:
        from ingest.remote import RemoteWorker

        if not token:
            raise BadInput("--server needs a staff API token: --token or ARCHIVE_TOKEN (see `archive tokens create`)")
        with user_errors():
            remote = RemoteWorker(config, server, token)
            load_models("worker: Whisper", remote.load)
            remote.consume(workers)
        return
    with user_errors():
        services = Archive(config, answers_queries=False)
        queue = services.queue  # a bad ARCHIVE_QUEUE_URL is refused here, before minutes of model loading
        try:
            load_models(
                "worker: Whisper, the search model and the speaker voices",
                lambda: services.warm(search=False, transcription=True),
            )
        except UserError as exc:  # keep going: each job then fails saying why, and retries once it is fixed
            click.echo(f"worker: {exc}; jobs will fail until that is fixed", err=True)
        if until_empty:
            queue.recover()
            ran = queue.run_pending()
            click.echo(f"ran {ran} job(s)", err=True)
        else:
            queue.consume(workers)
