"""``archive serve`` and the processes it keeps: server processes forked once the search model is
loaded (so they share its memory), the ingest worker beside them at a lower CPU priority, and
nothing left running when it stops or is killed. Also the logging and the announced model loading
that every long-running command (serve, worker, mcp) starts with."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import click

from archive.core.config import Config
from archive.doors.cli.common import BadInput, cli, get_config, open_db, user_errors


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    help="Request threads per process (more share its one core among more requests: a longer tail).",
)
@click.option(
    "--processes",
    default=0,
    type=click.IntRange(0, 64),
    help="Server processes sharing the port and the loaded model (0: one per CPU core).",
)
@click.option("--no-worker", is_flag=True, help="Run no ingest worker beside the server (they run elsewhere).")
@click.pass_context
def serve(ctx, host, port, threads, processes, no_worker):
    """Serve the archive over HTTP (waitress), with an ingest worker beside it at lower CPU priority."""
    import socket

    from archive.core.store.check import clean_leftovers, stale_vectors
    from archive.doors.web import create_app
    from archive.doors.web.local import give_operator_token, write_server_file
    from archive.library import Archive

    log_to_stderr()
    config = get_config(ctx)
    with user_errors():
        # One thread to embed queries: beside the worker, more made searches stall (bench/bench_load.py).
        services = Archive(config, search_threads=1)
    with open_db(config) as db:
        for leftover in clean_leftovers(db, config):
            click.echo(
                f"removed {leftover.relative_to(config.data_dir)}, left by an interrupted upload or write", err=True
            )
        for problem in stale_vectors(db, services.embedder.model_name):
            click.echo(problem, err=True)
    with user_errors():
        app = create_app(services=services)
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listener = socket.create_server((host, port), family=family, backlog=1024)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise BadInput(
                f"port {port} on {host} is taken (is the archive already running?); choose another: "
                f"archive serve --port {port + 1}, or make run PORT={port + 1}"
            ) from None
        load_models("search model", services.warm)
        token = give_operator_token(app)
        # Python serves one request at a time per process: more processes use more cores. They fork
        # after the model is loaded, so they share its memory (bench/bench_load.py: README, "Deploying").
        balance = ConnectionBalance(processes or os.cpu_count() or 1)
        children = _fork_servers(balance)
        if children is None:  # a forked server process
            _serve_forever(app, listener, threads, config, balance)
        worker = None if no_worker else _start_worker_process()
        sweeper_stop = services.queue.start_sweeper()  # jobs of workers that died, here or elsewhere
        server_file = write_server_file(
            config, token, host, listener.getsockname()[1], worker_pid=worker.pid if worker else None
        )
    click.echo(f"Talk Archive at http://{host}:{port}/  (data: {config.data_dir.resolve()})", err=True)
    try:
        _serve_forever(app, listener, threads, config, balance, exit_after=False)
    finally:
        server_file.unlink(missing_ok=True)
        sweeper_stop.set()
        for process in [*children, *([worker] if worker else [])]:
            process.terminate()
            process.wait()


def log_to_stderr() -> None:
    """What servers and workers log, one line each; the model libraries only when something is wrong."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "transformers", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def load_models(what: str, load) -> None:
    """Load models now, saying so: a server or worker is ready when it says it is, not on its first request."""
    started = time.perf_counter()
    click.echo(f"{what}: loading...", err=True)
    load()
    click.echo(f"{what}: loaded in {time.perf_counter() - started:.1f} s", err=True)


# The worker beside `archive serve` runs at this lower CPU priority, so searches never wait
# behind transcription (bench/bench_load.py: README, "Keeping it whole").
WORKER_NICENESS = 10


def _start_worker_process() -> subprocess.Popen:
    """``archive worker`` as a child at lower priority, ended with this process (even if it is killed)."""

    def lower_priority_and_die_with_parent() -> None:
        os.nice(WORKER_NICENESS)
        _die_with_parent()

    return subprocess.Popen([sys.executable, "-m", "archive", "worker"], preexec_fn=lower_priority_and_die_with_parent)


class ConnectionBalance:
    """The open connections of each server process, in memory they all share (made before the fork),
    so that a process takes new connections only while it holds no more than the least loaded one:
    nginx's ``least_conn`` without a proxy in front.

    A keep-alive connection stays with the process that accepted it, and when many clients connect
    at once either process may win each one: 50 clients split 29 to 21 and the busier process's
    clients waited 1.4 times as long (per-client medians 210 ms against 150 ms, bench/bench_load.py).
    """

    def __init__(self, processes: int):
        import multiprocessing

        self.processes = max(1, processes)
        self.open = multiprocessing.RawArray("i", self.processes)
        self.slot = 0  # this process's; each forked one gets its own (``_fork_servers``)

    def takes_more(self, open_now: int) -> bool:
        """Record this process's ``open_now`` and say whether it should accept another connection."""
        self.open[self.slot] = open_now
        return open_now <= min(self.open)


def _serve_forever(
    app, listener, threads: int, config: Config, balance: ConnectionBalance, exit_after: bool = True
) -> None:
    """Run waitress on the shared listening socket until interrupted (a forked server then exits)."""
    from waitress.server import create_server

    # Waitress spools request bodies to disk; let it take the largest upload the app accepts.
    server = create_server(
        app, sockets=[listener], threads=threads, max_request_body_size=config.max_upload_bytes + (1 << 20)
    )
    if balance.processes > 1:
        # Waitress asks the listener whether to poll it for new connections on every turn of its loop;
        # its map holds the listener, its wake-up pipe and one channel per open connection.
        may_accept = server.readable
        server.readable = lambda: may_accept() and balance.takes_more(len(server._map))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if exit_after:
            os._exit(0)


class _ForkedServer:
    """A server process forked from this one, ended like a subprocess."""

    def __init__(self, pid: int):
        self.pid = pid

    def terminate(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def wait(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _fork_servers(balance: ConnectionBalance) -> list[_ForkedServer] | None:
    """Fork the other server processes of ``balance``; the list of them in this one, None in each of
    them (which then has its own ``balance.slot``)."""
    children = []
    for slot in range(1, balance.processes):
        pid = os.fork()
        if pid == 0:
            balance.slot = slot
            _die_with_parent()
            return None
        children.append(_ForkedServer(pid))
    return children


def _die_with_parent() -> None:
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: nothing left running if this one is killed
