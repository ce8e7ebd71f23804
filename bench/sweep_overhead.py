"""What a sweep's trial costs beyond its training: the issue's target is at most 1 s a trial.

    python bench/sweep_overhead.py --data-dir ../shared/datasets [--trials 6] [--model cnn] [--limit 12000]

Runs a sweep of `--trials` one-epoch trials (a grid over the seed, so every trial does the same work) in this
process, in a temporary runs folder, and for each trial prints its wall time (from the objective's start to its
end, as trials.csv records it) against the seconds its own epochs took (summary.json's train_seconds: training
and validation). The difference is the overhead: the study's bookkeeping, the run folder, building the model,
the test evaluation, checkpoints and summary. Trial 0 also pays for reading the dataset (once per process).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from engine.sweeps import Sweep, parse_spec, trial_rows


def measure(data_dir: Path, trials: int, model: str, limit: int) -> list[tuple[int, float, float]]:
    """(trial number, trial seconds, its epochs' seconds) for each trial, by number."""
    with tempfile.TemporaryDirectory() as folder:
        seeds = ",".join(str(seed) for seed in range(trials))
        settings = {"model": model, "epochs": "1", "limit": str(limit), "seed": seeds}
        spec = parse_spec("overhead", settings, prune=False)
        sweep = Sweep(spec, runs_dir=Path(folder), data_dir=data_dir, devices=["cpu"], download=False)
        sweep.run()
        results = []
        for row in sorted(trial_rows(sweep.study), key=lambda row: row.number):
            summary = json.loads((Path(row.run_dir or "") / "summary.json").read_text())
            results.append((row.number, row.seconds or 0.0, summary["train_seconds"]))
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--limit", type=int, default=12_000, help="training images per trial (default: 12000)")
    args = parser.parse_args()
    started = time.perf_counter()
    results = measure(args.data_dir, args.trials, args.model, args.limit)
    print(f"{'trial':>5} {'seconds':>8} {'epochs':>8} {'overhead':>8}")
    for number, seconds, train in results:
        print(f"{number:>5} {seconds:>8.2f} {train:>8.2f} {seconds - train:>8.2f}")
    later = [seconds - train for number, seconds, train in results[1:]]
    print(
        f"overhead per trial after the first: median {statistics.median(later):.2f} s, max {max(later):.2f} s;"
        f" the first (reads the data): {results[0][1] - results[0][2]:.2f} s;"
        f" whole sweep {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
