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

    .venv/bin/python bench/bench_cli_ingest.py
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
    results = {"alone": report("alone", alone), "with a server": report("with a server", served)}
    print(
        json.dumps(
            {"bench": "cli_ingest", "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2), **results}
        )
    )


if __name__ == "__main__":
    main()
