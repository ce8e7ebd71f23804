"""The models as PyTorch modules, built by name. Their names, descriptions and recipes are in engine/recipes.py
(no torch there)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from engine.recipes import RECIPES

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


# The builders, by the names in engine/recipes.py.
MODELS: dict[str, Callable[[int], nn.Module]] = {"linear": Linear, "mlp": MLP, "cnn": CNN, "best": BestCNN}
CONVOLUTIONAL = frozenset({"cnn", "best"})  # trained in channels_last memory format


@dataclass(frozen=True)
class ModelInfo:
    """What the Setup tab's picker shows: the recipe's description and the built module's parameter count."""

    name: str
    description: str
    parameters: int


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_model(name: str, classes: int = 10) -> nn.Module:
    return MODELS[name](classes)


def describe_models() -> list[ModelInfo]:
    return [ModelInfo(name, RECIPES[name].description, count_parameters(build_model(name))) for name in MODELS]
