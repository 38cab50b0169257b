"""Ingest speed, accuracy and memory on real speech.

Builds a recording of at least --minutes of real speech from the bundled clips (JFK,
the ComfyUI clip and the English half of the MIT-licence reading, with short pauses),
ingests it into a fresh archive in a child process, and prints, per pipeline step and
for the whole, audio seconds per wall second; the word error rate against the known
text; the word error rate of faster-whisper run alone on the same audio with the same
settings (the transcription step's own accuracy); and the child's peak memory.

    .venv/bin/python bench/bench_ingest.py                 # 3.3 minutes
    .venv/bin/python bench/bench_ingest.py --minutes 60 --no-baseline
    .venv/bin/python bench/bench_ingest.py --smoke         # the clips once (50 s): a check it runs

With --talks it instead transcribes the evaluation webinars and talks of bench/eval (several
voices, Zoom-like audio), with the hints an ingest gives Whisper (their speakers and
organisation), and prints per talk: word error rate against the script (English sentences,
numbers left out of both sides, as bench/eval/voice.py --wer), coverage (the share of the
script's sentences whose words are mostly in the transcript lines said at that time), and speed;
dev and test split apart:

    .venv/bin/python bench/bench_ingest.py --talks [--model base|tiny.en|DIR] [--hints talk|sentence|list|hotwords|none]
    .venv/bin/python bench/bench_ingest.py --talks --smoke # one 3.6-minute talk (test split): a check it runs

``--hints talk`` gives Whisper what an ingest with the talk's deck now gives it
(``ingest.transcribe.talk_hints``: the names and rare terms of its details and slides, most
distinctive first); every mode is also scored on those terms' words ("terms spelled right").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory

RATE = 16_000
PAUSE = 0.8
CLIPS = [
    (
        ROOT / "tests/data/jfk.flac",
        None,
        "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    ),
    (ROOT / "tests/data/hotwords.mp3", None, "Then you go into your ComfyUI folder again in the ComfyUI"),
    (
        ROOT / "tests/data/multilingual.mp3",
        30.3,
        "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated "
        "documentation files, to deal in the software without restriction, including without limitation the rights to "
        "use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the software, and to permit "
        "persons to whom the software is furnished to do so, subject to the following conditions: the above copyright "
        "notice and this permission notice shall be included in all copies or substantial portions of the software.",
    ),
]
VOCAB = ["ComfyUI"]
SMOKE_TALKS = ["community-resource-directory.m4a"]  # with --talks --smoke: one voice, 3.6 minutes, test split


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower().replace("/", " ")))


def wer(reference: str, hypothesis: str) -> float:
    import jiwer

    return jiwer.wer(words(reference), words(hypothesis))


def load(path: Path, seconds: float | None) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
    with av.open(str(path)) as container:
        chunks = [f.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for f in resampler.resample(frame)]
    audio = np.concatenate(chunks)
    return audio[: int(seconds * RATE)] if seconds else audio


def build_recording(minutes: float, target: Path) -> str:
    """Write the test recording as FLAC; returns its reference text."""
    cycle = []
    text = []
    for path, seconds, reference in CLIPS:
        cycle += [load(path, seconds), np.zeros(int(PAUSE * RATE), np.float32)]
        text.append(reference)
    one = np.concatenate(cycle)
    repeats = max(1, int(np.ceil(minutes * 60 * RATE / len(one))))
    write_flac(np.tile(one, repeats), target)
    return " ".join(text * repeats)


def write_flac(audio: np.ndarray, target: Path) -> None:
    """16 kHz mono float samples as a FLAC file."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    with av.open(str(target), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=RATE, layout="mono")
        for start in range(0, len(pcm), 4096):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 4096], format="s16", layout="mono")
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def run_pipeline(path: str, data_dir: str, model: str, queue) -> None:
    """In a child process, so its peak memory is the pipeline's alone."""
    from archive.core.config import load_config
    from archive.core.store import connect
    from archive.core.store.recordings import get_segments
    from archive.library import Archive
    from ingest.pipeline import RecordingMeta, ingest_file

    config = load_config({"data_dir": data_dir, "whisper_model": model}, environ={})
    db = connect(config.db_path)
    # Models load lazily, once per process (a worker keeps them); time that apart.
    started = time.perf_counter()
    services = Archive(config)
    services.warm(transcription=True)
    transcriber, embedder = services.transcriber, services.embedder
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = ingest_file(
        db, config, path, RecordingMeta(title="Benchmark talk", vocab=VOCAB), transcriber=transcriber, embedder=embedder
    )
    total = time.perf_counter() - started
    text = " ".join(s.text for s in get_segments(db, result.recording.id))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "load": load_seconds,
            "total": total,
            "steps": result.timings,
            "duration": result.recording.duration,
            "text": text,
            "peak_mb": peak_mb,
            "segments": result.segments,
            "passages": result.passages,
        }
    )


def run_baseline(path: str, model: str, queue) -> None:
    """faster-whisper alone on the whole decoded file, with the pipeline's settings and hint."""
    from ingest.media import decode
    from ingest.transcribe import WhisperTranscriber, build_hints

    transcriber = WhisperTranscriber(model)
    whisper = transcriber.load()
    audio = np.concatenate(list(decode(path)))
    started = time.perf_counter()
    segments, _ = whisper.transcribe(
        audio,
        language="en",
        beam_size=transcriber.beam_size,
        condition_on_previous_text=False,
        initial_prompt=build_hints(VOCAB),
    )
    text = " ".join(s.text for s in segments)
    queue.put({"total": time.perf_counter() - started, "text": text})


def in_child(target, *args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


NUMBERS = set(
    """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
    eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand percent dollars first""".split()
)


def script_words(text: str) -> list[str]:
    """Words to compare, numbers left out (the scripts spell them, Whisper writes digits)."""
    found = re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))
    return [w.strip("'") for w in found if w.strip("'") and w not in NUMBERS and not any(c.isdigit() for c in w)]


def transcribe_talks(
    model: str, hints: str, split: str, word_times: bool | None, only: list[str] | None, queue
) -> None:
    """In a child process: every evaluation recording through the pipeline's transcription."""
    from bench_slides import deck_pdf

    from archive.core.config import load_config
    from archive.core.store.records import Companions, RecordingMeta
    from ingest import media
    from ingest.pipeline import StepTimer, lines_and_gaps, transcribe_file
    from ingest.slides import read_slides
    from ingest.transcribe import build_hints, talk_hints, transcriber_for

    config = load_config({"whisper_model": model}, environ={})
    transcriber = transcriber_for(config)
    transcriber.hints_as = "hotwords" if hints == "hotwords" else "prompt"
    if word_times is not None:
        transcriber.word_timestamps = word_times
    transcriber.load()
    results = []
    decks = json.loads((ROOT / "bench/eval/slides.json").read_text())["decks"]
    for talk in json.loads((ROOT / "bench/eval/webinars.json").read_text())["talks"]:
        if (split != "all" and talk["split"] != split) or (only and talk["file"] not in only):
            continue
        path = ROOT / "bench/eval" / talk["file"]
        meta = RecordingMeta.from_dict(talk)
        style = "sentence" if hints == "sentence" else "list"
        deck = decks.get(talk["file"])
        companions = Companions(slides=tuple(read_slides(deck_pdf(deck), talk["file"]))) if deck else Companions()
        known = talk_hints(meta, companions)
        prompt = build_hints([*meta.speakers, meta.host, meta.organization], style=style) if hints != "none" else ""
        prompt = known if hints == "talk" else prompt
        started = time.perf_counter()
        lines, gaps = lines_and_gaps(
            transcribe_file(path, media.probe(path), transcriber, prompt, StepTimer(), lambda *a: None), prompt
        )
        names = [w for name in [*meta.speakers, meta.host, meta.organization] for w in name.split() if len(w) > 2]
        terms = [w for term in known.split(", ") for w in re.findall(r"[^\W\d_][\w'’-]*", term) if len(w) > 2]
        results.append(
            {
                "file": talk["file"],
                "split": talk["split"],
                "seconds": time.perf_counter() - started,
                "names": names,
                "terms": list(dict.fromkeys(terms)),
                "segments": [(s.start, s.end, s.text) for s in lines],
                "gaps": [(g.start, g.end) for g in gaps],
            }
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "talks": results,
            "peak_mb": peak_mb,
            "model": transcriber.model_name,
            "word_times": transcriber.word_timestamps,
        }
    )


def _fold(word: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


def spelled_right(script: str, said: str, words: list[str]) -> tuple[int, int]:
    """How many of the script's mentions of ``words`` the transcript spells the same, of how many
    (a word given twice, as two people's shared surname, counts twice)."""
    counts = [_mentions(script, said, word) for word in words]
    return sum(heard for heard, _ in counts), sum(wanted for _, wanted in counts)


def misspelled(script: str, said: str, words: list[str]) -> list[str]:
    """The ``words`` the transcript spells right fewer times than the script says them ("Gosia 0/1")."""
    counts = {word: _mentions(script, said, word) for word in words}
    return [f"{word} {heard}/{wanted}" for word, (heard, wanted) in counts.items() if heard < wanted]


def _mentions(script: str, said: str, word: str) -> tuple[int, int]:
    """(the mentions of ``word`` the transcript spells the same, up to the script's; the script's)."""
    wanted = len(re.findall(rf"\b{re.escape(word)}\b", script))
    return min(len(re.findall(rf"\b{re.escape(word)}\b", said)), wanted), wanted


def score_talk(
    sentences: list[dict],
    segments: list[tuple[float, float, str]],
    names: list[str],
    terms: list[str] = (),
    gaps: list[tuple[float, float]] = (),
) -> dict:
    """WER over the English sentences; the share of sentences present where they were said (Spanish
    ones apart), and of those absent, which a speech gap flags for staff (a gap overlapping the
    sentence, give or take a second: staff are shown where to listen); how many of the script's mentions of the speakers' and organisation's names the
    transcript spells right; and Title Case leaking from a prompt (a word capitalised mid-sentence
    that the script only ever writes in lower case)."""
    import jiwer

    spanish = [(s["start"], s["end"]) for s in sentences if s.get("language", "en") != "en"]

    def english(segment) -> bool:
        middle = (segment[0] + segment[1]) / 2
        return not any(a - 0.5 <= middle <= b + 0.5 for a, b in spanish)

    reference = " ".join(w for s in sentences if s.get("language", "en") == "en" for w in script_words(s["text"]))
    hypothesis = " ".join(w for seg in segments if english(seg) for w in script_words(seg[2]))
    present, missing, flagged, spanish_kept = 0, [], [], 0
    for sentence in sentences:
        wanted = {_fold(w) for w in script_words(sentence["text"])}
        if not wanted:
            present += 1
            continue
        heard = set(
            _fold(w)
            for a, b, text in segments
            if a <= sentence["end"] + 1.0 and b >= sentence["start"] - 1.0
            for w in script_words(text)
        )
        if len(wanted & heard) >= 0.5 * len(wanted):
            present += 1
            spanish_kept += sentence.get("language", "en") == "es"
        elif any(a <= sentence["end"] + 1.0 and b >= sentence["start"] - 1.0 for a, b in gaps):
            flagged.append(f"{sentence['start']:.0f}s {sentence['text'][:60]!r}")
        else:
            missing.append(f"{sentence['start']:.0f}s {sentence['text'][:60]!r}")
    script = " ".join(s["text"] for s in sentences)
    said = " ".join(seg[2] for seg in segments)
    heard_names, wanted_names = spelled_right(script, said, names)
    lower_only = {w for w in re.findall(r"[A-Za-z']+", script) if w.islower()} - {
        w.lower() for w in re.findall(r"[A-Za-z']+", script) if not w.islower()
    }
    title_case = sum(
        1
        for seg in segments
        for before, word in zip(seg[2].split(), seg[2].split()[1:], strict=False)
        if not before.endswith((".", "?", "!")) and word[:1].isupper() and word.strip(".,?!").lower() in lower_only
    )
    return {
        "wer": jiwer.wer(reference, hypothesis) if hypothesis else 1.0,
        "coverage": present / len(sentences),
        "missing": missing,
        "flagged": flagged,
        "words": len(reference.split()),
        "names": (heard_names, wanted_names),
        "names_misspelled": misspelled(script, said, names),
        "terms": spelled_right(script, said, list(terms)),
        "spanish": (spanish_kept, len(spanish)),
        "title_case": title_case,
    }


def evaluate_talks(model: str, hints: str, split: str, word_times: bool | None, only: list[str] | None = None) -> int:
    run = in_child(transcribe_talks, model, hints, split, word_times, only)
    timings = json.loads((ROOT / "bench/eval/timings.json").read_text())
    print(f"{run['model']}, hints: {hints}, word timings: {run['word_times']}")
    print(f"{'talk':<42}{'split':>6}{'WER':>7}{'coverage':>10}{'x real time':>13}")
    totals: dict[str, list] = {}
    for talk in run["talks"]:
        sentences = timings[talk["file"]]
        score = score_talk(sentences, talk["segments"], talk["names"], talk["terms"], talk["gaps"])
        duration = sentences[-1]["end"]
        print(
            f"{talk['file'][:41]:<42}{talk['split']:>6}{score['wer']:>7.1%}{score['coverage']:>10.1%}"
            f"{duration / talk['seconds']:>12.1f}x"
        )
        for line in score["missing"][:4]:
            print(f"    missing {line}")
        for line in score["flagged"]:
            print(f"    absent but flagged as a speech gap {line}")
        for start, end in talk["gaps"]:
            print(f"    flagged: speech with no text at {start:.0f}-{end:.0f} s")
        if talk["split"] == "dev" and score["names_misspelled"]:  # tune on dev: test's are not shown
            print(f"    names spelled otherwise: {', '.join(score['names_misspelled'])}")
        group = totals.setdefault(talk["split"], [0.0, 0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        group[0] += score["wer"] * score["words"]
        group[1] += score["words"]
        group[2] += duration
        group[3] += talk["seconds"]
        group[4] += len(score["missing"])
        group[5] += score["names"][0]
        group[6] += score["names"][1]
        group[7] += score["spanish"][0]
        group[8] += score["spanish"][1]
        group[9] += score["title_case"]
        group[10] += score["terms"][0]
        group[11] += score["terms"][1]
        group[12] += len(score["flagged"])
    summary = {}
    for part, group in totals.items():
        errors, words_, duration, seconds, missing, names, mentions, kept, spanish, title, terms, said, flagged = group
        summary[part] = {
            "wer": round(errors / words_, 4),
            "sentences_missing": missing,
            "sentences_flagged": flagged,
            "names_right": f"{names}/{mentions}",
            "terms_right": f"{terms}/{said}",
            "spanish_kept": f"{kept}/{spanish}",
            "title_case_words": title,
            "x_real_time": round(duration / seconds, 1),
        }
        print(
            f"{part}: WER {errors / words_:.1%} over {words_} words, {missing} sentences missing and {flagged} more flagged as speech gaps, "
            f"names spelled right {names}/{mentions}, terms {terms}/{said}, Spanish sentences kept {kept}/{spanish}, "
            f"{title} words in Title Case, {duration / seconds:.1f}x real time"
        )
    print(f"peak memory (transcribing process, max RSS): {run['peak_mb']:.0f} MB")
    print(
        json.dumps(
            {
                "model": run["model"],
                "hints": hints,
                "word_times": run["word_times"],
                **summary,
                "peak_mb": round(run["peak_mb"]),
            }
        )
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.3)
    parser.add_argument("--model", default="", help="a Whisper model: base, tiny.en or a CTranslate2 folder")
    parser.add_argument("--no-baseline", action="store_true", help="skip faster-whisper alone (slow for long runs)")
    parser.add_argument("--talks", action="store_true", help="transcribe the evaluation talks instead")
    parser.add_argument(
        "--hints",
        choices=["talk", "list", "sentence", "hotwords", "none"],
        default="list",
        help="with --talks: the talk's details and slides as an ingest gives them (talk), or the speakers and "
        "organisation as a prompt list, a prompt sentence, hotwords, or no hints",
    )
    parser.add_argument(
        "--word-times",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --talks: ask Whisper for word timings (default: the model's setting)",
    )
    parser.add_argument(
        "--split", choices=["dev", "test", "all"], default="all", help="with --talks: tune on dev, report test"
    )
    parser.add_argument("--only", nargs="+", metavar="FILE", help="with --talks: just these recordings of bench/eval")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run: the clips once (about 50 s of speech); with --talks, only " + ", ".join(SMOKE_TALKS),
    )
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(minutes=0.5, only=SMOKE_TALKS)
    args = parser.parse_args()
    if args.talks:
        return evaluate_talks(args.model, args.hints, args.split, args.word_times, args.only)

    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "talk.flac"
        reference = build_recording(args.minutes, recording)
        run = in_child(run_pipeline, str(recording), str(Path(tmp) / "data"), args.model)
        duration = run["duration"]
        print(
            f"recording: {duration / 60:.1f} min of real speech, {recording.stat().st_size / 1e6:.1f} MB FLAC; "
            f"{run['segments']} segments, {run['passages']} passages"
        )
        print(f"models loaded in {run['load']:.1f} s (once per process, not counted below)")
        print(f"{'step':<12}{'wall s':>9}{'x real time':>13}{'share':>8}")
        for step in ["probe", "store", "decode", "transcribe", "embed", "write"]:
            seconds = run["steps"].get(step, 0.0)
            speed = duration / seconds if seconds else float("inf")
            print(f"{step:<12}{seconds:>9.2f}{speed:>12.0f}x{seconds / run['total']:>8.1%}")
        print(f"{'pipeline':<12}{run['total']:>9.2f}{duration / run['total']:>12.1f}x{1:>8.0%}")
        outside = run["total"] - run["steps"].get("transcribe", 0.0)
        print(f"everything but transcription: {outside / run['total']:.1%} of the total")
        print(f"word error rate, pipeline: {wer(reference, run['text']):.1%}")
        if not args.no_baseline:
            base = in_child(run_baseline, str(recording), args.model)
            print(
                f"word error rate, faster-whisper alone on the whole file: {wer(reference, base['text']):.1%} "
                f"({duration / base['total']:.1f}x real time)"
            )
        print(f"peak memory (pipeline process, max RSS): {run['peak_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
