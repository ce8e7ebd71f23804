"""The Train tab: the live run's progress line and bar, its loss and accuracy charts, and the event log.

It owns the run in progress as the dashboard knows it (a LiveRun) and the display tick that draws it. The
training thread queues every event in `LiveRun.pending`, in order; those in TICK_EVENTS (up to twenty progress
events a second, and on a GPU several epochs a second) wait for the once-a-second tick, the others post an
EngineEvent that draws the queue at once. Either way the UI thread wakes once and redraws once.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message

from engine.events import (
    BatchProgress,
    CheckpointSaved,
    DownloadProgress,
    EpochEnded,
    Evaluated,
    Event,
    PauseChanged,
    RunFinished,
    RunStarted,
)
from tui.formatting import run_result
from tui.live_run import LiveRun
from tui.messages import EngineEvent
from tui.widgets.charts import LineChart
from tui.widgets.log import EventLog
from tui.widgets.progress import ProgressPanel

PROGRESS_DISPLAY_INTERVAL = 1.0  # seconds between redraws of the progress line while training
# Drawn by the display tick; the others at once.
TICK_EVENTS = (BatchProgress, DownloadProgress, EpochEnded, Evaluated, CheckpointSaved)
LOSS_CHART_INTERVAL = 1.0  # seconds between redraws of the per-step loss chart (others change per epoch)...
LOSS_CHART_CPU_SHARE = 0.005  # ...or longer, so its redraws take at most 0.5% of one core (every ~3 s at 120x40)


class TrainTab(Vertical):
    """Mount:  `with TabPane("Train"): yield TrainTab()`
    Drive:  `emit = tab.begin()` for each new run, then `emit(event)` from the training thread;
            `tab.show_message(text)` and `tab.log_line(level, text)` from the app.
    Posts:  `TrainTab.Drawn(evaluated, finished)` after drawing queued events, for the app's header and the
            other tabs (the newest evaluation, the run's end), bubbling up to the app.
    """

    DEFAULT_CSS = """
    TrainTab { height: 1fr; }
    """

    class Drawn(Message):
        def __init__(self, evaluated: Evaluated | None, finished: RunFinished | None) -> None:
            super().__init__()
            self.evaluated = evaluated
            self.finished = finished

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.live: LiveRun | None = None
        self.progress_shown = True  # False while a folded BatchProgress waits to be drawn

    def compose(self) -> ComposeResult:
        yield ProgressPanel(id="progress")
        with Horizontal(id="charts"):
            # Plotting is the dashboard's costliest work and competes with training for the same cores.
            yield LineChart("loss", min_interval=LOSS_CHART_INTERVAL, cpu_share=LOSS_CHART_CPU_SHARE, id="loss-chart")
            yield LineChart("accuracy", id="accuracy-chart")
        yield EventLog(id="log")

    def on_mount(self) -> None:
        self.set_interval(PROGRESS_DISPLAY_INTERVAL, self.show_latest_progress)

    def begin(self) -> Callable[[Event], None]:
        """A new run: its LiveRun, the panels cleared; returns the callback for the training thread's events."""
        live = self.live = LiveRun()
        progress = self.query_one(ProgressPanel)
        progress.reset()
        progress.show_message("starting: loading PyTorch and the dataset…")
        self.refresh_charts()

        def queue(event: Event) -> None:
            live.pending.append(event)
            if not isinstance(event, TICK_EVENTS):  # the others wait for the display tick: no wake-up per batch
                self.post_message(EngineEvent(event))

        return queue

    def show_message(self, text: str) -> None:
        self.query_one(ProgressPanel).show_message(text)

    def log_line(self, level: str, text: str) -> None:
        self.query_one(EventLog).add(level, text)

    def on_engine_event(self, message: EngineEvent) -> None:
        # The event waits in the queue behind everything emitted before it: drawing the queue keeps the order.
        self.draw_pending()

    def show_latest_progress(self) -> None:
        """The display tick."""
        self.draw_pending()

    def draw_pending(self) -> None:
        """Fold in the events the training thread queued, in order, and draw what they changed, once."""
        live = self.live
        if live is None or not self.is_attached:
            return
        folded = live.fold_pending()
        evaluated: Evaluated | None = None
        finished: RunFinished | None = None
        progress = self.query_one(ProgressPanel)
        for event in folded:
            if isinstance(event, BatchProgress):
                self.progress_shown = False
                continue
            if isinstance(event, DownloadProgress):
                progress.show_download(event)
                continue
            self.query_one(EventLog).add_event(event)
            if isinstance(event, Evaluated):
                evaluated = event
                continue
            self.draw_progress()  # before a message below, so no later tick overwrites it with older figures
            if isinstance(event, PauseChanged):
                if event.paused:
                    self.query_one("#loss-chart", LineChart).flush()  # the tick draws it no more until resumed
                paused = f"paused at epoch {event.epoch}, step {event.step}: press p to resume"
                progress.show_message(paused if event.paused else "resumed")
            elif isinstance(event, RunFinished):
                finished = event
                progress.show_message(f"{live.status}: {run_result(event.summary) or event.message}")
                for chart in self.query(LineChart):
                    chart.flush()
            elif isinstance(event, RunStarted):
                if live.progress is None:  # no batch drawn yet: the bar may still show the dataset's download
                    progress.reset()
                progress.show_message(f"training in {event.run_dir}")
        if evaluated is not None:
            self.refresh_charts()
        self.draw_progress()
        if folded:
            self.post_message(self.Drawn(evaluated, finished))

    def draw_progress(self) -> None:
        if self.progress_shown or self.live is None or self.live.progress is None:
            return
        self.progress_shown = True
        self.query_one(ProgressPanel).show(self.live.progress)
        loss_chart = self.query_one("#loss-chart", LineChart)
        loss_chart.show(self.live.loss_lines(), "waiting for the first batch", schedule=False)

    def refresh_charts(self) -> None:
        live = self.live or LiveRun()
        self.query_one("#loss-chart", LineChart).show(live.loss_lines(), "waiting for the first batch")
        self.query_one("#accuracy-chart", LineChart).show(live.accuracy_lines(), "waiting for the first epoch")
