"""Plain unit tests of the dashboard's logic: bounded chart series, message merging, the live run state."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from fake_run import scripted_events
from textual.app import App, ComposeResult
from textual.geometry import Region

from engine.config import RunConfig
from engine.events import BatchProgress, EpochEnded, Event, PauseChanged, RunFinished, RunStarted
from engine.sweeps import TrialUpdate
from tui.formatting import describe_event, run_result
from tui.live_run import LiveRun
from tui.live_sweep import SweepRouter
from tui.series import DEFAULT_CAPACITY, BoundedSeries
from tui.tabs.setup import SetupPanel
from tui.widgets.charts import LineChart, epoch_lines
from tui.widgets.progress import ProgressPanel


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
    epochs = [EpochEnded(i, 10_000, 1 / i, 0.5, 1 / i, 0.5, 0.5, 0.001, 1.0) for i in range(1, 10_001)]
    train, validation = epoch_lines(epochs, "loss")
    assert len(train.xs) <= DEFAULT_CAPACITY
    assert train.xs[0] == 1 and train.xs[-1] == 10_000
    assert not validation.per_epoch  # too many to mark each one


def progress(step: int) -> BatchProgress:
    return BatchProgress(1, 2, step, 10, step, 0.5, 100.0, 1.0, 1.0)


def test_queued_progress_folds_in_order_once() -> None:
    live = LiveRun()
    live.pending.extend(progress(step) for step in (1, 2, 3))
    assert live.fold_pending()
    assert live.progress.step == 3
    assert live.train_loss.points()[0] == [0.1, 0.2, 0.3]  # every step reached the loss chart, not only the last
    assert not live.fold_pending()


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


def test_a_slow_chart_redraws_less_often() -> None:
    chart = LineChart("loss", min_interval=1.0, cpu_share=0.01)
    assert chart.redraw_interval == 1.0  # nothing drawn yet: the floor
    chart._render_seconds = 0.03  # as measured by render_lines(): 30 ms a redraw
    assert chart.redraw_interval == 3.0  # 1% of one core
    assert LineChart("accuracy", min_interval=0.1).redraw_interval == 0.1  # no budget: the floor only


def test_progress_panel_shows_the_figures_over_a_bar_for_the_whole_run() -> None:
    class Host(App):
        def compose(self) -> ComposeResult:
            yield ProgressPanel()

    shown: list[list[str]] = []

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(100, 4)) as pilot:
            panel = app.query_one(ProgressPanel)
            for event in (BatchProgress(2, 4, 5, 10, 15, 0.25, 1234.0, 3.0, 5.0), None):
                if event is None:
                    panel.show_message("paused")
                else:
                    panel.show(event)
                await pilot.pause()
                shown.append([strip.text for strip in panel.render_lines(Region(0, 0, panel.size.width, 2))])

    asyncio.run(scenario())
    (figures, bar), (message, bar_kept) = shown
    assert figures.startswith("epoch 2/4  step 5/10  loss 0.2500  1,234 img/s  elapsed")
    assert bar.rstrip().endswith("38%")  # 15 of the run's 40 steps
    assert bar.startswith("━") and len(bar.rstrip()) == 100
    assert message.rstrip() == "paused" and bar_kept == bar  # a message replaces the figures, not the bar


def test_checkboxes_say_on_or_off_in_words() -> None:
    """Without colour, the ▐X▌ of a checkbox looks the same on and off: its label carries the state."""

    class Host(App):
        def compose(self) -> ComposeResult:
            yield SetupPanel(RunConfig(augment=True))

    shown: list[str] = []

    def checkbox_text(app: App, name: str) -> str:
        checkbox = app.query_one(f"#field-{name}")
        return checkbox.render_lines(Region(0, 0, checkbox.size.width, 1))[0].text.strip()

    async def scenario() -> None:
        async with Host().run_test(size=(80, 24)) as pilot:
            shown.extend([checkbox_text(pilot.app, "augment"), checkbox_text(pilot.app, "amp")])
            pilot.app.query_one("#field-augment").focus()
            await pilot.press("space")
            await pilot.pause()
            shown.append(checkbox_text(pilot.app, "augment"))

    asyncio.run(scenario())
    assert shown == ["▐X▌ on", "▐X▌ off", "▐X▌ off"]


def test_a_finished_run_says_the_figures_it_got_to() -> None:
    completed = {"test_accuracy": 0.99214, "test_f1": 0.992, "val_accuracy": 0.9896, "train_seconds": 73.4}
    assert run_result(completed) == "test acc 0.9921 F1 0.9920, best val acc 0.9896, trained 1:13"
    assert run_result(completed, compact=True) == "test 0.9921 F1 0.9920, val 0.9896, 1:13"
    stopped = {"test_accuracy": None, "val_accuracy": 0.95, "train_seconds": 10}  # stopped before the test
    assert run_result(stopped) == "best val acc 0.9500, trained 0:10"
    assert run_result({"test_accuracy": None}) == ""  # failed before an epoch ended
    line = describe_event(RunFinished("completed", "training completed", "runs/r", completed))
    assert line == ("success", f"run completed: training completed; {run_result(completed)}; folder runs/r")


def test_a_sweeps_trials_fold_into_one_live_run_each() -> None:
    """One queue carries a sweep's trials: folding stops before the next trial's RunStarted, which a fresh LiveRun
    takes with the same queue."""
    live = LiveRun()
    for config in (RunConfig(model="linear", epochs=1, trial=0), RunConfig(model="linear", epochs=2, trial=1)):
        live.pending.extend(scripted_events(config))
    first = live.fold_pending(one_run=True)
    assert isinstance(first[-1], RunFinished) and live.next_run_waiting and live.status == "finished"
    second = LiveRun(live.pending)
    assert isinstance(second.fold_pending(one_run=True)[0], RunStarted)
    assert len(second.epochs) == 2 and not second.next_run_waiting and not second.pending


def test_the_sweep_router_follows_one_trial_and_then_the_next_one_running() -> None:
    """With two trials at once, the Train tab gets one trial's events; when it ends, the other's so far (from its
    RunStarted), then the rest of them."""
    queued: list[Event] = []
    started: list[int] = []
    router = SweepRouter(queued.append, started.append)
    first, second = (scripted_events(RunConfig(model="linear", epochs=2, trial=n)) for n in (0, 1))
    router.update(TrialUpdate(0, "cpu", first[0]))
    router.update(TrialUpdate(1, "cpu", second[0]))
    for event in second[1:4]:  # trial 1 trains its first epoch while trial 0 is followed
        router.update(TrialUpdate(1, "cpu", event))
    assert router.running() == {0: "", 1: "1/2 20/20"}
    for event in first[1:]:
        router.update(TrialUpdate(0, "cpu", event))
    assert started == [0, 1]
    assert queued[: len(first)] == first  # trial 0 whole, and nothing of trial 1 meanwhile
    replayed = queued[len(first) :]
    assert replayed[0] == second[0] and replayed[-1] == second[1]  # its events so far, then its latest progress
    assert [type(event) for event in replayed[1:-1]] == [type(event) for event in second[2:4]]
    router.update(TrialUpdate(1, "cpu", second[4]))
    assert queued[-1] == second[4] and router.running() == {1: "1/2 20/20"}
