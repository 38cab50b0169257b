"""A talk's outline: Welcome, the presentation by its slides, Q&A with each audience question.

A Community of Practice call has a shape: a host welcomes people and introduces the presenter,
the presenter talks over slides, then the audience asks. ``outline`` reads that shape from what
the archive knows: who said each line (a meeting transcript names them), who the talk's listed
speakers are, when each slide came up (``ingest.slides``). Roles: the talk's listed speakers
present (else whoever speaks longest); whoever speaks first, if not a presenter, hosts; anyone
else is the audience, and each of their turns that asks something is a question, titled with the
sentence that asks, without the greeting, thanks, names or self-introduction around it. Without
names, the Q&A starts at the first invitation to ask ("any questions", "Q&A") in the second half
that a question follows. A talk with no question gets no Q&A.

The outline is made at ingest and again when companions are attached or a range is taken down,
until staff edit it (``set_chapters``): from then on theirs stays, until they clear it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlite_utils import Database

from archive.core.errors import UserError
from archive.core.store import recordings as store
from archive.core.store import write_transaction
from archive.core.store.records import Chapter, Recording, Segment, Slide
from archive.core.timecode import clock, parse_timecode

# An entry shorter than this is folded into the next (an agenda slide shown for a few seconds).
MIN_CHAPTER_SECONDS = 20.0
MAX_TITLE_CHARS = 70
MAX_CHAPTERS = 200
_INVITATION = re.compile(
    r"\b(any questions|questions? (from|in) the chat|take (some |a few |your )?questions|open (it )?up for questions|"
    r"go to (the |your )?questions|time for questions|q ?& ?a|q and a)\b",
    re.I,
)


class ChapterError(UserError):
    """An outline staff wrote that cannot be used; the message names the line."""


def outline(recording: Recording, segments: Sequence[Segment], slides: Sequence[Slide] = ()) -> list[Chapter]:
    """The talk's chapters, in time order (see the module's docstring)."""
    if not segments:
        return []
    roles = _roles(recording, segments)
    presenting = [i for i, s in enumerate(segments) if roles.get(s.speaker) == "presenter"]
    talk_start = segments[presenting[0]].start if presenting and presenting[0] > 0 else 0.0
    questions = _question_turns(segments, roles)
    qa_start = _qa_start(segments, roles, questions, recording.duration)

    chapters: list[Chapter] = []
    if talk_start > 0:
        chapters.append(Chapter(0.0, "Welcome and introductions"))
    presenters = [name for name, role in roles.items() if role == "presenter" and name]
    chapters.append(Chapter(talk_start, "Presentation" + (f": {_join(presenters)}" if presenters else "")))
    end_of_talk = qa_start if qa_start is not None else recording.duration or segments[-1].end
    for slide in slides:
        if slide.title and slide.at is not None and talk_start < slide.at < end_of_talk and slide.page > 1:
            chapters.append(Chapter(slide.at, _short(slide.title)))
    if qa_start is not None:
        chapters.append(Chapter(qa_start, "Questions and answers"))
        for i in questions:
            chapters.append(Chapter(segments[i].start, "Question: " + _short(_question_text(segments, i))))
    return _tidy(chapters)


def _roles(recording: Recording, segments: Sequence[Segment]) -> dict[str | None, str]:
    """Speaker name -> "presenter", "host" or "audience", for the named speakers of the lines."""
    said: dict[str, float] = {}
    for s in segments:
        if s.speaker:
            said[s.speaker] = said.get(s.speaker, 0.0) + (s.end - s.start)
    if not said:
        return {}
    listed = [_name_key(name) for name in recording.speakers]
    presenters = {name for name in said if any(_same_person(_name_key(name), key) for key in listed)}
    if not presenters:
        presenters = {max(said, key=lambda name: (said[name], name))}
    first = next(s.speaker for s in segments if s.speaker)
    roles: dict[str | None, str] = {name: "audience" for name in said}
    roles.update({name: "presenter" for name in presenters})
    if first not in presenters:
        roles[first] = "host"
    return roles


def _name_key(name: str) -> list[str]:
    return [part for part in re.findall(r"\w+", name.lower()) if len(part) > 1]


def _same_person(a: list[str], b: list[str]) -> bool:
    """ "Dr. Maya Torres" and "Maya Torres (Riverside)" are one person: two name words in common,
    or the only one either has."""
    shared = set(a) & set(b)
    return len(shared) >= 2 or (bool(shared) and min(len(a), len(b)) == 1)


def _question_turns(segments: Sequence[Segment], roles: dict) -> list[int]:
    """The first line of each audience turn that asks something (or, failing a sentence that
    asks, says something of substance: not "Thanks, this was great.")."""
    return [
        i
        for i, s in enumerate(segments)
        if roles.get(s.speaker) == "audience"
        and (i == 0 or segments[i - 1].speaker != s.speaker)
        and _question_text(segments, i)
    ]


def _qa_start(segments: Sequence[Segment], roles: dict, questions: list[int], duration: float) -> float | None:
    """When the Q&A begins: the host's turn that leads to the first question (or the question
    itself); without names, the first invitation to ask in the second half of the talk that a
    question follows ("I am happy to take questions. Thank you." ending a talk opens no Q&A)."""
    if roles:
        if not questions:
            return None
        i = questions[0]
        while i > 0 and roles.get(segments[i - 1].speaker) == "host":
            i -= 1
        return segments[i].start
    half = (duration or segments[-1].end) / 2
    for i, s in enumerate(segments):
        if s.start >= half and _INVITATION.search(s.text) and _asked_after(segments, i):
            return s.start
    return None


def _asked_after(segments: Sequence[Segment], invitation: int) -> bool:
    """Whether a line after the invitation asks something (other than inviting questions again)."""
    return any(
        _asks(sentence) and not _INVITATION.search(sentence)
        for s in segments[invitation + 1 :]
        for sentence in _sentences(s.text)
    )


# Whisper often drops the question mark of a spoken question; these say a sentence asks anyway.
# Matched on the sentence in lower case, without re.I, which made the search three times slower.
_ASKING_PHRASE = re.compile(
    r"\b(i'?m curious|i am curious|i (was )?wonder(ed|ing)?|i'?d (like|love) to (know|hear|ask)|my question is"
    r"|(can|could) you (say|tell|talk|explain|speak|share)|tell (us|me) (more )?about)\b"
)
# A clause that opens the way a question does: "how do you…", "what happens…", "can clients…";
# after "and", "but", "so" only with a person asked ("so do you…", not "and is the main one").
_WH = r"(how|what|why|when|where|who|which)\s+(do|does|did|is|are|was|were|can|could|would|should|will|have|has"
_WH += r"|had|much|many|long|often|about|if|happens|happened|kind|sort)\b|(what|how|where|who|why|when)'s\b"
_AUX = r"(can|could|do|does|did|is|are|was|were|will|would|should|have|has|had)\s+"
_CLAUSE_OPENS_ASKING = re.compile(
    rf"{_WH}|{_AUX}(you|we|they|i|it|the|there|your|any|anyone|people|clients|that|this|those|these)\b"
)
_JOINED_CLAUSE_OPENS_ASKING = re.compile(rf"{_WH}|{_AUX}(you|we|they|anyone)\b")
_CLAUSE_START = re.compile(r"[,;:]\s+|\b(and|but|so)\s+")
# What opens an audience turn before its question: a greeting or thanks (with whatever follows it
# up to a comma or full stop), the host's hand-over merged into the line ("Maria, you're next"),
# a self-introduction ("I'm Joe from Ohio and I run…"), a filler word.
_GREETING = re.compile(
    r"^(hi|hello|hey|good (morning|afternoon|evening)|thanks|thank you|many thanks)\b[^.!?;,]{0,60}[.!;,]+\s*", re.I
)
_VOCATIVE = re.compile(r"^[A-Z][\w'-]*( [A-Z][\w'-]*)?[.!,]\s+")
_HANDOVER = re.compile(
    r"^([A-Z][\w'-]*( [A-Z][\w'-]*)?,?\s+)?((you'?re|you are|your) (next|up|unmuted|on)|go ahead|over to you)\b"
    r"[^.!?;]{0,40}?([.!;,]+\s*|\s+|$)",
    re.I,
)
_INTRODUCTION = re.compile(
    r"^(?i:i'?m|i am|my name is|this is) [A-Z][\w'-]*( [A-Z][\w'-]*)?(?=[,.!;]| (?i:from|and|here|with|at|in)\b)"
    r"[^.!?;]*?([.!;,]\s*|$)"
)
_FILLER = re.compile(r"^(so|and|but|well|um|uh|okay|ok|yeah|yes|oh|right)\b[,.]?\s+", re.I)
# A sentence opening this way puts the question in its context ("If …, what happens?"): kept whole.
_SETS_UP_A_QUESTION = re.compile(
    r"(if|when|whenever|once|since|because|although|while|after|before|for|in|with|given|as|where|unless|say)\b",
    re.I,
)
# A clause of fewer words is no title of its own ("Thanks, …"), nor worth cutting off ("…, or not?").
MIN_CLAUSE_WORDS = 4


def _question_text(segments: Sequence[Segment], first: int) -> str:
    """The question asked in a turn: its first sentence that asks something, without the greeting,
    thanks, names or self-introduction before the asking; failing one, its first sentence that
    says something (five words or more, not thanks); "" for a turn that does neither ("Hi.",
    "Thanks, this was great.")."""
    speaker = segments[first].speaker
    turn = []
    for s in segments[first:]:
        if s.speaker != speaker:
            break
        turn.append(s.text.strip())
    sentences = [_without_preamble(sentence) for sentence in _sentences(" ".join(turn))]
    asking = next((sentence for sentence in sentences if sentence and _asks(sentence)), "")
    if asking:
        return _from_the_asking(asking)
    return next((sentence for sentence in sentences if _says_something(sentence)), "")


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"(?<=[.?!…])\s+", text) if part.strip()]


def _asks(sentence: str) -> bool:
    """A sentence that asks: a question mark, an asking phrase ("I wonder…", "I'm curious…") or a
    clause that opens as a question does ("how do you…")."""
    return sentence.rstrip().endswith("?") or _asking_starts(sentence) is not None


def _asking_starts(sentence: str) -> int | None:
    """Where in the sentence the asking starts: an asking phrase, or the first clause that opens
    as a question does (the sentence's start, or after a comma, "and", "but" or "so"); None if
    nowhere."""
    lower = sentence.lower()
    phrase = _ASKING_PHRASE.search(lower)
    found = [phrase.start()] if phrase else []
    if _CLAUSE_OPENS_ASKING.match(lower):
        return 0
    for clause in _CLAUSE_START.finditer(lower):
        opens = _JOINED_CLAUSE_OPENS_ASKING if clause.group(1) else _CLAUSE_OPENS_ASKING
        if opens.match(lower, clause.end()):
            found.append(clause.end())
            break
    return min(found, default=None)


def _without_preamble(sentence: str) -> str:
    """The sentence without the greeting, thanks, hand-over, self-introduction or filler it opens
    with ("Thanks, Maria. I'm Joe, and how do you…" -> "How do you…")."""
    text = sentence.strip()
    while True:
        before = text
        for pattern in (_GREETING, _HANDOVER):
            text = pattern.sub("", text, count=1)
        if text != before:
            text = _VOCATIVE.sub("", text, count=1)  # "Thanks, Maria, …": the name thanked
        text = _INTRODUCTION.sub("", _FILLER.sub("", text, count=1), count=1)
        if text == before:
            break
    return text[:1].upper() + text[1:]


def _from_the_asking(sentence: str) -> str:
    """The asking clause of a sentence: from where it starts asking, unless what comes before sets
    up the question ("If a patient refuses, what happens?"), to the clause's end. Whisper often
    runs a turn's sentences together with commas: "Thanks, my worry is bias, did you check whether
    …" reads as "Did you check whether …", "Can you bill for group sessions, a lot of what we do
    is …" as "Can you bill for group sessions?"."""
    cut = _asking_starts(sentence)
    if cut is None:
        return sentence  # asks by its question mark alone: where the asking starts is not known
    if cut and not _SETS_UP_A_QUESTION.match(sentence):
        sentence = sentence[cut].upper() + sentence[cut + 1 :]
    first_clause, comma, rest = sentence.partition(", ")
    if comma and len(first_clause.split()) >= MIN_CLAUSE_WORDS and len(rest.split()) >= MIN_CLAUSE_WORDS:
        return first_clause + ("?" if _CLAUSE_OPENS_ASKING.match(first_clause.lower()) else "")
    return sentence


def _says_something(sentence: str) -> bool:
    """A statement worth a chapter: five words or more, none of them thanks or greeting."""
    return len(sentence.split()) >= 5 and not re.search(r"\b(thanks|thank you|hello|hi)\b", sentence, re.I)


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_TITLE_CHARS:
        return text
    return text[:MAX_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_STRUCTURE = ("Welcome and introductions", "Presentation", "Questions and answers", "Question: ")


def _tidy(chapters: list[Chapter]) -> list[Chapter]:
    """In time order. The talk's parts and each question stay; a slide's entry gives way to the
    next entry when that one comes within MIN_CHAPTER_SECONDS (an agenda flicked past), and to
    the part it follows by as little (the presenter's greeting before the first slide)."""
    chapters = sorted(chapters, key=lambda c: c.start)
    kept: list[Chapter] = []
    for i, chapter in enumerate(chapters):
        following = chapters[i + 1] if i + 1 < len(chapters) else None
        if not chapter.title.startswith(_STRUCTURE) and kept:
            if following is not None and following.start - chapter.start < MIN_CHAPTER_SECONDS:
                continue
            if kept[-1].title.startswith(_STRUCTURE) and chapter.start - kept[-1].start < MIN_CHAPTER_SECONDS:
                continue
        if kept and chapter.start == kept[-1].start:
            kept[-1] = chapter  # the Q&A opening with a question: the question says more
            continue
        kept.append(chapter)
    return kept


# -- keeping and editing --------------------------------------------------------------------


def refresh_outline(db: Database, recording_id: int) -> list[Chapter]:
    """Make the talk's outline again from what the archive knows now, unless staff wrote it."""
    with write_transaction(db):
        recording = store.get_recording(db, recording_id)
        if recording is None or recording.chapters_edited:
            return store.chapters(db, recording_id)
        chapters = outline(recording, store.get_segments(db, recording_id), store.slides(db, recording_id))
        store.replace_chapters(db, recording_id, chapters, edited=False)
    return chapters


def chapters_text(chapters: Sequence[Chapter]) -> str:
    """The outline as staff edit it: one "12:34 Title" per line."""
    return "\n".join(f"{clock(c.start, always_hours=False)} {c.title}" for c in chapters)


def parse_chapters(text: str, duration: float) -> list[Chapter]:
    """Chapters from "12:34 Title" lines (times as the archive reads them: 754, 12:34, 1:02:03).

    Raises ChapterError naming the first line that has no time, no title or a time past the end.
    """
    chapters = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        when, _, title = line.partition(" ")
        start = parse_timecode(when)
        title = " ".join(title.split()).lstrip("-–— ").strip()
        if start is None:
            raise ChapterError(f"line {number}: start it with a time like 12:34 ({line[:40]!r})")
        if not title:
            raise ChapterError(f"line {number}: give the chapter at {when} a title")
        if duration and start > duration:
            raise ChapterError(
                f"line {number}: {when} is past the end of the talk ({clock(duration, always_hours=False)})"
            )
        chapters.append(Chapter(round(start, 3), title[:200]))
    if len(chapters) > MAX_CHAPTERS:
        raise ChapterError(f"{len(chapters)} chapters is more than an outline ({MAX_CHAPTERS} at most)")
    return sorted(chapters, key=lambda c: c.start)


def set_chapters(db: Database, recording_id: int, text: str) -> list[Chapter]:
    """Keep the outline staff wrote (renamed, moved, deleted or added entries); an empty text
    gives the talk its automatic outline back."""
    recording = store.get_recording(db, recording_id)
    if recording is None:
        raise ChapterError(f"there is no recording {recording_id}")
    chapters = parse_chapters(text, recording.duration)
    if not chapters:
        with write_transaction(db):
            db.execute("UPDATE recordings SET chapters_edited = 0 WHERE id = ?", [recording_id])
        return refresh_outline(db, recording_id)
    with write_transaction(db):
        store.replace_chapters(db, recording_id, chapters, edited=True)
    return chapters
