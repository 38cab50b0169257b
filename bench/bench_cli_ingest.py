"""`archive ingest` of short talks, one command each, start-up included: alone, and with `archive serve` running.

A short talk's ingest used to be mostly start-up: importing torch and loading Whisper and the search
model for every file. With `archive serve` running on the same data directory, and its worker idle,
`archive ingest` hands the file to that worker, whose models are loaded already. This bench times
both, in one run on the same machine:

- **alone**: ``archive ingest FILE`` in a fresh process on an archive of its own, for each file;
- **with a server**: ``archive serve`` (and its worker) started on another archive and ready, then
  ``archive ingest FILE`` for each file, one command each.

Prints each command's wall seconds and x real time (seconds of audio per second of wall time), and
ends with one JSON line. By default the three shortest talks of the evaluation (bench/eval/);
``--smoke`` takes one 11-second clip (tests/data/jfk.flac). Speakers are told apart in both (the
archive's default), so each figure is a whole ingest.

With a server it also prints where each file's time went in the worker (its ingest steps, from the
speeds its jobs record). The archive's settings come from the environment, so the same bench with
``ARCHIVE_DIARIZE=off`` measures what telling the voices apart costs.

    .venv/bin/python bench/bench_cli_ingest.py
    ARCHIVE_DIARIZE=off .venv/bin/python bench/bench_cli_ingest.py
    .venv/bin/python bench/bench_cli_ingest.py --smoke

Target (issue 26): three short talks at >= 10x real time each, start-up included.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE = [sys.executable, "-m", "archive"]
# The server loads the search model, its worker Whisper, the search model and the voices: minutes cold.
READY_TIMEOUT_SECONDS = 600


def duration_of(path: Path) -> float:
    from ingest import media

    return media.probe(path).duration


def shortest_talks(count: int) -> list[Path]:
    talks = sorted((ROOT / "bench" / "eval").glob("*.m4a"))
    return sorted(talks, key=duration_of)[:count]


def timed_ingest(path: Path, data_dir: Path) -> tuple[float, str]:
    """Wall seconds of one ``archive ingest`` in a fresh process, and what it said on stderr."""
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(data_dir)}
    started = time.perf_counter()
    done = subprocess.run([*ARCHIVE, "ingest", str(path)], env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"archive ingest {path.name} failed:\n{done.stderr}")
    return wall, done.stderr


class RunningServer:
    """``archive serve`` on ``data_dir`` (a free port), until its worker says its models are loaded."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.log = data_dir / "serve.log"

    def __enter__(self) -> RunningServer:
        env = {**os.environ, "ARCHIVE_DATA_DIR": str(self.data_dir)}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.output = open(self.log, "w")
        self.process = subprocess.Popen(
            [*ARCHIVE, "serve", "--port", "0", "--processes", "1"],
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self._worker_ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"archive serve did not get ready:\n{self.log.read_text()}")
            time.sleep(0.5)
        return self

    def _worker_ready(self) -> bool:
        """The worker said its models are loaded (the server's own search model loads before it starts)."""
        said = self.log.read_text()
        return "worker:" in said and "loaded in" in said.split("worker:", 1)[1]

    def __exit__(self, *exc_info) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)
        self.output.close()


def worker_steps(data_dir: Path, audio: dict[Path, float]) -> list[dict[str, float]]:
    """Where each handed-over file's time went in the worker: the seconds of each ingest step, from
    the speeds (seconds of work per second of audio) its jobs record for the progress estimates.
    "speakers" is only the wait for the voices after the talk is indexed: they are told apart
    beside the transcription, whose seconds include the cores they took."""
    from archive.core.store import connect

    db = connect(data_dir / "archive.db")
    try:
        rows = db.execute("SELECT source_path, speeds FROM jobs ORDER BY id").fetchall()
    finally:
        db.close()
    duration = {path.name: seconds for path, seconds in audio.items()}
    return [
        {step: round(speed * duration[Path(source).name], 2) for step, speed in json.loads(speeds)["steps"].items()}
        for source, speeds in rows
    ]


def report(label: str, runs: list[tuple[Path, float, float]]) -> dict:
    for path, audio, wall in runs:
        print(f"{label:<14} {path.name:<44} {audio:7.1f} s audio  {wall:6.1f} s wall  {audio / wall:5.1f}x real time")
    ratios = [audio / wall for _, audio, wall in runs]
    return {
        "wall_s": [round(wall, 1) for _, _, wall in runs],
        "x_real_time": [round(r, 1) for r in ratios],
        "x_real_time_min": round(min(ratios), 1),
        "x_real_time_median": round(statistics.median(ratios), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="talks to ingest (default: the evaluation's 3 shortest)")
    parser.add_argument("--smoke", action="store_true", help="one 11-second clip: a check that it runs")
    args = parser.parse_args()
    files = args.files or ([ROOT / "tests" / "data" / "jfk.flac"] if args.smoke else shortest_talks(3))
    audio = {path: duration_of(path) for path in files}
    with tempfile.TemporaryDirectory() as scratch:
        alone = []
        for i, path in enumerate(files):  # each on an archive of its own, as a first ingest is
            wall, _ = timed_ingest(path, Path(scratch) / f"alone-{i}")
            alone.append((path, audio[path], wall))
        served = []
        with RunningServer(Path(scratch) / "served"):
            for path in files:
                wall, said = timed_ingest(path, Path(scratch) / "served")
                if "worker ingests these" not in said:
                    raise SystemExit(
                        f"archive ingest {path.name} did not hand the file to the server's worker:\n{said}"
                    )
                served.append((path, audio[path], wall))
            steps = worker_steps(Path(scratch) / "served", audio)
    results = {"alone": report("alone", alone), "with a server": report("with a server", served)}
    for path, seconds in zip(files, steps, strict=True):
        print(f"{'  its worker':<14} {path.name:<44} " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    results["with a server"]["worker_steps_s"] = steps
    print(
        json.dumps(
            {"bench": "cli_ingest", "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2), **results}
        )
    )


if __name__ == "__main__":
    main()
