"""The doors: the CLI, the web app, the MCP server and the podcast feeds.

Each is a thin shell over one viewer-scoped ``archive.library.Archive``: parse, one call, render."""
