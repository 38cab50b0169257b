"""How `archive search` on the server's own machine reaches the running `archive serve`.

The server holds the search model in memory; a command that loaded it itself would spend
several seconds importing torch and reading the weights for one query. So `archive serve`
writes its address and a random read-only token into ``<data>/server.json`` (mode 600: readable
only by whoever can already read the database) and removes it when it stops.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from archive.core.config import Config, ConfigError


def _path(config: Config) -> Path:
    return config.data_dir / "server.json"


def give_operator_token(app) -> str:
    """A fresh read-only token for ``app`` (before any server process forks, so all know it)."""
    app.config["OPERATOR_TOKEN"] = token = secrets.token_urlsafe(32)
    return token


def write_server_file(config: Config, token: str, host: str, port: int, worker_pid: int | None = None) -> Path:
    """Publish the running server's address and operator token, and the process id of the worker
    beside it (its models loaded: `archive ingest` hands files to it); returns the file."""
    reachable = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
    if ":" in reachable and not reachable.startswith("["):
        reachable = f"[{reachable}]"
    path = _path(config)
    draft = path.with_name(f".server.json.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(
            {"url": f"http://{reachable}:{port}", "pid": os.getpid(), "token": token, "worker_pid": worker_pid}, out
        )
    os.replace(draft, path)
    return path


def public_address(config: Config) -> str:
    """Where a link written outside a web request should point: ``ARCHIVE_PUBLIC_URL``, else the
    running server's own address (``server.json``); with neither, a link would name a port nothing
    listens on, so this refuses, saying what to set."""
    if config.public_url.strip():
        return config.site_url
    server = read_server_file(config)
    if server is not None:
        return server["url"]
    raise ConfigError(
        "no archive server is running here and ARCHIVE_PUBLIC_URL is not set: start `archive serve`, "
        "or set ARCHIVE_PUBLIC_URL to the address people reach the archive at (https://talks.example.org)"
    )


def read_server_file(config: Config) -> dict | None:
    """The running server's address, token and worker (its process id, None if it has none or it
    died), or None (no server, or one that died without tidying up)."""
    try:
        server = json.loads(_path(config).read_text())
        found = {"url": str(server["url"]), "token": str(server["token"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not process_alive(server.get("pid")):
        return None
    return {**found, "worker_pid": server.get("worker_pid") if process_alive(server.get("worker_pid")) else None}


def process_alive(pid) -> bool:
    """Whether a process with id ``pid`` runs on this machine (False for no id or a bad one)."""
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True
