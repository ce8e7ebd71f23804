"""A tiny trained run for inspection tests: `linear` for two epochs on the tiny IDX data (a few seconds)."""

from __future__ import annotations

from pathlib import Path

from engine.config import RunConfig
from engine.trainer import Trainer


def train_tiny_run(runs_dir: Path, data_dir: Path, model: str = "linear", **settings: object) -> Path:
    config = RunConfig(**{"model": model, "device": "cpu", "epochs": 2, "batch_size": 64, "lr": 0.01, **settings})
    finished = Trainer(config, runs_dir=runs_dir, data_dir=data_dir, download=False).run()
    assert finished.status == "completed", finished.message
    return Path(finished.run_dir)
