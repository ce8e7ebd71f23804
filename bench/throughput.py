"""Training throughput, images per second: this engine's Trainer against the usual tutorial loop, same model.

The reference is what the PyTorch MNIST tutorials write: a torchvision dataset with per-sample
ToTensor + Normalize transforms, a DataLoader (no workers on a CPU, as pytorch/examples does), and a
train step that reads the loss back every ten batches to log it. Both measure steady-state batches
only: a warm-up second first, then a fixed number of seconds; epoch-end work (validation,
checkpoints) is not counted on either side.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from engine.config import recipe_config
from engine.data import PIXEL_STATS
from engine.events import BatchProgress, Event
from engine.models import build_model
from engine.trainer import Trainer

REFERENCE_LOG_INTERVAL = 10  # pytorch/examples mnist prints loss.item() every 10 batches


@dataclass(frozen=True)
class Tick:
    """One BatchProgress as the bench saw it."""

    arrived: float  # the bench's clock when the event came
    images: int  # images trained since the engine's previous tick
    seconds: float  # how long they took, by the engine's clock (ticks never straddle an epoch end)


def steady_images_per_second(ticks: list[Tick], skip_seconds: float = 0.0) -> tuple[int, float]:
    """(images, seconds) summed over the ticks that came `skip_seconds` or more after the first one."""
    if not ticks:
        return 0, 0.0
    counted = [tick for tick in ticks if tick.arrived >= ticks[0].arrived + skip_seconds]
    return sum(tick.images for tick in counted), sum(tick.seconds for tick in counted)


def engine_images_per_second(
    model: str, data_dir: Path, seconds: float, warmup_seconds: float = 1.0, **settings: object
) -> float:
    """Train `model` with its default recipe (and `settings` on top) in the real Trainer; time steady batches."""
    config = recipe_config(model, **{"epochs": 1000, **settings})
    ticks: list[Tick] = []
    done_in_epoch = {"epoch": 0, "images": 0}

    def on_event(event: Event) -> None:
        if not isinstance(event, BatchProgress):
            return
        images_done = min(event.step * config.batch_size, config.train_size)
        if event.epoch != done_in_epoch["epoch"]:
            done_in_epoch.update(epoch=event.epoch, images=0)
        images = images_done - done_in_epoch["images"]
        done_in_epoch["images"] = images_done
        ticks.append(Tick(time.perf_counter(), images, images / event.images_per_second))
        if steady_images_per_second(ticks, warmup_seconds)[1] >= seconds:
            trainer.stop()

    with tempfile.TemporaryDirectory(prefix="mnist-tui-bench-") as runs_dir:
        trainer = Trainer(config, runs_dir=Path(runs_dir), data_dir=data_dir, emit=on_event, download=False)
        finished = trainer.run()
    if finished.status != "stopped":
        raise RuntimeError(f"the engine run for {model} ended {finished.status}: {finished.message}")
    images, elapsed = steady_images_per_second(ticks, warmup_seconds)
    return images / elapsed


def reference_images_per_second(
    model: str,
    data_dir: Path,
    seconds: float,
    batch_size: int | None = None,
    warmup_seconds: float = 1.0,
    device: str = "cpu",
) -> float:
    """The tutorial loop on the same model and optimizer; `batch_size` defaults to the model's recipe."""
    config = recipe_config(model)
    batch_size = batch_size or config.batch_size
    mean, std = PIXEL_STATS["mnist"]
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])
    dataset = datasets.MNIST(str(data_dir), train=True, download=False, transform=transform)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=0)
    net = build_model(model).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    net.train()
    loop_start = time.perf_counter()
    images, started = 0, None
    while True:
        for batch, (data, target) in enumerate(loader):
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(net(data), target)
            loss.backward()
            optimizer.step()
            if batch % REFERENCE_LOG_INTERVAL == 0:
                loss.item()
            now = time.perf_counter()
            if started is None:
                if now - loop_start >= warmup_seconds:
                    started = now
                continue
            images += target.shape[0]
            if now - started >= seconds:
                return images / (now - started)
