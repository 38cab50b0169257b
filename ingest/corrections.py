"""Staff corrections to a transcript: change one segment's text and re-index just that talk.

Nothing is transcribed again. Only the passages and segment windows whose text changed
are embedded again; the rest keep their stored vectors, found by their exact text. What
Whisper wrote is kept beside the correction, so a correction can always be reverted.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

from sqlite_utils import Database

from archive.store import recordings as store
from archive.store import write_transaction
from archive.store.models import Segment
from search.embedder import Embedder
from search.index import delete_passages, write_passages
from search.text import STOPWORDS

from .passages import build_passages
from .pipeline import embed_index, stored_vectors

MAX_SEGMENT_CHARS = 2000
# Attempts when another writer changes the same transcript between our read and our write.
ATTEMPTS = 3


class CorrectionError(ValueError):
    """A correction that cannot be made; the message is for the person who asked."""


@dataclass
class Correction:
    idx: int
    segment: Segment
    new_terms: list[str]  # names and terms the correction brought in: glossary candidates
    embedded: int  # texts embedded again (the rest of the index was reused)


def correct_segment(db: Database, recording_id: int, idx: int, text: str, embedder: Embedder) -> Correction:
    """Replace segment ``idx``'s text with ``text`` and re-index the recording."""
    text = " ".join(text.split())
    if not text:
        raise CorrectionError("a segment cannot be empty; revert it to what was transcribed instead")
    if len(text) > MAX_SEGMENT_CHARS:
        raise CorrectionError(f"a segment can hold at most {MAX_SEGMENT_CHARS} characters")
    return _apply(db, recording_id, idx, text, embedder)


def revert_segment(db: Database, recording_id: int, idx: int, embedder: Embedder) -> Correction:
    """Put back what Whisper wrote for segment ``idx`` and re-index the recording."""
    return _apply(db, recording_id, idx, None, embedder)


def _apply(db: Database, recording_id: int, idx: int, text: str | None, embedder: Embedder) -> Correction:
    for _ in range(ATTEMPTS):
        segments = store.get_segments(db, recording_id)
        if not 0 <= idx < len(segments):
            raise CorrectionError(f"recording {recording_id} has no segment {idx}")
        old = segments[idx]
        machine = old.machine_text if old.edited else old.text
        new_text = machine if text is None else text
        if new_text == old.text:
            return Correction(idx, old, [], 0)
        new = replace(old, text=new_text, machine_text=machine if new_text != machine else None)
        updated = [*segments[:idx], new, *segments[idx + 1 :]]
        # Embed outside the lock: readers and the ingest worker are never held up by the model.
        known = stored_vectors(db, recording_id, segments, embedder.model_name)
        passages = build_passages(updated)
        vectors, window_vectors, embedded = embed_index(embedder, passages, updated, known)
        with write_transaction(db):
            if store.get_segments(db, recording_id) != segments:
                continue  # someone else changed this transcript meanwhile: start again from theirs
            store.set_segment_text(db, recording_id, idx, text)
            delete_passages(db, recording_id)
            write_passages(db, recording_id, passages, vectors, embedder.model_name, window_vectors)
        return Correction(idx, new, new_terms(old.text, new_text), embedded)
    raise CorrectionError("the transcript kept changing while saving; reload the page and try again")


def new_terms(before: str, after: str, max_words: int = 4) -> list[str]:
    """The runs of words ``after`` has in place of ``before``'s, as glossary candidates.

    "the care ready program" -> "the CareReady program" gives ["CareReady"]. Runs of
    common words only, runs longer than ``max_words`` and plain rewordings are not terms.
    """
    old_words, new_words = before.split(), after.split()
    terms: list[str] = []
    matcher = difflib.SequenceMatcher(a=[_bare(w) for w in old_words], b=[_bare(w) for w in new_words], autojunk=False)
    for op, _, _, j1, j2 in matcher.get_opcodes():
        if op not in ("replace", "insert"):
            continue
        run = [_bare(w) for w in new_words[j1:j2] if _bare(w)]
        while run and run[0].casefold() in STOPWORDS:
            run.pop(0)
        while run and run[-1].casefold() in STOPWORDS:
            run.pop()
        if run and len(run) <= max_words and _looks_like_a_term(run):
            term = " ".join(run)
            if term not in terms:
                terms.append(term)
    return terms


def _looks_like_a_term(run: list[str]) -> bool:
    """A name or a piece of jargon: a capital (Keralty, CoP, "Link Worker"), or one word of 4+ letters.

    A rewording in plain words ("their last weeks are spent") is not a term.
    """
    if any(re.search(r"[A-Z]", w) for w in run):
        return True
    return len(run) == 1 and len(re.findall(r"[^\W\d_]", run[0])) >= 4


def _bare(word: str) -> str:
    """A word without the punctuation around it ("Keralty," -> "Keralty")."""
    return re.sub(r"^[^\w]+|[^\w]+$", "", word)
