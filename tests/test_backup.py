"""`archive backup` while the archive is in use, and `archive restore` into an empty directory."""

from __future__ import annotations

import json
import threading

from archive.core.config import load_config
from archive.core.store import connect
from archive.core.store.check import check_archive
from archive.doors.cli import cli
from search.engine import Searcher

QUERIES = ["how do they follow up with clients?", "funding for link workers", "Okafor", '"compassionate companions"']


def answers(db, searcher):
    return [[(m.recording_id, m.start, m.text) for m in searcher.search(db, q).results] for q in QUERIES]


def test_a_backup_taken_while_writing_restores_to_the_same_searches(
    demo_data_dir, runner, config, tmp_path, monkeypatch, embedder
):
    stop = threading.Event()

    def keep_writing():  # a busy archive: searches logged, a glossary growing
        writer = connect(config.db_path)
        n = 0
        while not stop.is_set():
            with writer.atomic():
                writer["glossary"].insert({"term": f"term {n}", "created_at": "now"})
            n += 1
        writer.close()

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        result = runner.invoke(cli, ["backup", str(tmp_path / "backup")])
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    paths = {e["path"] for e in manifest["files"]}
    assert "archive.db" in paths and len([p for p in paths if p.startswith("recordings/")]) == 3  # the demo talks
    assert all(len(e["sha256"]) == 64 for e in manifest["files"])

    restored_dir = tmp_path / "restored"
    monkeypatch.setenv("ARCHIVE_DATA_DIR", str(restored_dir))
    restored = runner.invoke(cli, ["restore", str(tmp_path / "backup")])
    assert restored.exit_code == 0, restored.output
    assert runner.invoke(cli, ["check"]).exit_code == 0

    searcher = Searcher(embedder)
    original, copy = connect(config.db_path), connect(restored_dir / "archive.db")
    restored_config = load_config({"data_dir": restored_dir}, environ={})
    assert check_archive(copy, restored_config).ok
    assert answers(copy, searcher) == answers(original, searcher)
    assert all(answers(original, searcher))
    original.close()
    copy.close()


def test_restore_refuses_a_damaged_backup_or_a_full_directory(demo_data_dir, runner, config, tmp_path, monkeypatch):
    assert runner.invoke(cli, ["backup", str(tmp_path / "backup")]).exit_code == 0
    busy = runner.invoke(cli, ["backup", str(tmp_path / "backup")])
    assert busy.exit_code == 2 and "not an empty directory" in busy.output

    monkeypatch.setenv("ARCHIVE_DATA_DIR", str(config.data_dir))  # not empty: the live archive
    refused = runner.invoke(cli, ["restore", str(tmp_path / "backup")])
    assert refused.exit_code == 2 and "not an empty directory" in refused.output

    media = next((tmp_path / "backup" / "recordings").rglob("*.m4a"))
    media.write_bytes(media.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setenv("ARCHIVE_DATA_DIR", str(tmp_path / "fresh"))
    damaged = runner.invoke(cli, ["restore", str(tmp_path / "backup")])
    assert damaged.exit_code == 2 and "damaged" in damaged.output
    assert not (tmp_path / "fresh").exists() or not any((tmp_path / "fresh").iterdir())
    nothing = runner.invoke(cli, ["restore", str(tmp_path)])
    assert nothing.exit_code == 2 and "not a Talk Archive backup" in nothing.output
