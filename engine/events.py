"""What the trainer reports, as frozen dataclasses of plain Python values.

This module imports nothing heavy (no torch, no numpy) so a UI can import it on its first frame.
Every event carries the state a renderer needs; nobody downstream recomputes metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

# "interrupted" is never emitted by a trainer: it is how a follower ends a run whose trainer died without a word.
RunStatus = Literal["completed", "stopped", "failed", "diverged", "interrupted"]
Split = Literal["val", "test"]


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    config: dict
    device: str  # resolved, e.g. "cuda:0"
    device_name: str  # human name, e.g. "NVIDIA A100" or "CPU (2 threads)"
    parameters: int
    train_size: int
    val_size: int
    test_size: int
    class_names: tuple[str, ...]
    start_epoch: int = 0  # > 0 when resumed


@dataclass(frozen=True)
class DownloadProgress:
    """A dataset file coming in (first use): sent a few times a second while it downloads, and at its end."""

    file: str  # e.g. "train-images-idx3-ubyte.gz"
    done_bytes: int
    total_bytes: int | None  # None when the server does not say
    bytes_per_second: float


@dataclass(frozen=True)
class BatchProgress:
    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based, within the epoch
    steps_per_epoch: int
    global_step: int
    loss: float  # exponentially smoothed training loss
    images_per_second: float
    elapsed_seconds: float
    eta_seconds: float


@dataclass(frozen=True)
class ClassReport:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluated:
    split: Split
    epoch: int
    loss: float
    accuracy: float
    f1: float  # macro
    confusion: tuple[tuple[int, ...], ...]  # rows = true class, columns = predicted
    per_class: tuple[ClassReport, ...]
    macro_avg: ClassReport
    weighted_avg: ClassReport


@dataclass(frozen=True)
class EpochEnded:
    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    val_f1: float
    learning_rate: float
    seconds: float


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epoch: int
    kind: Literal["best", "last"]
    val_accuracy: float


@dataclass(frozen=True)
class PauseChanged:
    """The trainer has actually paused (or resumed) at this batch."""

    paused: bool
    epoch: int
    step: int


@dataclass(frozen=True)
class Notice:
    """Something the user should read that does not end the run (a fallback, a skipped option)."""

    level: Literal["info", "warning"]
    message: str


@dataclass(frozen=True)
class RunFinished:
    status: RunStatus
    message: str
    run_dir: str
    summary: dict  # the row written to summary.json


Event = (
    RunStarted
    | DownloadProgress
    | BatchProgress
    | EpochEnded
    | Evaluated
    | CheckpointSaved
    | PauseChanged
    | Notice
    | RunFinished
)

EVENT_TYPES: dict[str, type[Event]] = {kind.__name__: kind for kind in get_args(Event)}
Decoded = TypeVar("Decoded")


def event_from_dict(kind: type[Decoded], values: dict[str, Any]) -> Decoded:
    """The event (or nested record) `dataclasses.asdict` made `values` from, as JSON gave it back: its lists
    become the tuples, and its dicts the dataclasses, that the type's hints name. TypeError or KeyError for
    values that are not one."""
    hints = _field_hints(kind)
    return kind(**{name: _from_json(hint, values[name]) for name, hint in hints.items() if name in values})


_FIELD_HINTS: dict[type, dict[str, Any]] = {}  # reading hints is the slow part of decoding a long file


def _field_hints(kind: type) -> dict[str, Any]:
    if kind not in _FIELD_HINTS:
        hints = get_type_hints(kind, globals())
        _FIELD_HINTS[kind] = {f.name: hints[f.name] for f in fields(kind)}
    return _FIELD_HINTS[kind]


def _from_json(hint: Any, value: Any) -> Any:
    if is_dataclass(hint) and isinstance(hint, type) and isinstance(value, dict):
        return event_from_dict(hint, value)
    if get_origin(hint) is tuple and isinstance(value, list):
        return tuple(_from_json(get_args(hint)[0], element) for element in value)
    return value
