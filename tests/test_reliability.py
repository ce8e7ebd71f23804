"""Bad settings, missing devices, out of memory, divergence, untrusted files, unwritable disks, reproducibility."""

from __future__ import annotations

import builtins
import errno
import json
import math
import os
import pickle
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine import devices
from engine.checkpoints import CheckpointError, load_checkpoint, load_model
from engine.config import RunConfig, field_errors
from engine.devices import DeviceError, resolve_device
from engine.events import RunFinished
from engine.export import ExportError, export_run
from engine.models import Linear
from engine.runs import RunsError, check_writable, find_run, load_run, write_json
from engine.trainer import Trainer
from tui.cli import main

TINY = dict(model="linear", epochs=2, batch_size=32, lr=0.01, schedule="none", device="cpu")


def _run(tiny_data: Path, runs_dir: Path, **changes) -> tuple[RunFinished, list]:
    events: list = []
    trainer = Trainer(RunConfig(**{**TINY, **changes}), runs_dir=runs_dir, data_dir=tiny_data, emit=events.append)
    return trainer.run(), events


# --- hyperparameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -2}, "epochs"),
        ({"epochs": "3"}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 999_999, "limit": 1000}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"lr": -0.1}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"lr": math.inf}, "lr"),
        ({"lr": "0.01"}, "lr"),
        ({"model": "nope"}, "model"),
        ({"dataset": "nope"}, "dataset"),
        ({"device": " "}, "device"),
    ],
)
def test_field_errors_flag_each_bad_value(changes: dict, field: str) -> None:
    errors = field_errors(RunConfig(**{**TINY, **changes}))
    assert list(errors) == [field]
    assert errors[field]  # a message the UI shows beside the field


def test_field_errors_accept_the_tiny_config() -> None:
    assert field_errors(RunConfig(**TINY)) == {}


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--lr", "nan"], "--lr: must be a number above 0 and at most 10"),
        (["--lr", "0"], "--lr: must be a number above 0 and at most 10"),
        (["--lr", "-1"], "--lr: must be a number above 0 and at most 10"),
        (["--lr", "fast"], "--lr: 'fast' is not a number"),
        (["--epochs", "0"], "--epochs: must be a whole number from 1 to 10000"),
        (["--epochs", "-1"], "--epochs: must be a whole number from 1 to 10000"),
        (["--epochs", "two"], "--epochs: 'two' is not a whole number"),
        (["--batch-size", "0"], "--batch-size: must be a whole number of at least 1"),
        (["--seed", "-3"], "--seed: must be a whole number from 0 to 4294967295"),
        (["--batch-size", "999999", "--limit", "1000"], "--batch-size: must not exceed the 834 training images"),
        (["--model", "nope"], "--model: invalid choice: 'nope'"),
        (["--dataset", "nope"], "--dataset: invalid choice: 'nope'"),
        (["--device", "tpu"], "--device: unknown device 'tpu'"),
        (["--device", "cuda:7"], "--device: device 'cuda:7' asked for, but this machine has 1 CUDA GPU(s)"),
    ],
)
def test_cli_bad_values_exit_2(options: list[str], says: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # a one-GPU box
    with pytest.raises(SystemExit) as exited:
        main(["train", "--runs-dir", str(tmp_path / "runs"), *options])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "usage: mnist-tui train" in err and says in err
    assert not (tmp_path / "runs").exists()


# --- devices ------------------------------------------------------------------------------------------


def test_cuda_on_a_machine_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(DeviceError, match="no usable CUDA GPU.*use --device cpu or auto"):
        resolve_device("cuda")


def test_cuda_index_beyond_the_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match="has 1 CUDA GPU.*use cuda:0 to cuda:0"):
        resolve_device("cuda:7")


def test_mps_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_mps_available", lambda: False)
    with pytest.raises(DeviceError, match="Metal backend is not available here: use cpu"):
        resolve_device("mps")


def test_trainer_on_a_missing_device_fails_before_writing(tiny_data: Path, runs_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    finished, _ = _run(tiny_data, runs_dir, device="cuda")
    assert finished.status == "failed" and "no usable CUDA GPU" in finished.message
    assert finished.run_dir == "" and not any(runs_dir.iterdir())


# --- out of memory and divergence ---------------------------------------------------------------------


def test_out_of_memory_fails_the_run_and_the_next_run_works(tiny_data: Path, runs_dir: Path, monkeypatch) -> None:
    real_forward = Linear.forward
    calls = {"left": 3}

    def forward_out_of_memory(self: Linear, x: torch.Tensor) -> torch.Tensor:
        if self.training and calls["left"] > 0:
            calls["left"] -= 1
            if calls["left"] == 0:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, x)

    monkeypatch.setattr(Linear, "forward", forward_out_of_memory)
    failed, _ = _run(tiny_data, runs_dir)
    assert failed.status == "failed"
    assert "out of memory" in failed.message and "lower the batch size (now 32)" in failed.message
    assert load_run(Path(failed.run_dir)).status == "failed"

    again, _ = _run(tiny_data, runs_dir)
    assert again.status == "completed" and again.summary["epochs_completed"] == 2


@pytest.mark.parametrize("bad", [math.nan, -math.inf])
def test_non_finite_loss_ends_the_run_as_diverged(tiny_data: Path, runs_dir: Path, monkeypatch, bad: float) -> None:
    real_forward = Linear.forward

    def forward_blowing_up(self: Linear, x: torch.Tensor) -> torch.Tensor:
        logits = real_forward(self, x)
        if not self.training:
            return logits
        spoiled = torch.zeros_like(logits)
        spoiled[:, 1:] = bad  # nan everywhere, or -inf for every class but 0: an infinite loss
        return logits + spoiled

    monkeypatch.setattr(Linear, "forward", forward_blowing_up)
    finished, events = _run(tiny_data, runs_dir, lr=0.5)
    assert finished.status == "diverged"
    assert "lower the learning rate (now 0.5; try 0.05)" in finished.message
    assert load_run(Path(finished.run_dir)).status == "diverged"


# --- untrusted files ----------------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates `marker`: what a malicious checkpoint would do with worse code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return builtins.open, (str(self.marker), "w")


def test_malicious_checkpoint_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "best.pt"
    torch.save({"model": _Payload(marker), "config": {}}, path)
    torch.load(path, weights_only=False)  # the payload really works when loaded the unsafe way
    assert marker.exists()
    marker.unlink()

    with pytest.raises(CheckpointError, match="refused to load .*could run code"):
        load_checkpoint(path)
    assert not marker.exists()


def test_malicious_checkpoint_in_a_run_folder(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    run = tmp_path / "runs" / "evil"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(TINY))
    with open(run / "best.pt", "wb") as f:
        pickle.dump({"model": _Payload(marker), "config": TINY}, f, protocol=2)
    with pytest.raises(CheckpointError, match="refused"):
        load_model(run)
    assert not marker.exists()


def test_a_checkpoint_pickled_with_another_protocol_is_refused_without_a_warning(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    run = tmp_path / "runs" / "evil"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(TINY))
    with open(run / "best.pt", "wb") as f:  # protocol 5: torch's weights-only unpickler warns about it
        pickle.dump({"model": _Payload(marker), "config": TINY}, f, protocol=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        with pytest.raises(CheckpointError, match="refused"):
            load_checkpoint(run / "best.pt")

    Image.new("L", (28, 28), 255).save(tmp_path / "digit.png")
    command = [sys.executable, "-m", "tui", "predict", "evil", str(tmp_path / "digit.png")]
    result = subprocess.run([*command, "--runs-dir", str(run.parent)], capture_output=True, text=True, timeout=120)
    assert "refused to load" in result.stderr + result.stdout
    assert "Warning" not in result.stderr
    assert not marker.exists()


def _fake_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(TINY))
    return folder


def test_find_run_stays_inside_the_runs_folder(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    inside = _fake_run(runs_dir / "20260101-000000-mnist-linear")
    outside = _fake_run(tmp_path / "elsewhere")
    (runs_dir / "link").symlink_to(outside)

    assert find_run(runs_dir, inside.name) == inside.resolve()
    assert find_run(runs_dir, str(inside)) == inside.resolve()
    for escape in ("../elsewhere", str(outside), "link", f"{inside.name}/../../elsewhere", "..", "/"):
        with pytest.raises(RunsError, match="not a run folder directly inside|no run folder"):
            find_run(runs_dir, escape)
    with pytest.raises(RunsError, match="no run named 'missing'"):
        find_run(runs_dir, "missing")


def test_cli_export_refuses_a_path_outside(tmp_path: Path, capsys) -> None:
    _fake_run(tmp_path / "runs" / "ok")
    _fake_run(tmp_path / "elsewhere")
    assert main(["export", "../elsewhere", "--runs-dir", str(tmp_path / "runs")]) == 1
    out, err = capsys.readouterr()
    assert "not a run folder directly inside" in err and "Traceback" not in out + err
    assert not list((tmp_path / "elsewhere").glob("*.png"))


# --- disk ---------------------------------------------------------------------------------------------


def test_unwritable_runs_folder_is_reported_before_training(tiny_data: Path, tmp_path: Path, capsys) -> None:
    # Tests run as root, where permissions do not block writes; a runs folder under a regular file fails for
    # anyone, which proves the check runs and its message reaches the user before any training.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    runs_dir = blocker / "runs"
    with pytest.raises(RunsError, match=f"cannot write runs to {runs_dir}.*--runs-dir"):
        check_writable(runs_dir)
    assert main(["train", "--data-dir", str(tiny_data), "--runs-dir", str(runs_dir), "--model", "linear"]) == 1
    out, err = capsys.readouterr()
    assert "cannot write runs to" in err and "Traceback" not in out + err
    assert "epoch" not in out


def test_permission_denied_runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.runs

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(engine.runs.tempfile, "TemporaryFile", denied)
    with pytest.raises(RunsError, match="Permission denied.*fix its permissions"):
        check_writable(tmp_path / "runs")


@pytest.fixture(scope="module")
def finished_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    finished, _ = _run(tiny_data, tmp_path_factory.mktemp("runs"))
    assert finished.status == "completed"
    return Path(finished.run_dir)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_failed_export_leaves_the_run_untouched(finished_run: Path, monkeypatch, capsys) -> None:
    import engine.runs

    before = _snapshot(finished_run)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(engine.runs.os, "replace", read_only)
    with pytest.raises(ExportError, match="Read-only file system.*the run itself is unchanged"):
        export_run(finished_run)
    assert main(["export", str(finished_run), "--runs-dir", str(finished_run.parent)]) == 1
    assert "Read-only file system" in capsys.readouterr().err
    assert _snapshot(finished_run) == before  # byte for byte, and no temporary files left behind


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_run_files_get_the_permissions_of_the_umask(tiny_data: Path, runs_dir: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        finished, _ = _run(tiny_data, runs_dir, epochs=1)
        export_run(Path(finished.run_dir))
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in Path(finished.run_dir).iterdir()}
    assert {"config.json", "best.pt", "curves.png", "metrics.csv"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o666 & ~umask)


def test_an_atomic_rewrite_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text("{}")
    path.chmod(0o640)
    write_json(path, {"kept": True})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and json.loads(path.read_text()) == {"kept": True}


# --- reproducibility ----------------------------------------------------------------------------------


def _numbers(run_dir: str) -> list[dict]:
    lines = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in record.items() if k != "seconds"} for record in lines]


def test_same_seed_same_metrics_on_cpu(tiny_data: Path, runs_dir: Path) -> None:
    mlp = dict(model="mlp", epochs=1, schedule="onecycle", seed=7)  # dropout, shuffling and init are seeded
    first, _ = _run(tiny_data, runs_dir, **mlp)
    second, _ = _run(tiny_data, runs_dir, **mlp)
    assert first.run_dir != second.run_dir
    assert _numbers(first.run_dir) == _numbers(second.run_dir)
    other_seed, _ = _run(tiny_data, runs_dir, **{**mlp, "seed": 8})
    assert _numbers(other_seed.run_dir) != _numbers(first.run_dir)  # the comparison can fail
