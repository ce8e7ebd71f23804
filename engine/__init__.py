"""The training engine: data, models, trainer, runs on disk. Never imports Textual."""

import ctypes
import os
import sys

# OpenMP threads waiting at the end of each parallel op sleep instead of spinning. On a busy CPU (other
# programs, the dashboard's own thread) spinning threads starve the thread they wait for and training
# runs 5-10x slower; on an idle CPU sleeping costs a few percent. libgomp reads this when torch loads,
# so it must be set before the first `import torch`, which every engine module does after this file.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

GLIBC_M_TRIM_THRESHOLD = -1
GLIBC_M_MMAP_THRESHOLD = -3
GLIBC_M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Let glibc reuse freed tensor memory instead of giving it back to the kernel; True where applied.

    A training step frees and reallocates the same few tensors of several MB. By default glibc serves
    those with mmap, unmaps them when freed, and the next step faults every page back in, zeroed: close to
    a million page faults and ~15% of the CPU time of a cnn run. Fixed thresholds keep blocks up to 32 MB
    in the heap (the default adapts to the process's history, so the same run got faster or slower
    depending on what else the process had allocated). Elsewhere (macOS, musl) nothing changes.
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
