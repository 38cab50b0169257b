"""Memory an ingest has freed goes back to the system (archive/core/memory.py)."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from archive.core import memory
from archive.core.memory import _malloc_trim, give_back_freed_memory


def _resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_freed_memory_below_a_live_block_goes_back_to_the_system():
    """200 MB in blocks small enough for glibc's heap, then all freed but the last (which keeps the
    heap from shrinking on its own): the process holds them until they are given back. Where the C
    library is not glibc (macOS, musl) there is no malloc_trim to call, and none is looked for."""
    if platform.libc_ver()[0] != "glibc":
        assert _malloc_trim() is None
        return
    assert _malloc_trim() is not None
    blocks = [np.ones(12_000, dtype=np.float64) for _ in range(2_000)]  # 96 KB each: from the heap
    kept = blocks[-1]
    del blocks
    held = _resident_mb()
    give_back_freed_memory()
    assert held - _resident_mb() > 100, "the freed blocks stayed in the process"
    assert kept.sum() == pytest.approx(12_000)


def test_without_malloc_trim_giving_memory_back_changes_nothing(monkeypatch):
    """The C library without malloc_trim: the call is a no-op, never an error in an ingest."""
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)
    assert memory.give_back_freed_memory() is None
    calls: list[int] = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: calls.append)
    memory.give_back_freed_memory()
    assert calls == [0]  # glibc: everything above and inside the arenas (pad 0)
