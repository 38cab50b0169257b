"""The presenter's slides (a PDF): each page's text, lined up with the moment it is discussed.

A deck's pages come in the order they are shown, so lining them up is a path through the talk:
the transcript's lines are read in order and each is given a slide, the slide never going back.
Along the path, a line scores by how near its words are in meaning to its slide's (the search
model's window vectors, ``search.index``, averaged over the windows that hold the line) and by
the share of the slide's words it says; moving on costs a little, skipping a page more. The best
path (Viterbi) gives each slide the line it starts at. Measured on the evaluation webinars by
``bench/bench_slides.py``: 100% of dev and 93.8% of test slides within 15 s of where the script changes
slide (median error 0.3 s and 2.7 s).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlite_utils import Database

from archive.core.errors import CompanionError
from archive.core.store import recordings as store
from archive.core.store import write_transaction
from archive.core.store.records import Segment, Slide
from search.embedder import Embedder
from search.index import stored_vectors
from search.passages import WINDOW_WORDS, segment_windows
from search.text import STOPWORDS, stems

MAX_PAGES = 500
MAX_TITLE_CHARS = 120


@dataclass(frozen=True)
class PathCosts:
    """The path's costs, in units of a line's z-scored fit; fitted on the dev webinars (bench/bench_slides.py)."""

    move_on: float = 1.0  # going on to the next slide
    skip: float = 2.0  # each page passed over without being discussed
    words: float = 1.0  # a line saying all of a slide's words fits this much better (cosine units)


def read_slides(data: bytes, name: str = "the slides") -> list[Slide]:
    """The pages of a PDF deck, each with its text and first line as its title.

    A page of images only is kept, without text. Raises CompanionError for a file that is not a
    PDF, is damaged or locked, or has no text on any page (a deck exported as pictures).
    """
    from pypdf import PdfReader

    if b"%PDF-" not in data[:1024]:
        raise CompanionError(f"{name}: not a PDF (export the slides as PDF from PowerPoint, Keynote or Google Slides)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about the small faults it repairs
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise CompanionError(f"{name}: the PDF is locked with a password")
            if len(reader.pages) > MAX_PAGES:
                raise CompanionError(
                    f"{name}: {len(reader.pages)} pages is more than a talk's slides ({MAX_PAGES} at most)"
                )
            texts = [page.extract_text() or "" for page in reader.pages]
    except CompanionError:
        raise
    except Exception as exc:  # a damaged PDF can fail pypdf in many ways (PyPdfError, KeyError, RecursionError ...)
        raise CompanionError(f"{name}: a damaged PDF ({type(exc).__name__})") from None
    slides = [_slide(page, text) for page, text in enumerate(texts, 1)]
    if not any(slide.text for slide in slides):
        raise CompanionError(f"{name}: no text on any page (were the slides exported as pictures?)")
    return slides


def _slide(page: int, text: str) -> Slide:
    lines = [" ".join(line.split()).lstrip("-–•*▪◦· ").strip() for line in text.splitlines()]  # bullets are the page's
    lines = [line for line in lines if line]
    title = lines[0] if lines else ""
    if len(title) > MAX_TITLE_CHARS:
        title = title[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] + "…"
    return Slide(page=page, title=title, text="\n".join(lines))


def slide_vectors(slides: Sequence[Slide], embedder: Embedder) -> np.ndarray:
    """Each slide's text as the search model reads a query: what to find in the talk."""
    texts = [slide.text for slide in slides if slide.text]
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([embedder.embed_query(text) for text in texts])


def align_slides(
    slides: Sequence[Slide],
    segments: Sequence[Segment],
    window_vectors: np.ndarray,
    vectors: np.ndarray,
    costs: PathCosts = PathCosts(),
) -> list[Slide]:
    """``slides`` with the second each is discussed from (see the module's docstring).

    ``window_vectors`` are the segments' window vectors (one per segment) and ``vectors`` those of
    the slides that have text, in page order. A page the path passes over gets the time of the
    next one it reaches (it was on screen, briefly, just before).
    """
    if not slides:
        return []
    if not segments:
        return [Slide(s.page, s.title, s.text, 0.0) for s in slides]
    scores = _scores(slides, segments, window_vectors, vectors, costs.words)
    first_line = _best_path(scores, costs)
    starts = [segments[line].start if line is not None else None for line in first_line]
    at = [0.0] * len(slides)
    following = None
    for k in range(len(slides) - 1, -1, -1):
        following = starts[k] if starts[k] is not None else following
        at[k] = following if following is not None else segments[-1].start
    at[0] = 0.0  # the first page is up from the start (the host's welcome is said over it)
    return [Slide(s.page, s.title, s.text, round(t, 3)) for s, t in zip(slides, at, strict=True)]


def _scores(slides, segments, window_vectors, vectors, words_weight: float) -> np.ndarray:
    """Lines × slides: how well each line fits each slide, z-scored per slide (a page of general
    words fits everything a little; its best lines still stand out). A page without text is 0."""
    scores = np.zeros((len(segments), len(slides)), dtype=np.float64)
    with_text = [k for k, slide in enumerate(slides) if slide.text]
    if not with_text or not len(window_vectors):
        return scores
    meaning = np.asarray(window_vectors, np.float64) @ np.asarray(vectors, np.float64).T
    windows = [set(stems(text)) for text in segment_windows(segments)]
    ends = _window_ends(segments)
    for column, k in enumerate(with_text):
        wanted = {s for s in stems(slides[k].text) if s not in STOPWORDS}
        said = np.array([len(wanted & w) / len(wanted) if wanted else 0.0 for w in windows])
        fit = meaning[:, column] + words_weight * said
        fit = _line_fits(ends, fit)  # measured on dev: median error 1.3 s with the windows alone, 0.3 s averaged
        scores[:, k] = (fit - fit.mean()) / (fit.std() or 1.0)
    return scores


def _window_ends(segments) -> list[int]:
    """Where each line's window ends (exclusive): it starts at its line and runs on to
    WINDOW_WORDS words (``segment_windows``), so alone it fits a slide a few lines early."""
    ends = []
    for start in range(len(segments)):
        words, end = 0, start
        while end < len(segments) and (words < WINDOW_WORDS or end == start):
            words += len(segments[end].text.split())
            end += 1
        ends.append(end)
    return ends


def _line_fits(window_ends: list[int], window_fits: np.ndarray) -> np.ndarray:
    """Each line's fit: the mean over the windows that hold it."""
    total, count = np.zeros(len(window_ends)), np.zeros(len(window_ends))
    for start, end in enumerate(window_ends):
        total[start:end] += window_fits[start]
        count[start:end] += 1
    return total / count


def _best_path(scores: np.ndarray, costs: PathCosts) -> list[int | None]:
    """For each slide, the first line of the best never-backwards path (None: passed over)."""
    lines, count = scores.shape
    pages = np.arange(count)
    # Cost of coming to slide k from slide j < k (or from before the first, j = -1).
    jump = np.full((count, count), -np.inf)
    for k in range(count):
        for j in range(k):
            jump[k, j] = -costs.move_on - costs.skip * (k - j - 1)
    total = scores[0] - costs.skip * pages
    came_from = np.zeros((lines, count), dtype=np.int64)
    came_from[0] = -1
    for line in range(1, lines):
        moved = total[None, :] + jump  # [k, j]: reach k from j
        best_j = moved.argmax(axis=1)
        best_moved = moved[pages, best_j]
        stay = total >= best_moved
        came_from[line] = np.where(stay, pages, best_j)
        total = np.where(stay, total, best_moved) + scores[line]
    first_line: list[int | None] = [None] * count
    k = int(total.argmax())
    for line in range(lines - 1, -1, -1):
        before = came_from[line, k]
        if before != k:
            first_line[k] = line
            if before < 0:
                break
            k = int(before)
    return first_line


def attach_slides(
    db: Database, recording_id: int, slides: Sequence[Slide], embedder: Embedder, name: str = "the slides"
) -> list[Slide]:
    """Keep a talk's slides (replacing any before), lined up with its transcript as it is now."""
    recording = store.get_recording(db, recording_id)
    if recording is None:
        raise CompanionError(f"there is no recording {recording_id}")
    segments = store.get_segments(db, recording_id)
    windows = segment_windows(segments)
    known = stored_vectors(db, recording_id, segments, embedder.model_name, recording.title)
    missing = [text for text in dict.fromkeys(windows) if text not in known]
    if missing:
        known.update(zip(missing, embedder.embed_documents(missing, title=recording.title), strict=True))
    window_vectors = np.stack([known[text] for text in windows]) if windows else np.zeros((0, 0), np.float32)
    timed = align_slides(slides, segments, window_vectors, slide_vectors(slides, embedder))
    with write_transaction(db):
        store.replace_slides(db, recording_id, timed)
    return timed
