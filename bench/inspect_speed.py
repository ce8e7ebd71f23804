"""How long inspecting takes: scoring a run's split for the gallery, and one live canvas classification.

    python bench/inspect_speed.py RUN_DIR DATA_DIR

Prints seconds for inspect_run (model load + data load + predict + report) and the median latency of
Predictor.predict on a drawn stroke (preprocessing + forward pass), the delay a user sees after a stroke.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from engine.predict import Predictor, inspect_run


def main(run_dir: Path, data_dir: Path) -> None:
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for split in ("test", "val"):
        start = time.perf_counter()
        result = inspect_run(run_dir, data_dir, split)
        seconds = time.perf_counter() - start
        print(
            f"inspect_run {split}: {seconds:.2f} s for {sum(r.support for r in result.evaluated.per_class):,}"
            f" images, {len(result.mistakes)} mistakes"
        )
    start = time.perf_counter()
    predictor = Predictor(run_dir)
    print(f"Predictor load: {time.perf_counter() - start:.3f} s")
    canvas = np.zeros((28, 28))
    canvas[4:24, 13:15] = 1.0
    timings = []
    for _ in range(50):
        start = time.perf_counter()
        predictor.predict(canvas)
        timings.append(time.perf_counter() - start)
    print(f"Predictor.predict: median {statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
