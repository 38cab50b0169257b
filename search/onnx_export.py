"""Export the search model to ONNX once, at install time, so that the doors embed without torch.

``make install`` runs ``python -m search.onnx_export`` after the model files are assembled. It loads the
installed, hash-checked EmbeddingGemma weights with sentence-transformers (torch), exports the whole
pipeline (transformer, mean pooling, both Dense layers, normalisation) to one float32 ONNX graph, and
only keeps it if ONNX Runtime's vectors match torch's on real text (cosine >= 0.999, queries and
padded document batches alike). The graph and its weights are hashed into a marker beside them, which
:func:`search.onnx_embedder.onnx_folder` checks cheaply at run time and ``archive models`` re-hashes.

Why export rather than fetch a published ONNX file: the archive's machines reach PyPI and nothing
else, so the graph is made from the weights already checked against their SHA-256 pins. The export
needs ``onnx`` and ``onnxscript``, which nothing uses at run time: they are installed into a
temporary folder for the export and removed after it. It takes about 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from archive.core.model_files import MARKER as WEIGHTS_MARKER
from archive.core.model_files import ModelError, file_sha256, folder_size, model_path
from search.embedder import DATA, GRAPH, ONNX_FOLDER, ONNX_MARKER, OnnxEmbedder, onnx_folder

MODEL = "embeddinggemma-300m"
MIN_COSINE = 0.999  # the ONNX vectors must stand in for the torch ones the archive stored
# Pinned so that the export is the one measured; found in the package mirror.
EXPORT_TOOLS = ("onnx==1.23.2", "onnxscript==0.7.2", "onnx-ir==1.1.0", "ml-dtypes==0.7.0")
# Texts for the check: queries, and documents of very different lengths, so that one batch is padded.
CHECK_QUERIES = ("how do volunteers follow up with clients?", "Keralty", "social prescribing link workers")
CHECK_DOCUMENTS = (
    "So the link worker calls each person a week after the first meeting, and again after a month, "
    "to ask whether the group they were referred to is still working for them.",
    "Thank you.",
    "We measured loneliness with the three-item UCLA scale before and after twelve weeks.",
)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def export(name: str = MODEL, models_dir: str | Path | None = None, log: Callable[[str], None] = _log) -> Path:
    """Export ``name``'s installed weights to ``<model folder>/onnx`` unless a checked export is there already."""
    source = model_path(name, models_dir)
    try:
        done = onnx_folder(source)
        log(f"{name}: ONNX export already at {done}")
        return done
    except ModelError:
        pass
    work = Path(tempfile.mkdtemp(prefix=f".{ONNX_FOLDER}.", suffix=".partial", dir=source))
    try:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="onnx-tools-") as tools:
            _install_export_tools(Path(tools), log)
            log(f"{name}: exporting to ONNX (about 3 minutes)")
            model = load_torch_model(source)
            export_graph(model, work)
        worst = _check_against_torch(model, source, work)
        _write_marker(work, source, worst, time.perf_counter() - started)
        work.chmod(0o755)  # mkdtemp made it private
        target = source / ONNX_FOLDER
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log(f"{name}: ONNX export at {target}, {folder_size(target) / 1e6:.0f} MB; lowest cosine to torch {worst:.5f}")
    return target


def _install_export_tools(folder: Path, log: Callable[[str], None]) -> None:
    """``onnx`` and ``onnxscript`` for torch's exporter, in ``folder`` only (their dependencies are already in the venv)."""
    log(f"installing the export tools for this step only: {' '.join(EXPORT_TOOLS)}")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    result = subprocess.run([*command, "--target", str(folder), *EXPORT_TOOLS], capture_output=True, text=True)
    if result.returncode != 0:
        said = result.stderr.strip().splitlines()[-1:] or ["pip failed"]
        raise ModelError(f"could not install the ONNX export tools ({said[0]}); they come from PyPI")
    sys.path.append(str(folder))  # appended: the venv's numpy and protobuf stay the ones imported


def load_torch_model(source: Path):
    """The sentence-transformers model in float32 with plain (eager) attention, which the exporter traces."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(source), device="cpu", model_kwargs={"attn_implementation": "eager"}).eval()


def export_graph(model, work: Path) -> None:
    """Trace token ids and mask to the normalised sentence vector, batch and length dynamic, weights beside the graph
    (``work`` must be empty: it then holds the graph and its weights only). bench/bench_embed.py exports with it too."""
    import torch

    class Pipeline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    example = model.preprocess([CHECK_QUERIES[0], CHECK_DOCUMENTS[0]])  # two rows, padded: the mask matters
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    with torch.no_grad():
        program = torch.onnx.export(
            Pipeline().eval(),
            (example["input_ids"], example["attention_mask"]),
            dynamo=True,
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_vector"],
            dynamic_shapes={"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}},
        )
    if program is None:  # only the old TorchScript exporter returns nothing
        raise ModelError("torch's ONNX exporter returned no program")
    program.save(str(work / GRAPH), external_data=True)
    produced = {path.name for path in work.iterdir()}
    if produced != {GRAPH, DATA}:
        raise ModelError(f"the ONNX export wrote {sorted(produced)}, expected {GRAPH} and {DATA}")


def _check_against_torch(model, source: Path, work: Path) -> float:
    """The lowest cosine between ONNX Runtime's and torch's vectors for the check texts; refuses below MIN_COSINE."""
    onnx = OnnxEmbedder(source, graph_folder=work)
    pairs = [
        (onnx.embed_query(text)[None, :], model.encode_query([text], convert_to_numpy=True)) for text in CHECK_QUERIES
    ]
    pairs.append(
        (
            onnx.embed_documents(list(CHECK_DOCUMENTS)),
            model.encode_document(list(CHECK_DOCUMENTS), convert_to_numpy=True),
        )
    )
    worst = min(float(np.min(np.sum(a * (b / np.linalg.norm(b, axis=1, keepdims=True)), axis=1))) for a, b in pairs)
    if worst < MIN_COSINE:
        raise ModelError(f"the ONNX export's vectors differ from torch's (cosine {worst:.5f} < {MIN_COSINE}): not kept")
    return worst


def _write_marker(work: Path, source: Path, worst: float, seconds: float) -> None:
    """Record the graph's hashes and where it came from; written last, it says the export is complete and checked."""
    import onnx
    import torch

    record = {
        "made_from": str(source.name),
        "source_sha256": json.loads((source / WEIGHTS_MARKER).read_text())["sha256"],
        "exporter": f"torch {torch.__version__}, onnx {onnx.__version__}",
        "lowest_cosine_to_torch": round(worst, 6),
        "export_seconds": round(seconds, 1),
        "sha256": {name: file_sha256(work / name) for name in (GRAPH, DATA)},
        "sizes": {name: (work / name).stat().st_size for name in (GRAPH, DATA)},
    }
    (work / ONNX_MARKER).write_text(json.dumps(record, indent=1))


def describe_export(model_dir: Path, *, rehash: bool = False) -> str | None:
    """One line on ``model_dir``'s ONNX export for ``archive models`` (None where the model has none).

    ``rehash`` re-reads the graph and its weights against the hashes recorded when it was checked against torch.
    """
    folder = model_dir / ONNX_FOLDER
    if not (folder / ONNX_MARKER).is_file():
        return None
    try:
        onnx_folder(model_dir)
    except ModelError as exc:
        return f"unusable: {exc}"
    record = json.loads((folder / ONNX_MARKER).read_text())
    state = "installed"
    if rehash:
        wrong = [name for name, expected in record["sha256"].items() if file_sha256(folder / name) != expected]
        state = f"DAMAGED ({', '.join(wrong)} changed): run `python -m search.onnx_export`" if wrong else "verified"
    return (
        f"{state}, exported from these weights by {record.get('exporter', 'torch')}, lowest cosine to torch "
        f"{record.get('lowest_cosine_to_torch', '?')}, {folder_size(folder) / 1e6:.0f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m search.onnx_export [NAME]``: errors exit 2 with one message."""
    parser = argparse.ArgumentParser(prog="python -m search.onnx_export", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", default=MODEL)
    args = parser.parse_args(argv)
    try:
        export(args.name)
    except ModelError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
