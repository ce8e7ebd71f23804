import json
import queue
import threading
import time

import pytest
import torch

from engine.checkpoints import load_checkpoint, load_model
from engine.config import RunConfig
from engine.events import (
    BatchProgress,
    CheckpointSaved,
    EpochEnded,
    Evaluated,
    PauseChanged,
    RunFinished,
    RunStarted,
)
from engine.runs import list_runs, load_run
from engine.trainer import PROGRESS_INTERVAL_SECONDS, Trainer, predict_split

TINY = dict(model="linear", epochs=2, batch_size=32, lr=0.01, device="cpu")


def run_collecting(config, tiny_data, runs_dir):
    events = []
    finished = Trainer(config, runs_dir=runs_dir, data_dir=tiny_data, emit=events.append, download=False).run()
    return events, finished


def test_a_short_run_reports_in_order_and_writes_its_folder(tiny_data, runs_dir):
    events, finished = run_collecting(RunConfig(**TINY), tiny_data, runs_dir)

    kinds = [type(e) for e in events]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    assert finished.status == "completed" and finished is events[-1]
    started = events[0]
    assert (started.train_size, started.val_size, started.test_size) == (500, 100, 200)
    assert started.parameters == 7850 and started.device == "cpu"

    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [1, 2]
    evaluations = [e for e in events if isinstance(e, Evaluated)]
    assert [e.split for e in evaluations] == ["val", "val", "test"]
    assert sum(map(sum, evaluations[0].confusion)) == 100
    assert sum(map(sum, evaluations[-1].confusion)) == 200
    assert evaluations[-1].accuracy > 0.5  # the tiny data is learnable

    progress = [e for e in events if isinstance(e, BatchProgress)]
    assert progress and progress[-1].step == progress[-1].steps_per_epoch == 16
    assert all(p.loss > 0 and p.images_per_second > 0 for p in progress)
    # every epoch's progress ends before its EpochEnded
    assert kinds.index(EpochEnded) > kinds.index(BatchProgress)
    assert {e.kind for e in events if isinstance(e, CheckpointSaved)} == {"best", "last"}

    run = load_run(finished.run_dir)
    assert run.status == "completed"
    assert [e.epoch for e in run.epochs] == [1, 2]
    assert [e.split for e in run.evaluations] == ["val", "val", "test"]
    assert run.summary["test_accuracy"] == pytest.approx(evaluations[-1].accuracy)
    assert json.loads((run.path / "config.json").read_text())["model"] == "linear"
    assert list_runs(runs_dir)[0].path == run.path


def test_progress_is_throttled_by_time_not_per_batch(tiny_data, runs_dir):
    times = []
    config = RunConfig(**{**TINY, "batch_size": 1, "epochs": 1})

    def emit(event):
        if isinstance(event, BatchProgress):
            times.append((time.perf_counter(), event.step, event.steps_per_epoch))

    Trainer(config, runs_dir=runs_dir, data_dir=tiny_data, emit=emit, download=False).run()
    assert len(times) < 500  # 500 batches, far fewer reports
    gaps = [later[0] - earlier[0] for earlier, later in zip(times, times[1:], strict=False) if later[1] != later[2]]
    assert all(gap >= PROGRESS_INTERVAL_SECONDS * 0.9 for gap in gaps)


def test_pause_resume_and_stop_from_another_thread(tiny_data, runs_dir):
    events: queue.Queue = queue.Queue()
    requested = threading.Event()  # the trainer waits in its first progress report until the pause is asked

    def emit(event):
        events.put(event)
        if isinstance(event, BatchProgress):
            requested.wait(timeout=60)

    config = RunConfig(**{**TINY, "batch_size": 1, "epochs": 3})
    trainer = Trainer(config, runs_dir=runs_dir, data_dir=tiny_data, emit=emit, download=False)
    thread = trainer.start()

    def next_of(kind):
        while True:
            event = events.get(timeout=60)
            if isinstance(event, kind):
                return event

    first = next_of(BatchProgress)
    trainer.pause()
    requested.set()
    paused = next_of(PauseChanged)
    assert paused.paused and trainer.paused
    after = (first.epoch, first.step + 1) if first.step < first.steps_per_epoch else (first.epoch + 1, 1)
    assert (paused.epoch, paused.step) == after  # before the batch after the request
    assert events.empty()  # nothing happens while paused
    trainer.resume()
    resumed = next_of(PauseChanged)
    assert not resumed.paused and resumed.step == paused.step

    next_of(EpochEnded)
    trainer.stop()
    finished = next_of(RunFinished)
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert finished.status == "stopped"
    run = load_run(finished.run_dir)
    assert run.status == "stopped" and len(run.epochs) >= 1
    assert load_checkpoint(run.path / "last.pt")["epoch"] == len(run.epochs)


def test_checkpoint_round_trip_gives_the_same_predictions(tiny_data, runs_dir):
    events, finished = run_collecting(RunConfig(**TINY), tiny_data, runs_dir)
    model, config, state = load_model(finished.run_dir, "best")
    assert config == RunConfig(**TINY)
    assert state["epoch"] == finished.summary["best_epoch"]

    from engine.data import DeviceSplit, Normalizer, load_split

    images, labels = load_split("mnist", tiny_data, train=False, download=False)
    predictions = predict_split(model, DeviceSplit.from_cpu(images, labels, torch.device("cpu")), Normalizer("mnist"))
    test = [e for e in events if isinstance(e, Evaluated) and e.split == "test"][0]
    assert (predictions.predicted == labels.numpy()).mean() == pytest.approx(test.accuracy)


def test_same_seed_same_metrics(tiny_data, tmp_path):
    def metrics(folder):
        _, finished = run_collecting(RunConfig(**TINY), tiny_data, tmp_path / folder)
        return [(e.train_loss, e.val_accuracy, e.val_loss) for e in load_run(finished.run_dir).epochs]

    assert metrics("a") == metrics("b")


def test_a_failure_ends_the_run_with_a_message_and_no_exception(tiny_data, tmp_path):
    events, finished = run_collecting(RunConfig(**TINY), tmp_path / "no-data", tmp_path / "runs")
    assert finished.status == "failed"
    assert "MNIST/raw" in finished.message
    assert not any(isinstance(e, RunStarted) for e in events)


def test_control_calls_are_safe_before_and_after_a_run(tiny_data, runs_dir):
    trainer = Trainer(RunConfig(**TINY), runs_dir=runs_dir, data_dir=tiny_data, download=False)
    trainer.stop()
    assert trainer.run().status == "stopped"
    trainer.pause()
    trainer.resume()
    assert not trainer.paused
