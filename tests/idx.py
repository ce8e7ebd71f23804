"""Tiny IDX datasets for tests, in torchvision's layout: learnable, deterministic, fast."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "kmnist": "KMNIST"}


def synthetic_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is a bright 4x4 block at one of ten places, plus noise: a linear model learns it.

    One label in ten is then replaced at random, so even a perfect model makes mistakes to inspect.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(count, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, column = 4 + (label // 5) * 12, 2 + (label % 5) * 5
        images[i, row : row + 4, column : column + 4] = 255
    noisy = rng.random(count) < 0.1
    labels[noisy] = rng.integers(0, 10, size=int(noisy.sum()))
    return images, labels.astype(np.uint8)


def write_images(path: Path, images: np.ndarray) -> None:
    path.write_bytes(struct.pack(">IIII", 2051, *images.shape) + images.tobytes())


def write_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


def write_dataset(root: Path, dataset: str = "mnist", train: int = 600, test: int = 200, seed: int = 0) -> Path:
    """Write the four IDX files under root/<Folder>/raw and return root (what --data-dir takes)."""
    raw = Path(root) / FOLDERS[dataset] / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count, offset in (("train", train, 0), ("t10k", test, 1)):
        images, labels = synthetic_digits(count, seed + offset)
        write_images(raw / f"{prefix}-images-idx3-ubyte", images)
        write_labels(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return Path(root)
