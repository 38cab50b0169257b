"""Search under load, with the worker idle and while it ingests talks: requests/s, latency percentiles, errors.

Starts `archive serve` (waitress, with its ingest worker as a child process at lower priority)
on a copy of the demo archive in a scratch directory. After asking each question once (a running
server has the vectors of questions people repeat in its cache), --clients threads search over
keep-alive loopback connections for --seconds (questions from bench/eval), twice: first with the
worker idle, then after uploading four webinars through the API, so the worker transcribes and
indexes them all through the second run. Everything stays on 127.0.0.1 and stops after the time given.

    .venv/bin/python bench/bench_load.py                  # 50 clients, 30 s each
    .venv/bin/python bench/bench_load.py --clients 10 --seconds 20
    .venv/bin/python bench/bench_load.py --smoke          # 4 clients, 5 s each, 20 questions, 1 upload: a check it runs
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):
    sys.path.insert(0, str(ROOT))  # the archive's packages, whatever the working directory

from archive.core.config import load_config  # noqa: E402
from archive.core.store import accounts, connect  # noqa: E402

TALK = ROOT / "bench" / "eval"
WARM_ROUNDS = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queries() -> list[str]:
    found = []
    for name, key in (("queries.json", "queries"), ("questions.json", "questions")):
        found += [q["query"] for q in json.loads((ROOT / "bench" / "eval" / name).read_text())[key]]
    return found


def prepare(scratch: Path) -> tuple[Path, str]:
    """A copy of the demo archive (ingested once, cached) and a staff token for it."""
    cache = ROOT / "bench" / ".cache" / "load-demo"
    if not (cache / "archive.db").exists():
        from ingest.samples import load_samples

        config = load_config({"data_dir": cache}, environ={})
        db = connect(config.db_path)
        load_samples(db, config)
        db.close()
    data_dir = scratch / "data"
    shutil.copytree(cache, data_dir)
    db = connect(data_dir / "archive.db")
    accounts.add_user(db, "load@example.org", "load test password", "staff")
    _, token = accounts.create_token(db, "load@example.org")
    db.close()
    return data_dir, token


def upload(port: int, token: str, path: Path) -> int:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\nIngested under load\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="media"; filename="{path.name}"\r\n\r\n'
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(
        "POST",
        "/api/recordings",
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Authorization": f"Bearer {token}"},
    )
    response = conn.getresponse()
    job = json.loads(response.read())
    if response.status != 202:
        raise RuntimeError(f"upload refused: {response.status} {job}")
    return job["id"]


def job_state(port: int, token: str, job_id: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"})
        return json.loads(conn.getresponse().read())["state"]
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return f"unknown ({type(exc).__name__})"
    finally:
        conn.close()


def client_loop(port: int, questions: list[str], until: float, latencies: list, errors: list, seed: int) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < until:
        path = "/api/search?" + urlencode({"q": rng.choice(questions)})
        started = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200 or b'"results"' not in body:
                errors.append(f"{response.status} {body[:120]!r}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        latencies.append(time.perf_counter() - started)
    conn.close()


def server_memory(pid: int) -> dict:
    """The server's processes (it and the servers it forked, not the ingest worker): summed PSS, largest RSS."""

    def kb(process: int, field: str) -> int:
        for line in Path(f"/proc/{process}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    servers = [pid] + [int(c) for c in children if b"worker" not in Path(f"/proc/{c}/cmdline").read_bytes()]
    return {
        "processes": len(servers),
        "pss_mb": sum(kb(p, "Pss") for p in servers) // 1024,
        "max_rss_mb": max(kb(p, "Rss") for p in servers) // 1024,
    }


def run_clients(port: int, clients: int, seconds: float, questions: list[str], seed: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client_loop, args=(port, questions, until, latencies, errors, seed + i))
        for i in range(clients)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    ms = sorted(1000 * x for x in latencies)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 1) if ms else float("nan")

    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(ms),
        "requests_per_s": round(len(ms) / elapsed, 1),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "errors": len(errors),
        "first_errors": errors[:5],
        "database_locked": sum("locked" in e for e in errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--threads", type=int, default=0, help="waitress request threads per process (0: archive serve's default)"
    )
    parser.add_argument("--processes", type=int, default=0, help="server processes (0: archive serve's default)")
    parser.add_argument("--uploads", type=int, default=4, choices=range(1, 5), help="webinars uploaded (1-4)")
    parser.add_argument("--questions", type=int, default=0, help="ask only the first N questions (0: all)")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run: 4 clients, 5 s each, 20 questions, one upload"
    )
    if parser.parse_known_args()[0].smoke:
        parser.set_defaults(clients=4, seconds=5.0, uploads=1, questions=20)
    args = parser.parse_args()

    talks = [
        TALK / name
        for name in (
            "text-message-follow-up.m4a",
            "paying-for-community-health-workers.m4a",
            "closing-the-loop-with-referrers.m4a",
            "barbershops-and-mens-sheds.m4a",
        )
    ][: args.uploads]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        data_dir, token = prepare(Path(scratch))
        port = free_port()
        env = {"ARCHIVE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
        log_path = Path(scratch) / "serve.log"  # a file, not a pipe: a full pipe would stall the server
        log_file = open(log_path, "wb")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "archive",
                "serve",
                "--port",
                str(port),
                "--processes",
                str(args.processes),
                *(["--threads", str(args.threads)] if args.threads else []),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            for _ in range(600):
                if b"Talk Archive at" in log_path.read_bytes():  # listening, with the model loaded
                    break
                time.sleep(0.1)
            questions = queries()[: args.questions or None]

            # Every question first, so that every server process has it: a server that has been up has
            # the vectors of the questions people ask again in its cache, and embedding a new one costs
            # 60-100 ms of CPU. A keep-alive connection stays with the process that accepted it (8 of
            # them all landed on one, leaving the other to embed through the timed run: 84% of its
            # samples in py-spy), so each question goes out WARM_ROUNDS times on a new connection,
            # which either process may accept: one left out of a process's cache is 1 in 2**6.
            def ask_all(part: list[str]) -> None:
                for question in part:
                    for _ in range(WARM_ROUNDS):
                        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                        warm.request("GET", "/api/search?" + urlencode({"q": question}))
                        warm.getresponse().read()
                        warm.close()

            warmers = [threading.Thread(target=ask_all, args=(questions[i::8],)) for i in range(8)]
            for warmer in warmers:
                warmer.start()
            for warmer in warmers:
                warmer.join()
            idle = run_clients(port, args.clients, args.seconds, questions, 0)
            jobs = [upload(port, token, talk) for talk in talks]
            for _ in range(120):  # until the worker has picked the first one up (it may still load its models)
                if job_state(port, token, jobs[0]) != "queued":
                    break
                time.sleep(1)
            busy = run_clients(port, args.clients, args.seconds, questions, 1000)
            states = [job_state(port, token, job) for job in jobs]
            memory = server_memory(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log_file.close()
            log = log_path.read_bytes().decode(errors="replace")
    busy["database_locked"] += log.count("database is locked")
    busy["ingest_jobs_at_the_end"] = states
    for name, result in (("worker idle", idle), ("worker ingesting", busy)):
        print(
            f"{name}: {result['clients']} clients, {result['seconds']:.0f} s: {result['requests']} searches, "
            f"{result['requests_per_s']} req/s; p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
            f"p99 {result['p99_ms']} ms; errors {result['errors']} (database locked: {result['database_locked']})"
        )
        for error in result.pop("first_errors"):
            print("  error:", error)
    print(f"ingest jobs at the end of the busy run: {', '.join(states)}")
    print(
        f"server memory (its processes, not the worker): {memory['pss_mb']:,} MB proportional set size "
        f"(shared pages counted once), largest process {memory['max_rss_mb']:,} MB resident"
    )
    print(
        json.dumps(
            {
                "processes": args.processes,
                "threads": args.threads,
                "uploads": len(talks),
                "questions": len(questions),
                "idle": idle,
                "ingesting": busy,
                "server_memory": memory,
            }
        )
    )


if __name__ == "__main__":
    main()
