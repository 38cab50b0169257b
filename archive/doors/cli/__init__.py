"""The ``archive`` command: thin shells over the library, one module for each group of commands as
the README groups them. Bad input exits 2 with one line on stderr.

    common        the ``cli`` group, the configuration and database a command opens, BadInput
    ingesting     ingest, retranscribe, attach, chapters, watch, list, export, load-samples; the
                  companion files
    queueing      jobs, retry, worker
    supervisor    serve: the forked server processes and the worker beside them
    local_client  the running `archive serve` of this data directory, asked by `archive search`
    searching     search, search-log, reindex, glossary
    accounts      set-visibility, users, tokens, review
    maintenance   check, models, backup, restore
    assistants    mcp

Importing this package registers every command on ``cli``; none of them imports the store,
ingest or search until it runs, so `archive --help` stays light (tests/test_config.py)."""

# Each module registers its commands on ``cli`` as it is imported.
from archive.doors.cli import accounts, assistants, ingesting, maintenance, queueing, searching, supervisor  # noqa: F401
from archive.doors.cli.common import cli

__all__ = ["cli"]
