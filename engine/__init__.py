"""The training engine: data, models, trainer, runs on disk. Never imports Textual."""

import ctypes
import os
import sys

# OpenMP threads sleep at barriers instead of spinning, which on a busy CPU starves the thread they wait for
# (figures in the README's Speed section). libgomp reads it when torch loads: set before the first import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

GLIBC_M_TRIM_THRESHOLD = -1
GLIBC_M_MMAP_THRESHOLD = -3
GLIBC_M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Let glibc reuse freed tensor memory instead of giving it back to the kernel; True where applied.

    A training step frees and reallocates the same tensors of several MB; by default glibc unmaps them and the
    next step faults every page back in, zeroed. Fixed thresholds keep blocks up to 32 MB in the heap, whatever
    the process allocated before (figures in the README's Speed section). Elsewhere (macOS, musl) nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    settings = (
        (GLIBC_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
        (GLIBC_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
        (GLIBC_M_ARENA_MAX, 1),
    )
    return all([bool(mallopt(option, value)) for option, value in settings])


keep_freed_memory()
