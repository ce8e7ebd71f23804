"""Plain unit tests of the dashboard's logic: bounded chart series, message merging, the live run state."""

from __future__ import annotations

from dataclasses import replace

from fake_run import scripted_events

from engine.config import RunConfig
from engine.events import BatchProgress, EpochEnded, PauseChanged
from tui.live_run import LiveRun
from tui.messages import EngineEvent
from tui.series import DEFAULT_CAPACITY, BoundedSeries
from tui.widgets.charts import epoch_lines


def test_series_stays_bounded_and_keeps_the_mean() -> None:
    series = BoundedSeries(capacity=10)
    for i in range(1000):
        series.append(float(i), 2.0)
    xs, ys = series.points()
    assert len(xs) <= 10
    assert all(y == 2.0 for y in ys)
    assert xs == sorted(xs)
    assert xs[0] < 100 and xs[-1] > 900  # still spans the whole run


def test_series_shows_the_newest_point_at_once() -> None:
    series = BoundedSeries(capacity=4)
    for i in range(9):
        series.append(float(i), float(i))
    xs, ys = series.points()
    series.append(9.0, 90.0)
    newer_xs, newer_ys = series.points()
    assert newer_xs[-1] > xs[-1]
    assert newer_ys[-1] > ys[-1]


def test_epoch_lines_stay_bounded_on_long_runs() -> None:
    epochs = [{"epoch": i, "train_loss": 1 / i, "val_loss": 1 / i} for i in range(1, 10_001)]
    train, validation = epoch_lines(epochs, "loss")
    assert len(train.xs) <= DEFAULT_CAPACITY
    assert train.xs[0] == 1 and train.xs[-1] == 10_000
    assert not validation.per_epoch  # too many to mark each one


def progress(step: int) -> BatchProgress:
    return BatchProgress(1, 2, step, 10, step, 0.5, 100.0, 1.0, 1.0)


def test_only_progress_messages_replace_each_other() -> None:
    epoch = EpochEnded(1, 2, 0.5, 0.9, 0.5, 0.9, 0.9, 0.001, 1.0)
    assert EngineEvent(progress(1)).can_replace(EngineEvent(progress(2)))
    assert not EngineEvent(progress(1)).can_replace(EngineEvent(epoch))
    assert not EngineEvent(epoch).can_replace(EngineEvent(progress(2)))


def test_live_run_status_follows_the_events() -> None:
    live = LiveRun()
    assert live.status == "starting"
    events = scripted_events(RunConfig(model="linear", epochs=2))
    for event in events[:2]:
        live.apply(event)
    assert live.status == "training epoch 1/2"
    live.apply(PauseChanged(True, 1, 3))
    assert live.status == "paused"
    live.apply(PauseChanged(False, 1, 3))
    for event in events[2:]:
        live.apply(event)
    assert live.status == "finished"
    assert len(live.epochs) == 2
    assert live.evaluation.split == "test"
    assert [line.label for line in live.accuracy_lines()] == ["train accuracy", "val accuracy"]
    failed = replace(events[-1], status="diverged")
    live.apply(failed)
    assert live.status == "failed (diverged)"
