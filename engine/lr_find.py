"""The learning-rate range test (Leslie Smith's, as fastai's lr_find): train on an exponentially rising learning
rate for a few hundred batches and watch the loss. The suggested rate is where the smoothed loss falls fastest.

Nothing is written: no run folder, no checkpoint.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from engine import data as datamod
from engine.config import RunConfig, validate
from engine.devices import resolve_device
from engine.events import DownloadProgress
from engine.models import CONVOLUTIONAL, build_model
from engine.runs import atomic_write
from engine.trainer import build_optimizer

START_LR, END_LR = 1e-6, 1.0
MAX_BATCHES = 300
SMOOTHING = 0.05  # weight of the newest batch in the smoothed loss (bias-corrected, so the start is not dragged)
DIVERGED_FACTOR = 4.0  # the ramp ends once the smoothed loss is this many times its lowest
SKIP_START = 10  # the first batches' slopes are noise


@dataclass(frozen=True)
class RangeTest:
    rates: tuple[float, ...]
    losses: tuple[float, ...]
    smoothed_losses: tuple[float, ...]
    suggested_index: int

    @property
    def suggested(self) -> float:
        return self.rates[self.suggested_index]

    @property
    def log10_rates(self) -> list[float]:
        return [math.log10(rate) for rate in self.rates]

    @property
    def suggested_log10(self) -> float:
        return math.log10(self.suggested)


def range_test(
    config: RunConfig,
    data_dir: Path,
    *,
    download: bool = True,
    batches: int = MAX_BATCHES,
    start_lr: float = START_LR,
    end_lr: float = END_LR,
    should_stop: Callable[[], bool] = lambda: False,
    on_progress: Callable[[RangeTest], None] | None = None,
    on_download: Callable[[DownloadProgress], None] = lambda progress: None,
) -> RangeTest:
    """Ramp the learning rate from start_lr to end_lr over `batches` batches of the config's model, optimizer and
    batch size (its own lr and schedule are not used); ends early once the loss diverges.

    `on_progress` gets the curve so far after each batch (the dashboard draws it as it grows); `on_download` the
    dataset's download progress on first use."""
    config = validate(config)
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    images, labels = datamod.load_split(
        config.dataset, data_dir, train=True, download=download, on_download=on_download
    )
    train_index, _ = datamod.train_val_indices(config, len(labels))
    train = datamod.DeviceSplit.from_cpu(images[train_index], labels[train_index], device)
    channels_last = config.model in CONVOLUTIONAL and device.type != "mps"
    normalize = datamod.Normalizer(config.dataset, channels_last=channels_last)
    model = build_model(config.model, len(datamod.CLASS_NAMES[config.dataset])).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = build_optimizer(config.with_changes(lr=start_lr), model, device)
    growth = (end_lr / start_lr) ** (1 / max(batches - 1, 1))
    rates: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    average = 0.0
    for pixels, batch_labels in itertools.islice(_endless_batches(train, config.batch_size), batches):
        if should_stop():
            break
        rate = start_lr * growth ** len(rates)
        for group in optimizer.param_groups:
            group["lr"] = rate
        x = normalize(pixels)
        if config.augment:
            x = datamod.augment(x)
        loss = F.cross_entropy(model(x).float(), batch_labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = loss.item()
        if not math.isfinite(value):
            break
        average = (1 - SMOOTHING) * average + SMOOTHING * value
        rates.append(rate)
        losses.append(value)
        smoothed.append(average / (1 - (1 - SMOOTHING) ** len(rates)))
        if on_progress is not None:
            on_progress(RangeTest(tuple(rates), tuple(losses), tuple(smoothed), steepest_descent(rates, smoothed)))
        if smoothed[-1] > DIVERGED_FACTOR * min(smoothed):
            break
    return RangeTest(tuple(rates), tuple(losses), tuple(smoothed), steepest_descent(rates, smoothed))


def _endless_batches(train: datamod.DeviceSplit, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled batches, epoch after epoch: a small training set still gives the ramp all its batches."""
    while True:
        yield from train.batches(batch_size, torch.randperm(len(train), device=train.labels.device))


def steepest_descent(rates: list[float], smoothed: list[float]) -> int:
    """The index where the smoothed loss falls fastest against log learning rate, before its lowest point."""
    if len(rates) < 3:
        return 0
    lowest = min(range(len(smoothed)), key=smoothed.__getitem__)
    start = min(SKIP_START, max(lowest - 2, 0))
    slopes = {
        i: (smoothed[i + 1] - smoothed[i - 1]) / (math.log(rates[i + 1]) - math.log(rates[i - 1]))
        for i in range(max(start, 1), max(lowest, 2))
        if i + 1 < len(rates)
    }
    return min(slopes, key=slopes.__getitem__) if slopes else lowest


def plot_range_test(result: RangeTest, path: Path) -> None:
    """lr_find.png: the loss (raw and smoothed) against the learning rate on a log axis, the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(result.rates, result.losses, alpha=0.3, label="loss")
    axis.plot(result.rates, result.smoothed_losses, label="smoothed loss")
    axis.axvline(result.suggested, color="tab:red", linestyle="--", label=f"suggested {result.suggested:.3g}")
    axis.set_xscale("log")
    axis.set_xlabel("learning rate")
    axis.set_ylabel("training loss")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_write(path, "wb") as f:
        figure.savefig(f, format="png", dpi=100)
    plt.close(figure)
