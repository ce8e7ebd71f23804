"""A deterministic stand-in for the engine, so dashboard snapshots are identical on every run (and the app can be
built without torch: fake_inspection imports engine.predict's types only when called).

The fake catalog, trainer and range test take the place of engine.devices, engine.models, engine.trainer and
engine.lr_find (which need torch); the trainer replays a scripted event stream with fixed numbers and no clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import RunConfig
from engine.events import (
    BatchProgress,
    CheckpointSaved,
    ClassReport,
    DownloadProgress,
    EpochEnded,
    Evaluated,
    Event,
    RunFinished,
    RunStarted,
    Split,
)
from engine.runs import RunRecord
from engine.sweeps import SweepSpec, TrialRow, TrialUpdate
from engine.system import SystemSample
from tui.engine_api import DigitClassifier, RangeCurve, RangeTester, SweepFactory, TrainerFactory

if TYPE_CHECKING:
    from engine.predict import Inspection

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


# --- the learning-rate range test --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeCurve:
    """Implements tui.engine_api.RangeCurve."""

    rates: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed_losses: tuple[float, ...]
    suggested_index: int


def range_curve(points: int = 120) -> FakeCurve:
    """A made-up range test from 1e-6 up by 10% a batch: flat, falling fastest at batch 60, lowest at 95, rising."""
    rates = tuple(1e-6 * 1.1**i for i in range(points))
    smoothed = tuple(1.3 - math.tanh((i - 60) / 12) if i <= 95 else 0.35 + 0.1 * (i - 95) for i in range(points))
    losses = tuple(value + 0.08 * math.sin(i * 1.7) for i, value in enumerate(smoothed))
    return FakeCurve(rates, losses, smoothed, suggested_index=60)


def fake_range_test(
    config: RunConfig,
    data_dir: Path,
    *,
    batches: int,
    should_stop: Callable[[], bool],
    on_progress: Callable[[RangeCurve], None],
    on_download: Callable[[DownloadProgress], None],
) -> FakeCurve:
    """The whole curve at once, with no clock: what the snapshot shows never depends on timing."""
    curve = range_curve()
    on_progress(curve)
    return curve


def fake_range_tester() -> RangeTester:
    return fake_range_test


# --- past runs, their mistakes and a classifier, for the Runs, Mistakes and Draw tabs ------------------------

RUNS_DIR = Path("no-such-runs-folder")


def fake_runs(runs_dir: Path = RUNS_DIR) -> list[RunRecord]:
    """Three runs as read from disk, newest first: completed, stopped, interrupted (fixed names and numbers)."""
    runs = []
    for index, (lr, status, epochs_done) in enumerate(
        ((0.01, "completed", 3), (0.003, "stopped", 2), (0.001, None, 1))
    ):
        config = RunConfig(model="linear", epochs=3, lr=lr)
        epochs, evaluations = [], []
        for epoch in range(1, epochs_done + 1):
            accuracy = 0.85 + 0.03 * epoch - 0.01 * index
            epochs.append(EpochEnded(epoch, 3, 0.5 / epoch, accuracy, 0.6 / epoch, accuracy, accuracy, lr, 10.0))
            evaluations.append(evaluated("val", epoch, 100, accuracy))
        summary = None
        if status is not None:
            summary = {
                "status": status,
                "test_accuracy": 0.93 if status == "completed" else None,
                "duration_seconds": 95,
            }
            summary["test_f1"] = summary["test_accuracy"]
        name = f"20260101-12{5 - index:02d}00-mnist-linear"
        runs.append(RunRecord(runs_dir / name, config.to_dict(), summary, epochs, evaluations))
    return runs


def digit_pixels(digit: int, shift: int) -> bytes:
    """A blocky 28 x 28 stand-in for a handwritten digit: a bar whose place depends on the digit."""
    rows = []
    for row in range(28):
        rows.append(
            bytes(
                255 if 6 <= row < 22 and 4 + 2 * digit + shift <= column < 8 + 2 * digit + shift else 0
                for column in range(28)
            )
        )
    return b"".join(rows)


def fake_inspection(run_dir: Path, data_dir: Path, split: Split | None) -> Inspection:
    """What scoring a run finds, without torch or data: a fixed report and a dozen mistakes, worst first."""
    from engine.predict import Inspection, Mistake

    mistakes = tuple(
        Mistake(
            index=7 * i,
            true=i % 10,
            predicted=(i * 3 + 1) % 10,
            confidence=0.99 - 0.03 * i,
            pixels=digit_pixels(i % 10, i % 3),
        )
        for i in range(12)
    )
    return Inspection(str(run_dir), split or "test", CLASSES, evaluated("test", 3, 200, 0.93), mistakes)


class FakeClassifier:
    """Implements tui.engine_api.DigitClassifier: the share of ink in each tenth of the canvas, as probabilities."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.config = RunConfig(model="linear", epochs=3)
        self.class_names = CLASSES

    def predict(self, pixels: Sequence[Sequence[float]]) -> tuple[float, ...]:
        ink = [
            1.0
            + sum(sum(row[column] for column in range(len(row)) if column * 10 // len(row) == share) for row in pixels)
            for share in range(10)
        ]
        total = sum(ink)
        return tuple(value / total for value in ink)


def fake_classifier_loader() -> Callable[[Path], DigitClassifier]:
    return FakeClassifier


# --- the system pane's figures ---------------------------------------------------------------------------------

FIXED_SAMPLE = SystemSample(
    process_cpu_percent=98.0,
    machine_cpu_percent=55.0,
    process_memory_mib=512.0,
    machine_memory_used_mib=3174.4,
    machine_memory_total_mib=7987.2,
)


class FakeSampler:
    """Fixed CPU and memory figures, whatever process it is asked about; implements tui.engine_api.SystemSource."""

    def __init__(self, pid: int, gpus: Sequence[int]) -> None:
        self.pid = pid
        self.gpus = list(gpus)

    def sample(self) -> SystemSample:
        return FIXED_SAMPLE

    def close(self) -> None:
        pass


# --- a sweep, for the Sweep tab ----------------------------------------------------------------------------------


class FakeSweep:
    """Runs a spec's grid in order, each trial a scripted run with fixed figures (the last one pruned), with no
    study, no torch and no clock. Implements tui.engine_api.DrivenSweep, and the class SweepFactory (mypy checks)."""

    def __init__(
        self,
        spec: SweepSpec,
        *,
        runs_dir: Path,
        data_dir: Path,
        devices: list[str],
        jobs: int,
        on_update: Callable[[TrialUpdate], None],
        on_trial_end: Callable[[int], None],
    ) -> None:
        self.spec = spec
        self.folder = Path(runs_dir) / "sweeps" / spec.name
        self.on_update = on_update
        self.on_trial_end = on_trial_end
        self.trials: list[TrialRow] = []
        self.stopped = False

    def run(self) -> None:
        grid = self.spec.grid
        for number, params in enumerate(grid):
            if self.stopped:
                return
            config = self.spec.config(params, "cpu", number)
            run_dir = f"runs/20260101-12{number:02d}00-mnist-{config.model}"
            row = TrialRow(number, "running", params, None, None, None, None, run_dir)
            self.trials.append(row)
            for event in scripted_events(config):
                self.on_update(TrialUpdate(number, "cpu", event))
            pruned = number == len(grid) - 1 and number >= 2
            row.status = "pruned" if pruned else "completed"
            row.val_accuracy = 0.9 + 0.01 * ((number * 7) % 5)
            row.val_f1 = row.val_accuracy - 0.001
            row.test_accuracy = None if pruned else row.val_accuracy - 0.005
            row.seconds = 12.0 + number
            self.on_trial_end(number)

    def stop(self) -> None:
        self.stopped = True

    def rows(self) -> list[TrialRow]:
        return list(self.trials)

    def importances(self) -> dict[str, float]:
        names = sorted(self.spec.space)
        return {name: (index + 1) / sum(range(1, len(names) + 1)) for index, name in enumerate(reversed(names))}

    def write_files(self) -> list[Path]:
        return [self.folder / "trials.csv", self.folder / "sweep.png"]


def fake_sweep_class() -> SweepFactory:
    return FakeSweep
