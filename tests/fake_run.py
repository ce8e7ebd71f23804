"""A deterministic stand-in for the engine, so dashboard snapshots are identical on every run.

The fake catalog and trainer take the place of engine.devices/engine.models/engine.trainer (which need
torch); the trainer replays a scripted event stream with fixed numbers and no clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.config import RunConfig
from engine.events import (
    BatchProgress,
    CheckpointSaved,
    ClassReport,
    EpochEnded,
    Evaluated,
    Event,
    RunFinished,
    RunStarted,
    Split,
)
from tui.engine_api import TrainerFactory

CLASSES = tuple(str(i) for i in range(10))
RUN_DIR = "runs/20260101-120000-mnist-linear"


@dataclass(frozen=True)
class FakeDevice:
    name: str
    label: str


@dataclass(frozen=True)
class FakeModel:
    name: str
    description: str
    parameters: int


DEVICES = [FakeDevice("cuda:0", "NVIDIA A100 80GB (79.1 GiB free)"), FakeDevice("cpu", "CPU (2 threads)")]
MODELS = [
    FakeModel("linear", "Logistic regression: one nn.Linear (784 -> 10)", 7850),
    FakeModel("cnn", "Compact 2-conv CNN: fast, 99% test accuracy in one pass", 215194),
]


def fake_catalog() -> tuple[list[FakeDevice], list[FakeModel]]:
    return list(DEVICES), list(MODELS)


def confusion(size: int, correct_share: float) -> tuple[tuple[int, ...], ...]:
    """A plausible matrix: per class, most images on the diagonal, the rest on the next class."""
    per_class = size // len(CLASSES)
    right = round(per_class * correct_share)
    rows = []
    for i in range(len(CLASSES)):
        row = [0] * len(CLASSES)
        row[i] = right
        row[(i + 1) % len(CLASSES)] = per_class - right
        rows.append(tuple(row))
    return tuple(rows)


def evaluated(split: Split, epoch: int, size: int, accuracy: float) -> Evaluated:
    report = tuple(ClassReport(name, accuracy, accuracy, accuracy, size // 10) for name in CLASSES)
    average = ClassReport("macro avg", accuracy, accuracy, accuracy, size)
    return Evaluated(
        split, epoch, 1 - accuracy, accuracy, accuracy, confusion(size, accuracy), report, average, average
    )


def scripted_events(config: RunConfig, steps_per_epoch: int = 20) -> list[Event]:
    """A short run: one BatchProgress per epoch, each followed by the epoch's evaluation events."""
    epochs = config.epochs
    events: list[Event] = [
        RunStarted(RUN_DIR, config.to_dict(), "cpu", "CPU (2 threads)", 7850, 500, 100, 200, CLASSES)
    ]
    for epoch in range(1, epochs + 1):
        global_step = epoch * steps_per_epoch
        remaining = (epochs - epoch) * steps_per_epoch
        loss = 2.3 / (1 + global_step / 8)
        events.append(
            BatchProgress(
                epoch,
                epochs,
                steps_per_epoch,
                steps_per_epoch,
                global_step,
                loss,
                12000.0,
                epoch * 10.0,
                remaining * 0.5,
            )
        )
        accuracy = 0.9 + 0.03 * epoch / epochs
        events.append(
            EpochEnded(epoch, epochs, 0.5 / epoch, accuracy - 0.01, 0.6 / epoch, accuracy, accuracy, 0.001, 10.0)
        )
        events.append(evaluated("val", epoch, 100, accuracy))
        events.append(CheckpointSaved(f"{RUN_DIR}/last.pt", epoch, "last", accuracy))
    test = evaluated("test", epochs, 200, 0.93)
    events.append(test)
    summary = {
        "status": "completed",
        "epochs_completed": epochs,
        "best_epoch": epochs,
        "val_accuracy": accuracy,
        "test_accuracy": test.accuracy,
        "test_f1": test.f1,
        "train_seconds": epochs * 10.0,
    }
    events.append(RunFinished("completed", "training completed", RUN_DIR, summary))
    return events


class FakeTrainer:
    """Replays `scripted_events` through emit; pause/resume/stop are recorded, never waited on.
    Implements tui.engine_api.DrivenTrainer, and the class TrainerFactory (mypy checks both)."""

    resumed: list[Path] = []  # the runs `from_run` was asked to continue, for tests

    def __init__(self, config: RunConfig, *, runs_dir: Path, data_dir: Path, emit: Callable[[Event], None]) -> None:
        self.config = config
        self.emit = emit
        self.paused = False
        self.error: BaseException | None = None

    @classmethod
    def from_run(cls, run_dir: Path, *, data_dir: Path, emit: Callable[[Event], None]) -> FakeTrainer:
        cls.resumed.append(Path(run_dir))
        return cls(RunConfig(model="linear", epochs=3), runs_dir=Path(run_dir).parent, data_dir=data_dir, emit=emit)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def stop(self) -> None:
        pass

    def run(self) -> RunFinished:
        events = scripted_events(self.config)
        for event in events:
            self.emit(event)
        finished = events[-1]
        assert isinstance(finished, RunFinished)
        return finished


def fake_trainer_class() -> TrainerFactory:
    return FakeTrainer
