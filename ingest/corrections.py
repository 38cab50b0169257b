"""Staff corrections to a transcript: change one segment's text and re-index just that talk.

Nothing is transcribed again. Only the passages and segment windows whose text changed
are embedded again; the rest keep their stored vectors, found by their exact text. What
Whisper wrote is kept beside the correction, so a correction can always be reverted.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass

from sqlite_utils import Database

from archive.core.errors import UserError
from archive.core.store import recordings as store
from archive.core.store.records import Segment
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
    """The proper names and terms ``after`` brings in place of ``before``'s words: glossary
    candidates, which staff confirm one by one before Whisper hears them on later ingests.

    "the care ready program" -> "the CareReady program" gives ["CareReady"]. A name is a run of
    capitalised words ("Kenji Health", "CEO"), at most ``max_words`` long; an ordinary word ends
    it ("the ComfyUI Keralty folder" gives ["ComfyUI", "Keralty"], never "Keralty folder"). A
    capitalised common word opening a sentence ("Yes.") is not a name, and a lower-case word is a
    term only when it is the whole change and Whisper's vocabulary lacks it ("telehealth").
    """
    old_words, new_words = before.split(), after.split()
    terms: list[str] = []
    matcher = difflib.SequenceMatcher(a=[_bare(w) for w in old_words], b=[_bare(w) for w in new_words], autojunk=False)
    for op, _, _, j1, j2 in matcher.get_opcodes():
        if op not in ("replace", "insert"):
            continue
        changed = [(j, _bare(new_words[j])) for j in range(j1, j2) if _bare(new_words[j])]
        if len(changed) == 1 and _is_rare_word(changed[0][1]):
            found = [[changed[0][1]]]
        else:
            found, run = [], []
            for j, word in changed:
                opens_sentence = j == 0 or new_words[j - 1].endswith((".", "?", "!", ":"))
                if _is_name_word(word) and not (opens_sentence and _is_common_word(word)):
                    run.append(word)
                    continue
                found.append(run)
                run = []
            found.append(run)
        for run in found:
            term = " ".join(run)
            if run and len(run) <= max_words and term not in terms:
                terms.append(term)
    return terms


def _is_name_word(word: str) -> bool:
    """Written as a name is: a capital letter, and not a bare number."""
    return bool(re.search(r"[A-Z]", word)) and word.casefold() not in STOPWORDS


@functools.lru_cache(maxsize=1)
def _whisper_vocabulary() -> frozenset[str]:
    """The whole words Whisper (tiny.en's tokenizer, shared with base for English) spells as one
    token: it needs no hint for them."""
    from ingest.transcribe import bundled_whisper_model

    try:
        vocab = json.loads((bundled_whisper_model() / "tokenizer.json").read_text())["model"]["vocab"]
    except (OSError, ValueError, KeyError):
        return frozenset()
    return frozenset(token[1:].casefold() for token in vocab if token.startswith("\u0120") and token[1:].isalpha())


def _is_common_word(word: str) -> bool:
    return word.casefold() in STOPWORDS or word.casefold() in _whisper_vocabulary()


def _is_rare_word(word: str) -> bool:
    """A lower-case term worth teaching Whisper: 4+ letters it has no single token for."""
    return word.islower() and len(re.findall(r"[^\W\d_]", word)) >= 4 and not _is_common_word(word)


def _bare(word: str) -> str:
    """A word without the punctuation around it ("Keralty," -> "Keralty")."""
    return re.sub(r"^[^\w]+|[^\w]+$", "", word)
