"""The model registry: adding a model is one entry in MODELS.

Each entry carries its default recipe (epochs, batch size, optimizer, ...), which a run starts from
before the user's own settings are applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from engine.config import RunConfig

IMAGE_PIXELS = 28 * 28


class Linear(nn.Module):
    """Logistic regression: one linear layer from pixels to class scores."""

    def __init__(self, classes: int = 10):
        super().__init__()
        self.fc = nn.Linear(IMAGE_PIXELS, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class MLP(nn.Module):
    """The reference notebook's 'Linear model': stacked nn.Linear layers with ReLU."""

    def __init__(self, classes: int = 10, hidden: tuple[int, ...] = (512, 256)):
        super().__init__()
        layers: list[nn.Module] = []
        width = IMAGE_PIXELS
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True), nn.Dropout(0.1)]
            width = size
        self.body = nn.Sequential(*layers, nn.Linear(width, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


class CNN(nn.Module):
    """Two small conv blocks and one hidden layer (tuomaso/train_mnist_fast's net): 99% on MNIST in two epochs."""

    def __init__(self, classes: int = 10):
        super().__init__()
        # Pooling before ReLU gives the same result (both are monotonic) and runs ReLU on 4x fewer values.
        self.features = nn.Sequential(
            nn.Conv2d(1, 24, 5),
            nn.MaxPool2d(2),  # 28 -> 24 -> 12
            nn.ReLU(inplace=True),
            nn.Conv2d(24, 32, 3),
            nn.MaxPool2d(2),  # 12 -> 10 -> 5
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 5 * 5, 256), nn.ReLU(inplace=True), nn.Linear(256, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _conv_block(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class BestCNN(nn.Module):
    """Three batch-normed conv blocks, each halving the image, for use with augmentation: 99.5% on MNIST.

    Pooling after every block keeps the wide layers on small images: about 6x the compute of `CNN`,
    a quarter of a five-conv net at full resolution, for the same accuracy on MNIST.
    """

    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            _conv_block(1, 32, kernel=5),
            nn.MaxPool2d(2),  # 28 -> 14
            _conv_block(32, 64),
            nn.MaxPool2d(2),  # 14 -> 7
            _conv_block(64, 128),
            nn.MaxPool2d(2),  # 7 -> 3
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.25), nn.Linear(128 * 3 * 3, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build: Callable[[int], nn.Module]
    recipe: dict[str, Any] = field(default_factory=dict)  # RunConfig fields this model trains best with
    convolutional: bool = False  # uses channels_last memory format


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "linear",
            "Logistic regression: one nn.Linear (784 -> 10)",
            Linear,
            dict(epochs=5, batch_size=256, lr=0.01, optimizer="adam", schedule="onecycle"),
        ),
        ModelSpec(
            "mlp",
            "Two hidden nn.Linear layers (512, 256) with ReLU and dropout",
            MLP,
            dict(epochs=8, batch_size=256, lr=0.003, optimizer="adam", schedule="onecycle"),
        ),
        ModelSpec(
            "cnn",
            "Compact 2-conv CNN: fast, 99% test accuracy in two passes",
            CNN,
            dict(epochs=2, batch_size=256, lr=0.01, optimizer="adam", schedule="onecycle"),
            convolutional=True,
        ),
        ModelSpec(
            "best",
            "3-block batch-norm CNN with on-device augmentation: 99.5%",
            BestCNN,
            dict(
                epochs=10,
                batch_size=256,
                lr=0.005,
                optimizer="adamw",
                schedule="onecycle",
                weight_decay=5e-4,
                augment=True,
            ),
            convolutional=True,
        ),
    )
}
MODEL_NAMES = tuple(MODELS)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    parameters: int
    recipe: dict[str, Any]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_model(name: str, classes: int = 10) -> nn.Module:
    return MODELS[name].build(classes)


def describe_models() -> list[ModelInfo]:
    """What a picker shows: name, one-line description, parameter count, default recipe."""
    return [ModelInfo(s.name, s.description, count_parameters(s.build(10)), dict(s.recipe)) for s in MODELS.values()]


def recipe_config(model: str, **overrides: Any) -> RunConfig:
    """The model's default recipe with the user's explicit settings (those not None) on top."""
    recipe = MODELS[model].recipe if model in MODELS else {}
    explicit = {k: v for k, v in overrides.items() if v is not None}
    return RunConfig.from_dict({**recipe, **explicit, "model": model})
