"""What the machine could do when a figure was measured: its dense float matmul rate, on the CPU or a GPU.

This VM's speed drifts up to 2x between days (and with other work on it): a figure means something only beside
the rate the same machine reached at the same time.
"""

from __future__ import annotations

import statistics
import time

# Big enough to be compute-bound, small enough to take about a second on a 2-core CPU.
MATRIX_SIZE = {"cpu": 1024, "cuda": 8192}


def matmul_tflops(dtype_name: str = "float32", device: str = "cpu", repeats: int = 10) -> float:
    """Dense matrix-product rate on random data in TFLOP/s, median of `repeats` after warm-ups.

    On CUDA float32 means float32 here, not TF32, and the time is CUDA events'; on the CPU it uses the threads
    that training uses (torch's default).
    """
    import torch

    kind = torch.device(device).type
    size = MATRIX_SIZE.get(kind, MATRIX_SIZE["cpu"])
    dtype = getattr(torch, dtype_name)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        for _ in range(3):
            a @ b
        times = []
        for _ in range(repeats):
            if kind == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                a @ b
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end) / 1000)
            else:
                began = time.perf_counter()
                a @ b
                times.append(time.perf_counter() - began)
        return round(2 * size**3 / statistics.median(times) / 1e12, 3 if kind == "cpu" else 1)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


def cpu_fp32_gflops() -> float:
    """The CPU's float32 matmul rate in GFLOP/s: the figure printed beside every CPU measure."""
    return round(matmul_tflops("float32", "cpu") * 1000, 1)
