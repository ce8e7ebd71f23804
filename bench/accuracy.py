"""Time to accuracy: one default-recipe run, with the test split scored after every epoch.

Run as its own process (`python -m bench.accuracy --model cnn --target 0.99 --data-dir DIR`) so each
run starts cold and its peak memory can be read from the parent; it prints one JSON object. The
per-epoch test scoring is the bench's, not the engine's: the clock stops while it runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from engine.config import recipe_config
from engine.events import EpochEnded, Event, RunStarted
from engine.predict import predict_split
from engine.trainer import Trainer


@dataclass
class EpochPoint:
    epoch: int
    train_seconds: float  # training-loop time (with validation) up to this epoch's end, bench scoring excluded
    test_accuracy: float


@dataclass
class AccuracyRun:
    model: str
    seed: int
    target: float
    seconds_to_target: float | None  # None: the target was never reached
    epoch_reached: int | None
    final_test_accuracy: float | None  # the run's own result: best-by-validation weights on the test split
    final_test_f1: float | None
    train_seconds: float | None
    wall_seconds: float  # the whole run: data loading, training, final test
    status: str
    message: str  # why a run that did not complete ended
    epochs: list[EpochPoint] = field(default_factory=list)


def first_reaching(points: list[EpochPoint], target: float) -> EpochPoint | None:
    return next((point for point in points if point.test_accuracy >= target), None)


def time_to_accuracy(model: str, target: float, data_dir: Path, seed: int = 0, **settings: object) -> AccuracyRun:
    config = recipe_config(model, **{**settings, "seed": seed})
    points: list[EpochPoint] = []
    clock = {"started": 0.0, "excluded": 0.0}

    def on_event(event: Event) -> None:
        if isinstance(event, RunStarted):
            clock["started"] = time.perf_counter()
        elif isinstance(event, EpochEnded):
            reached = time.perf_counter()
            state = trainer.state
            assert state is not None  # prepared: an epoch has ended
            predictions = predict_split(state.forward, state.test, state.normalize, state.autocast)
            accuracy = float((predictions.predicted == state.test.labels.cpu().numpy()).mean())
            points.append(EpochPoint(event.epoch, reached - clock["started"] - clock["excluded"], accuracy))
            clock["excluded"] += time.perf_counter() - reached

    wall_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mnist-tui-bench-") as runs_dir:
        trainer = Trainer(config, runs_dir=Path(runs_dir), data_dir=data_dir, emit=on_event, download=False)
        finished = trainer.run()
    reached = first_reaching(points, target)
    summary = finished.summary
    return AccuracyRun(
        model=model,
        seed=seed,
        target=target,
        seconds_to_target=reached.train_seconds if reached else None,
        epoch_reached=reached.epoch if reached else None,
        final_test_accuracy=summary.get("test_accuracy"),
        final_test_f1=summary.get("test_f1"),
        train_seconds=summary.get("train_seconds"),
        wall_seconds=time.perf_counter() - wall_start,
        status=finished.status,
        message=finished.message if trainer.error is None else f"{finished.message} ({trainer.error!r})",
        epochs=points,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--target", type=float, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", type=json.loads, default={}, help="run settings over the recipe, as JSON")
    args = parser.parse_args()
    run = time_to_accuracy(args.model, args.target, args.data_dir, args.seed, **args.settings)
    print(json.dumps({**asdict(run), "settings": args.settings}))


if __name__ == "__main__":
    main()
