from archive.doors.cli import cli

cli()
