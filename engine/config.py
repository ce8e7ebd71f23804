"""The run configuration: a model's recipe with the user's settings on top, and the one validation of it
(field_errors) behind the CLI, the Setup tab and the trainer. No torch here: the UI validates as fields are typed."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from engine.recipes import MODEL_NAMES, RECIPES

DATASETS = ("mnist", "fashion-mnist", "kmnist")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "onecycle")
TRAIN_POOL_SIZE = 60_000  # images in every supported dataset's training file


def default_data_dir() -> Path:
    """Where datasets live unless --data-dir says otherwise: $MNIST_TUI_DATA, else a per-user cache folder."""
    if os.environ.get("MNIST_TUI_DATA"):
        return Path(os.environ["MNIST_TUI_DATA"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "mnist-tui" / "data"


def default_runs_dir() -> Path:
    """Where runs are written unless --runs-dir says otherwise: $MNIST_TUI_RUNS, else ./runs."""
    return Path(os.environ.get("MNIST_TUI_RUNS") or "runs").expanduser()


class ConfigError(ValueError):
    """One or more invalid settings; `errors` maps each field name to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "mnist"
    model: str = "cnn"
    device: str = "auto"
    epochs: int = 3
    batch_size: int = 256
    lr: float = 0.003
    optimizer: str = "adam"
    schedule: str = "onecycle"
    weight_decay: float = 0.0
    seed: int = 0
    val_size: int | None = None  # None: one sixth of the training pool (10,000 of 60,000, as the reference)
    limit: int | None = None  # use only the first N training images
    augment: bool = False
    amp: bool = False  # bf16 autocast where the device supports it
    compile: bool = False  # torch.compile the model
    sweep: str | None = None  # the sweep (engine/sweeps.py) that made this run one of its trials
    trial: int | None = None  # its trial number in that sweep

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def with_changes(self, **changes: Any) -> RunConfig:
        return replace(self, **changes)

    @property
    def train_pool(self) -> int:
        return min(self.limit, TRAIN_POOL_SIZE) if self.limit else TRAIN_POOL_SIZE

    def val_count(self, pool: int | None = None) -> int:
        """Validation images taken from a training pool (by default the nominal one)."""
        pool = self.train_pool if pool is None else pool
        return self.val_size if self.val_size is not None else max(1, pool // 6)

    @property
    def train_size(self) -> int:
        return self.train_pool - self.val_count()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def recipe_config(model: str, base: RunConfig | None = None, **overrides: Any) -> RunConfig:
    """The model's default recipe with the user's explicit settings (those not None) on top; `base` gives the
    dataset and device, which no recipe sets (the Setup tab keeps them when another model is picked)."""
    kept = {"dataset": base.dataset, "device": base.device} if base is not None else {}
    recipe = RECIPES[model].settings if model in RECIPES else {}
    explicit = {k: v for k, v in overrides.items() if v is not None}
    return RunConfig.from_dict({**kept, **recipe, **explicit, "model": model})


def field_errors(config: RunConfig) -> dict[str, str]:
    """Every invalid field with a message saying what is wrong and what is allowed."""
    errors: dict[str, str] = {}
    if config.dataset not in DATASETS:
        errors["dataset"] = f"unknown dataset {config.dataset!r}; choose one of {', '.join(DATASETS)}"
    if config.model not in MODEL_NAMES:
        errors["model"] = f"unknown model {config.model!r}; choose one of {', '.join(MODEL_NAMES)}"
    if config.optimizer not in OPTIMIZERS:
        errors["optimizer"] = f"unknown optimizer {config.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
    if config.schedule not in SCHEDULES:
        errors["schedule"] = f"unknown schedule {config.schedule!r}; choose one of {', '.join(SCHEDULES)}"
    if not _is_int(config.epochs) or not 1 <= config.epochs <= 10_000:
        errors["epochs"] = "must be a whole number from 1 to 10000"
    if config.limit is not None and (not _is_int(config.limit) or config.limit < 2):
        errors["limit"] = "must be a whole number of at least 2 (or empty for all images)"
    if config.val_size is not None and (not _is_int(config.val_size) or config.val_size < 1):
        errors["val_size"] = "must be a whole number of at least 1 (or empty for one sixth of the images)"
    elif "limit" not in errors and config.val_count() >= config.train_pool:
        errors["val_size"] = (
            f"must be smaller than the {config.train_pool} training images available (lower it, or raise --limit)"
        )
    if not _is_int(config.batch_size) or config.batch_size < 1:
        errors["batch_size"] = "must be a whole number of at least 1"
    elif "val_size" not in errors and "limit" not in errors and config.batch_size > config.train_size:
        errors["batch_size"] = f"must not exceed the {config.train_size} training images in the split"
    if not _is_number(config.lr) or config.lr <= 0 or config.lr > 10:
        errors["lr"] = "must be a number above 0 and at most 10 (try 0.001 to 0.01)"
    if not _is_number(config.weight_decay) or config.weight_decay < 0:
        errors["weight_decay"] = "must be a number of at least 0"
    if not _is_int(config.seed) or config.seed < 0 or config.seed >= 2**32:
        errors["seed"] = "must be a whole number from 0 to 4294967295"
    if not isinstance(config.device, str) or not config.device.strip():
        errors["device"] = "must name a device: auto, cpu, cuda, cuda:N or mps"
    return errors


def validate(config: RunConfig) -> RunConfig:
    """Return the config unchanged, or raise ConfigError naming every invalid field."""
    errors = field_errors(config)
    if errors:
        raise ConfigError(errors)
    return config
