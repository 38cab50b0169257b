"""Whisper (tiny.en, the bundled model) on real speech, and the guards around it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from ingest import media
from ingest.transcribe import (
    TranscriberError,
    WhisperTranscriber,
    build_hints,
    is_hallucination,
    split_long_segment,
)

from .helpers import HOTWORDS, JFK, JFK_TEXT, normalize_words, word_error_rate


def transcribe_file(path, hints=""):
    audio = media.slices(media.decode(path))
    return list(WhisperTranscriber().transcribe(audio, hints))


def test_jfk_transcribes_accurately_with_sensible_times():
    segments = transcribe_file(JFK)
    text = " ".join(s.text for s in segments)
    assert word_error_rate(JFK_TEXT, text) < 0.10
    assert segments[0].start < 1.0
    assert 9.0 < segments[-1].end <= 11.0
    for before, after in zip(segments, segments[1:]):
        assert before.start < before.end <= after.start + 0.01


def test_vocabulary_hint_fixes_a_product_name():
    plain = " ".join(s.text for s in transcribe_file(HOTWORDS))
    hinted = " ".join(s.text for s in transcribe_file(HOTWORDS, hints=build_hints(["ComfyUI"])))
    assert "ComfyUI" not in plain  # tiny.en hears "comfy eye" on its own
    assert "ComfyUI" in hinted


@pytest.mark.parametrize("kind", ["silence", "noise", "hum"])
def test_nothing_is_invented_over_silence_or_noise(kind):
    rate = media.SAMPLE_RATE
    rng = np.random.default_rng(7)
    t = np.arange(rate * 30) / rate
    audio = {
        "silence": np.zeros(rate * 30, np.float32),
        "noise": (0.02 * rng.standard_normal(rate * 30)).astype(np.float32),
        "hum": (0.1 * np.sin(2 * np.pi * 60 * t)).astype(np.float32),
    }[kind]
    assert list(WhisperTranscriber().transcribe([media.AudioSlice(0.0, audio)])) == []


def test_speech_after_a_long_silence_keeps_its_true_time(jfk_samples):
    rate = media.SAMPLE_RATE
    speech = np.concatenate(list(media.decode(JFK)))
    audio = np.concatenate([np.zeros(rate * 20, np.float32), speech])
    segments = list(WhisperTranscriber().transcribe(media.slices(iter([audio]))))
    assert word_error_rate(JFK_TEXT, " ".join(s.text for s in segments)) < 0.10
    assert 19.0 <= segments[0].start <= 21.0


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(TranscriberError, match="no Whisper model"):
        WhisperTranscriber(tmp_path).load()
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(TranscriberError, match="could not be loaded"):
        WhisperTranscriber(tmp_path).load()


def test_build_hints_keeps_order_drops_repeats_and_caps_length():
    assert build_hints(["Keralty", " keralty ", "", "Kenji  Health"]) == "Keralty, Kenji Health"
    long = build_hints([f"term{i}" for i in range(500)], max_chars=100)
    assert len(long) <= 100 and long.startswith("term0, term1")


def _seg(text, start=0.0, end=5.0, avg_logprob=-0.3, no_speech_prob=0.05, compression_ratio=1.5, words=None):
    return SimpleNamespace(
        text=text, start=start, end=end, avg_logprob=avg_logprob, no_speech_prob=no_speech_prob,
        compression_ratio=compression_ratio, words=words,
    )


def test_hallucination_rules():
    loud = np.full(media.SAMPLE_RATE * 6, 0.1, np.float32)
    quiet = np.zeros(media.SAMPLE_RATE * 6, np.float32)
    assert not is_hallucination(_seg("We track three measures."), loud, None)
    assert is_hallucination(_seg("you", no_speech_prob=0.95, avg_logprob=-0.7), loud, None)
    assert is_hallucination(_seg("Garbled words here", avg_logprob=-1.3), loud, None)
    assert is_hallucination(_seg("again and again " * 10, compression_ratio=3.1), loud, None)
    assert is_hallucination(_seg("Thank you for watching."), quiet, None)
    repeated = normalize_words("Thanks for joining us today")
    assert is_hallucination(_seg("Thanks for joining us today."), loud, repeated)
    assert not is_hallucination(_seg("Yes."), loud, "yes")  # short repeats are real speech


def test_long_segments_split_at_sentence_ends():
    words = []
    t = 0.0
    for sentence in ["One two three four five six.", "Seven eight nine ten eleven twelve.", "Thirteen fourteen."]:
        for token in sentence.split():
            words.append(SimpleNamespace(word=" " + token, start=t, end=t + 0.9))
            t += 1.0
    seg = _seg(" ".join(w.word.strip() for w in words), start=0.0, end=t, words=words)
    pieces = split_long_segment(seg, max_seconds=8)
    assert [p[2] for p in pieces] == [
        "One two three four five six.",
        "Seven eight nine ten eleven twelve.",
        "Thirteen fourteen.",
    ]
    assert pieces[1][0] == 6.0
    assert split_long_segment(_seg("Short.", end=3.0), max_seconds=8) == [(0.0, 3.0, "Short.")]
