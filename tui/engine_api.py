"""What the dashboard needs from the torch side of the engine, as Protocols: the trainer and the sweep it drives,
the catalog of devices and models, and the learning-rate range test. The engine's classes and the tests' fakes are
both checked against them (mypy), so the app has no branch for either alone; nothing here imports torch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from engine.config import RunConfig
from engine.events import DownloadProgress, Event, RunFinished
from engine.sweeps import SweepSpec, TrialRow, TrialUpdate
from engine.system import SystemSample


class DrivenTrainer(Protocol):
    """One run, steered from the UI thread while `run()` blocks a worker thread."""

    config: RunConfig
    error: BaseException | None

    @property
    def paused(self) -> bool: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def stop(self) -> None: ...

    def run(self) -> RunFinished: ...


class TrainerFactory(Protocol):
    """The trainer class: builds a trainer for a new run, or for continuing a run from its folder."""

    def __call__(
        self, config: RunConfig, *, runs_dir: Path, data_dir: Path, emit: Callable[[Event], None]
    ) -> DrivenTrainer: ...

    def from_run(self, run_dir: Path, *, data_dir: Path, emit: Callable[[Event], None]) -> DrivenTrainer: ...


class RangeCurve(Protocol):
    """A learning-rate range test's curve, whole or so far (engine.lr_find.RangeTest)."""

    @property
    def rates(self) -> tuple[float, ...]: ...

    @property
    def losses(self) -> tuple[float, ...]: ...

    @property
    def smoothed_losses(self) -> tuple[float, ...]: ...

    @property
    def suggested_index(self) -> int: ...  # where the smoothed loss falls fastest


class RangeTester(Protocol):
    """Runs the range test (engine.lr_find.range_test) in a worker thread: nothing is written to the runs folder."""

    def __call__(
        self,
        config: RunConfig,
        data_dir: Path,
        *,
        batches: int,
        should_stop: Callable[[], bool],
        on_progress: Callable[[RangeCurve], None],
        on_download: Callable[[DownloadProgress], None],
    ) -> RangeCurve: ...


class DrivenSweep(Protocol):
    """A sweep (engine.sweeps.Sweep): `run()` blocks a worker thread while its trials train; the rest is called
    from other threads (reading the study is thread-safe)."""

    spec: SweepSpec
    folder: Path  # <runs>/sweeps/NAME

    @property
    def stopped(self) -> bool: ...

    def run(self) -> None: ...

    def stop(self) -> None: ...

    def rows(self) -> list[TrialRow]: ...

    def importances(self) -> dict[str, float]: ...

    def write_files(self) -> list[Path]: ...


class SweepFactory(Protocol):
    """The sweep class: its trials' events go to `on_update` (on the trainers' threads), and `on_trial_end` hears
    of each trial once the study holds its outcome."""

    def __call__(
        self,
        spec: SweepSpec,
        *,
        runs_dir: Path,
        data_dir: Path,
        devices: list[str],
        jobs: int,
        on_update: Callable[[TrialUpdate], None],
        on_trial_end: Callable[[int], None],
    ) -> DrivenSweep: ...


class DeviceEntry(Protocol):
    """A device the Setup tab offers (engine.devices.DeviceInfo)."""

    @property
    def name(self) -> str: ...  # "cpu", "cuda:0", ...

    @property
    def label(self) -> str: ...  # its name and free memory, for the picker


class ModelEntry(Protocol):
    """A model the Setup tab offers (engine.models.ModelInfo)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def parameters(self) -> int: ...


Catalog = tuple[Sequence[DeviceEntry], Sequence[ModelEntry]]


class DigitClassifier(Protocol):
    """A run's model kept loaded, classifying drawings (engine.predict.Predictor)."""

    run_dir: Path
    config: RunConfig
    class_names: tuple[str, ...]

    def predict(self, pixels: Sequence[Sequence[float]]) -> tuple[float, ...]: ...


class SystemSource(Protocol):
    """Samples a process and the machine (engine.system.SystemSampler); called at most once a second, off the UI
    thread, since NVML may block."""

    def sample(self) -> SystemSample: ...

    def close(self) -> None: ...


SamplerFactory = Callable[[int, Sequence[int]], SystemSource]  # (process id, CUDA device indices)
