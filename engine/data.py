"""Datasets through torchvision's classes, held whole on the training device as uint8.

Batches are slices by index of one resident tensor, normalized on the device: no DataLoader, no
per-sample PIL transforms. That is what makes a 2-core CPU and a GPU both fast.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision import datasets

from engine.config import RunConfig
from engine.events import DownloadProgress

DATASET_CLASSES = {
    "mnist": datasets.MNIST,
    "fashion-mnist": datasets.FashionMNIST,
    "kmnist": datasets.KMNIST,
}
CLASS_NAMES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": tuple(datasets.FashionMNIST.classes),
    "kmnist": tuple(datasets.KMNIST.classes),
}
# Mean and standard deviation of the training pixels scaled to [0, 1].
PIXEL_STATS = {"mnist": (0.1307, 0.3081), "fashion-mnist": (0.2860, 0.3530), "kmnist": (0.1918, 0.3483)}

DOWNLOAD_CHUNK_BYTES = 64 * 1024
DOWNLOAD_PROGRESS_INTERVAL = 0.25  # seconds between progress events while a file downloads
DOWNLOAD_TIMEOUT_SECONDS = 30  # a mirror silent this long is given up for the next one
PARTIAL_SUFFIX = ".part"  # a download or extraction in progress: renamed into place only when complete

IMAGES_MAGIC = 2051  # IDX: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # IDX: unsigned bytes, 1 dimension
IMAGE_SIDE = 28


class DataError(RuntimeError):
    """A dataset that cannot be read; the message names the file and how to fix it."""


def raw_folder(dataset: str, data_dir: Path) -> Path:
    return Path(data_dir) / DATASET_CLASSES[dataset].__name__ / "raw"


def expected_files(dataset: str) -> list[str]:
    return [Path(url).name.removesuffix(".gz") for url, _md5 in DATASET_CLASSES[dataset].resources]


def _split_files(dataset: str, data_dir: Path, train: bool) -> tuple[Path, Path]:
    prefix = "train" if train else "t10k"
    folder = raw_folder(dataset, data_dir)
    return folder / f"{prefix}-images-idx3-ubyte", folder / f"{prefix}-labels-idx1-ubyte"


def _read_header(path: Path, magic: int, dims: int) -> tuple[int, ...]:
    """Check an IDX file before torchvision parses it, so a bad file gets a message and not an assert."""
    fix = f"delete {path} so it is fetched again, or replace it with the original file"
    size = path.stat().st_size
    if size == 0:
        raise DataError(f"{path} is empty: {fix}")
    with open(path, "rb") as f:
        head = f.read(4 + 4 * dims)
    if head[:2] == b"\x1f\x8b":
        raise DataError(
            f"{path} is gzip-compressed (or gzip garbage) but should be the uncompressed IDX file:"
            f" run `gunzip -c {path} > {path}.idx && mv {path}.idx {path}`, or {fix}"
        )
    found = int.from_bytes(head[:4], "big") if len(head) >= 4 else None
    if found != magic:
        raise DataError(f"{path} is not an IDX file of this kind (magic number {found}, expected {magic}): {fix}")
    if len(head) < 4 + 4 * dims:
        raise DataError(f"{path} is truncated inside its header: {fix}")
    shape = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    if dims == 3 and shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise DataError(f"{path} holds {shape[1]}x{shape[2]} images, expected 28x28: {fix}")
    expected_size = len(head) + math.prod(shape)
    if size != expected_size:
        raise DataError(
            f"{path} is {'truncated' if size < expected_size else 'too long'}:"
            f" {size} bytes where its header promises {expected_size}: {fix}"
        )
    return shape


def _check_split(images: Path, labels: Path) -> None:
    image_shape = _read_header(images, IMAGES_MAGIC, 3)
    label_shape = _read_header(labels, LABELS_MAGIC, 1)
    if image_shape[0] != label_shape[0]:
        raise DataError(
            f"{images.name} holds {image_shape[0]} images but {labels.name} holds {label_shape[0]} labels"
            f" (in {images.parent}): the two files come from different downloads; replace both"
        )


class DownloadError(RuntimeError):
    """No mirror gave a file; the message names the file and what each mirror did."""


def _fetch(url: str, path: Path, md5: str, on_progress: Callable[[DownloadProgress], None]) -> None:
    """Download `url` to `path`, reporting progress, and keep it only if its MD5 is the published one."""
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    request = urllib.request.Request(url, headers={"User-Agent": "mnist-tui"})
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response, open(partial, "wb") as f:
            total, done = response.length, 0
            started = last_report = time.perf_counter()
            while chunk := response.read(DOWNLOAD_CHUNK_BYTES):
                f.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                now = time.perf_counter()
                if now - last_report >= DOWNLOAD_PROGRESS_INTERVAL:
                    on_progress(DownloadProgress(path.name, done, total, done / (now - started)))
                    last_report = now
            on_progress(DownloadProgress(path.name, done, total, done / max(time.perf_counter() - started, 1e-9)))
        if digest.hexdigest() != md5:
            raise DownloadError(
                f"{path.name} from {url} does not match its published checksum (MD5 {digest.hexdigest()},"
                f" expected {md5}): refused"
            )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _gunzip(archive: Path, target: Path) -> None:
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    try:
        with gzip.open(archive, "rb") as source, open(partial, "wb") as f:
            shutil.copyfileobj(source, f)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    archive.unlink()


def download_dataset(dataset: str, data_dir: Path, on_progress: Callable[[DownloadProgress], None]) -> None:
    """Fetch the dataset's missing IDX files from torchvision's mirrors for it, checking each file's MD5.

    Done here rather than by torchvision, which reports progress only by printing "0.1%0.2%..." to stderr.
    """
    source = DATASET_CLASSES[dataset]
    folder = raw_folder(dataset, data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for filename, md5 in source.resources:
        target = folder / filename.removesuffix(".gz")
        if target.is_file():
            continue
        failures = []
        for mirror in source.mirrors:
            url = f"{mirror}{filename}"
            try:
                _fetch(url, folder / filename, md5, on_progress)
                break
            except DownloadError as error:
                failures.append(str(error))
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:  # offline, refused, cut off
                reason = getattr(error, "reason", None) or getattr(error, "strerror", None) or error
                failures.append(f"{url}: {reason}")
        else:
            raise DownloadError(f"no mirror gave {filename}: {'; '.join(failures)}")
        _gunzip(folder / filename, target)


def _ensure_files(
    dataset: str, data_dir: Path, download_missing: bool, on_progress: Callable[[DownloadProgress], None]
) -> None:
    folder = raw_folder(dataset, data_dir)
    missing = [name for name in expected_files(dataset) if not (folder / name).is_file()]
    if not missing:
        return
    reason = "downloading is turned off"
    if download_missing:
        try:
            download_dataset(dataset, data_dir, on_progress)
            return
        except (DownloadError, OSError) as error:
            reason = f"the download failed ({error})"
    raise DataError(
        f"{dataset} is not in {folder} and {reason}. Expected the uncompressed IDX files "
        f"{', '.join(expected_files(dataset))} in {folder} (missing: {', '.join(missing)}). "
        f"Copy them there, or point --data-dir (or $MNIST_TUI_DATA) at the folder that holds "
        f"{DATASET_CLASSES[dataset].__name__}/raw/."
    )


def load_split(
    dataset: str,
    data_dir: Path,
    train: bool,
    download: bool = True,
    on_download: Callable[[DownloadProgress], None] = lambda progress: None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as (uint8 images N x 28 x 28, int64 labels N) on the CPU; missing files are downloaded first."""
    if dataset not in DATASET_CLASSES:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASET_CLASSES)}")
    data_dir = Path(data_dir).expanduser()
    _ensure_files(dataset, data_dir, download, on_download)
    images_file, labels_file = _split_files(dataset, data_dir, train)
    _check_split(images_file, labels_file)
    key = _cache_key(images_file, labels_file)
    with _SPLITS_LOCK:
        if key not in _SPLITS:
            _SPLITS[key] = _read_split(dataset, data_dir, train, labels_file)
        return _SPLITS[key]


# Splits read in this process, by their files' identity: a sweep's trials (engine/sweeps.py) read each split once.
# Callers copy what they change (index selection, .to(device)); the cached tensors are never written to.
_SPLITS: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor]] = {}
_SPLITS_LOCK = threading.Lock()


def _cache_key(images_file: Path, labels_file: Path) -> tuple[str, ...]:
    """The files' paths, sizes and modification times: a file replaced on disk is read again."""
    key: list[str] = []
    for path in (images_file, labels_file):
        stat = path.stat()
        key += [str(path.resolve()), str(stat.st_size), str(stat.st_mtime_ns)]
    return tuple(key)


def _read_split(dataset: str, data_dir: Path, train: bool, labels_file: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        split = DATASET_CLASSES[dataset](str(data_dir), train=train, download=False)
    except Exception as error:
        raise DataError(
            f"torchvision could not read {dataset} from {raw_folder(dataset, data_dir)}: {error}"
        ) from error
    labels = split.targets.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= len(CLASS_NAMES[dataset])):
        raise DataError(f"{labels_file} holds labels outside 0-9: replace it with the original file")
    return split.data, labels


def split_indices(pool_size: int, val_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded train/validation split of the first `pool_size` training images (same on every device)."""
    order = torch.randperm(pool_size, generator=torch.Generator().manual_seed(seed))
    return order[val_size:].sort().values, order[:val_size].sort().values


def train_val_indices(config: RunConfig, available: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A run's seeded split of its training pool (the first `limit` of the `available` images)."""
    pool = min(config.train_pool, available)
    val_count = config.val_count(pool)
    if val_count >= pool or config.batch_size > pool - val_count:
        raise DataError(
            f"the training file holds {pool} images: too few for {val_count} validation images and batches of"
            f" {config.batch_size} (lower --val-size or --batch-size)"
        )
    return split_indices(pool, val_count, config.seed)


@dataclass
class DeviceSplit:
    """A split resident on the device: uint8 images N x 1 x 28 x 28 and int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_cpu(cls, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> DeviceSplit:
        return cls(images.unsqueeze(1).contiguous().to(device), labels.to(device))

    def __len__(self) -> int:
        return self.labels.shape[0]

    def batches(
        self, batch_size: int, order: torch.Tensor | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self), batch_size):
            if order is None:
                yield self.images[start : start + batch_size], self.labels[start : start + batch_size]
            else:
                index = order[start : start + batch_size]
                yield self.images[index], self.labels[index]


class Normalizer:
    """uint8 pixels to the float input a model expects, on whatever device the pixels are."""

    def __init__(self, dataset: str, channels_last: bool = False):
        self.mean, self.std = PIXEL_STATS[dataset]
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.float().div_(255.0).sub_(self.mean).div_(self.std)
        return x.contiguous(memory_format=self.memory_format)


def augment(x: torch.Tensor, max_degrees: float = 10.0, max_shift: float = 2.0, max_zoom: float = 0.1) -> torch.Tensor:
    """Random small rotations, shifts and zooms of a normalized batch, computed on its device."""
    n = x.shape[0]
    angle = (torch.rand(n, device=x.device) * 2 - 1) * math.radians(max_degrees)
    scale = 1 + (torch.rand(n, device=x.device) * 2 - 1) * max_zoom
    shift = (torch.rand(n, 2, device=x.device) * 2 - 1) * (2 * max_shift / IMAGE_SIDE)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    background = x.amin()  # normalized black, so rotated-in corners match the background
    return F.grid_sample(x - background, grid, align_corners=False, padding_mode="zeros") + background
