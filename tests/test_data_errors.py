"""A broken or missing data folder gets a message naming the file, what is wrong and how to fix it."""

from __future__ import annotations

import gzip
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from engine.data import DataError, load_split
from tui.cli import main

RAW = Path("MNIST") / "raw"
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"


@pytest.fixture
def data_copy(tiny_data: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny dataset that a test may break."""
    return Path(shutil.copytree(tiny_data, tmp_path / "data"))


def _wrong_magic(path: Path) -> None:
    path.write_bytes((1234).to_bytes(4, "big") + path.read_bytes()[4:])


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _gzip_garbage(path: Path) -> None:
    path.write_bytes(gzip.compress(path.read_bytes())[:500])


def _fewer_labels(path: Path) -> None:
    labels = path.parent / TRAIN_LABELS
    body = labels.read_bytes()[8:-1]
    labels.write_bytes((2049).to_bytes(4, "big") + len(body).to_bytes(4, "big") + body)


# (how to break train-images, what the message must say)
BROKEN_FILES = {
    "wrong magic": (_wrong_magic, "magic number 1234, expected 2051"),
    "truncated": (_truncated, "is truncated"),
    "empty": (_empty, "is empty"),
    "gzip garbage": (_gzip_garbage, "gzip"),
    "count mismatch": (_fewer_labels, "holds 600 images but train-labels-idx1-ubyte holds 599 labels"),
}


@pytest.mark.parametrize("case", BROKEN_FILES)
def test_broken_idx_file_is_named_with_a_fix(data_copy: Path, case: str) -> None:
    breaks, says = BROKEN_FILES[case]
    breaks(data_copy / RAW / TRAIN_IMAGES)
    with pytest.raises(DataError) as caught:
        load_split("mnist", data_copy, train=True, download=False)
    message = str(caught.value)
    assert TRAIN_IMAGES in message and says in message
    assert "delete" in message or "replace" in message  # what to do about it


def _train_cli(data_dir: Path, runs_dir: Path, *extra: str) -> list[str]:
    return ["train", "--data-dir", str(data_dir), "--runs-dir", str(runs_dir), "--model", "linear", "--epochs", "1",
            *extra]  # fmt: skip


@pytest.mark.parametrize("case", BROKEN_FILES)
def test_cli_reports_broken_file_without_traceback(data_copy: Path, runs_dir: Path, case: str, capsys) -> None:
    breaks, says = BROKEN_FILES[case]
    breaks(data_copy / RAW / TRAIN_IMAGES)
    assert main(_train_cli(data_copy, runs_dir, "--no-download")) == 1
    out, err = capsys.readouterr()
    assert TRAIN_IMAGES in err and says in err
    assert "Traceback" not in out + err
    assert not any(runs_dir.iterdir()), "no run folder for a run that never started"


def test_cli_debug_shows_the_traceback(data_copy: Path, runs_dir: Path, capsys) -> None:
    _empty(data_copy / RAW / TRAIN_IMAGES)
    assert main(_train_cli(data_copy, runs_dir, "--no-download", "--debug")) == 1
    assert "Traceback" in capsys.readouterr().err


def test_missing_folder_without_download_lists_expected_files(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_split("mnist", tmp_path / "nowhere", train=True, download=False)
    message = str(caught.value)
    assert str(tmp_path / "nowhere" / RAW) in message
    assert "downloading is turned off" in message
    assert TRAIN_IMAGES in message and "t10k-labels-idx1-ubyte" in message and "--data-dir" in message


def _network_off(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every download fails as it does with no network; returns the URLs tried."""
    attempts: list[str] = []

    def unreachable(request: urllib.request.Request, timeout: float) -> None:
        attempts.append(request.full_url)
        raise urllib.error.URLError(OSError(101, "Network is unreachable"))

    monkeypatch.setattr(urllib.request, "urlopen", unreachable)
    return attempts


def test_missing_folder_with_download_failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = _network_off(monkeypatch)
    with pytest.raises(DataError) as caught:
        load_split("mnist", tmp_path / "nowhere", train=True, download=True)
    assert attempts, "the download was tried"
    message = str(caught.value)
    assert "the download failed" in message and "Network is unreachable" in message
    assert str(tmp_path / "nowhere" / RAW) in message and "--data-dir" in message


def test_cli_missing_folder_network_off(tmp_path: Path, runs_dir: Path, monkeypatch, capsys) -> None:
    _network_off(monkeypatch)
    assert main(_train_cli(tmp_path / "nowhere", runs_dir)) == 1
    out, err = capsys.readouterr()
    assert "the download failed" in err and "--data-dir" in err
    assert "Traceback" not in out + err


def test_cli_missing_folder_no_download(tmp_path: Path, runs_dir: Path, monkeypatch, capsys) -> None:
    attempts = _network_off(monkeypatch)
    assert main(_train_cli(tmp_path / "nowhere", runs_dir, "--no-download")) == 1
    err = capsys.readouterr().err
    assert not attempts, "--no-download never touches the network"
    assert "downloading is turned off" in err and TRAIN_IMAGES in err
