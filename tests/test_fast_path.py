"""The trainer's optional speed paths fall back to plain float32 eager training with a Notice, never a failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine import trainer as trainer_module
from engine.config import RunConfig
from engine.events import Event, Notice
from engine.trainer import Trainer


def run(config: RunConfig, data_dir: Path, runs_dir: Path) -> tuple[str, list[str]]:
    events: list[Event] = []
    finished = Trainer(config, runs_dir=runs_dir, data_dir=data_dir, emit=events.append, download=False).run()
    return finished.status, [event.message for event in events if isinstance(event, Notice)]


def test_amp_on_a_cpu_without_native_bf16_trains_in_float32(
    tiny_data: Path, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer_module, "cpu_has_fast_bf16", lambda: False)
    config = RunConfig(model="linear", device="cpu", epochs=1, batch_size=64, amp=True)
    status, notices = run(config, tiny_data, runs_dir)
    assert status == "completed"
    assert any("no native bf16" in message for message in notices)


def test_a_compile_that_fails_at_the_first_batch_falls_back_to_eager(
    tiny_data: Path, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_compile(model: torch.nn.Module) -> object:
        def forward(x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("no C++ compiler found\nmore details")

        return forward

    monkeypatch.setattr(torch, "compile", broken_compile)
    config = RunConfig(model="cnn", device="cpu", epochs=1, batch_size=64, compile=True)
    status, notices = run(config, tiny_data, runs_dir)
    assert status == "completed"
    assert notices == ["torch.compile failed (no C++ compiler found); training without it"]


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_every_optimizer_trains_with_fused_kernels_on_cpu(tiny_data: Path, runs_dir: Path, optimizer: str) -> None:
    config = RunConfig(model="linear", device="cpu", epochs=1, batch_size=64, optimizer=optimizer)
    trainer = Trainer(config, runs_dir=runs_dir, data_dir=tiny_data, emit=lambda event: None, download=False)
    assert trainer.run().status == "completed"
    assert trainer.state.optimizer.param_groups[0]["fused"] is True
