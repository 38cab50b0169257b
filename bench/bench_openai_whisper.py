"""The archive's whole ingest against openai-whisper on the same Whisper base weights, side by side in one run.

openai-whisper (OpenAI's own PyTorch implementation) is the reference the archive's transcription
has to beat. This bench installs it in a venv of its own (``bench/.cache/openai-whisper``: torch's
CPU build and openai-whisper pinned, without triton, which only its GPU kernels use), gives it the
archive's very weights (``openai_state`` below converts the CTranslate2 ``model.bin`` of
``whisper-base``: it reads CTranslate2's format, renames each tensor to openai-whisper's layout
and splits the fused attention projections again; nothing is downloaded but the packages), and
runs on each recording:

- **archive, whole ingest**: ``archive ingest FILE`` in a fresh process on an archive of its own,
  start-up included: decoding, transcription (faster-whisper int8, greedy, word timings, the
  speech-gap check), speakers told apart, indexing for search;
- **archive, transcription stage**: the same transcription alone (``ingest.pipeline.transcribe_file``
  with the hints that ingest gives it), in a fresh process, model load left out;
- **faster-whisper alone**: the same model the simplest way (the whole audio in one ``transcribe``
  call, English, greedy, no word timings, no speech regions, no gap check): the floor the archive's
  transcription stage is measured against;
- **openai-whisper**: ``model.transcribe`` greedy (temperature 0, no fallback), English, fp32 on the
  CPU, in its own venv; "whole" is its process from start to end (import, model load, transcribing),
  "stage" its ``transcribe`` call alone. It gets the audio decoded already (it would shell out to an
  ffmpeg this machine may not have), which spares it the decoding the archive's figure includes.

Recordings (bench/eval, test split): four test webinars (the English ones) joined end to end with a second of
silence between them (22.9 minutes, several voices each, Q&A, Zoom-like audio), and a 3.6-minute
one-voice talk. Word error is over the script's English words, numbers left out of both sides
(``bench_ingest.score_talk``). Peak memory is each process's maximum resident set. Prints a table
and ends with one JSON line.

    .venv/bin/python bench/bench_openai_whisper.py            # about 12 minutes on 2 cores, once installed
    .venv/bin/python bench/bench_openai_whisper.py --only talk
    .venv/bin/python bench/bench_openai_whisper.py --smoke    # the 11-second JFK clip: a check it runs

The first run creates the venv (about 900 MB; torch comes from the machine's file or PyPI's CPU index
the way ``make install`` takes it). Targets (issue 26): the whole ingest >= 2x faster on the webinar and
>= 1.5x on the talk, the transcription stage >= 3x, at equal or better word error; peak memory <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_ingest import RATE, load, score_talk, write_flac  # noqa: E402

VENV = ROOT / "bench/.cache/openai-whisper"
CHECKPOINT = VENV / "base-from-archive.pt"
# openai-whisper's own requirements but triton (GPU kernels only), pinned as measured.
PACKAGES = (
    ["torch==2.13.0"],
    ["numba==0.68.1", "tiktoken==0.14.0", "tqdm==4.70.1", "more-itertools==11.2.1"],
    ["--no-deps", "openai-whisper==20250625"],
)
EVAL = ROOT / "bench/eval"
RECORDINGS = {
    "webinar": [
        "closing-the-loop-with-referrers.m4a",
        "library-connection-desk-funding.m4a",
        "conectados-randomized-evaluation.m4a",
        "barbershops-and-mens-sheds.m4a",
    ],
    "talk": ["community-resource-directory.m4a"],
}
SMOKE_TEXT = (
    "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
)
BETWEEN_TALKS = 1.0  # seconds of silence where two recordings are joined
TITLE = "Community of Practice recording"
SIDES = ("archive", "faster_whisper_alone", "openai_whisper")

# Runs a command and prints the largest resident set of its process tree's members, in KB (Linux).
MEASURED = "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); " + (
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)

# openai-whisper's side, run by the venv's python: load, transcribe greedily, one JSON line.
OPENAI_TRANSCRIBE = """
import json, resource, sys, time
import numpy as np
import whisper
started = time.perf_counter()
model = whisper.load_model(sys.argv[1], device="cpu")
loaded = time.perf_counter()
result = model.transcribe(np.load(sys.argv[2]), language="en", temperature=0.0, fp16=False)
print(json.dumps({
    "load_s": loaded - started,
    "stage_s": time.perf_counter() - loaded,
    "segments": [(s["start"], s["end"], s["text"]) for s in result["segments"]],
}))
"""


TYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")  # CTranslate2's DataType order


def read_ctranslate2(path: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` by name (aliases resolved)."""
    data = path.read_bytes()
    position = 0

    def take(layout: str) -> int:
        nonlocal position
        (value,) = struct.unpack_from(layout, data, position)
        position += struct.calcsize(layout)
        return value

    def string() -> str:
        nonlocal position
        length = take("H")  # with its closing NUL
        text = data[position : position + length - 1].decode()
        position += length
        return text

    take("I")  # binary version
    string()  # spec name
    take("I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("I")):
        name = string()
        shape = [take("I") for _ in range(take("B"))]
        dtype = np.dtype(TYPES[take("B")])
        size = take("I")
        variables[name] = np.frombuffer(data, dtype, size // dtype.itemsize, position).reshape(shape)
        position += size
    for _ in range(take("I")):
        alias = string()
        variables[alias] = variables[string()]
    return variables


def openai_state(model_dir: Path) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """openai-whisper's ``dims`` and ``model_state_dict`` (float32 arrays) for a CTranslate2 Whisper."""
    ct2 = read_ctranslate2(model_dir / "model.bin")
    state: dict[str, np.ndarray] = {}
    width = ct2["encoder/layer_norm/gamma"].shape[0]

    def copy(target: str, source: str, rows: slice | None = None, bias: bool = True) -> None:
        weight = ct2[f"{source}/weight"]
        state[f"{target}.weight"] = weight[rows] if rows else weight
        if bias:
            values = ct2[f"{source}/bias"]
            state[f"{target}.bias"] = values[rows] if rows else values

    def norm(target: str, source: str) -> None:
        state[f"{target}.weight"] = ct2[f"{source}/gamma"]
        state[f"{target}.bias"] = ct2[f"{source}/beta"]

    def split_qkv(target: str, source: str, parts: tuple[str, ...]) -> None:
        for index, part in enumerate(parts):
            copy(f"{target}.{part}", source, slice(index * width, (index + 1) * width), bias=part != "key")

    def block(target: str, source: str, cross: bool) -> None:
        norm(f"{target}.attn_ln", f"{source}/self_attention/layer_norm")
        split_qkv(f"{target}.attn", f"{source}/self_attention/linear_0", ("query", "key", "value"))
        copy(f"{target}.attn.out", f"{source}/self_attention/linear_1")
        if cross:
            norm(f"{target}.cross_attn_ln", f"{source}/attention/layer_norm")
            copy(f"{target}.cross_attn.query", f"{source}/attention/linear_0")
            split_qkv(f"{target}.cross_attn", f"{source}/attention/linear_1", ("key", "value"))
            copy(f"{target}.cross_attn.out", f"{source}/attention/linear_2")
        norm(f"{target}.mlp_ln", f"{source}/ffn/layer_norm")
        copy(f"{target}.mlp.0", f"{source}/ffn/linear_0")
        copy(f"{target}.mlp.2", f"{source}/ffn/linear_1")

    audio_layers = sum(1 for name in ct2 if name.startswith("encoder/layer_") and name.endswith("ffn/linear_0/weight"))
    text_layers = sum(1 for name in ct2 if name.startswith("decoder/layer_") and name.endswith("ffn/linear_0/weight"))
    copy("encoder.conv1", "encoder/conv1")
    copy("encoder.conv2", "encoder/conv2")
    state["encoder.positional_embedding"] = ct2["encoder/position_encodings/encodings"]
    for layer in range(audio_layers):
        block(f"encoder.blocks.{layer}", f"encoder/layer_{layer}", cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")
    state["decoder.token_embedding.weight"] = ct2["decoder/embeddings/weight"]
    state["decoder.positional_embedding"] = ct2["decoder/position_encodings/encodings"]
    for layer in range(text_layers):
        block(f"decoder.blocks.{layer}", f"decoder/layer_{layer}", cross=True)
    norm("decoder.ln", "decoder/layer_norm")
    dims = {
        "n_mels": int(ct2["encoder/conv1/weight"].shape[1]),
        "n_vocab": int(ct2["decoder/embeddings/weight"].shape[0]),
        "n_audio_ctx": int(ct2["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": width,
        "n_audio_head": int(ct2["encoder/num_heads"]),
        "n_audio_layer": audio_layers,
        "n_text_ctx": int(ct2["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": width,
        "n_text_head": int(ct2["decoder/num_heads"]),
        "n_text_layer": text_layers,
    }
    return dims, {name: np.asarray(value, dtype=np.float32) for name, value in state.items()}


def save_checkpoint(model_dir: Path, target: Path) -> None:
    """Write the checkpoint ``whisper.load_model(target)`` reads."""
    import torch

    dims, state = openai_state(model_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": dims, "model_state_dict": {k: torch.from_numpy(v.copy()) for k, v in state.items()}}, target)
    print(json.dumps({"checkpoint": str(target), "dims": dims}))


def ensure_openai_whisper() -> Path:
    """The venv's python, with openai-whisper installed and the archive's weights converted for it."""
    python = VENV / "bin" / "python"
    ready = VENV / ".installed"
    if not ready.exists():
        print(f"installing openai-whisper into {VENV.relative_to(ROOT)} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        for packages in PACKAGES:
            pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            subprocess.run([*pip, *packages], check=True)
        ready.write_text(json.dumps(PACKAGES))
    from archive.core.model_files import model_path

    model_dir = model_path("whisper-base")
    if not CHECKPOINT.exists() or CHECKPOINT.stat().st_mtime < (model_dir / "model.bin").stat().st_mtime:
        save_checkpoint(model_dir, CHECKPOINT)
    return python


def build_recordings(scratch: Path, smoke: bool, only: list[str]) -> list[dict]:
    """Each recording as FLAC (for the archive) and 16 kHz float32 .npy (for openai-whisper), with its
    script's sentences on the joined recording's clock."""
    if smoke:
        audio = load(ROOT / "tests/data/jfk.flac", None)
        sentences = [{"start": 0.0, "end": len(audio) / RATE, "text": SMOKE_TEXT}]
        wanted = {"clip": (audio, sentences)}
    else:
        timings = json.loads((EVAL / "timings.json").read_text())
        wanted = {}
        for name, files in RECORDINGS.items():
            if only and name not in only:
                continue
            pieces, sentences, offset = [], [], 0.0
            for file in files:
                audio = load(EVAL / file, None)
                sentences += [{**s, "start": s["start"] + offset, "end": s["end"] + offset} for s in timings[file]]
                pieces += [audio, np.zeros(int(BETWEEN_TALKS * RATE), np.float32)]
                offset += len(audio) / RATE + BETWEEN_TALKS
            wanted[name] = (np.concatenate(pieces[:-1]), sentences)
    recordings = []
    for name, (audio, sentences) in wanted.items():
        flac, samples = scratch / f"{name}.flac", scratch / f"{name}.npy"
        write_flac(audio, flac)
        np.save(samples, audio)
        recordings.append(
            {"name": name, "flac": flac, "npy": samples, "sentences": sentences, "minutes": len(audio) / RATE / 60}
        )
    return recordings


def measured_run(command: list[str], env: dict[str, str]) -> tuple[float, float, str, str]:
    """Wall seconds, peak memory (MB), stdout and stderr of ``command`` in a fresh process tree."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURED, *command], env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed:\n{done.stderr[-3000:]}")
    *said, peak_kb = done.stderr.rstrip().splitlines()
    return wall, int(peak_kb) / 1024, done.stdout, "\n".join(said)


def archive_whole(recording: dict, scratch: Path) -> dict:
    """``archive ingest`` in a fresh process on an archive of its own; its lines read back from the store."""
    data_dir = scratch / f"archive-{recording['name']}"
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-m", "archive", "ingest", "--title", TITLE, str(recording["flac"])]
    wall, peak_mb, _, _ = measured_run(command, env)
    import sqlite3

    with sqlite3.connect(data_dir / "archive.db") as db:
        segments = db.execute('SELECT start, "end", text FROM segments ORDER BY start').fetchall()
    return {"whole_s": wall, "peak_mb": peak_mb, "segments": segments}


def _stage_in_child(flac: str, plain: bool, queue) -> None:
    from archive.core.config import load_config
    from archive.core.store.records import RecordingMeta
    from ingest import media
    from ingest.pipeline import StepTimer, transcribe_file
    from ingest.transcribe import talk_hints, transcriber_for

    transcriber = transcriber_for(load_config({}, environ={}))
    if plain:  # faster-whisper's own way: one call at a time, on every core
        transcriber.workers = 1
    whisper = transcriber.load()
    path = Path(flac)
    started = time.perf_counter()
    if plain:  # faster-whisper alone: the whole audio in one call, English, greedy, no word timings
        samples = np.concatenate(list(media.decode(path)))
        pieces, _ = whisper.transcribe(
            samples, language="en", beam_size=1, condition_on_previous_text=False, vad_filter=False
        )
        segments = [(piece.start, piece.end, piece.text) for piece in pieces]
    else:
        hints = talk_hints(RecordingMeta(title=TITLE))
        lines = transcribe_file(path, media.probe(path), transcriber, hints, StepTimer(), lambda *_: None)
        segments = [(line.start, line.end, line.text) for line in lines if hasattr(line, "text")]
    queue.put({"stage_s": time.perf_counter() - started, "segments": segments})


def stage_alone(recording: dict, plain: bool = False) -> dict:
    """The archive's transcription stage alone (decoding included, model load not), in a fresh process;
    with ``plain``, faster-whisper run the simplest way on the same model instead (the floor)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_stage_in_child, args=(str(recording["flac"]), plain, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def openai_whisper(recording: dict, python: Path) -> dict:
    command = [str(python), "-c", OPENAI_TRANSCRIBE, str(CHECKPOINT), str(recording["npy"])]
    wall, peak_mb, out, _ = measured_run(command, {**os.environ, "PYTHONWARNINGS": "ignore"})
    result = json.loads(out.strip().splitlines()[-1])
    return {"whole_s": wall, "stage_s": result["stage_s"], "peak_mb": peak_mb, "segments": result["segments"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=sorted(RECORDINGS), default=[], help="just these recordings")
    parser.add_argument("--smoke", action="store_true", help="the 11-second JFK clip: a check that it runs")
    args = parser.parse_args()
    python = ensure_openai_whisper()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        for recording in build_recordings(scratch, args.smoke, args.only):
            ours = archive_whole(recording, scratch)
            ours["stage_s"] = stage_alone(recording)["stage_s"]
            sides = {"archive": ours, "faster_whisper_alone": stage_alone(recording, plain=True)}
            sides["openai_whisper"] = openai_whisper(recording, python)
            for side in sides.values():
                side["wer"] = score_talk(recording["sentences"], side.pop("segments"), [])["wer"]
            rows.append({"recording": recording["name"], "minutes": round(recording["minutes"], 1), **sides})
    print(f"{'recording':<10}{'minutes':>8}  {'':<22}{'whole s':>9}{'stage s':>9}{'WER':>8}{'peak MB':>9}")
    for row in rows:
        for label in SIDES:
            side = row[label]
            whole, peak = side.get("whole_s"), side.get("peak_mb")
            print(
                f"{row['recording']:<10}{row['minutes']:>8.1f}  {label.replace('_', ' '):<22}"
                f"{f'{whole:.1f}' if whole else '':>9}{side['stage_s']:>9.1f}{side['wer']:>8.1%}"
                f"{f'{peak:.0f}' if peak else '':>9}"
            )
        theirs = row["openai_whisper"]
        whole = theirs["whole_s"] / row["archive"]["whole_s"]
        stage = theirs["stage_s"] / row["archive"]["stage_s"]
        floor = theirs["stage_s"] / row["faster_whisper_alone"]["stage_s"]
        row["archive_faster"] = {"whole": round(whole, 2), "stage": round(stage, 2), "stage_if_plain": round(floor, 2)}
        print(
            f"{'':<20}faster than openai-whisper: archive's whole ingest {whole:.2f}x, its transcription stage "
            f"{stage:.2f}x; faster-whisper alone {floor:.2f}x"
        )
    for row in rows:
        for side in SIDES:
            row[side] = {key: round(value, 4 if key == "wer" else 1) for key, value in row[side].items()}
    print(json.dumps({"bench": "openai_whisper", "cpus": os.cpu_count(), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
