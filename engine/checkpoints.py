"""Checkpoints: written atomically, always read back with weights_only=True."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.config import RunConfig
from engine.models import build_model
from engine.runs import BEST_CHECKPOINT, LAST_CHECKPOINT, atomic_write

CHECKPOINT_FORMAT = 1


class CheckpointError(RuntimeError):
    pass


def save_checkpoint(
    path: Path,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any,
    epoch: int,
    config: RunConfig,
    best_val_accuracy: float,
    best_epoch: int,
    random_state: dict[str, torch.Tensor],
) -> None:
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,  # epochs completed
        "config": config.to_dict(),
        "best_val_accuracy": best_val_accuracy,
        "best_epoch": best_epoch,
        "random_state": random_state,
    }
    with atomic_write(path, "wb") as f:
        torch.save(state, f)


def random_state(device: torch.device) -> dict[str, torch.Tensor]:
    """Every generator a training step draws from (dropout, augmentation): the CPU's, and the device's own.

    Tensors only, so a checkpoint holding them still loads with weights_only=True.
    """
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    elif device.type == "mps":
        state["mps"] = torch.mps.get_rng_state()
    return state


def restore_random_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
    elif device.type == "mps" and "mps" in state:
        torch.mps.set_rng_state(state["mps"].cpu())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without running any pickled code; anything else is refused with a message."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():
            # A file pickled with another protocol draws a warning before the refusal below: only say the refusal.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"refused to load {path}: it holds objects other than plain weights, which could run code"
            " when loaded. Only load checkpoints written by mnist-tui."
        ) from None
    except (RuntimeError, EOFError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable checkpoint ({error}); it may be truncated") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not an mnist-tui checkpoint (no model weights and config)")
    return state


def load_model(
    run_dir: Path, which: str = "best", device: str | torch.device = "cpu"
) -> tuple[nn.Module, RunConfig, dict[str, Any]]:
    """The model of a run, in eval mode on `device`, with its config and checkpoint metadata."""
    name = BEST_CHECKPOINT if which == "best" else LAST_CHECKPOINT
    path = Path(run_dir) / name
    if which == "best" and not path.is_file():
        path = Path(run_dir) / LAST_CHECKPOINT
    state = load_checkpoint(path, map_location=device)
    config = RunConfig.from_dict(state["config"])
    model = build_model(config.model)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not match model {config.model!r}: {str(error).splitlines()[0]}") from None
    return model.to(device).eval(), config, state
