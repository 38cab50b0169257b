"""Fast stand-ins for the models, for logic tests beside the real-model ones.

``WordHashEmbedder`` maps texts to vectors by hashing their word stems, so texts that share
words are near each other and nothing else is; it is deterministic and needs no model.
``ScriptedTranscriber`` says a fixed script at fixed times: whatever part of it lies in the
audio it is given, so resuming after a saved segment works as with Whisper.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from archive.core.store.records import Segment, SpeechGap
from search.text import stems

DIMENSIONS = 1024  # wide enough that texts sharing no word stay near 0


class WordHashEmbedder:
    """Bag-of-stems vectors: each stem adds +1 or -1 in a few hashed dimensions."""

    model_name = "word-hash-test"
    dimensions = DIMENSIONS

    def __init__(self) -> None:
        self.texts_embedded = 0

    def load(self) -> None:
        pass

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(DIMENSIONS, dtype=np.float32)
        for word in stems(text):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            for i in range(3):
                vector[digest[i] % DIMENSIONS] += 1.0 if digest[i + 3] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return vector / norm

    def embed_documents(self, texts: Sequence[str], title: str = "") -> np.ndarray:
        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)


class ScriptedTranscriber:
    """Yields the scripted segments that start inside the audio it is handed, in order."""

    def __init__(
        self,
        script: Iterable[tuple],
        model_name: str = "scripted-test",
        gaps: Iterable[tuple[float, float]] = (),
    ):
        """``script``: (start, end, text[, language]) lines; ``gaps``: where it heard speech and
        wrote nothing (SpeechGaps, in time order with the lines)."""
        lines = [
            Segment(start=line[0], end=line[1], text=line[2], language=(line[3:] or (None,))[0]) for line in script
        ]
        self.script = sorted([*lines, *(SpeechGap(s, e) for s, e in gaps)], key=lambda item: item.start)
        self.model_name = model_name
        self.calls = 0
        self.unloaded = 0

    def load(self) -> None:
        pass

    def unload(self) -> None:
        self.unloaded += 1

    def transcribe(self, audio, hints: str = "") -> Iterator[Segment | SpeechGap]:
        self.calls += 1
        for piece in audio:
            end = piece.offset + piece.duration
            for segment in self.script:
                if piece.offset <= segment.start < end:
                    yield segment


def script_for(duration: float, lines: Sequence[str]) -> list[tuple[float, float, str]]:
    """``lines`` spread evenly over ``duration`` seconds."""
    step = duration / max(len(lines), 1)
    return [(round(i * step, 3), round((i + 1) * step - 0.01, 3), line) for i, line in enumerate(lines)]


class MeddlingEmbedder:
    """Wraps an embedder; the first time it embeds documents, ``meddle()`` runs first — another
    writer changing the transcript while this one is still preparing its index."""

    def __init__(self, inner, meddle, model_name: str = ""):
        self.inner = inner
        self.model_name = model_name or inner.model_name
        self.meddle = meddle
        self.meddled = False

    def load(self) -> None:
        self.inner.load()

    def embed_documents(self, texts: Sequence[str], title: str = "") -> np.ndarray:
        if not self.meddled:
            self.meddled = True
            self.meddle()
        return self.inner.embed_documents(texts, title)

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)
