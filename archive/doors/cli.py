"""The ``archive`` command: thin shells over the library. Bad input exits 2 with one line on stderr."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from archive.core.config import Config, load_config
from archive.core.errors import UserError
from archive.core.export import CHAPTER_FORMATS, FORMATS
from archive.core.store.records import ROLES, VISIBILITIES, RecordingMeta, split_terms
from archive.core.timecode import clock

# Commands import the store (SQLite), ingest and search themselves, when they run:
# `archive --help` loads none of them (tests/test_config.py).


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


def _os_reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"{reason}: {exc.filename}" if exc.filename else reason


def get_config(ctx: click.Context) -> Config:
    return ctx.ensure_object(dict)["config"]


@contextmanager
def open_db(config: Config):
    from sqlite_utils.db import sqlite3

    from archive.core.store import connect

    try:
        db = connect(config.db_path)
    except (OSError, sqlite3.Error) as exc:
        reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
        raise click.ClickException(f"cannot open the archive in {config.data_dir} ({reason})") from None
    try:
        yield db
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


def companion_options(command):
    """The meeting's companion files, for `ingest` (one recording) and `attach`."""
    command = click.option(
        "--slides",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The presenter's slides (PDF): shown beside the transcript at the moment each is discussed.",
    )(command)
    command = click.option(
        "--chat-start",
        metavar="HH:MM:SS",
        help='For a "Save chat" export (clock times): when the recording started (default: at the first message).',
    )(command)
    command = click.option(
        "--chat",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The meeting's Zoom chat export, shown beside the transcript.",
    )(command)
    return click.option(
        "--zoom-transcript",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The meeting's Zoom or Teams transcript (WebVTT): names who said each line.",
    )(command)


def _split_terms(values: tuple[str, ...]) -> list[str]:
    return [term for value in values for term in split_terms(value)]


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--title", default="", help="Talk title (default: from the file name).")
@click.option("--speaker", "speakers", multiple=True, help="Speaker name; repeat for several.")
@click.option("--org", "organization", default="", help="Organisation presenting.")
@click.option("--date", default=None, help="Date of the talk, YYYY-MM-DD.")
@click.option("--tag", "tags", multiple=True, help="Topic tag; repeat for several.")
@click.option("--description", default="", help="A sentence or two about the talk.")
@click.option("--series", default="", help='The series it belongs to ("Community of Practice").')
@click.option("--vocab", multiple=True, help='Names and terms to spell right, comma-separated: "Keralty, link worker".')
@click.option("--model", help="The Whisper model for this run: base, tiny.en (faster) or a CTranslate2 model folder.")
@click.option(
    "--visibility",
    type=click.Choice(VISIBILITIES),
    default="staff",
    show_default=True,
    help="Who can see it: everyone, signed-in members, or staff only (a draft).",
)
@click.option("--queue", "use_queue", is_flag=True, help="Queue the ingest for a worker and return at once.")
@companion_options
@click.pass_context
def ingest(
    ctx,
    files,
    title,
    speakers,
    organization,
    date,
    tags,
    description,
    series,
    vocab,
    model,
    visibility,
    use_queue,
    zoom_transcript,
    chat,
    chat_start,
    slides,
):
    """Transcribe and index recordings (audio or video). Prints each new recording's id and URL."""
    from archive.library import Archive
    from ingest.companions import attach_companions
    from ingest.pipeline import ingest_file

    config = get_config(ctx)
    if model:
        config = dataclasses.replace(config, whisper_model=str(model))
    with user_errors():
        meta = RecordingMeta(
            title=title,
            speakers=list(speakers),
            organization=organization,
            date=date,
            tags=list(tags),
            description=description,
            series=series,
            vocab=_split_terms(vocab),
            visibility=visibility,
        ).validated()
        if (zoom_transcript or chat or slides) and len(files) != 1:
            raise BadInput("--zoom-transcript, --chat and --slides go with one recording; ingest the others separately")
        companions = _companions(zoom_transcript, chat, chat_start, slides)
    services = Archive(config)
    if use_queue:

        def queue_one(path: Path) -> None:
            job = services.queue.submit(path, meta, companions=companions)
            click.echo(f"job {job.id}\tqueued\t{path}")

        _for_each_file(files, queue_one)
        return

    with open_db(config) as db:

        def ingest_one(path: Path) -> None:
            with _Progress(path.name) as progress:
                result = ingest_file(
                    db,
                    config,
                    path,
                    meta,
                    transcriber=services.transcriber,
                    embedder=services.indexing_embedder,
                    progress=progress,
                    companions=companions,
                    diarizer=services.diarizer,
                )
            if result.notes:
                click.echo(f"{path}: {result.notes}", err=True)
            rec = result.recording
            if not result.created:
                click.echo(f"{path}: already in the archive as recording {rec.id}", err=True)
                for line in attach_companions(db, rec.id, companions, services.indexing_embedder):
                    click.echo(line, err=True)
            click.echo(f"{rec.id}\t{rec.url}")

        _for_each_file(files, ingest_one)


class _Progress:
    """An ingest's progress bar on stderr, naming the step it is at. It appears once the file is
    known to be media, so a refused file prints one line: its error."""

    def __init__(self, name: str):
        self.name = name
        self.bar: Any = None  # click's ProgressBar, opened on the first step

    def __enter__(self) -> _Progress:
        return self

    def __call__(self, step: str, fraction: float) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=100, label=self.name, file=sys.stderr).__enter__()
        self.bar.label = f"{self.name} ({step})"
        self.bar.update(int(fraction * 100) - self.bar.pos)

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc_info)


def _companions(zoom_transcript: Path | None, chat: Path | None, chat_start: str | None, slides: Path | None):
    """The companion files given on the command line, read and parsed; a CompanionError names a bad one."""
    from ingest.companions import read_companions

    return read_companions(_read_companion(zoom_transcript), _read_companion(chat), _read_companion(slides), chat_start)


def _read_companion(path: Path | None) -> tuple[str, bytes] | None:
    """A companion file's name and bytes, or one clear message."""
    from ingest.companions import CompanionError

    if path is None:
        return None
    try:
        return path.name, path.read_bytes()
    except FileNotFoundError:
        raise CompanionError(f"{path}: no such file") from None
    except OSError as exc:
        raise CompanionError(f"{path.name}: cannot be read ({exc.strerror})") from None


@cli.command()
@click.argument("recording")
@companion_options
@click.pass_context
def attach(ctx, recording, zoom_transcript, chat, chat_start, slides):
    """Attach companion files to a talk already in the archive (RECORDING is its id or slug)."""
    from archive.core.store import recordings as store
    from archive.library import Archive
    from ingest.companions import attach_companions

    if not (zoom_transcript or chat or slides):
        raise BadInput("attach what? give --zoom-transcript FILE, --chat FILE and/or --slides FILE")
    config = get_config(ctx)
    with open_db(config) as db, user_errors():
        found = store.find_recording(db, recording)
        if found is None:
            raise BadInput(f"no recording {recording!r} in the archive (see `archive list`)")
        companions = _companions(zoom_transcript, chat, chat_start, slides)
        for line in attach_companions(db, found.id, companions, Archive(config).indexing_embedder):
            click.echo(f"{line} (recording {found.id})")


def _for_each_file(files, action) -> None:
    """Run ``action(path)`` on every file; a failure is one line on stderr and the rest go on.

    Exits with the worst status seen: 2 for bad input, 1 for trouble on this machine.
    """
    status = 0
    for path in files:
        try:
            with user_errors():
                action(path)
        except click.ClickException as exc:
            exc.show()
            status = max(status, exc.exit_code)
    if status:
        sys.exit(status)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx, as_json):
    """List the recordings in the archive, newest talk first."""
    from archive.core.store import recordings as store

    with open_db(get_config(ctx)) as db:
        recordings = store.list_recordings(db)
    if as_json:
        click.echo(json.dumps({"recordings": [r.summary() for r in recordings]}, indent=2))
        return
    for r in recordings:
        who = ", ".join(r.speakers) or "-"
        when, length = r.date or "----------", clock(r.duration, always_hours=False)
        click.echo(f"{r.id:>4}  {when}  {length:>8}  {r.visibility:<7}  {r.title}  ({who})")


@cli.command("export")
@click.argument("recording")
@click.option("--format", "fmt", type=click.Choice(list(FORMATS)), default="txt", show_default=True)
@click.pass_context
def export_(ctx, recording, fmt):
    """Print a recording's transcript (RECORDING is its id or slug)."""
    from archive.core.export import export
    from archive.core.store import recordings as store

    with open_db(get_config(ctx)) as db:
        found = store.find_recording(db, recording)
        if found is None:
            raise BadInput(f"no recording {recording!r} in the archive (see `archive list`)")
        click.echo(export(found, store.get_segments(db, found.id), fmt), nl=False)


@cli.command()
@click.argument("recording")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(CHAPTER_FORMATS)),
    default="txt",
    show_default=True,
    help="txt: one '12:34 Title' a line (what --set reads); vtt: a WebVTT chapters track; json: Podcasting 2.0.",
)
@click.option(
    "--set",
    "outline_file",
    type=click.File("r"),
    help="Replace the outline with the '12:34 Title' lines of this file ('-': standard input); "
    "an empty file brings the automatic outline back.",
)
@click.pass_context
def chapters(ctx, recording, fmt, outline_file):
    """Print a talk's chapters, or set them (RECORDING is its id or slug)."""
    from archive.core.store import recordings as store
    from ingest.chapters import set_chapters

    with open_db(get_config(ctx)) as db, user_errors():
        found = store.find_recording(db, recording)
        if found is None:
            raise BadInput(f"no recording {recording!r} in the archive (see `archive list`)")
        outline = set_chapters(db, found.id, outline_file.read()) if outline_file else store.chapters(db, found.id)
    click.echo(CHAPTER_FORMATS[fmt].write(found, outline), nl=False)


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

    _log_to_stderr()
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
            _loaded("worker: Whisper", remote.load)
            remote.consume(workers)
        return
    with user_errors():
        services = Archive(config)
        queue = services.queue  # a bad ARCHIVE_QUEUE_URL is refused here, before minutes of model loading
        try:
            _loaded(
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


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--settle",
    type=click.FloatRange(min=0.5),
    default=10.0,
    show_default=True,
    help="Seconds a file must stay unchanged before it is taken (a copy in progress is left alone).",
)
@click.pass_context
def watch(ctx, folder, settle):
    """Queue recordings that appear in FOLDER for ingest, with their companions of the same name
    (talk.vtt: the Zoom/Teams transcript; talk.json: title, speakers, organization, date, tags,
    description, vocab, visibility). `archive serve` or `archive worker` runs the jobs."""
    import threading

    from archive.library import Archive
    from ingest.watch import DropFolder

    config = get_config(ctx)
    drop = DropFolder(folder, Archive(config).queue, settle_seconds=settle)
    click.echo(f"watching {drop.folder} (Ctrl-C to stop)", err=True)

    def report(taken) -> None:
        click.echo(f"job {taken.job_id}\t{'failed: ' + taken.error if taken.error else 'queued'}\t{taken.path.name}")

    try:
        drop.watch(threading.Event(), report)
    except KeyboardInterrupt:
        pass


def _log_to_stderr() -> None:
    """What servers and workers log, one line each; the model libraries only when something is wrong."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "transformers", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _loaded(what: str, load) -> None:
    """Load models now, saying so: a server or worker is ready when it says it is, not on its first request."""
    started = time.perf_counter()
    click.echo(f"{what}: loading...", err=True)
    load()
    click.echo(f"{what}: loaded in {time.perf_counter() - started:.1f} s", err=True)


# The worker beside `archive serve` runs at this lower CPU priority, so searches never wait
# behind transcription (bench/bench_load.py: README, "Keeping it whole").
WORKER_NICENESS = 10


def _start_worker_process() -> subprocess.Popen:
    """``archive worker`` as a child at lower priority, ended with this process (even if it is killed)."""

    def lower_priority_and_die_with_parent() -> None:
        os.nice(WORKER_NICENESS)
        _die_with_parent()

    return subprocess.Popen([sys.executable, "-m", "archive", "worker"], preexec_fn=lower_priority_and_die_with_parent)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, help="Request threads per process.")
@click.option(
    "--processes",
    default=0,
    type=click.IntRange(0, 64),
    help="Server processes sharing the port and the loaded model (0: one per CPU core).",
)
@click.option("--no-worker", is_flag=True, help="Run no ingest worker beside the server (they run elsewhere).")
@click.pass_context
def serve(ctx, host, port, threads, processes, no_worker):
    """Serve the archive over HTTP (waitress), with an ingest worker beside it at lower CPU priority."""
    import socket

    from archive.core.store.check import clean_leftovers, stale_vectors
    from archive.doors.web import create_app
    from archive.doors.web.local import give_operator_token, write_server_file
    from archive.library import Archive

    _log_to_stderr()
    config = get_config(ctx)
    with user_errors():
        # One thread to embed queries: beside the worker, more made searches stall (bench/bench_load.py).
        services = Archive(config, search_threads=1)
    with open_db(config) as db:
        for leftover in clean_leftovers(db, config):
            click.echo(
                f"removed {leftover.relative_to(config.data_dir)}, left by an interrupted upload or write", err=True
            )
        for problem in stale_vectors(db, services.embedder.model_name):
            click.echo(problem, err=True)
    with user_errors():
        app = create_app(services=services)
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listener = socket.create_server((host, port), family=family, backlog=1024)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise BadInput(
                f"port {port} on {host} is taken (is the archive already running?); choose another: "
                f"archive serve --port {port + 1}, or make run PORT={port + 1}"
            ) from None
        _loaded("search model", services.warm)
        token = give_operator_token(app)
        # Python serves one request at a time per process: more processes use more cores. They fork
        # after the model is loaded, so they share its memory (bench/bench_load.py: README, "Deploying").
        children = _fork_servers((processes or os.cpu_count() or 1) - 1)
        if children is None:  # a forked server process
            _serve_forever(app, listener, threads, config)
        worker = None if no_worker else _start_worker_process()
        sweeper_stop = services.queue.start_sweeper()  # jobs of workers that died, here or elsewhere
        server_file = write_server_file(config, token, host, listener.getsockname()[1])
    click.echo(f"Talk Archive at http://{host}:{port}/  (data: {config.data_dir.resolve()})", err=True)
    try:
        _serve_forever(app, listener, threads, config, exit_after=False)
    finally:
        server_file.unlink(missing_ok=True)
        sweeper_stop.set()
        for process in [*children, *([worker] if worker else [])]:
            process.terminate()
            process.wait()


def _serve_forever(app, listener, threads: int, config: Config, exit_after: bool = True) -> None:
    """Run waitress on the shared listening socket until interrupted (a forked server then exits)."""
    from waitress.server import create_server

    # Waitress spools request bodies to disk; let it take the largest upload the app accepts.
    server = create_server(
        app, sockets=[listener], threads=threads, max_request_body_size=config.max_upload_bytes + (1 << 20)
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if exit_after:
            os._exit(0)


class _ForkedServer:
    """A server process forked from this one, ended like a subprocess."""

    def __init__(self, pid: int):
        self.pid = pid

    def terminate(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def wait(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _fork_servers(count: int) -> list[_ForkedServer] | None:
    """Fork ``count`` more server processes; the list of them in this one, None in each of them."""
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            _die_with_parent()
            return None
        children.append(_ForkedServer(pid))
    return children


def _die_with_parent() -> None:
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: nothing left running if this one is killed


@cli.command()
@click.argument("query")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100), help="Moments to show.")
@click.option("--speaker", default="", help="Only talks by this speaker (part of the name will do).")
@click.option("--org", "organization", default="", help="Only talks by this organisation (part of the name will do).")
@click.option("--tag", default="", help="Only talks with this tag.")
@click.option("--since", default=None, help="Only talks on or after this date, YYYY-MM-DD.")
@click.option("--until", default=None, help="Only talks on or before this date, YYYY-MM-DD.")
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search(ctx, query, limit, speaker, organization, tag, since, until, sort, as_json):
    """Find the moments in the talks that answer QUERY (a question, words, a "quoted phrase" or a name).

    When `archive serve` runs on this data directory, the search runs there, where the model is
    loaded already (a fraction of a second); otherwise this command loads it (several seconds).
    """
    config = get_config(ctx)
    params = {
        "q": query,
        "limit": limit,
        "speaker": speaker,
        "org": organization,
        "tag": tag,
        "since": since or "",
        "until": until or "",
        "sort": sort,
    }
    response = _search_on_server(config, params)
    if response is None:
        from archive.core.store.recordings import RecordingFilter
        from archive.core.store.records import OPERATOR
        from archive.library import Archive

        filters = RecordingFilter(speaker, organization, tag, since, until)
        with open_db(config) as db, user_errors():
            found = Archive(config).as_viewer(OPERATOR).search(db, query, limit=limit, filters=filters, sort=sort)
        response = found.to_dict()
    if as_json:
        click.echo(json.dumps(response, indent=2))
        return
    if response.get("notice"):
        click.echo(response["notice"], err=True)
    if not response["results"]:
        click.echo("Nothing in the archive answers that.", err=True)
        if response["weak_results"]:
            click.echo("The nearest moments, probably not what you want:", err=True)
    for moment in response["results"] or response["weak_results"]:
        click.echo(f"{moment['title']}  [{clock(moment['start'])}]  {moment['url']}")
        click.echo(f"    {moment['text']}")
    asides = response.get("asides") or []  # an older server's answer has none
    if asides:
        click.echo("On the slides and in the chat:")
    for aside in asides:
        where = f"slide {aside['page']}" if aside["kind"] == "slide" else "chat"
        click.echo(f"{aside['title']}  [{clock(aside['at'])}, {where}]  {aside['url']}")
        click.echo(f"    {' · '.join(aside['text'].splitlines())}")


def _search_on_server(config: Config, params: dict) -> dict | None:
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


@cli.command("search-log")
@click.option("--empty", "empty_only", is_flag=True, help="Only searches that found nothing.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search_log(ctx, empty_only, limit, as_json):
    """What members searched for, most asked first: --empty shows what the archive is missing."""
    from archive.core.store.searches import search_counts

    with open_db(get_config(ctx)) as db:
        counts = search_counts(db, empty_only=empty_only, limit=limit)
    if as_json:
        click.echo(json.dumps({"searches": [dataclasses.asdict(c) for c in counts]}, indent=2))
        return
    if not counts:
        click.echo("No searches yet." if not empty_only else "No search has come back empty.", err=True)
    for count in counts:
        click.echo(f"{count.times:>5}  {count.last_at[:16].replace('T', ' ')}  {count.query}")


@cli.command()
@click.pass_context
def reindex(ctx):
    """Rebuild every recording's passages, FTS rows and vectors from its transcript, and its
    automatic chapters (an outline staff wrote stays)."""
    from archive.core.store import recordings as store
    from archive.library import Archive
    from ingest.chapters import refresh_outline
    from search.index import rebuild_fts, reindex_talk

    config = get_config(ctx)
    with user_errors(), open_db(config) as db:
        embedder = Archive(config).indexing_embedder
        recordings = store.list_recordings(db)
        total = 0
        with click.progressbar(recordings, label="reindexing", file=sys.stderr) as bar:
            for rec in bar:
                total += len(reindex_talk(db, rec.id, embedder).passages)
                refresh_outline(db, rec.id)
        rebuild_fts(db)
    click.echo(f"reindexed {len(recordings)} recording(s), {total} passage(s)")


@cli.group()
def glossary():
    """Names and terms passed to Whisper as hints on every ingest."""


@glossary.command("list")
@click.pass_context
def glossary_list(ctx):
    from archive.core.store import recordings as store

    with open_db(get_config(ctx.find_root())) as db:
        for term in store.glossary_terms(db):
            click.echo(term)


@glossary.command("add")
@click.argument("terms", nargs=-1, required=True)
@click.pass_context
def glossary_add(ctx, terms):
    """Add terms (each argument may hold several, comma-separated)."""
    from archive.core.store import recordings as store

    with open_db(get_config(ctx.find_root())) as db:
        added = store.add_glossary_terms(db, _split_terms(terms))
    click.echo(f"added {len(added)} term(s)" + (f": {', '.join(added)}" if added else ""))


@glossary.command("remove")
@click.argument("term")
@click.pass_context
def glossary_remove(ctx, term):
    from archive.core.store import recordings as store

    with open_db(get_config(ctx.find_root())) as db:
        if not store.remove_glossary_term(db, term):
            raise BadInput(f"{term!r} is not in the glossary")
    click.echo(f"removed {term}")


@cli.command("load-samples")
@click.option("--force", is_flag=True, help="Load them even if they were loaded (or removed) before.")
@click.pass_context
def load_samples(ctx, force):
    """Ingest the bundled demo talks, once: on the archive's first start."""
    from archive.library import Archive
    from ingest.samples import load_samples as load

    config = get_config(ctx)
    services = Archive(config)
    with user_errors(), open_db(config) as db:
        loaded = load(
            db,
            config,
            services.transcriber,
            services.indexing_embedder,
            force=force,
            progress=lambda name: click.echo(f"ingesting demo talk: {name}", err=True),
        )
    if loaded is None:
        click.echo("demo talks were loaded before; skipping (use --force to load them again)", err=True)
    else:
        for rec in loaded:
            click.echo(f"{rec.id}\t{rec.url}")


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


@cli.command()
@click.option(
    "--token",
    envvar="ARCHIVE_MCP_TOKEN",
    default="",
    help="An API token (or ARCHIVE_MCP_TOKEN): see what its account may see. Without one: public talks only.",
)
@click.pass_context
def mcp(ctx, token):
    """Serve the archive to an AI assistant over MCP (stdio): search moments, read transcripts, list talks.

    An assistant's MCP client starts this command itself; every moment it returns has a link
    (to ARCHIVE_PUBLIC_URL) and a citation line. Stdout is the protocol: messages go to stderr.
    """
    from archive.doors.mcp_server import serve_stdio
    from archive.library import Archive

    _log_to_stderr()
    config = get_config(ctx)
    with user_errors():
        try:
            serve_stdio(config, Archive(config), token or None)
        except KeyboardInterrupt:
            pass


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
