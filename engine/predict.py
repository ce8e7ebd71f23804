"""Prediction with a model: a split's predictions, a run's mistakes, and classifying drawings or image files.

Computing only: writing files is engine/export.py's. Everything returned is plain Python (ints, floats, bytes,
the frozen events), so the UI never touches a tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from torch import nn

from engine import data as datamod
from engine.checkpoints import load_model
from engine.config import RunConfig
from engine.events import Evaluated, Split
from engine.metrics import evaluate_predictions
from engine.runs import load_run

FIT_SIDE = 20  # MNIST scaled each digit's bounding box to fit 20x20 ...
SIDE = datamod.IMAGE_SIDE  # ... then centred it by its centre of mass in 28x28
# Large enough for a GPU with these small models; small enough that a batch's activations stay below
# glibc's mmap threshold (engine/__init__.py), where fresh pages would be faulted in every batch.
EVAL_BATCH_SIZE = 512


class InspectError(RuntimeError):
    """An image or drawing that cannot be classified; the message says why and what to do."""


@dataclass
class SplitPredictions:
    loss: float
    predicted: np.ndarray  # class index per image
    confidence: np.ndarray  # softmax probability of the predicted class


@torch.inference_mode()
def predict_split(
    model: nn.Module,
    split: datamod.DeviceSplit,
    normalize: datamod.Normalizer,
    autocast: Callable[[], Any] = nullcontext,
) -> SplitPredictions:
    """Evaluate in large batches, results kept on the device: one wait for a GPU per split, not one per batch."""
    model.eval()
    loss_sum = torch.zeros((), device=split.labels.device)
    predicted, confidence = [], []
    for pixels, labels in split.batches(EVAL_BATCH_SIZE):
        with autocast():
            logits = model(normalize(pixels))
        logits = logits.float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        probabilities, classes = logits.softmax(1).max(1)
        predicted.append(classes)
        confidence.append(probabilities)
    return SplitPredictions(
        loss=loss_sum.item() / max(1, len(split)),
        predicted=torch.cat(predicted).cpu().numpy(),
        confidence=torch.cat(confidence).cpu().numpy(),
    )


@dataclass(frozen=True)
class Mistake:
    index: int  # position of the image in its split
    true: int
    predicted: int
    confidence: float  # softmax probability of the (wrong) predicted class
    pixels: bytes  # 28 x 28 uint8, row by row


@dataclass(frozen=True)
class Inspection:
    """One split of one run as scored by the run's best model: the report and every mistake, worst first."""

    run_dir: str
    split: Split
    class_names: tuple[str, ...]
    evaluated: Evaluated
    mistakes: tuple[Mistake, ...]


def default_split(run_dir: Path) -> Split:
    """The split the run was finally scored on: test when the run got that far, else validation."""
    return "test" if load_run(Path(run_dir)).latest_evaluation("test") else "val"


def load_evaluated_split(
    config: RunConfig, data_dir: Path, split: Split, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels a run was evaluated on; for "val", the same seeded split as its training."""
    if split == "test":
        return datamod.load_split(config.dataset, data_dir, train=False, download=download)
    images, labels = datamod.load_split(config.dataset, data_dir, train=True, download=download)
    _, val_index = datamod.train_val_indices(config, len(labels))
    return images[val_index], labels[val_index]


def inspect_run(run_dir: Path, data_dir: Path, split: Split | None = None, device: str = "cpu") -> Inspection:
    """Score the run's best model on a split and collect its mistakes, most confident first."""
    split = split or default_split(run_dir)
    model, config, state = load_model(run_dir, device=device)
    images, labels = load_evaluated_split(config, data_dir, split)
    class_names = datamod.CLASS_NAMES[config.dataset]
    data = datamod.DeviceSplit.from_cpu(images, labels, torch.device(device))
    predictions = predict_split(model, data, datamod.Normalizer(config.dataset))
    truth = labels.numpy()
    evaluated = evaluate_predictions(
        truth,
        predictions.predicted,
        class_names,
        split=split,
        epoch=int(state.get("best_epoch") or state.get("epoch") or 0),
        loss=predictions.loss,
    )
    wrong = np.flatnonzero(predictions.predicted != truth)
    worst_first = wrong[np.argsort(-predictions.confidence[wrong], kind="stable")]
    pixels = images.numpy()
    mistakes = tuple(
        Mistake(
            index=int(i),
            true=int(truth[i]),
            predicted=int(predictions.predicted[i]),
            confidence=float(predictions.confidence[i]),
            pixels=pixels[i].tobytes(),
        )
        for i in worst_first
    )
    return Inspection(str(Path(run_dir)), split, class_names, evaluated, mistakes)


def _gray255(pixels: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Pixels as float32 in [0, 255]: floats are fractions of full ink, integers are already 0-255."""
    array = np.asarray(pixels)
    image = array.astype(np.float32) * (255.0 if array.dtype.kind == "f" else 1.0)
    return np.clip(image, 0, 255)


def preprocess_drawing(pixels: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """A drawing (ink bright on black) made to look like MNIST: 28 x 28 uint8.

    As MNIST was made: the ink's bounding box is scaled to fit 20 x 20 keeping its aspect ratio, then placed
    so its centre of mass is the centre of the 28 x 28 image. Floats in [0, 1] are taken as fractions of 255.
    Any input size works, so image files go through the same steps.
    """
    image = _gray255(pixels)
    if image.ndim != 2 or 0 in image.shape:
        raise InspectError(f"a drawing must be a 2-D grid of pixels, got shape {image.shape}")
    ink_rows, ink_columns = np.nonzero(image)
    result = np.zeros((SIDE, SIDE), dtype=np.uint8)
    if ink_rows.size == 0:
        return result
    crop = image[ink_rows.min() : ink_rows.max() + 1, ink_columns.min() : ink_columns.max() + 1]
    scale = FIT_SIDE / max(crop.shape)
    height, width = (max(1, round(side * scale)) for side in crop.shape)
    fitted = Image.fromarray(crop.astype(np.uint8)).resize((width, height), Image.Resampling.LANCZOS)
    digit = np.asarray(fitted, dtype=np.float32)
    total = digit.sum()
    if total == 0:  # resampling can erase a faint speck entirely
        return result
    centre_row = (digit.sum(1) * np.arange(height)).sum() / total
    centre_column = (digit.sum(0) * np.arange(width)).sum() / total
    top = int(round((SIDE - 1) / 2 - centre_row))
    left = int(round((SIDE - 1) / 2 - centre_column))
    # Paste with clipping: a lopsided digit's box may reach past the edge once its mass is centred.
    rows = slice(max(0, top), min(SIDE, top + height))
    columns = slice(max(0, left), min(SIDE, left + width))
    result[rows, columns] = digit[rows.start - top : rows.stop - top, columns.start - left : columns.stop - left]
    return result


def prepare_image(pixels: np.ndarray, dataset: str) -> np.ndarray:
    """Any-size light-on-dark grayscale to the model's 28 x 28 input: digit datasets as MNIST, others resized."""
    if dataset == "fashion-mnist":  # garments fill their frame; there is no ink box to centre
        fitted = Image.fromarray(_gray255(pixels).astype(np.uint8)).resize((SIDE, SIDE), Image.Resampling.LANCZOS)
        return np.asarray(fitted, dtype=np.uint8)
    return preprocess_drawing(pixels)


@torch.inference_mode()
def classify(model: nn.Module, normalize: datamod.Normalizer, pixels: np.ndarray) -> tuple[float, ...]:
    """Class probabilities for one preprocessed 28 x 28 uint8 image."""
    device = next(model.parameters()).device
    batch = torch.as_tensor(np.ascontiguousarray(pixels, dtype=np.uint8)).view(1, 1, SIDE, SIDE).to(device)
    return tuple(float(p) for p in model(normalize(batch)).float().softmax(1)[0].tolist())


class Predictor:
    """A run's best model kept loaded, for classifying drawings as they change."""

    def __init__(self, run_dir: Path, device: str = "cpu"):
        self.run_dir = Path(run_dir)
        self.model, self.config, _ = load_model(self.run_dir, device=device)
        self.normalize = datamod.Normalizer(self.config.dataset)
        self.class_names = datamod.CLASS_NAMES[self.config.dataset]

    def predict(self, pixels: Sequence[Sequence[float]] | np.ndarray) -> tuple[float, ...]:
        """Probabilities for a raw drawing (light ink on black), preprocessed as the dataset was."""
        return classify(self.model, self.normalize, prepare_image(np.asarray(pixels), self.config.dataset))


def read_image(path: Path) -> np.ndarray:
    """An image file as light-on-dark grayscale uint8: dark-on-light images (ink on paper) are inverted."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            if image.mode in ("RGBA", "LA") or "transparency" in image.info:
                # Transparent pixels are background: flatten onto white, as a viewer shows them.
                image = image.convert("RGBA")
                background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(background, image)
            gray = np.asarray(image.convert("L"), dtype=np.uint8)
    except FileNotFoundError:
        raise InspectError(f"no image file at {path}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as error:
        raise InspectError(f"{path} is not an image Pillow can read ({error}); give a PNG or JPEG") from None
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 127:  # the background (the border) is light: ink is dark
        gray = 255 - gray
    return gray


IMAGE_SUFFIXES = frozenset(Image.registered_extensions())  # the files Pillow opens: ".png", ".jpg", ...


@dataclass(frozen=True)
class ImagePrediction:
    """One image file as classified; `error` instead of probabilities when it could not be."""

    path: Path
    probabilities: tuple[float, ...] | None
    error: str | None = None


def images_in(folder: Path) -> list[Path]:
    """The image files directly inside a folder, by name (other files, such as notes, are left out)."""
    return sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def predict_images(
    run_dir: Path, paths: Sequence[Path], device: str = "cpu"
) -> tuple[tuple[str, ...], list[ImagePrediction]]:
    """(class names, a prediction per image) for image files and the images in folders, in the order given.

    The model is loaded once. A file that cannot be read (or a folder with no image) is a result with its
    error, and the other images are still classified.
    """
    predictor = Predictor(run_dir, device)
    results = []
    for path in map(Path, paths):
        files = images_in(path) if path.is_dir() else [path]
        if not files:
            results.append(ImagePrediction(path, None, f"no image files in the folder {path}"))
        for file in files:
            try:
                results.append(ImagePrediction(file, predictor.predict(read_image(file))))
            except InspectError as error:
                results.append(ImagePrediction(file, None, str(error)))
    return predictor.class_names, results
