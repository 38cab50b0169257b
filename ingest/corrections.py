"""Staff corrections to a transcript: change one segment's text and re-index just that talk.

Nothing is transcribed again. Only the passages and segment windows whose text changed
are embedded again; the rest keep their stored vectors, found by their exact text. What
Whisper wrote is kept beside the correction, so a correction can always be reverted.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from sqlite_utils import Database

from archive.errors import UserError
from archive.store import recordings as store
from archive.store.models import Segment
from search.embedder import Embedder
from search.index import reindex_talk
from search.text import STOPWORDS

MAX_SEGMENT_CHARS = 2000


class CorrectionError(UserError):
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
    segments = store.get_segments(db, recording_id)
    if not 0 <= idx < len(segments):
        raise CorrectionError(f"recording {recording_id} has no segment {idx}")
    if store.with_text(segments[idx], text).text == segments[idx].text:
        return Correction(idx, segments[idx], [], 0)
    changed: dict[str, Segment] = {}

    def correct(current: list[Segment]) -> list[Segment]:
        if not 0 <= idx < len(current):  # a takedown removed it meanwhile
            raise CorrectionError(f"recording {recording_id} has no segment {idx}")
        changed["old"], changed["new"] = current[idx], store.with_text(current[idx], text)
        return [*current[:idx], changed["new"], *current[idx + 1 :]]

    prepared = reindex_talk(db, recording_id, embedder, correct)
    old, new = changed["old"], changed["new"]
    return Correction(idx, new, new_terms(old.text, new.text), prepared.embedded)


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
