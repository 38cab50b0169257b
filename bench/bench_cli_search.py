"""`archive search` without a server: wall and CPU time of the whole command, and whether it imported torch.

Runs ``archive search QUERY`` in a fresh process each time, on a copy of a data directory (the
evaluation archive that bench/bench_eval.py builds, by default), with no server running, and prints the
median of ``--runs``. CPU seconds (user + system) are printed beside wall seconds: on a shared machine
the wall time swings with other work, the CPU time much less. ``--compare DIR`` runs the same command
with the archive's packages taken from DIR (another checkout, e.g. ``git archive HEAD | tar -x -C DIR``),
interleaved, so a before/after is measured in one run on the same machine.

    .venv/bin/python bench/bench_cli_search.py
    .venv/bin/python bench/bench_cli_search.py --compare /tmp/before --runs 5
    .venv/bin/python bench/bench_cli_search.py --smoke     # one run on the smoke archive: a check it runs

Ends with one JSON line. Target (issue 26): at most 3 s wall, median of 3, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY = "how do they follow up with clients?"
# Run inside the measured process, after the search: whether torch was imported, as one line on stderr.
PROBE = (
    "import sys, atexit; atexit.register(lambda: print('TORCH_IMPORTED=' + str('torch' in sys.modules), file=sys.stderr)); "
    "from archive.doors.cli import cli; sys.argv[0] = 'archive'; cli()"
)


def one_run(data_dir: Path, query: str, code: Path | None) -> dict:
    """Wall and CPU seconds of one ``archive search`` in a fresh process, and whether it imported torch."""
    env = {**os.environ, "ARCHIVE_DATA_DIR": str(data_dir)}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", PROBE, "search", query, "--limit", "5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tempfile.gettempdir(),  # not the checkout: its packages must come from the venv or ``code``
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stderr = process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"archive search failed:\n{stderr}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "torch": "TORCH_IMPORTED=True" in stderr,
    }


def summary(runs: list[dict]) -> dict:
    return {
        "wall_s_median": round(statistics.median(run["wall_s"] for run in runs), 2),
        "cpu_s_median": round(statistics.median(run["cpu_s"] for run in runs), 2),
        "peak_rss_mb_median": round(statistics.median(run["peak_rss_mb"] for run in runs)),
        "wall_s_runs": [round(run["wall_s"], 2) for run in runs],
        "imported_torch": any(run["torch"] for run in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="archive to search (default: bench_eval.py's)")
    parser.add_argument("--query", default=QUERY)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="also time the archive's packages from this folder, interleaved")
    parser.add_argument("--smoke", action="store_true", help="one run on the smoke archive of bench_eval.py --smoke")
    args = parser.parse_args()
    if args.data_dir is None:
        from bench_eval import cached_archive  # the evaluation archive, with its EmbeddingGemma vectors

        args.data_dir = cached_archive(smoke=args.smoke).parent
    if args.smoke:
        args.runs = 1
    if not (args.data_dir / "archive.db").is_file():
        raise SystemExit(f"no archive at {args.data_dir}: run bench/bench_eval.py first (--smoke for the small one)")
    codes = {"this checkout": None, **({f"from {args.compare}": args.compare} if args.compare else {})}
    runs: dict[str, list[dict]] = {label: [] for label in codes}
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "archive"
        shutil.copytree(args.data_dir, copy, ignore=shutil.ignore_patterns("recordings"))  # searches log to the db
        for _ in range(args.runs):  # interleaved, so a busy spell on the machine hits both alike
            for label, code in codes.items():
                runs[label].append(one_run(copy, args.query, code))
    results = {label: summary(label_runs) for label, label_runs in runs.items()}
    for label, result in results.items():
        print(
            f"{label:<28} wall {result['wall_s_median']:.2f} s (runs {result['wall_s_runs']}), "
            f"CPU {result['cpu_s_median']:.2f} s, peak RSS {result['peak_rss_mb_median']} MB, "
            f"torch imported: {result['imported_torch']}"
        )
    print(json.dumps({"bench": "cli_search", "cpus": os.cpu_count(), "load_average": os.getloadavg()[0], **results}))


if __name__ == "__main__":
    main()
