"""``archive mcp``: the archive for AI assistants, served over MCP on standard input and output
(the server itself is archive/doors/mcp_server.py)."""

from __future__ import annotations

import click

from archive.doors.cli.common import cli, get_config, user_errors
from archive.doors.cli.supervisor import log_to_stderr


@cli.command()
@click.option(
    "--token",
    envvar="ARCHIVE_MCP_TOKEN",
    default="",
    help="An API token (or ARCHIVE_MCP_TOKEN): see what its account may see. Without one: public talks only.",
)
@click.pass_context
def mcp(ctx, token):
    """Serve the archive to an AI assistant over MCP (stdio): search moments, read transcripts, list talks.

    An assistant's MCP client starts this command itself; every moment it returns has a link
    (to ARCHIVE_PUBLIC_URL) and a citation line. Stdout is the protocol: messages go to stderr.
    """
    from archive.doors.mcp_server import serve_stdio
    from archive.library import Archive

    log_to_stderr()
    config = get_config(ctx)
    with user_errors():
        try:
            serve_stdio(config, Archive(config), token or None)
        except KeyboardInterrupt:
            pass
