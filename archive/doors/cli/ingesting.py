"""Recordings in and out: ``ingest``, ``retranscribe`` (a talk already in, with the current transcriber),
``attach`` (companion files for a talk already in), ``chapters``, ``watch`` (a drop folder), ``list``,
``export`` and ``load-samples`` (the demo talks).

The meeting's companion files (its Zoom or Teams transcript, chat and slides) are read here, for
``ingest`` and ``attach`` alike: ``companion_options`` gives both the same options, ``_companions``
reads and parses what they name."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

from archive.core.errors import present
from archive.core.export import CHAPTER_FORMATS, FORMATS
from archive.core.store.records import VISIBILITIES, RecordingMeta
from archive.core.timecode import clock
from archive.doors.cli.common import BadInput, cli, get_config, open_db, split_term_options, user_errors
from ingest.companion_kinds import COMPANION_KINDS


def companion_options(command):
    """The meeting's companion files, for `ingest` (one recording) and `attach`: an option for each
    kind (``COMPANION_KINDS``), and ``--chat-start`` after the kind that asks for it."""
    for kind in reversed(COMPANION_KINDS.values()):  # click lists options in the order they wrap
        if kind.asks_recording_start:
            command = click.option(
                "--chat-start",
                metavar="HH:MM:SS",
                help='For a "Save chat" export (clock times): when the recording started (default: at the first message).',
            )(command)
        command = click.option(
            kind.option,
            kind.field,
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"{kind.label} ({kind.hint}).",
        )(command)
    return command


def _companion_options_given() -> str:
    return ", ".join(kind.option for kind in COMPANION_KINDS.values())


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--title", default="", help="Talk title (default: from the file name).")
@click.option("--speaker", "speakers", multiple=True, help="Speaker name; repeat for several.")
@click.option("--host", default="", help="Who chairs the webinar (introduces the speakers, takes the questions).")
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
    host,
    organization,
    date,
    tags,
    description,
    series,
    vocab,
    model,
    visibility,
    use_queue,
    chat_start,
    **companion_files,
):
    """Transcribe and index recordings (audio or video). Prints each new recording's id and URL.

    With `archive serve` running on this data and its worker idle, that worker does it."""
    from archive.core.store import recordings as store
    from archive.doors.cli.local_client import follow_job, idle_local_worker
    from archive.library import Archive
    from ingest.companion_kinds import attach_companions
    from ingest.pipeline import ingest_file

    config = get_config(ctx)
    if model:
        config = dataclasses.replace(config, whisper_model=str(model))
    with user_errors():
        meta = RecordingMeta(
            title=title,
            speakers=list(speakers),
            host=host,
            organization=organization,
            date=date,
            tags=list(tags),
            description=description,
            series=series,
            vocab=split_term_options(vocab),
            visibility=visibility,
        ).validated()
        if any(companion_files.values()) and len(files) != 1:
            raise BadInput(f"{_companion_options_given()} go with one recording; ingest the others separately")
        companions = _companions(companion_files, chat_start)
    services = Archive(config, answers_queries=False)
    if use_queue:

        def queue_one(path: Path) -> None:
            job = services.queue.submit(path, meta, companions=companions)
            click.echo(f"job {job.id}\tqueued\t{path}")

        _for_each_file(files, queue_one)
        return

    # The running server's worker has the models loaded: hand it the files rather than load them
    # here (a different model, or files that come with companions, are ingested here).
    worker_pid = None if model or companions else idle_local_worker(config)
    if worker_pid is not None:
        click.echo("the running archive serve's worker ingests these (its models are loaded)", err=True)

        def hand_to_worker(path: Path) -> None:
            job = services.queue.submit(path, meta)
            with _Progress(path.name) as progress:
                done = follow_job(config, job.id, worker_pid, progress)
            if done.state == "failed":
                raise click.ClickException(done.error or f"job {done.id} failed")
            with open_db(config) as db:
                rec = present(store.get_recording(db, present(done.recording_id)))
            if done.found_already(rec):
                click.echo(f"{path}: already in the archive as recording {rec.id}", err=True)
            click.echo(f"{rec.id}\t{rec.url}")

        _for_each_file(files, hand_to_worker)
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
                    embedder=services.embedder,
                    progress=progress,
                    companions=companions,
                    diarizer=services.diarizer,
                    last=path is files[-1],  # nothing to transcribe after it: its models are let go before indexing
                )
            if result.notes:
                click.echo(f"{path}: {result.notes}", err=True)
            rec = result.recording
            if not result.created:
                click.echo(f"{path}: already in the archive as recording {rec.id}", err=True)
                for line in attach_companions(db, rec.id, companions, services.embedder):
                    click.echo(line, err=True)
            click.echo(f"{rec.id}\t{rec.url}")

        _for_each_file(files, ingest_one)


@cli.command()
@click.argument("recordings", nargs=-1, metavar="[RECORDING]...")
@click.option("--all", "every", is_flag=True, help="Every recording in the archive.")
@click.option("--model", help="The Whisper model for these runs: base, tiny.en (faster) or a CTranslate2 model folder.")
@click.option("--now", is_flag=True, help="Run here, one talk after another, instead of queueing for a worker.")
@click.pass_context
def retranscribe(ctx, recordings, every, model, now):
    """Transcribe talks again with the current transcriber (RECORDING is an id or slug), keeping staff's
    corrections, speaker names, takedowns, an edited outline and the slides' times.

    Queues a job for each (`archive serve` or `archive worker` runs it; `archive jobs` shows how far
    it is); --now runs them here. A job stopped halfway resumes where it stopped."""
    from archive.core.store import recordings as store
    from archive.library import Archive

    if not recordings and not every:
        raise BadInput("retranscribe what? give recording ids or slugs, or --all")
    if recordings and every:
        raise BadInput("give recording ids or slugs, or --all, not both")
    config = get_config(ctx)
    if model:
        config = dataclasses.replace(config, whisper_model=str(model))
    with open_db(config) as db:
        found = store.list_recordings(db) if every else [store.find_recording(db, ref) for ref in recordings]
    missing = [ref for ref, rec in zip(recordings, found, strict=False) if rec is None]
    if missing:
        raise BadInput(f"no recording {missing[0]!r} in the archive (see `archive list`)")
    talks = sorted((present(rec) for rec in found), key=lambda rec: rec.id)
    if not talks:
        click.echo("the archive has no recordings yet", err=True)
        return
    with user_errors():
        queue = Archive(config).queue

    def queue_one(rec) -> None:
        job = queue.submit_retranscribe(rec.id, model=model or "")
        click.echo(f"job {job.id}\t{job.state}\t{rec.slug}")

    def run_one(rec) -> None:
        with _Progress(rec.slug) as progress:
            job = queue.retranscribe_now(rec.id, model=model or "", watch=progress)
        if job.state == "failed":
            raise click.ClickException(f"{rec.slug}: {job.error or f'job {job.id} failed'}")
        if job.state != "done":
            click.echo(f"{rec.slug}: job {job.id} is running in another worker (see `archive jobs`)", err=True)
            return
        click.echo(f"{rec.id}\t{rec.url}")

    _for_each_file(talks, run_one if now else queue_one)
    if not now:
        click.echo("`archive serve` or `archive worker` runs the jobs; `archive jobs` shows how far they are", err=True)


class _Progress:
    """An ingest's progress bar on stderr, naming the step it is at. It appears once the file is
    known to be media, so a refused file prints one line: its error."""

    def __init__(self, name: str):
        self.name = name
        self.bar: Any = None  # click's ProgressBar, opened on the first step

    def __enter__(self) -> _Progress:
        return self

    def __call__(self, step: str, fraction: float, seconds_left: float) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=100, label=self.name, file=sys.stderr).__enter__()
        self.bar.label = f"{self.name} ({step})"
        self.bar.update(int(fraction * 100) - self.bar.pos)

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc_info)


def _companions(companion_files: dict[str, Path | None], chat_start: str | None):
    """The companion files given on the command line (a kind's field -> its path), read and
    parsed; a CompanionError names a bad one."""
    from ingest.companion_kinds import read_companions

    return read_companions({field: _read_companion(path) for field, path in companion_files.items()}, chat_start)


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
def attach(ctx, recording, chat_start, **companion_files):
    """Attach companion files to a talk already in the archive (RECORDING is its id or slug)."""
    from archive.core.store import recordings as store
    from archive.library import Archive
    from ingest.companion_kinds import attach_companions

    if not any(companion_files.values()):
        options = [f"{kind.option} FILE" for kind in COMPANION_KINDS.values()]
        raise BadInput(f"attach what? give {', '.join(options[:-1])} and/or {options[-1]}")
    config = get_config(ctx)
    with open_db(config) as db, user_errors():
        found = store.find_recording(db, recording)
        if found is None:
            raise BadInput(f"no recording {recording!r} in the archive (see `archive list`)")
        companions = _companions(companion_files, chat_start)
        for line in attach_companions(db, found.id, companions, Archive(config).embedder):
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
        who = (", ".join(r.speakers) or "-") + (f"; hosted by {r.host}" if r.host else "")
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
    (talk.vtt: the Zoom/Teams transcript; talk.json: title, speakers, host, organization, date, tags, series,
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


@cli.command("load-samples")
@click.option("--force", is_flag=True, help="Load them even if they were loaded (or removed) before.")
@click.pass_context
def load_samples(ctx, force):
    """Ingest the bundled demo talks, once: on the archive's first start."""
    from archive.library import Archive
    from ingest.samples import load_samples as load

    config = get_config(ctx)
    services = Archive(config, answers_queries=False)
    with user_errors(), open_db(config) as db:
        loaded = load(
            db,
            config,
            services.transcriber,
            services.embedder,
            force=force,
            progress=lambda name: click.echo(f"ingesting demo talk: {name}", err=True),
        )
    if loaded is None:
        click.echo("demo talks were loaded before; skipping (use --force to load them again)", err=True)
    else:
        for rec in loaded:
            click.echo(f"{rec.id}\t{rec.url}")
