"""Probing and decoding real media in the formats people bring."""

from __future__ import annotations

import numpy as np
import pytest

from ingest import media

from .helpers import FORMATS, JFK


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_probe_accepts_common_formats(make_media, suffix):
    path = make_media(f"talk.{suffix}")
    info = media.probe(path)
    assert info.duration == pytest.approx(11.0, abs=0.3)
    assert info.kind == ("video" if FORMATS[suffix][2] else "audio")
    decoded = np.concatenate(list(media.decode(path)))
    assert len(decoded) / media.SAMPLE_RATE == pytest.approx(11.0, abs=0.3)
    assert decoded.dtype == np.float32


def test_decode_mixes_stereo_to_mono_at_16k():
    chunks = list(media.decode(JFK))
    assert all(c.ndim == 1 for c in chunks)
    assert sum(len(c) for c in chunks) == pytest.approx(11.0 * media.SAMPLE_RATE, rel=0.01)


def _bad_inputs(tmp_path, make_media):
    text = tmp_path / "notes.mp3"
    text.write_text("These are meeting notes, not audio.\n" * 50)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    whole = make_media("long.mp3", np.tile(np.sin(np.linspace(0, 4000, 48_000 * 30)).astype(np.float32) * 0.3, 1))
    truncated = tmp_path / "truncated.mp3"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    flac_cut = tmp_path / "truncated.flac"
    flac_cut.write_bytes(JFK.read_bytes()[: JFK.stat().st_size // 2])
    return {
        "text renamed .mp3": (text, "not an audio or video file"),
        "zero-length": (empty, "empty"),
        "missing": (tmp_path / "nowhere.mp3", "no such file"),
        "directory": (tmp_path, "directory"),
        "truncated mp3": (truncated, "cut off"),
        "truncated flac": (flac_cut, "cut off"),
    }


def test_probe_rejects_bad_input_with_a_clear_reason(tmp_path, make_media):
    for label, (path, reason) in _bad_inputs(tmp_path, make_media).items():
        with pytest.raises(media.MediaError) as caught:
            media.probe(path)
        assert reason in str(caught.value), label


def test_probe_rejects_video_without_audio(tmp_path):
    import av

    silent_video = tmp_path / "no-audio.mp4"
    with av.open(str(silent_video), mode="w") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(media.MediaError, match="no audio track"):
        media.probe(silent_video)


def test_slices_cut_in_pauses_and_cover_everything():
    rate = media.SAMPLE_RATE
    tone = (0.3 * np.sin(np.arange(rate * 10) * 0.2)).astype(np.float32)
    pause = np.zeros(rate // 2, np.float32)
    # tone 10 s, pause at 10-10.5 s, tone 10 s, pause at 20.5-21 s, tone 10 s
    audio = np.concatenate([tone, pause, tone, pause, tone])
    chunks = np.array_split(audio, 37)
    pieces = list(media.slices(iter(chunks), slice_seconds=12, search_seconds=4))
    assert sum(len(p.samples) for p in pieces) == len(audio)
    assert pieces[0].offset == 0
    # The first cut falls in the first pause, not at the 12 s target.
    assert 10.0 <= pieces[1].offset <= 10.5
    for before, after in zip(pieces, pieces[1:], strict=False):
        assert after.offset == pytest.approx(before.offset + before.duration)


def test_file_sha256_is_stable(jfk_copy):
    assert media.file_sha256(jfk_copy) == media.file_sha256(JFK)
    assert len(media.file_sha256(JFK)) == 64


def test_a_resumed_decode_starts_at_the_right_sample_with_the_right_times():
    import numpy as np

    from ingest.media import SAMPLE_RATE, skip_to, slices

    audio = np.arange(10 * SAMPLE_RATE, dtype=np.float32)
    chunks = [audio[i : i + 1000] for i in range(0, len(audio), 1000)]
    pieces = list(slices(skip_to(iter(chunks), 2.5), slice_seconds=3.0, search_seconds=0.5, start_seconds=2.5))
    assert pieces[0].offset == 2.5 and pieces[0].samples[0] == 2.5 * SAMPLE_RATE
    joined = np.concatenate([p.samples for p in pieces])
    assert np.array_equal(joined, audio[int(2.5 * SAMPLE_RATE) :])
    for piece in pieces:  # every slice's offset is where its first sample is in the recording
        assert piece.samples[0] == piece.offset * SAMPLE_RATE
