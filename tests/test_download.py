"""First use: the dataset downloads with progress, from a local server standing in for torchvision's mirrors."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from torchvision import datasets

import engine.data
from engine.config import RunConfig
from engine.data import DataError, load_split
from engine.events import DownloadProgress, RunFinished, RunStarted
from engine.trainer import Trainer
from tui.app import MnistTuiApp
from tui.cli import main
from tui.widgets.progress import ProgressPanel

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


class Mirror:
    """A folder of .gz files served over HTTP on 127.0.0.1, and MNIST's mirror list pointed at it."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        resources = [(f"{name}.gz", hashlib.md5((folder / f"{name}.gz").read_bytes()).hexdigest()) for name in FILES]
        monkeypatch.setattr(datasets.MNIST, "mirrors", [self.url])
        monkeypatch.setattr(datasets.MNIST, "resources", resources)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    served = tmp_path / "served"
    served.mkdir()
    for name in FILES:
        with open(tiny_data / "MNIST" / "raw" / name, "rb") as source, gzip.open(served / f"{name}.gz", "wb") as f:
            shutil.copyfileobj(source, f)
    monkeypatch.setattr(engine.data, "DOWNLOAD_PROGRESS_INTERVAL", 0.0)  # an event per chunk, however fast
    mirror = Mirror(served, monkeypatch)
    yield mirror
    mirror.close()


def test_download_reports_progress_and_checks_each_file(mirror: Mirror, tiny_data: Path, tmp_path: Path) -> None:
    events: list[DownloadProgress] = []
    images, labels = load_split("mnist", tmp_path / "data", train=True, on_download=events.append)
    assert images.shape == (600, 28, 28) and labels.shape == (600,)

    train_images = [e for e in events if e.file == "train-images-idx3-ubyte.gz"]
    size = (mirror.folder / "train-images-idx3-ubyte.gz").stat().st_size
    assert len(train_images) > 1 and all(e.total_bytes == size and e.bytes_per_second > 0 for e in train_images)
    assert [e.done_bytes for e in train_images] == sorted(e.done_bytes for e in train_images)
    assert train_images[-1].done_bytes == size
    assert {e.file for e in events} == {f"{name}.gz" for name in FILES}  # all four, each once complete
    raw = tmp_path / "data" / "MNIST" / "raw"
    assert sorted(path.name for path in raw.iterdir()) == sorted(FILES)  # extracted; no .gz or .part left
    for name in FILES:
        assert (raw / name).read_bytes() == (tiny_data / "MNIST" / "raw" / name).read_bytes()


def test_a_file_whose_checksum_does_not_match_is_refused(mirror: Mirror, tmp_path: Path) -> None:
    other = mirror.folder / "train-images-idx3-ubyte.gz"
    other.write_bytes(gzip.compress(gzip.decompress(other.read_bytes())[:-1] + b"\x01"))  # other gz bytes
    with pytest.raises(DataError) as caught:
        load_split("mnist", tmp_path / "data", train=True)
    message = str(caught.value)
    assert "the download failed (no mirror gave train-images-idx3-ubyte.gz:" in message
    assert f"train-images-idx3-ubyte.gz from {mirror.url}train-images-idx3-ubyte.gz does not match its" in message
    assert "published checksum" in message and "refused" in message and "--data-dir" in message
    assert not list((tmp_path / "data" / "MNIST" / "raw").glob("train-images*"))  # nothing kept of it


def test_an_unreachable_mirror_is_named(mirror: Mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror.close()  # the port now refuses connections, as with no network
    with pytest.raises(DataError, match=f"the download failed .*{mirror.url}train-images-idx3-ubyte.gz: .*refused"):
        load_split("mnist", tmp_path / "data", train=True)


def test_a_run_reports_the_download_before_it_starts(mirror: Mirror, tmp_path: Path) -> None:
    events: list = []
    config = RunConfig(model="linear", epochs=1, batch_size=64, device="cpu")
    finished = Trainer(config, runs_dir=tmp_path / "runs", data_dir=tmp_path / "data", emit=events.append).run()
    assert finished.status == "completed"
    started = next(i for i, e in enumerate(events) if isinstance(e, RunStarted))
    downloads = [i for i, e in enumerate(events) if isinstance(e, DownloadProgress)]
    assert downloads and max(downloads) < started


def test_cli_shows_the_download_in_its_progress_bar(mirror: Mirror, tmp_path: Path, capfd, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    options = ["--model", "linear", "--epochs", "1", "--batch-size", "64", "--device", "cpu"]
    assert main(["train", *options, "--data-dir", str(tmp_path / "data"), "--runs-dir", str(tmp_path / "runs")]) == 0
    out, err = capfd.readouterr()
    size = (mirror.folder / "train-images-idx3-ubyte.gz").stat().st_size
    assert "train-images-idx3-ubyte.gz" in out and f"{size / 1000:.1f} kB of {size / 1000:.1f} kB" in out
    assert "0.1%" not in out + err and "%0." not in out + err  # torchvision's own printing stays silent


def test_dashboard_shows_the_download_in_its_progress_panel(mirror: Mirror, tmp_path: Path, monkeypatch) -> None:
    shown: list[str] = []
    show_download = ProgressPanel.show_download

    def record(panel: ProgressPanel, progress: DownloadProgress) -> None:
        show_download(panel, progress)
        shown.append(panel.message)

    monkeypatch.setattr(ProgressPanel, "show_download", record)

    async def scenario() -> None:
        finished = asyncio.Event()  # the message hook runs on the app's loop, which is this one

        def hook(message) -> None:
            if isinstance(getattr(message, "event", None), RunFinished):
                finished.set()

        preset = dict(model="linear", epochs=1, batch_size=64, device="cpu")
        app = MnistTuiApp(data_dir=tmp_path / "data", runs_dir=tmp_path / "runs", preset=preset, start=True)
        async with app.run_test(size=(100, 30), message_hook=hook):
            await asyncio.wait_for(finished.wait(), 120)

    asyncio.run(scenario())
    size = (mirror.folder / "train-images-idx3-ubyte.gz").stat().st_size
    assert f"downloading train-images-idx3-ubyte.gz: {size / 1000:.1f} kB of {size / 1000:.1f} kB" in " ".join(shown)


def test_progress_panel_shows_the_download() -> None:
    class Host(App):
        def compose(self) -> ComposeResult:
            yield ProgressPanel()

    shown: list[list[str]] = []

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(100, 4)) as pilot:
            panel = app.query_one(ProgressPanel)
            for total in (9_912_422, None):
                panel.show_download(DownloadProgress("train-images-idx3-ubyte.gz", 2_478_105, total, 1_250_000.0))
                await pilot.pause()
                shown.append([strip.text for strip in panel.render_lines(Region(0, 0, panel.size.width, 2))])

    asyncio.run(scenario())
    (figures, bar), (unknown_total, _) = shown
    assert figures.rstrip() == "downloading train-images-idx3-ubyte.gz: 2.5 MB of 9.9 MB, 1.2 MB/s"
    assert bar.rstrip().endswith("25%")
    assert unknown_total.rstrip() == "downloading train-images-idx3-ubyte.gz: 2.5 MB, 1.2 MB/s"
