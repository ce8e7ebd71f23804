import gzip
import shutil

import pytest
import torch
from idx import write_dataset

from engine.data import DataError, DeviceSplit, Normalizer, augment, expected_files, load_split, split_indices


def test_loads_both_splits_as_uint8_through_torchvision(tiny_data):
    images, labels = load_split("mnist", tiny_data, train=True, download=False)
    assert images.shape == (600, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (600,) and labels.dtype == torch.int64
    test_images, _ = load_split("mnist", tiny_data, train=False, download=False)
    assert test_images.shape == (200, 28, 28)


def test_other_datasets_use_the_same_code_path(tmp_path):
    root = write_dataset(tmp_path, dataset="fashion-mnist", train=50, test=20)
    images, labels = load_split("fashion-mnist", root, train=False, download=False)
    assert images.shape == (20, 28, 28) and labels.max() < 10


def test_offline_error_names_the_folder_and_the_files(tmp_path):
    with pytest.raises(DataError) as raised:
        load_split("mnist", tmp_path / "nowhere", train=True, download=False)
    message = str(raised.value)
    assert str(tmp_path / "nowhere" / "MNIST" / "raw") in message
    for name in expected_files("mnist"):
        assert name in message
    assert "--data-dir" in message


def test_failed_download_is_reported_not_raised_raw(tmp_path, monkeypatch):
    import urllib.error
    import urllib.request

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(DataError, match="download failed.*train-images-idx3-ubyte.gz: network unreachable"):
        load_split("mnist", tmp_path, train=True, download=True)


@pytest.fixture
def data_copy(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root, root / "MNIST" / "raw"


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda data: b"\x00\x00\x09\x99" + data[4:], "magic number"),
        (lambda data: data[: len(data) // 2], "truncated"),
        (lambda data: b"", "empty"),
        (lambda data: gzip.compress(b"garbage"), "gzip"),
    ],
)
def test_a_corrupt_file_is_named_with_what_is_wrong(data_copy, damage, expected):
    _root, raw = data_copy
    path = raw / "train-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError) as raised:
        load_split("mnist", data_copy[0], train=True, download=False)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_images_and_labels_that_disagree_in_count(data_copy, tmp_path):
    root, raw = data_copy
    other = write_dataset(tmp_path / "other", train=100, test=10)
    shutil.copy(other / "MNIST" / "raw" / "train-labels-idx1-ubyte", raw / "train-labels-idx1-ubyte")
    with pytest.raises(DataError, match="600 images but train-labels-idx1-ubyte holds 100 labels"):
        load_split("mnist", root, train=True, download=False)


def test_split_is_disjoint_complete_and_reproducible():
    train, val = split_indices(600, 100, seed=7)
    assert len(train) == 500 and len(val) == 100
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(600))
    again_train, again_val = split_indices(600, 100, seed=7)
    assert torch.equal(train, again_train) and torch.equal(val, again_val)
    assert not torch.equal(val, split_indices(600, 100, seed=8)[1])


def test_batches_cover_the_split_once_in_the_given_order():
    split = DeviceSplit.from_cpu(
        torch.arange(10, dtype=torch.uint8).repeat_interleave(784).view(10, 28, 28),
        torch.arange(10),
        torch.device("cpu"),
    )
    order = torch.tensor([3, 1, 4, 0, 9, 2, 6, 5, 8, 7])
    batches = list(split.batches(4, order))
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    assert torch.cat([labels for _, labels in batches]).tolist() == order.tolist()
    assert batches[0][0].shape == (4, 1, 28, 28)


def test_normalizer_and_augment_keep_shape_and_scale():
    pixels = torch.zeros(5, 1, 28, 28, dtype=torch.uint8)
    pixels[:, :, 10:18, 10:18] = 255
    x = Normalizer("mnist")(pixels)
    assert x.dtype == torch.float32
    assert x.min().item() == pytest.approx(-0.1307 / 0.3081, rel=1e-4)
    moved = augment(x)
    assert moved.shape == x.shape
    assert moved.min().item() == pytest.approx(x.min().item(), abs=1e-4)
