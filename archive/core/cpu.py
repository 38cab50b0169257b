"""What this machine's CPU offers the models: how many cores this process may use, and whether it
computes in bfloat16 natively. Read by Whisper (its threads), the search model and the voices' model
(their precision)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one, as on Linux)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


@cache
def bfloat16_is_fast() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX); elsewhere torch emulates it slowly."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
