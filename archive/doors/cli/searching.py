"""Search and what feeds it: ``search`` (answered by the running server when there is one),
``search-log`` (what members searched for), ``reindex`` (the index rebuilt from the transcripts) and
``glossary`` (the names and terms every ingest hints Whisper with)."""

from __future__ import annotations

import dataclasses
import json
import sys

import click

from archive.core.timecode import clock
from archive.doors.cli.common import BadInput, cli, get_config, open_db, split_term_options, user_errors
from archive.doors.cli.local_client import search_on_server
from search.labels import MATCH_LABELS


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
    response = search_on_server(config, params)
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
        how = MATCH_LABELS.get(moment.get("match", ""))  # the page's label: exact words, a name, or only similar
        click.echo(f"{moment['title']}  [{clock(moment['start'])}{', ' + how if how else ''}]  {moment['url']}")
        click.echo(f"    {moment['text']}")
    asides = response.get("asides") or []  # an older server's answer has none
    if asides:
        click.echo("On the slides and in the chat:")
    for aside in asides:
        where = f"slide {aside['page']}" if aside["kind"] == "slide" else "chat"
        click.echo(f"{aside['title']}  [{clock(aside['at'])}, {where}]  {aside['url']}")
        click.echo(f"    {' · '.join(aside['text'].splitlines())}")


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
        embedder = Archive(config).embedder
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
        added = store.add_glossary_terms(db, split_term_options(terms))
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
