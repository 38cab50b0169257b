"""Giving the memory a process has freed back to the system.

glibc keeps what a process frees for its next allocations, and its heap can only shrink from the
top: freed memory below a live block stays in the process. An ingest frees large arrays all the time
(decoded audio, voice detection's buffers, the voices' filterbanks, the voice model's activations),
so its resident set kept what each stage had used while the next one ran beside Whisper. Decoding a
23-minute webinar and finding its speech left 415 MB resident, of which ``malloc_trim`` gave back
224 (this machine, 2 cores). ``give_back_freed_memory`` is called where a stage has let go of its
arrays (``ingest.diarize``) or a process of its models (``ingest.pipeline.return_memory``): the whole ingest of the 23-minute webinar of bench_openai_whisper.py
peaked at 1,498-1,520 MB resident against 1,628-1,737 MB without (two runs each, alternated, wall
time 128.6-129.4 s against 129.6-130.1 s). Not inside a loop whose next turn needs the memory again:
given back after every batch of the voice model, the pages had to be faulted in again, and the
ingest took about 8 s longer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def give_back_freed_memory() -> None:
    """Return the free memory at the top and inside every malloc arena to the system (a few
    milliseconds); nothing where the C library cannot."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
