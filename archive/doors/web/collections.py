"""Collections of moments on the web: make one, add clips from a talk's share dialog, order them,
note them, play them one after another, share them and export their citations.

Views are thin: read the form, one call into ``archive.core.store.collections``, render. What a
reader may see is decided there once (``open_collection``), and every page and export here
renders that filtered view.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, g, jsonify, redirect, render_template, request, url_for

from archive.core.citations import CitedMoment, citation_line, csl_json
from archive.core.store import collections as library
from archive.core.store.collections import ClipRequest, CollectionError
from archive.core.store.recordings import get_recording_by_slug
from archive.core.store.records import Viewer
from archive.core.timecode import parse_timecode
from archive.doors.web.db import get_db

bp = Blueprint("collections", __name__)
DEFAULT_CLIP_SECONDS = 60.0  # a clip given only a start runs a minute


def reader() -> Viewer:
    user = g.get("user")
    return Viewer(user.id, user.role) if user is not None and user.id is not None else Viewer()


def _signed_in() -> Viewer:
    who = reader()
    if who.user_id is None:
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    return who


@bp.app_context_processor
def _my_collections():
    """``my_collections()`` for the talk page's "Add to a collection" form."""
    return {"my_collections": lambda: library.collections_of(get_db(), reader())}


@bp.get("/collections")
def index():
    """The signed-in reader's collections and a form to start one."""
    who = _signed_in()
    return render_template("collections.html", collections=library.collections_of(get_db(), who))


@bp.post("/collections")
def create():
    made = library.create_collection(
        get_db(),
        _signed_in(),
        request.form.get("title", ""),
        request.form.get("description", ""),
        request.form.get("sharing", "private"),
    )
    return redirect(url_for("collections.show", slug=made.slug), code=303)


@bp.get("/collections/<slug>")
def show(slug: str):
    """The collection as this reader may see it, with a player that plays the clips one after another."""
    db = get_db()
    opened = library.open_collection(db, library.find_collection(db, slug, reader()), reader())
    cited = [citation_line(_cited(clip)) for clip in opened.clips]
    return render_template(
        "collection.html", opened=opened, collection=opened.collection, citations=cited, sharing=library.SHARING
    )


@bp.post("/collections/<slug>")
def update(slug: str):
    db, who = get_db(), reader()
    found = library.editable_collection(db, slug, who)
    library.update_collection(
        db,
        found,
        who,
        title=request.form.get("title", ""),
        description=request.form.get("description", ""),
        sharing=request.form.get("sharing", found.sharing),
    )
    return redirect(url_for("collections.show", slug=slug), code=303)


@bp.post("/collections/<slug>/delete")
def delete(slug: str):
    db, who = get_db(), reader()
    found = library.editable_collection(db, slug, who)
    if not request.form.get("confirm"):  # its clips and notes go for good: one click is not enough
        raise CollectionError("tick “Delete it and its notes for good” to delete the collection")
    library.delete_collection(db, found, who)
    return redirect(url_for("collections.index"), code=303)


@bp.post("/collections/clips")
def add_clip():
    """Add a moment from a talk's share dialog to one of the reader's collections (or a new one)."""
    db, who = get_db(), _signed_in()
    talk = get_recording_by_slug(db, request.form.get("recording", ""))
    start = parse_timecode(request.form.get("start"))
    end_text = request.form.get("end", "").strip()
    end = parse_timecode(end_text) if end_text else None
    if start is None:
        raise CollectionError("write the clip's start as 12:34, 1:02:03 or 1h02m03s")
    if end_text and end is None:
        raise CollectionError("write the clip's end as 12:34, 1:02:03 or 1h02m03s, or leave it empty")
    wanted = ClipRequest(
        talk.id if talk else 0,
        start,
        end if end is not None else start + DEFAULT_CLIP_SECONDS,
        request.form.get("note", ""),
    )
    target = request.form.get("collection", "")
    with db.atomic():  # a new collection and its first clip, or neither
        if target == "new" or not target:
            found = library.create_collection(db, who, request.form.get("new_title", ""))
        else:
            found = library.editable_collection(db, target, who)
        clip = library.add_clip(db, found, who, wanted)
    return redirect(url_for("collections.show", slug=found.slug, _anchor=f"clip-{clip.id}"), code=303)


@bp.post("/collections/<slug>/clips/<id:clip_id>")
def change_clip(slug: str, clip_id: int):
    """Move a clip up or down, change its note, or remove it (``action``: up, down, note, remove)."""
    db, who = get_db(), reader()
    found = library.editable_collection(db, slug, who)
    action = request.form.get("action", "")
    if action in ("up", "down"):
        library.move_clip(db, found, who, clip_id, -1 if action == "up" else 1)
    elif action == "note":
        library.set_clip_note(db, found, who, clip_id, request.form.get("note", ""))
    elif action == "remove":
        library.remove_clip(db, found, who, clip_id)
    else:
        raise CollectionError("choose to move the clip up or down, change its note or remove it")
    return redirect(
        url_for("collections.show", slug=slug, _anchor=f"clip-{clip_id}" if action != "remove" else None), code=303
    )


@bp.get("/collections/<slug>/citations.<any(txt, json):fmt>")
def citations(slug: str, fmt: str):
    """The clips' citations this reader may see: one line each (.txt) or CSL-JSON (.json) for Zotero and the like."""
    db = get_db()
    opened = library.open_collection(db, library.find_collection(db, slug, reader()), reader())
    cited = [_cited(clip) for clip in opened.clips]
    name = f"{slug}-citations.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'} if request.args.get("download") else {}
    if fmt == "json":
        return Response(
            csl_json(cited, id_prefix=slug), content_type="application/vnd.citationstyles.csl+json", headers=headers
        )
    lines = [opened.collection.title, ""] + [
        f"{n}. {citation_line(c)}" + (f"\n   Note: {c.note}" if c.note else "") for n, c in enumerate(cited, 1)
    ]
    return Response("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8", headers=headers)


@bp.get("/api/collections/<slug>")
def collection_json(slug: str):
    """The collection as JSON: its clips (those the asker may see) with their talks, times, notes and links."""
    db = get_db()
    opened = library.open_collection(db, library.find_collection(db, slug, reader()), reader())
    cited = [(clip, _cited(clip)) for clip in opened.clips]
    return jsonify(
        {
            "slug": opened.collection.slug,
            "title": opened.collection.title,
            "description": opened.collection.description,
            "sharing": opened.collection.sharing,
            "summary": opened.summary,
            "clips": [
                {
                    "recording": clip.recording.slug,
                    "title": clip.recording.title,
                    "start": clip.start,
                    "end": clip.end,
                    "note": clip.note,
                    "url": moment.url,
                    "citation": citation_line(moment),
                    "text": " ".join(line.text for line in clip.lines),
                }
                for clip, moment in cited
            ],
        }
    )


def _cited(clip) -> CitedMoment:
    speaker = next((line.speaker for line in clip.lines if line.speaker), None)
    return CitedMoment(
        clip.recording, clip.start, clip.end, request.host_url.rstrip("/"), note=clip.note, speaker=speaker
    )
