"""Search under load while a talk is being ingested: requests/s, latency percentiles, errors.

Starts `archive serve` (waitress with its in-process ingest worker) on a copy of the demo
archive in a scratch directory, uploads a talk through the API so the worker transcribes
and indexes it during the run, and has --clients threads search over keep-alive loopback
connections for --seconds (questions from bench/eval/queries.json). Everything stays on
127.0.0.1 and stops after the time given.

    .venv/bin/python bench/load.py                  # 50 clients, 60 s
    .venv/bin/python bench/load.py --clients 10 --seconds 20
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archive.config import load_config  # noqa: E402
from archive.store import accounts, connect  # noqa: E402

TALK = ROOT / "bench" / "eval"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def queries() -> list[str]:
    data = json.loads((ROOT / "bench" / "eval" / "queries.json").read_text())
    items = data["queries"] if isinstance(data, dict) else data
    return [q["query"] for q in items]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=8, help="waitress request threads")
    args = parser.parse_args()

    talk = sorted(TALK.glob("*.m4a"))[0]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as scratch:
        data_dir, token = prepare(Path(scratch))
        port = free_port()
        env = {"ARCHIVE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
        log_path = Path(scratch) / "serve.log"  # a file, not a pipe: a full pipe would stall the server
        log_file = open(log_path, "wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "archive", "serve", "--port", str(port), "--threads", str(args.threads)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            questions = queries()
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            warm.request("GET", "/api/search?q=warm+up")  # the first query loads the model
            warm.getresponse().read()
            job_id = upload(port, token, talk)

            latencies: list[float] = []
            errors: list[str] = []
            until = time.monotonic() + args.seconds
            threads = [
                threading.Thread(target=client_loop, args=(port, questions, until, latencies, errors, i))
                for i in range(args.clients)
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            states = set()
            while time.monotonic() < until:
                states.add(job_state(port, token, job_id))
                time.sleep(1)
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            final = job_state(port, token, job_id)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log_file.close()
            log = log_path.read_bytes()

    ms = sorted(1000 * x for x in latencies)

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 1) if ms else float("nan")

    locked = sum("locked" in e for e in errors) + log.decode(errors="replace").count("database is locked")
    result = {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": len(ms),
        "requests_per_s": round(len(ms) / elapsed, 1),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
        "errors": len(errors),
        "database_locked": locked,
        "ingest_job_states_seen": sorted(states),
        "ingest_job_final": final,
    }
    print(
        f"{args.clients} clients for {elapsed:.0f} s while ingesting {talk.name} (job states seen: "
        f"{', '.join(sorted(states))}; at the end: {final})"
    )
    print(
        f"  {result['requests']} searches, {result['requests_per_s']} req/s; "
        f"p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms; "
        f"errors {result['errors']} (database locked: {locked})"
    )
    for error in errors[:5]:
        print("  error:", error)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
