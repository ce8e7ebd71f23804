"""A full disk: the run or export ends with a message that says where, how much is free and what to do."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine import runs
from engine.config import RunConfig
from engine.events import RunStarted
from engine.export import ExportError, export_run
from engine.runs import LOCK_FILE, TEMP_SUFFIX, is_disk_full, load_run
from engine.trainer import Trainer
from tui.cli import main

DISK_FULL = "no space left on the disk that holds"
CONFIG = RunConfig(model="mlp", epochs=2, batch_size=32, lr=0.003, schedule="none", device="cpu")


@contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `folder`: a disk that really fills up (root only)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def _fill(folder: Path) -> None:
    """Write a file until the disk is full."""
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC


def _whole_files(run_dir: Path) -> None:
    assert not list(run_dir.glob(f".*{TEMP_SUFFIX}")) and not (run_dir / LOCK_FILE).exists()
    json.loads((run_dir / "config.json").read_text())
    metrics = run_dir / "metrics.jsonl"
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        json.loads(line)


def test_a_run_that_fills_the_disk_says_so(tiny_data: Path, tmp_path: Path, capsys) -> None:
    # mlp's checkpoint (weights and Adam's two moments, ~6 MB) cannot fit in 1 MB; torch.save then raises
    # "[enforce fail at inline_container.cc] unexpected pos", which must not reach the user.
    with small_disk(tmp_path / "disk", "1m") as disk:
        options = ["--model", "mlp", "--epochs", "2", "--batch-size", "32", "--no-download"]
        code = main(["train", *options, "--data-dir", str(tiny_data), "--runs-dir", str(disk)])
        out, err = capsys.readouterr()
        assert code == 1
        assert f"failed: {DISK_FULL} " in err and "MB free there" in err and "--runs-dir" in err, err
        assert "enforce fail" not in out + err and "Traceback" not in out + err
        (run_dir,) = disk.iterdir()
        _whole_files(run_dir)
        run = load_run(run_dir)
        assert run.status == "failed" and DISK_FULL in run.summary["message"]
        assert not (run_dir / "last.pt").exists()


def test_an_export_that_fills_the_disk_says_so_and_leaves_the_run(tiny_data: Path, tmp_path: Path, capsys) -> None:
    finished = Trainer(CONFIG.with_changes(model="linear", epochs=1), runs_dir=tmp_path, data_dir=tiny_data).run()
    with small_disk(tmp_path / "disk", "2m") as disk:
        run_dir = Path(shutil.copytree(finished.run_dir, disk / "runs" / Path(finished.run_dir).name))
        before = {path.name: path.read_bytes() for path in run_dir.iterdir()}
        _fill(disk)
        with pytest.raises(ExportError, match=f"{DISK_FULL} {run_dir} .*the run itself is unchanged"):
            export_run(run_dir)
        assert main(["export", run_dir.name, "--runs-dir", str(run_dir.parent)]) == 1
        assert DISK_FULL in capsys.readouterr().err
        assert {path.name: path.read_bytes() for path in run_dir.iterdir()} == before


@pytest.fixture
def no_space_for(monkeypatch: pytest.MonkeyPatch):
    """Make every write of the files named (through atomic_write) fail with ENOSPC, as a full disk does."""
    real_create, real_fsync = runs._create_temp_file, os.fsync
    temp_names: dict[int, str] = {}
    failing: set[str] = set()

    def create_temp_file(path: Path) -> tuple[int, str]:
        fd, name = real_create(path)
        temp_names[fd] = Path(name).name
        return fd, name

    def fsync(fd: int) -> None:
        if any(temp_names.get(fd, "").startswith(f".{name}.") for name in failing):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(runs, "_create_temp_file", create_temp_file)
    monkeypatch.setattr(os, "fsync", fsync)
    return failing


@pytest.mark.parametrize("file", ["last.pt", "metrics.jsonl", "summary.json"])
def test_no_space_for_a_run_file_says_so(file: str, tiny_data: Path, runs_dir: Path, no_space_for) -> None:
    trainer = Trainer(CONFIG, runs_dir=runs_dir, data_dir=tiny_data)
    trainer.emit = lambda event: isinstance(event, RunStarted) and no_space_for.add(file)  # config.json is written
    finished = trainer.run()
    run_dir = Path(finished.run_dir)
    if file == "summary.json":  # the training itself went through
        assert finished.status == "completed"
        assert f"summary.json could not be written ({DISK_FULL} {run_dir} " in finished.message
    else:
        assert finished.status == "failed" and finished.message.startswith(f"{DISK_FULL} {run_dir} ")
        assert load_run(run_dir).summary["status"] == "failed"
    assert "--runs-dir" in finished.message
    _whole_files(run_dir)


def test_no_space_for_an_export_says_so(tiny_data: Path, runs_dir: Path, no_space_for) -> None:
    run_dir = Path(Trainer(CONFIG.with_changes(epochs=1), runs_dir=runs_dir, data_dir=tiny_data).run().run_dir)
    before = {path.name: path.read_bytes() for path in run_dir.iterdir()}
    no_space_for.add("curves.png")  # the second file of the export
    with pytest.raises(ExportError, match=f"{DISK_FULL} {run_dir} .*the run itself is unchanged"):
        export_run(run_dir)
    assert {name: (run_dir / name).read_bytes() for name in before} == before
    assert not list(run_dir.glob(f".*{TEMP_SUFFIX}"))


def test_a_write_error_with_nothing_left_is_a_full_disk(tmp_path: Path, monkeypatch) -> None:
    # torch.save may report a short write as a bare RuntimeError: the free space then tells.
    short_write = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 3648 vs 3542")
    assert not is_disk_full(short_write, tmp_path) or shutil.disk_usage(tmp_path).free < 1 << 20
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(10**9, 10**9, 0))
    assert is_disk_full(short_write, tmp_path)
    assert not is_disk_full(KeyError("not a write"), tmp_path)
