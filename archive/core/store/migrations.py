"""Schema history. Append new migrations at the end; never edit one that has shipped.

Derived tables (``passages_fts``, ``passage_vectors``, ``segment_vectors``) can be rebuilt from
``passages`` by ``archive reindex``.

``connect`` applies the pending ones inside one write transaction (so that two processes opening
the archive at once do not both migrate it): each runs as a savepoint, and one that cannot run in
a transaction (``transactional=False``, a VACUUM) has no place here.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("talk-archive")


@migrations()
def m001_initial(db: Database) -> None:
    db.table("recordings").create(
        {
            "id": int,
            "slug": str,
            "title": str,
            "organization": str,
            "date": str,  # ISO YYYY-MM-DD, or NULL when unknown
            "description": str,
            "duration": float,
            "media_path": str,  # relative to the data directory
            "media_hash": str,  # sha256 of the original bytes
            "media_kind": str,  # "audio" or "video"
            "original_filename": str,
            "synthetic": int,  # 1 for the voiced demo talks
            "language": str,
            "model": str,  # which Whisper model wrote the transcript
            "status": str,
            "created_at": str,
        },
        pk="id",
        not_null={"slug", "title", "duration", "media_path", "media_hash", "created_at"},
        defaults={"synthetic": 0, "status": "ready", "organization": "", "description": ""},
    )
    db.table("recordings").create_index(["slug"], unique=True)
    db.table("recordings").create_index(["media_hash"], unique=True)
    db.table("recordings").create_index(["date"])

    db.table("recording_speakers").create(
        {"recording_id": int, "position": int, "name": str},
        pk=("recording_id", "position"),
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db.table("recording_speakers").create_index(["name"])
    db.table("recording_tags").create(
        {"recording_id": int, "tag": str},
        pk=("recording_id", "tag"),
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db.table("recording_tags").create_index(["tag"])

    db.table("segments").create(
        {"id": int, "recording_id": int, "idx": int, "start": float, "end": float, "text": str},
        pk="id",
        not_null={"recording_id", "idx", "start", "end", "text"},
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db.table("segments").create_index(["recording_id", "idx"], unique=True)

    # Search passages: overlapping runs of whole segments, sized for the embedding model.
    db.table("passages").create(
        {
            "id": int,
            "recording_id": int,
            "idx": int,
            "first_segment": int,  # segments.idx of the first segment inside
            "last_segment": int,
            "start": float,
            "end": float,
            "text": str,
        },
        pk="id",
        not_null={"recording_id", "idx", "first_segment", "last_segment", "start", "end", "text"},
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db.table("passages").create_index(["recording_id", "idx"], unique=True)
    db.table("passages").enable_fts(["text"], fts_version="FTS5", tokenize="porter", create_triggers=True)

    db.table("passage_vectors").create(
        {"passage_id": int, "recording_id": int, "model": str, "embedding": bytes},
        pk="passage_id",
        foreign_keys=[("passage_id", "passages", "id")],
    )
    db.table("passage_vectors").create_index(["recording_id"])

    db.table("jobs").create(
        {
            "id": int,
            "title": str,
            "state": str,  # queued, running, done, failed
            "percent": float,
            "error": str,
            "recording_id": int,
            "source_path": str,
            "params": str,  # JSON: metadata and options for the ingest
            "attempts": int,
            "created_at": str,
            "updated_at": str,
            "heartbeat_at": str,
            "worker": str,  # "host:pid" of the worker running it
        },
        pk="id",
        defaults={"state": "queued", "percent": 0.0, "attempts": 0},
    )
    db.table("jobs").create_index(["state"])

    # Terms staff teach the archive: passed to Whisper as hints on every later ingest.
    db.table("glossary").create({"term": str, "created_at": str}, pk="term")

    db.table("archive_meta").create({"key": str, "value": str}, pk="key")


@migrations()
def m002_search(db: Database) -> None:
    # One vector per segment, for the text starting at that segment: search uses them to
    # land on the sentence that answers a query, not on the start of its passage.
    db.table("segment_vectors").create(
        {"recording_id": int, "idx": int, "model": str, "embedding": bytes},
        pk=("recording_id", "idx"),
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    # Document frequencies of the stemmed terms in passages_fts, for weighting query words.
    db.execute("CREATE VIRTUAL TABLE passages_fts_terms USING fts5vocab(passages_fts, 'row')")
    # What members searched for and how many results they got: query text and time only.
    db.table("search_log").create(
        {"id": int, "query": str, "results": int, "created_at": str},
        pk="id",
        not_null={"query", "results", "created_at"},
    )
    db.table("search_log").create_index(["results", "query"])


@migrations()
def m003_corrections(db: Database) -> None:
    # Staff corrections: ``text`` is what the archive shows and indexes; ``machine_text``
    # keeps what Whisper wrote, set only while a segment is corrected, so it can be reverted.
    db.table("segments").add_column("machine_text", str)
    db.table("segments").add_column("edited_at", str)


@migrations()
def m004_accounts(db: Database) -> None:
    # Who may see a recording: "public" (anyone), "members" (signed-in members), "staff"
    # (drafts). Recordings made before accounts existed were visible to everyone: public.
    db.table("recordings").add_column("visibility", str, not_null_default="public")
    db.table("recordings").create_index(["visibility"])

    db.table("users").create(
        {"id": int, "email": str, "password_hash": str, "role": str, "created_at": str},
        pk="id",
        not_null={"email", "password_hash", "role", "created_at"},
    )
    db.table("users").create_index(["email"], unique=True)
    # API tokens for scripts: only a hash is stored; the token is shown once, when made.
    db.table("api_tokens").create(
        {"id": int, "user_id": int, "token_hash": str, "label": str, "created_at": str, "revoked_at": str},
        pk="id",
        not_null={"user_id", "token_hash", "created_at"},
        foreign_keys=[("user_id", "users", "id")],
    )
    db.table("api_tokens").create_index(["token_hash"], unique=True)
    # Failed logins, for rate limiting per account and per address.
    db.table("login_failures").create({"id": int, "email": str, "address": str, "at": str}, pk="id")
    db.table("login_failures").create_index(["email", "at"])
    db.table("login_failures").create_index(["address", "at"])
    # Takedowns: a time range removed from a talk at a presenter's request, and who did it.
    db.table("redactions").create(
        {
            "id": int,
            "recording_id": int,
            "start": float,
            "end": float,
            "reason": str,
            "user_email": str,
            "created_at": str,
            "original_path": str,  # the unredacted media, if an admin chose to keep it
        },
        pk="id",
        not_null={"recording_id", "start", "end", "created_at"},
        foreign_keys=[("recording_id", "recordings", "id")],
    )


@migrations()
def m005_resume(db: Database) -> None:
    # Segments a running ingest has transcribed so far, saved as it goes: a job whose worker
    # died resumes after the last of them instead of transcribing the talk from the start.
    db.table("job_segments").create(
        {"job_id": int, "idx": int, "start": float, "end": float, "text": str},
        pk=("job_id", "idx"),
        foreign_keys=[("job_id", "jobs", "id")],
    )
    db.table("jobs").add_column("resumed_from", float)  # seconds into the talk the last attempt started at


@migrations()
def m006_index_changes(db: Database) -> None:
    # Which recording's vectors changed at each generation: processes holding vectors in memory
    # reload just those recordings (search.vectors). A counter alone could not tell a rewritten
    # talk whose passage ids were reused, nor a database file replaced by another.
    db.table("index_changes").create(
        {"generation": int, "recording_id": int, "token": str},
        pk="generation",
        not_null={"recording_id", "token"},
    )
    db.execute("DELETE FROM archive_meta WHERE key = 'index_generation'")


@migrations()
def m007_vector_titles(db: Database) -> None:
    # The talk title each vector was embedded with (EmbeddingGemma's document prompt names it):
    # a vector is reused for unchanged text only if the title is unchanged too.
    db.table("passage_vectors").add_column("title", str)
    db.table("segment_vectors").add_column("title", str)


@migrations()
def m008_languages_and_gaps(db: Database) -> None:
    # The language Whisper heard each line in; stretches of speech that got no text (kept with
    # the talk so staff see them); a job's saved transcript holds such gaps too, for a resume.
    db.table("segments").add_column("language", str)
    db.table("job_segments").add_column("language", str)
    db.table("job_segments").add_column("gap", int, not_null_default=0)
    db.table("speech_gaps").create(
        {"recording_id": int, "start": float, "end": float},
        pk=("recording_id", "start"),
        foreign_keys=[("recording_id", "recordings", "id")],
    )


@migrations()
def m009_stems_in_other_languages(db: Database) -> None:
    # A passage's lines in another language than English, stemmed by that language's stemmer
    # (search.text.language_stems), indexed beside its text: FTS5 stems with porter only.
    db.table("passages").add_column("stems", str)
    db.execute("DROP TABLE IF EXISTS passages_fts_terms")
    db.table("passages").disable_fts()
    db.table("passages").enable_fts(["text", "stems"], fts_version="FTS5", tokenize="porter", create_triggers=True)
    db.execute("CREATE VIRTUAL TABLE passages_fts_terms USING fts5vocab(passages_fts, 'row')")


@migrations()
def m010_speakers(db: Database) -> None:
    # Who said each line, from a Zoom or Teams transcript (ingest/companions.py); the speaker
    # filter looks for talks someone spoke in through the named lines only.
    db.table("segments").add_column("speaker", str)
    db.execute("CREATE INDEX segments_by_speaker ON segments(speaker, recording_id) WHERE speaker IS NOT NULL")


@migrations()
def m011_drop_folder(db: Database) -> None:
    # Recordings `archive watch` took from a drop folder, by path, size and time: a restart or
    # a second pass takes nothing twice (ingest/watch.py).
    db.table("drop_folder_files").create(
        {"path": str, "size": int, "mtime": float, "job_id": int, "taken_at": str}, pk="path"
    )


@migrations()
def m012_chat(db: Database) -> None:
    # The meeting's chat, timed against the recording (ingest/companions.py).
    db.table("chat_messages").create(
        {"recording_id": int, "idx": int, "at": float, "author": str, "text": str},
        pk=("recording_id", "idx"),
        foreign_keys=[("recording_id", "recordings", "id")],
    )


@migrations()
def m013_slides(db: Database) -> None:
    # The presenter's slides (ingest/slides.py): each page's text and the moment it is discussed.
    db.table("slides").create(
        {"recording_id": int, "page": int, "at": float, "title": str, "text": str},
        pk=("recording_id", "page"),
        foreign_keys=[("recording_id", "recordings", "id")],
    )


@migrations()
def m014_companion_search(db: Database) -> None:
    # Slides and chat found by their words, like the transcript (search/asides.py).
    db.table("slides").enable_fts(["title", "text"], fts_version="FTS5", tokenize="porter", create_triggers=True)
    db.table("chat_messages").enable_fts(["text"], fts_version="FTS5", tokenize="porter", create_triggers=True)
    # Chat authors are shown to staff only unless a talk's settings say otherwise.
    db.table("recordings").add_column("chat_names_public", int, not_null_default=0)


@migrations()
def m015_chapters(db: Database) -> None:
    # A talk's outline (ingest/chapters.py): made from its speakers, slides and Q&A until staff
    # edit it; then theirs stays.
    db.table("chapters").create(
        {"recording_id": int, "idx": int, "start": float, "title": str},
        pk=("recording_id", "idx"),
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db.table("recordings").add_column("chapters_edited", int, not_null_default=0)


@migrations()
def m016_job_step(db: Database) -> None:
    # What a running job is doing, in words ("transcribing 12:30 of 58:00"), for its page.
    db.table("jobs").add_column("step", str)


@migrations()
def m017_series(db: Database) -> None:
    # The series a talk belongs to ("Community of Practice", "Keralty learning series"): browsed
    # on its own page and offered as a podcast of its own (/series/<slug>/feed.xml).
    db.table("recordings").add_column("series", str, not_null_default="")
    db.table("recordings").create_index(["series"])


@migrations()
def m018_presenter_review(db: Database) -> None:
    # Presenter review (ingest/review.py): a signed, expiring link that lets a talk's presenter
    # read its draft and suggest fixes without an account. The URL carries a random token; the
    # database keeps only its sha256, as it does for API tokens.
    db.table("review_links").create(
        {
            "id": int,
            "recording_id": int,
            "presenter_name": str,
            "presenter_email": str,
            "token_hash": str,
            "created_by": str,  # the staff member's email
            "created_at": str,
            "expires_at": str,
            "opened_at": str,  # first time the presenter opened it
            "submitted_at": str,  # last time the presenter sent their suggestions
            "closed_at": str,
            "closed_reason": str,  # "decided", "closed by staff"
        },
        pk="id",
        not_null={"recording_id", "presenter_name", "token_hash", "created_by", "created_at", "expires_at"},
        foreign_keys=[("recording_id", "recordings", "id")],
    )
    db.table("review_links").create_index(["token_hash"], unique=True)
    db.table("review_links").create_index(["recording_id"])
    # What the presenter suggests: a line's corrected text, or a time range to withdraw.
    db.table("review_suggestions").create(
        {
            "id": int,
            "link_id": int,
            "recording_id": int,
            "kind": str,  # "correction" or "withdraw"
            "segment_idx": int,  # corrections: the line, by its index within the talk
            "text": str,  # corrections: the new text
            "original_text": str,  # corrections: the line when suggested, to notice later edits
            "start": float,  # withdrawals
            "end": float,
            "note": str,  # withdrawals: the presenter's reason
            "state": str,  # "pending", "approved", "rejected"
            "created_at": str,
            "decided_by": str,
            "decided_at": str,
        },
        pk="id",
        not_null={"link_id", "recording_id", "kind", "state", "created_at"},
        defaults={"state": "pending", "note": ""},
        foreign_keys=[("link_id", "review_links", "id"), ("recording_id", "recordings", "id")],
    )
    db.table("review_suggestions").create_index(["link_id"])
    db.table("review_suggestions").create_index(["recording_id", "state"])
    # Every step of a review, by whom: "presenter: Name" or a staff email.
    db.table("review_log").create(
        {"id": int, "link_id": int, "recording_id": int, "at": str, "actor": str, "action": str, "detail": str},
        pk="id",
        not_null={"link_id", "recording_id", "at", "actor", "action"},
        defaults={"detail": ""},
        foreign_keys=[("link_id", "review_links", "id"), ("recording_id", "recordings", "id")],
    )
    db.table("review_log").create_index(["recording_id", "at"])


@migrations()
def m019_collections(db: Database) -> None:
    # Collections of moments (archive/core/store/collections.py): a member's ordered clips from several
    # talks, each with a note, shared privately, with members or with everyone.
    db.table("collections").create(
        {
            "id": int,
            "slug": str,
            "title": str,
            "description": str,
            "owner_id": int,
            "sharing": str,
            "created_at": str,
            "updated_at": str,
        },
        pk="id",
        not_null={"slug", "title", "owner_id", "sharing", "created_at", "updated_at"},
        foreign_keys=[("owner_id", "users", "id")],
    )
    db.table("collections").create_index(["slug"], unique=True)
    db.table("collections").create_index(["owner_id"])
    db.table("collection_clips").create(
        {
            "id": int,
            "collection_id": int,
            "position": int,
            "recording_id": int,
            "start": float,
            "end": float,
            "note": str,
            "created_at": str,
        },
        pk="id",
        not_null={"collection_id", "position", "recording_id", "start", "end", "created_at"},
        foreign_keys=[("collection_id", "collections", "id"), ("recording_id", "recordings", "id")],
    )
    db.table("collection_clips").create_index(["collection_id", "position"])
    db.table("collection_clips").create_index(["recording_id"])


@migrations()
def m020_job_timing(db: Database) -> None:
    """A running job's time left, and a finished one's speed at each step: the job page's estimate
    comes from what this machine measured, not from how fast the percentage moved."""
    db.table("jobs").add_column("seconds_left", float)
    db.table("jobs").add_column("speeds", str)  # JSON {"host", "model", "steps": {step: seconds per audio second}}


@migrations()
def m021_recording_vocab(db: Database) -> None:
    """The words staff gave Whisper at ingest (``--vocab``, the upload form's "Words to listen
    for"), kept so that ``archive retranscribe`` gives them again. Talks ingested before: none."""
    db.table("recordings").add_column("vocab", str)  # JSON list of terms


@migrations()
def m022_job_segment_word_starts(db: Database) -> None:
    """When each word of a saved line starts (JSON list of seconds), so that a job resumed from its
    saved lines can still split one where the voice changes. Progress saved before: none (those
    lines stay whole)."""
    db.table("job_segments").add_column("word_starts", str)


@migrations()
def m023_recording_host(db: Database) -> None:
    """Who chaired a webinar (``--host``, the forms' "Host"): named in the talk's details, given
    to Whisper as a name to spell, found by a search for that name and shown for the first voice.
    Talks ingested before: none."""
    db.table("recordings").add_column("host", str)
