"""The Train tab: the live run's progress line and bar, the system pane, its loss and accuracy charts, and the log.

It owns the run it shows as the dashboard knows it (a LiveRun) and the display tick that draws it. That run is
either trained here or followed: trained by another process, its events read back from its progress.jsonl. The
training thread (or, for a followed run, the monitor) queues every event in `LiveRun.pending`, in order; those in
TICK_EVENTS (up to twenty progress events a second, and on a GPU several epochs a second) wait for the
once-a-second tick, the others post an EngineEvent that draws the queue at once. Either way the UI thread wakes
once and redraws once, through the one renderer below.

The monitor, a thread worker started by the tick, reads a followed run's new records and samples the system pane's
process (the followed run's trainer, else this one), so neither a large progress.jsonl nor NVML holds up the UI.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.worker import Worker

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
from engine.progress import LIVE, ProgressFollower
from engine.runs import read_summary, running_pid
from engine.system import SystemSample, SystemSampler, cuda_indices
from tui.engine_api import SamplerFactory, SystemSource
from tui.formatting import run_result
from tui.live_run import LiveRun
from tui.messages import EngineEvent
from tui.widgets.charts import LineChart
from tui.widgets.log import EventLog
from tui.widgets.progress import ProgressPanel
from tui.widgets.system import SystemPane

PROGRESS_DISPLAY_INTERVAL = 1.0  # seconds between redraws of the progress line while training
# Drawn by the display tick; the others at once.
TICK_EVENTS = (BatchProgress, DownloadProgress, EpochEnded, Evaluated, CheckpointSaved)
LOSS_CHART_INTERVAL = 1.0  # seconds between redraws of the per-step loss chart (others change per epoch)...
LOSS_CHART_CPU_SHARE = 0.005  # ...or longer, so its redraws take at most 0.5% of one core (every ~3 s at 120x40)
DIED_MESSAGE = "its trainer process ended without finishing (killed, or the machine restarted)"


@dataclass
class FollowedRun:
    """A run trained by another process, shown here from its progress.jsonl."""

    run_dir: Path
    pid: int | None  # its trainer's process, when it was opened
    follower: ProgressFollower
    queue: Callable[[Event], None]  # into the LiveRun's pending events, as a local trainer's emit
    finished: bool = False  # its RunFinished was read (or, for a trainer that died, made up)

    def read_new_records(self) -> None:
        """Queue the events written since the last call; a trainer gone without a RunFinished queues one saying so.

        Runs on the monitor's thread."""
        gone = self.follower.progress.status not in LIVE  # asked first: a trainer gone has written all its records
        records = self.follower.poll()
        for record in records:
            self.finished = self.finished or isinstance(record.event, RunFinished)
            self.queue(record.event)
        if gone and not records and not self.finished:  # its last record lost (a full disk), or the trainer killed
            self.finished = True
            summary = read_summary(self.run_dir) or {}
            status = summary.get("status", "interrupted")
            self.queue(RunFinished(status, summary.get("message", DIED_MESSAGE), str(self.run_dir), summary))

    @property
    def live(self) -> bool:
        return not self.finished


class TrainTab(Vertical):
    """Mount:  `with TabPane("Train"): yield TrainTab()`
    Drive:  `emit = tab.begin()` for each new run (`tab.begin("sweep")` for a sweep's trials, one after another),
            then `emit(event)` from the training thread; or
            `tab.follow(run_dir)` to show a run another process trains;
            `tab.show_message(text)` and `tab.log_line(level, text)` from the app.
    Posts:  `TrainTab.Drawn(evaluated, finished, restarted)` after drawing queued events, for the app's header and
            the other tabs (the newest evaluation, the run's end, a sweep's next trial), bubbling up to the app.
    """

    DEFAULT_CSS = """
    TrainTab { height: 1fr; }
    """

    class Drawn(Message):
        def __init__(self, evaluated: Evaluated | None, finished: RunFinished | None, restarted: bool = False) -> None:
            super().__init__()
            self.evaluated = evaluated
            self.finished = finished
            self.restarted = restarted  # a sweep's next trial began a fresh view

    class SystemSampled(Message, bubble=False):
        def __init__(self, whose: str, sample: SystemSample) -> None:
            super().__init__()
            self.whose = whose
            self.sample = sample

    def __init__(self, *, sampler_factory: SamplerFactory = SystemSampler, id: str | None = None) -> None:
        super().__init__(id=id)
        self.live: LiveRun | None = None
        self.followed: FollowedRun | None = None  # None while the run shown (if any) is trained here
        self.one_view_per_run = False  # a sweep's trials: each RunStarted begins a fresh view
        self.progress_shown = True  # False while a folded BatchProgress waits to be drawn
        self.sampler_factory = sampler_factory
        # The monitor's: the process and GPUs sampled, and their sampler (kept, as CPU % is since the last sample).
        self.sampled: tuple[int, tuple[int, ...]] | None = None
        self.sampler: SystemSource | None = None
        self.monitor_worker: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield ProgressPanel(id="progress")
        yield SystemPane("sampling CPU and memory…", id="system")
        with Horizontal(id="charts"):
            # Plotting is the dashboard's costliest work and competes with training for the same cores.
            yield LineChart("loss", min_interval=LOSS_CHART_INTERVAL, cpu_share=LOSS_CHART_CPU_SHARE, id="loss-chart")
            yield LineChart("accuracy", id="accuracy-chart")
        yield EventLog(id="log")

    def on_mount(self) -> None:
        self.set_interval(PROGRESS_DISPLAY_INTERVAL, self.show_latest_progress)
        self.start_monitor()

    def on_unmount(self) -> None:
        if self.sampler is not None:
            self.sampler.close()

    def begin(self, runs: str = "run") -> Callable[[Event], None]:
        """A new run: its LiveRun, the panels cleared; returns the callback for the training thread's events.
        `runs="sweep"`: the runs of a sweep's trials come one after another through that callback, and each
        RunStarted begins a fresh view of its own."""
        self.followed = None
        self.one_view_per_run = runs == "sweep"
        live = self.live = LiveRun()
        pending = live.pending  # shared by the LiveRuns of the trials that follow
        self.clear_view("starting: loading PyTorch and the dataset…")

        def queue(event: Event) -> None:
            pending.append(event)
            if not isinstance(event, TICK_EVENTS):  # the others wait for the display tick: no wake-up per batch
                self.post_message(EngineEvent(event))

        return queue

    def clear_view(self, message: str) -> None:
        progress = self.query_one(ProgressPanel)
        progress.title = ""
        progress.reset()
        progress.show_message(message)
        self.refresh_charts()

    def follow(self, run_dir: Path) -> None:
        """Show the run another process trains in `run_dir` (or trained: a finished run is shown from its records)."""
        queue = self.begin()
        self.followed = FollowedRun(run_dir, running_pid(run_dir), ProgressFollower(run_dir), queue)
        self.show_message(f"reading {run_dir.name}…")
        self.start_monitor()  # at once, not a second later

    @property
    def following_live(self) -> bool:
        """A run trained by another process is shown, and it has not ended."""
        return self.followed is not None and self.followed.live

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
        self.start_monitor()

    def start_monitor(self) -> None:
        """One monitor at a time (a slow NVML call must not let two read the same follower); a busy one is let be."""
        if self.monitor_worker is None or self.monitor_worker.is_finished:
            self.monitor_worker = self.monitor()

    @work(thread=True, exit_on_error=False, group="monitor")
    def monitor(self) -> None:
        """Read a followed run's new records, then sample the system pane's process; posts SystemSampled."""
        followed = self.followed
        if followed is not None and followed.live:
            followed.read_new_records()
        whose, target = self.sample_target(followed)
        sampler = self.sampler
        if sampler is None or target != self.sampled:
            if sampler is not None:
                sampler.close()
            sampler = self.sampler = self.sampler_factory(*target)
            self.sampled = target
        self.post_message(self.SystemSampled(whose, sampler.sample()))

    def sample_target(self, followed: FollowedRun | None) -> tuple[str, tuple[int, tuple[int, ...]]]:
        """Whose figures the system pane shows, in words, and (process id, CUDA indices): the followed run's
        trainer while it lives, else this process; the GPUs of the run's device."""
        started = self.live.started if self.live is not None else None
        gpus = tuple(cuda_indices(started.device)) if started is not None else ()
        if followed is not None and followed.live:
            pid = followed.follower.progress.pid or followed.pid
            if pid is not None:
                return f"trainer (process {pid})", (pid, gpus)
        if followed is not None:
            gpus = ()  # the run's GPUs are no longer this run's to show
        return "this dashboard", (os.getpid(), gpus)

    def on_train_tab_system_sampled(self, message: SystemSampled) -> None:
        self.query_one(SystemPane).show(message.whose, message.sample)

    def draw_pending(self) -> None:
        """Fold in the events the training thread queued, in order, and draw what they changed, once (once per run:
        a sweep's next trial begins a fresh view at its RunStarted)."""
        live = self.live
        if live is None or not self.is_attached:
            return
        self.draw_folded(live, live.fold_pending(one_run=self.one_view_per_run))
        while live.next_run_waiting and self.one_view_per_run:
            live = self.live = LiveRun(live.pending)
            self.progress_shown = True
            self.clear_view("starting the next trial…")
            self.draw_folded(live, live.fold_pending(one_run=True), restarted=True)

    def draw_folded(self, live: LiveRun, folded: list[Event], restarted: bool = False) -> None:
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
                trained = "followed: trained by another process in" if self.followed else "training in"
                sweep, trial = event.config.get("sweep"), event.config.get("trial")
                progress.title = f"sweep {sweep} trial {trial}" if sweep is not None else ""
                progress.show_message(f"{trained} {event.run_dir}")
        if evaluated is not None:
            self.refresh_charts()
        self.draw_progress()
        if folded:
            self.post_message(self.Drawn(evaluated, finished, restarted))

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
