"""Configuration layering, and that the light entry points never load torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archive.core.config import ConfigError, load_config
from archive.doors.cli import cli


def test_defaults_then_environment_then_overrides():
    # A relative data directory is the working directory's, taken once (Flask would resolve it elsewhere).
    assert load_config(environ={}).data_dir == Path.cwd() / "media"
    env = {"ARCHIVE_DATA_DIR": "/srv/talks", "ARCHIVE_WHISPER_BEAM_SIZE": "5"}
    from_env = load_config(environ=env)
    assert from_env.data_dir == Path("/srv/talks") and from_env.whisper_beam_size == 5
    overridden = load_config({"data_dir": "/tmp/x", "TESTING": True}, environ=env)
    assert overridden.data_dir == Path("/tmp/x") and overridden.whisper_beam_size == 5
    assert overridden.extra == {"TESTING": True}


def test_bad_setting_is_a_clear_error(monkeypatch, runner):
    with pytest.raises(ConfigError, match="ARCHIVE_WHISPER_THREADS must be a whole number"):
        load_config(environ={"ARCHIVE_WHISPER_THREADS": "many"})
    monkeypatch.setenv("ARCHIVE_WHISPER_THREADS", "many")
    result = runner.invoke(cli, ["list"])
    assert result.exit_code == 2 and "whole number" in result.stderr


@pytest.mark.parametrize(
    "code",
    [
        "from archive.doors.cli import cli; import sys; sys.argv=['archive','--help']\ntry: cli()\nexcept SystemExit: pass",
        "from archive.doors.web import create_app; create_app({'data_dir': '/tmp/archive-import-check'})",
    ],
)
def test_help_and_web_app_do_not_import_torch(code):
    check = (
        code + "\nimport sys; assert 'torch' not in sys.modules and 'faster_whisper' not in sys.modules, 'heavy import'"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_an_unusable_data_directory_is_one_clear_line(runner, tmp_path, monkeypatch):
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    monkeypatch.setenv("ARCHIVE_DATA_DIR", str(not_a_dir))
    for args in (["list"], ["ingest", "whatever.mp3"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 1, result.output
        assert result.stderr.strip().splitlines() == [
            f"Error: cannot open the archive in {not_a_dir} (File exists: {not_a_dir})"
        ]
