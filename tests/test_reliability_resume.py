"""Stopping, the run lock, and continuing a run from its last checkpoint (Trainer.from_run, --resume)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest

from engine import trainer as trainer_module
from engine.config import RunConfig, recipe_config
from engine.events import BatchProgress, EpochEnded, RunStarted
from engine.models import MODELS, Linear
from engine.runs import LOCK_FILE, RunDirectory, RunsError, load_run, process_start_time, read_metrics
from engine.trainer import Trainer
from tui.cli import main

CONFIG = RunConfig(model="linear", epochs=3, batch_size=32, lr=0.01, schedule="onecycle", device="cpu", seed=3)


def _metric_numbers(run_dir: Path) -> list[dict]:
    epochs, evaluations = read_metrics(run_dir)
    return [{k: v for k, v in asdict(record).items() if k != "seconds"} for record in (*epochs, *evaluations)]


def _stopped_run(tiny_data: Path, runs_dir: Path, *, after_epochs: int) -> Path:
    """A run stopped by the user after `after_epochs` finished epochs (0: in epoch 1)."""
    trainer = Trainer(CONFIG, runs_dir=runs_dir, data_dir=tiny_data)

    def stop_at(event) -> None:
        if after_epochs == 0 and isinstance(event, RunStarted):  # stops before epoch 1's first batch
            trainer.stop()
        if isinstance(event, EpochEnded) and event.epoch == after_epochs:
            trainer.stop()

    trainer.emit = stop_at
    finished = trainer.run()
    assert finished.status == "stopped"
    return Path(finished.run_dir)


def test_stop_takes_effect_before_the_next_batch(tiny_data: Path, runs_dir: Path, monkeypatch) -> None:
    """A stop that arrives during batch 3 (here: from inside its forward pass) lets no batch 4 start."""
    real_forward = Linear.forward
    batches: list[int] = []

    def forward_then_stop(self: Linear, x):
        if self.training:
            batches.append(len(x))
            if len(batches) == 3:
                trainer.stop()
        return real_forward(self, x)

    monkeypatch.setattr(Linear, "forward", forward_then_stop)
    trainer = Trainer(CONFIG.with_changes(batch_size=4), runs_dir=runs_dir, data_dir=tiny_data)
    finished = trainer.run()
    assert finished.status == "stopped" and len(batches) == 3
    assert finished.summary["epochs_completed"] == 0
    assert load_run(Path(finished.run_dir)).status == "stopped"


def test_a_run_is_running_while_trained_and_not_after(tiny_data: Path, runs_dir: Path) -> None:
    seen: list[str] = []

    def look(event) -> None:
        if isinstance(event, EpochEnded):
            seen.append(load_run(trainer.state.run_dir.path).status)

    trainer = Trainer(CONFIG.with_changes(epochs=1), runs_dir=runs_dir, data_dir=tiny_data, emit=look)
    finished = trainer.run()
    assert seen == ["running"]
    assert not (Path(finished.run_dir) / LOCK_FILE).exists()
    assert load_run(Path(finished.run_dir)).status == "completed"


def test_a_dead_process_lock_reads_as_interrupted(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path, "mnist", "linear", CONFIG.to_dict())
    run.lock()
    assert load_run(run.path).status == "running"
    (run.path / LOCK_FILE).write_text("999999999\n")  # no such process
    assert load_run(run.path).status == "interrupted"


@pytest.mark.skipif(process_start_time(os.getpid()) is None, reason="needs /proc to tell when a process started")
def test_a_lock_whose_process_id_was_reused_reads_as_interrupted(tmp_path: Path) -> None:
    run = RunDirectory.create(tmp_path, "mnist", "linear", CONFIG.to_dict())
    run.lock()
    assert (run.path / LOCK_FILE).read_text().split() == [str(os.getpid()), process_start_time(os.getpid())]
    (run.path / LOCK_FILE).write_text(f"{os.getpid()} 1\n")  # this id, but a process started at boot
    assert load_run(run.path).status == "interrupted"


def test_resume_continues_to_the_same_result(tiny_data: Path, runs_dir: Path) -> None:
    straight = Trainer(CONFIG, runs_dir=runs_dir / "straight", data_dir=tiny_data).run()
    run_dir = _stopped_run(tiny_data, runs_dir / "stopped", after_epochs=1)
    (first_epoch,), _ = read_metrics(run_dir)
    stopped = json.loads((run_dir / "summary.json").read_text())
    assert stopped["train_seconds"] == pytest.approx(first_epoch.seconds)  # the finished epoch counts

    events: list = []
    finished = Trainer.from_run(run_dir, data_dir=tiny_data, emit=events.append).run()
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.start_epoch == 1 and started.run_dir == str(run_dir)
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [2, 3]
    assert finished.status == "completed" and finished.run_dir == str(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3
    epochs, _ = read_metrics(run_dir)
    assert summary["train_seconds"] == pytest.approx(sum(epoch.seconds for epoch in epochs))  # epoch 1 too
    # Same weights, optimizer state, schedule and shuffling as a run never stopped: same numbers.
    assert _metric_numbers(run_dir) == _metric_numbers(Path(straight.run_dir))


@pytest.mark.parametrize("augment", [False, True], ids=["plain", "augment"])
@pytest.mark.parametrize("model", list(MODELS))
def test_resume_after_a_stop_mid_epoch_matches_a_run_never_stopped(
    model: str, augment: bool, tiny_data: Path, runs_dir: Path, monkeypatch
) -> None:
    """Dropout and augmentation draw from the random generators: last.pt carries their state at its epoch's end."""
    monkeypatch.setattr(trainer_module, "PROGRESS_INTERVAL_SECONDS", 0.0)  # a progress event every batch
    config = recipe_config(model, epochs=3, batch_size=32, device="cpu", seed=5, augment=augment)
    straight = Trainer(config, runs_dir=runs_dir / "straight", data_dir=tiny_data).run()
    assert straight.status == "completed"

    trainer = Trainer(config, runs_dir=runs_dir / "stopped", data_dir=tiny_data)

    def stop_in_epoch_two(event) -> None:
        if isinstance(event, BatchProgress) and (event.epoch, event.step) == (2, 3):
            trainer.stop()  # three batches of epoch 2 trained, then lost: the resume redoes epoch 2

    trainer.emit = stop_in_epoch_two
    stopped = trainer.run()
    assert stopped.status == "stopped" and stopped.summary["epochs_completed"] == 1

    events: list = []
    resumed = Trainer.from_run(Path(stopped.run_dir), data_dir=tiny_data, emit=events.append).run()
    assert resumed.status == "completed"
    assert [e.epoch for e in events if isinstance(e, EpochEnded)] == [2, 3]
    assert _metric_numbers(Path(resumed.run_dir)) == _metric_numbers(Path(straight.run_dir))


def test_resume_without_last_checkpoint_starts_over_in_the_same_folder(tiny_data: Path, runs_dir: Path) -> None:
    run_dir = _stopped_run(tiny_data, runs_dir, after_epochs=0)
    assert not (run_dir / "last.pt").exists()
    events: list = []
    finished = Trainer.from_run(run_dir, data_dir=tiny_data, emit=events.append).run()
    assert next(e for e in events if isinstance(e, RunStarted)).start_epoch == 0
    assert finished.status == "completed" and [e.epoch for e in load_run(run_dir).epochs] == [1, 2, 3]
    assert [p.name for p in runs_dir.iterdir()] == [run_dir.name]


def test_resume_after_a_kill_between_metrics_and_checkpoints(tiny_data: Path, runs_dir: Path) -> None:
    """Killed after epoch 2's lines were written but before its checkpoints: epoch 2 is redone, not doubled."""
    run_dir = _stopped_run(tiny_data, runs_dir, after_epochs=1)
    (run_dir / "best.pt").unlink()  # as if killed between writing last.pt and best.pt
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    epoch_two = [line.replace('"epoch": 1', '"epoch": 2') for line in lines]
    (run_dir / "metrics.jsonl").write_text("\n".join(lines + epoch_two) + "\n")
    (run_dir / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")

    finished = Trainer.from_run(run_dir, data_dir=tiny_data).run()
    assert finished.status == "completed"
    run = load_run(run_dir)
    assert [e.epoch for e in run.epochs] == [1, 2, 3]
    assert [(e.split, e.epoch) for e in run.evaluations][:3] == [("val", 1), ("val", 2), ("val", 3)]
    assert (run_dir / "best.pt").exists() and not list(run_dir.glob(".*.tmp"))


def test_resuming_a_completed_or_running_run_is_refused(tiny_data: Path, runs_dir: Path) -> None:
    completed = Path(Trainer(CONFIG.with_changes(epochs=1), runs_dir=runs_dir, data_dir=tiny_data).run().run_dir)
    before = (completed / "metrics.jsonl").read_bytes()
    with pytest.raises(RunsError, match="already completed all its epochs: start a new run"):
        Trainer.from_run(completed, data_dir=tiny_data)
    assert (completed / "metrics.jsonl").read_bytes() == before

    running = _stopped_run(tiny_data, runs_dir / "other", after_epochs=1)
    (running / LOCK_FILE).write_text(f"{os.getpid()}\n")
    with pytest.raises(RunsError, match=f"still being trained by process {os.getpid()}"):
        Trainer.from_run(running, data_dir=tiny_data)


def test_cli_resume(tiny_data: Path, runs_dir: Path, capsys) -> None:
    run_dir = _stopped_run(tiny_data, runs_dir, after_epochs=2)
    base = ["train", "--runs-dir", str(runs_dir), "--data-dir", str(tiny_data), "--no-download"]

    with pytest.raises(SystemExit) as exited:
        main([*base, "--resume", run_dir.name, "--epochs", "5"])
    assert exited.value.code == 2
    assert "--resume continues a run with the settings in its config.json: drop --epochs" in capsys.readouterr().err

    assert main([*base, "--resume", run_dir.name]) == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "epoch 3/3" in out
    assert load_run(run_dir).status == "completed" and len(load_run(run_dir).epochs) == 3

    assert main([*base, "--resume", run_dir.name]) == 1
    out, err = capsys.readouterr()
    assert "already completed" in err and "Traceback" not in out + err
