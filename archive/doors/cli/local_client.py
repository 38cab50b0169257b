"""The client of the `archive serve` already running on this data directory. It wrote its address, a
read-only token and its worker's process id to server.json (archive/doors/web/local.py).
``archive search`` asks it, where the search model is loaded already (a fraction of a second),
rather than load the model itself (seconds); ``archive ingest`` hands its files to its worker,
whose Whisper and search models are loaded, when that worker has nothing else to do."""

from __future__ import annotations

import json

import click

from archive.core.config import Config
from archive.core.errors import present
from archive.core.store.records import Job
from archive.doors.cli.common import BadInput


def search_on_server(config: Config, params: dict) -> dict | None:
    """The search answered by the `archive serve` of this data directory, or None if none answers."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from archive.doors.web.local import read_server_file

    server = read_server_file(config)
    if server is None:
        return None
    request = urllib.request.Request(
        f"{server['url']}/api/search?{urllib.parse.urlencode(params)}",
        headers={"Authorization": f"Bearer {server['token']}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as exc:
        if exc.code == 400:
            raise BadInput(json.load(exc).get("error", "the search was refused")) from None
        return None
    except (OSError, ValueError):
        return None  # not answering after all: search here


def idle_local_worker(config: Config) -> int | None:
    """The process id of the worker beside this data directory's running `archive serve`, if it has
    nothing queued or running: `archive ingest` hands its files to it, whose models are loaded
    already, instead of loading them itself (seconds of start-up for every short talk)."""
    from archive.core.store import connect
    from archive.doors.web.local import read_server_file

    server = read_server_file(config)
    if server is None or server["worker_pid"] is None:
        return None
    db = connect(config.db_path)
    try:
        busy = db.execute("SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')").fetchone()[0]
    finally:
        db.close()
    return None if busy else int(server["worker_pid"])


# How often the command looks at the job it handed over (its progress bar moves at this pace).
FOLLOW_SECONDS = 0.25


def follow_job(config: Config, job_id: int, worker_pid: int, progress) -> Job:
    """Wait for the local worker to finish job ``job_id``, showing its progress; returns it done or
    failed. If the worker stops first, says so: the job stays queued for the next worker."""
    import time

    from archive.core.store import connect
    from archive.core.store import jobs as job_store
    from archive.doors.web.local import process_alive

    db = connect(config.db_path)
    try:
        while True:
            job = job_store.get_job(db, job_id)
            if job is None or job.state in ("done", "failed"):
                return present(job)
            progress(job.step or "waiting for the worker", job.percent / 100, job.seconds_left or 0.0)
            if not process_alive(worker_pid):
                raise click.ClickException(
                    f"the server's worker stopped; job {job_id} waits for the next worker (archive jobs)"
                )
            time.sleep(FOLLOW_SECONDS)
    finally:
        db.close()
