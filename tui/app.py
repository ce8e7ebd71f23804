"""The dashboard: seven tabs, every action on a key, and the lifecycle of the run (or the sweep) it trains.

The first frame draws before torch is imported: the device and model lists, the trainer and the exporter
are loaded by thread workers. Each tab owns its widgets and its work (tui/tabs/); the Train tab draws the
engine's events, which the training thread hands it without blocking (see tui/tabs/train.py).

Runs trained by other processes (headless, detached, another dashboard) are watched as `mnist-tui runs --watch`
watches them: once a second, a stat per run. The Runs tab shows their live rows; the Train tab follows one, and `x`
stops it through its run lock, as `mnist-tui stop` does.

A sweep (Setup's fields holding lists or ranges) trains in a thread worker as a run does, through engine.sweeps'
Sweep: its trials' events reach the Train tab through the same queue, one trial after another, and the Sweep tab
shows the table of its trials.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer, Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from engine.config import RunConfig, recipe_config
from engine.events import Event, RunFinished
from engine.progress import LIVE, PROGRESS_FILE, ProgressFollower, RunProgress
from engine.runs import RunRecord, RunsError, list_runs, running_pid, signal_trainer
from engine.sweeps import TrialUpdate
from engine.system import SystemSampler
from tui.background import REFRESH_SECONDS, poll_runs
from tui.engine_api import (
    Catalog,
    DigitClassifier,
    DrivenSweep,
    DrivenTrainer,
    RangeTester,
    SamplerFactory,
    SweepFactory,
    TrainerFactory,
)
from tui.formatting import run_result
from tui.live_run import LiveRun
from tui.live_sweep import SweepPlan
from tui.messages import CatalogFailed, CatalogLoaded, ExportFailed, ExportFinished, RunsLoaded, RunsProgressed
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.lr_find import ChosenRate, LrFindScreen
from tui.signals import SIGNAL_EXIT, STOP_SIGNAL, detach_from_terminal, is_hang_up
from tui.tabs.confusion import ConfusionTab
from tui.tabs.draw import DrawTab, load_predictor
from tui.tabs.mistakes import Inspector, MistakesTab, score_run
from tui.tabs.runs import RunsPanel
from tui.tabs.setup import SetupPanel
from tui.tabs.sweep import SweepTab, load_sweep_class
from tui.tabs.train import TrainTab

# Those that end the dashboard from outside: Ctrl+C is a key here (the terminal is in raw mode), not a signal.
ENDING_SIGNALS = tuple(number for number in SIGNAL_EXIT if number != signal.SIGINT)
TrainerBuilder = Callable[[TrainerFactory, Callable[[Event], None]], DrivenTrainer]
Exporter = Callable[[Path, Path], tuple[list[Path], str | None]]


def load_catalog() -> Catalog:
    """The devices and models of this machine; imports torch, so it runs in a worker."""
    from engine.devices import list_devices
    from engine.models import describe_models

    return list_devices(), describe_models()


def load_trainer_class() -> TrainerFactory:
    from engine.trainer import Trainer

    return Trainer


def load_range_tester() -> RangeTester:
    from engine.lr_find import range_test

    return range_test


def export_files(run_dir: Path, data_dir: Path) -> tuple[list[Path], str | None]:
    """PNGs and CSV, then mistakes.png; (paths, warning when mistakes.png was skipped)."""
    from engine.export import export_with_mistakes

    return export_with_mistakes(run_dir, data_dir)


class MnistTuiApp(App[int]):
    """Build it through the keyword arguments to inject what varies (tests use fixed catalogs, fake trainers)."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "mnist-tui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    # Priority, so pickers and tables cannot swallow them. A focused number field still gets the digits
    # and "e" (as in 1e-3): Textual leaves out the bindings of keys the focused widget consumes.
    BINDINGS = [
        Binding("s", "start", "Start", priority=True),
        Binding("p", "pause", "Pause/resume", priority=True),
        Binding("x", "stop", "Stop", priority=True),
        Binding("e", "export", "Export", priority=True),
        Binding("l", "lr_find", "LR range test", priority=True),
        Binding("question_mark", "help", "Help", key_display="?", priority=True),
        Binding("q", "quit", "Quit", priority=True),
        Binding("1", "switch_tab(1)", "Tabs", key_display="1-7", priority=True),
        *(Binding(str(n), f"switch_tab({n})", show=False, priority=True) for n in range(2, 10)),
    ]

    def __init__(
        self,
        *,
        data_dir: Path,
        runs_dir: Path,
        preset: dict[str, Any] | None = None,
        start: bool = False,
        catalog_loader: Callable[[], Catalog] = load_catalog,
        trainer_loader: Callable[[], TrainerFactory] = load_trainer_class,
        range_tester_loader: Callable[[], RangeTester] = load_range_tester,
        sweep_loader: Callable[[], SweepFactory] = load_sweep_class,
        exporter: Exporter = export_files,
        runs_loader: Callable[[Path], list[RunRecord]] = list_runs,
        inspector: Inspector = score_run,
        classifier_loader: Callable[[Path], DigitClassifier] = load_predictor,
        system_sampler: SamplerFactory = SystemSampler,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.runs_dir = Path(runs_dir)
        preset = dict(preset or {})
        # The preset (the command line's options) over its model's recipe: applied here, once.
        self.initial_config = recipe_config(preset.pop("model", RunConfig.model), **preset)
        self.start_on_ready = start
        self.catalog_loader = catalog_loader
        self.trainer_loader = trainer_loader
        self.range_tester_loader = range_tester_loader
        self.sweep_loader = sweep_loader
        self.exporter = exporter
        self.runs_loader = runs_loader
        self.inspector = inspector
        self.classifier_loader = classifier_loader
        self.system_sampler = system_sampler
        self.run_followers: dict[str, ProgressFollower] = {}  # the watcher's, by run name
        self.watched_rows: dict[str, RunProgress] | None = None  # the watcher's latest rows
        self.watch_worker: Worker[None] | None = None
        self.catalog_ready = False
        self.trainer: DrivenTrainer | None = None
        self.train_tab_shown: TrainTab | None = None  # once composed
        self.training_worker: Worker[None] | None = None
        self.sweep: DrivenSweep | None = None  # the sweep training (or last trained), once built
        self.sweep_launched = False  # the last thing started was a sweep: the header speaks of it
        self.stop_requested = threading.Event()
        self.signal_exit_status: int | None = None  # set by SIGTERM or SIGHUP: the status the app exits with
        self.previous_signal_handlers: dict[int, Any] = {}

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False, icon="▦")
        with TabbedContent(initial="setup", id="tabs"):
            with TabPane("1 Setup", id="setup"):
                yield SetupPanel(self.initial_config, runs_dir=self.runs_dir, id="setup-panel")
            with TabPane("2 Train", id="train"):
                self.train_tab_shown = TrainTab(sampler_factory=self.system_sampler, id="train-tab")
                yield self.train_tab_shown
            with TabPane("3 Confusion", id="confusion"):
                yield ConfusionTab(id="confusion-view")
            with TabPane("4 Runs", id="runs"):
                yield RunsPanel(id="runs-panel")
            with TabPane("5 Mistakes", id="mistakes"):
                yield MistakesTab(
                    data_dir=self.data_dir, runs_dir=self.runs_dir, inspector=self.inspector, id="mistakes-tab"
                )
            with TabPane("6 Draw", id="draw"):
                yield DrawTab(runs_dir=self.runs_dir, loader=self.classifier_loader, id="draw-tab")
            with TabPane("7 Sweep", id="sweep"):
                yield SweepTab(
                    runs_dir=self.runs_dir, data_dir=self.data_dir, sweep_loader=self.sweep_loader, id="sweep-tab"
                )
        yield Footer()

    def on_mount(self) -> None:
        self.install_signal_handlers()
        self.update_header()
        self.load_catalog_worker()
        self.load_runs_worker()
        self.watch_runs()
        self.set_interval(REFRESH_SECONDS, self.watch_runs)
        self.log_line("info", f"data folder {self.data_dir}; runs folder {self.runs_dir}")

    # --- the run's lifecycle: start (or resume), train in a worker, pause, stop, end ----------------

    def action_start(self) -> None:
        if self.is_training:
            what = "a sweep is running" if self.sweep_launched else "a run is already training"
            self.notify(f"{what}: stop it with x first", severity="warning")
            return
        if not self.catalog_ready:
            self.notify("still loading PyTorch and the model list: press s again in a moment", severity="warning")
            return
        if self.setup_refused("cannot start"):
            return
        if self.setup_panel.sweep is not None:
            self.launch_sweep(self.setup_panel.sweep)
            return
        config = self.setup_panel.config()
        self.launch(
            lambda trainer_class, emit: trainer_class(config, runs_dir=self.runs_dir, data_dir=self.data_dir, emit=emit)
        )
        self.log_line("info", f"starting {config.model} on {config.dataset} ({config.epochs} epochs, {config.device})")

    def setup_refused(self, title: str) -> bool:
        """True, with the reasons in a toast and the first invalid field focused, while a setting is invalid."""
        setup = self.setup_panel
        errors = setup.validate_fields()
        if errors:
            listed = "; ".join(f"{name.replace('_', ' ')}: {message}" for name, message in errors.items())
            self.dashboard.query_one(TabbedContent).active = "setup"
            setup.focus_first_error()
            self.notify(f"fix the setup first ({listed})", title=title, severity="error")
        return bool(errors)

    def on_runs_panel_resume_requested(self, message: RunsPanel.ResumeRequested) -> None:
        if self.is_training:
            self.notify("a run is already training: stop it with x first", severity="warning")
            return
        run_dir = message.run.path
        self.log_line("info", f"resuming {run_dir}")
        self.launch(lambda trainer_class, emit: trainer_class.from_run(run_dir, data_dir=self.data_dir, emit=emit))

    def launch(self, build: TrainerBuilder) -> None:
        self.trainer = None
        self.sweep_launched = False
        self.stop_requested.clear()
        emit = self.train_tab.begin()
        self.dashboard.query_one(ConfusionTab).waiting()
        self.dashboard.query_one(TabbedContent).active = "train"
        self.training_worker = self.train_worker(build, emit)
        self.update_header()

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def train_worker(self, build: TrainerBuilder, queue: Callable[[Event], None]) -> None:
        worker = get_current_worker()

        def emit(event: Event) -> None:
            if worker.is_cancelled:
                self.stop_training()
            queue(event)

        trainer = build(self.trainer_loader(), emit)
        self.trainer = trainer
        if self.stop_requested.is_set() or worker.is_cancelled:
            trainer.stop()  # the stop came while torch was loading: end before the first batch
        trainer.run()

    # --- the learning-rate range test (Setup's l): nothing is trained for keeps, nothing is written --------

    def action_lr_find(self) -> None:
        if not self.catalog_ready:
            self.notify("still loading PyTorch and the model list: press l again in a moment", severity="warning")
            return
        if self.setup_refused("cannot run the range test"):
            return
        if self.setup_panel.sweep is not None:
            self.notify("the range test trains one setup: give each field one value", title="cannot run the range test")
            return
        screen = LrFindScreen(self.setup_panel.config(), self.data_dir, self.range_tester_loader)
        self.push_screen(screen, callback=self.range_test_closed)

    def range_test_closed(self, choice: ChosenRate | None) -> None:
        if choice is None:  # escape: the learning rate stays as it was
            return
        self.setup_panel.set_field("lr", f"{choice.rate:g}")
        text = (
            f"learning rate {choice.rate:g} from the range test"
            f" (suggested {choice.suggested:.2g}, {choice.batches} batches)"
        )
        self.log_line("info", text)
        self.notify(text, title="learning rate set")

    def launch_sweep(self, plan: SweepPlan) -> None:
        """Start the sweep in a worker; the Sweep tab shows its table, the Train tab each trial in turn."""
        spec = plan.spec
        self.trainer = None
        self.sweep = None
        self.sweep_launched = True
        self.stop_requested.clear()
        queue = self.train_tab.begin("sweep")
        self.dashboard.query_one(ConfusionTab).waiting()
        on_update = self.sweep_tab.begin(plan, queue)
        self.action_switch_tab(7)
        self.training_worker = self.sweep_worker(plan, on_update)
        started = "continuing" if plan.continues else "starting"
        text = f"{started} sweep {spec.name}: {spec.budget} trials"
        self.notify(text + (" in all, those done count" if plan.continues else ""), title="sweep")
        over = ", ".join(sorted(spec.space))
        self.log_line(
            "info",
            f"{text} ({spec.sampler} over {over}), {len(plan.devices)} at a time on {', '.join(plan.devices)};"
            f" study in {self.runs_dir / 'sweeps' / spec.name}",
        )
        self.update_header()

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def sweep_worker(self, plan: SweepPlan, on_update: Callable[[TrialUpdate], None]) -> None:
        worker = get_current_worker()

        def update(trial_update: TrialUpdate) -> None:
            if worker.is_cancelled:
                self.stop_training()
            on_update(trial_update)

        sweep_tab = self.sweep_tab
        sweep = self.sweep_loader()(
            plan.spec,
            runs_dir=self.runs_dir,
            data_dir=self.data_dir,
            devices=plan.devices,
            jobs=len(plan.devices),
            on_update=update,
            on_trial_end=sweep_tab.trial_ended,
        )
        self.sweep = sweep
        sweep_tab.post_message(SweepTab.Built(sweep))
        if self.stop_requested.is_set() or worker.is_cancelled:
            sweep.stop()  # the stop came while torch was loading: start no trial
        sweep.run()

    def on_sweep_tab_ended(self, message: SweepTab.Ended) -> None:
        self.log_line(message.level, message.text)
        self.notify(message.toast, title="sweep", severity="error" if message.level == "error" else "information")
        self.setup_panel.validate_fields()  # its sweep exists now: starting it again continues it
        self.update_header()

    def on_sweep_tab_open_trial(self, message: SweepTab.OpenTrial) -> None:
        """A trial's run: its curves and confusion matrix in the Runs tab, its mistakes and model in the next two."""
        run_dir = message.run_dir
        self.dashboard.query_one(RunsPanel).highlight_run(run_dir.name)
        self.load_runs_worker()
        self.dashboard.query_one(MistakesTab).show_run(run_dir)
        self.dashboard.query_one(DrawTab).use_run(run_dir)
        self.action_switch_tab(4)
        self.notify(f"{run_dir.name}: curves and confusion here, mistakes in tab 5", timeout=4)

    def on_train_tab_drawn(self, message: TrainTab.Drawn) -> None:
        if not self.dashboard_shown:  # a followed run's records can still be drawn as the app shuts down
            return
        if message.restarted:
            self.dashboard.query_one(ConfusionTab).waiting()
        if self.sweep_launched:
            self.sweep_tab.show_running()
        if message.evaluated is not None:
            self.dashboard.query_one(ConfusionTab).show(message.evaluated)
        if message.finished is not None:  # the other tabs show the new run when next looked at
            self.load_runs_worker()
            self.dashboard.query_one(MistakesTab).follow_newest()
            self.dashboard.query_one(DrawTab).follow_newest()
        self.update_header()

    def action_pause(self) -> None:
        if self.sweep_launched:
            self.notify("a sweep does not pause: x stops it, and starting it again goes on", severity="warning")
            return
        if self.trainer is None or self.live is None:
            self.notify("the run is still starting: pause once it trains", severity="warning")
            return
        if self.trainer.paused:
            self.trainer.resume()
            self.train_tab.show_message("resuming…")
        else:
            self.trainer.pause()
            self.train_tab.show_message("pausing after this batch…")

    def action_stop(self) -> None:
        followed = self.train_tab.followed
        if not self.is_training and followed is not None and self.train_tab.following_live:
            name = followed.run_dir.name
            self.push_screen(
                ConfirmScreen(
                    f"Stop {name}, trained by process {followed.pid or '?'}? It stops after its current batch; finished"
                    " epochs, checkpoints and summary.json are kept."
                ),
                callback=lambda confirmed: self.stop_followed(followed.run_dir) if confirmed else None,
            )
            return
        self.stop_training()
        if self.sweep_launched:
            self.log_line(
                "warning",
                "stopping the sweep: its running trials end as stopped after their current batch, and no other"
                " starts; starting the same sweep again goes on",
            )
        else:
            self.log_line("warning", "stopping after the current batch: finished epochs and checkpoints are kept")
        self.update_header()

    def stop_followed(self, run_dir: Path) -> None:
        """Stop a run another process trains as `mnist-tui stop` does: through its run lock, so a process that
        merely reuses the trainer's id is never signalled. Its end shows when its trainer records it."""
        try:
            pid = signal_trainer(run_dir, STOP_SIGNAL)
        except RunsError as error:
            self.notify(str(error), title="nothing to stop", severity="warning")
            return
        self.log_line("warning", f"asked process {pid} to stop {run_dir.name} after its current batch")
        self.train_tab.show_message("stopping after the current batch…")

    def follow_run(self, run_dir: Path) -> None:
        """Show a run trained by another process in the Train tab (a finished one from its records)."""
        if self.is_training:
            self.notify("a run is training here: the Train tab shows it until it ends", severity="warning")
            return
        if not (run_dir / PROGRESS_FILE).is_file() and running_pid(run_dir) is None:
            self.notify(f"{run_dir.name} has no {PROGRESS_FILE} (trained by an older version): see it in the Runs tab")
            return
        self.train_tab.follow(run_dir)
        self.dashboard.query_one(ConfusionTab).waiting()
        self.log_line("info", f"following {run_dir.name}")
        self.update_header()
        self.refresh_bindings()  # x stops a run followed live

    def on_runs_panel_follow_requested(self, message: RunsPanel.FollowRequested) -> None:
        self.follow_run(message.run.path)
        if self.train_tab.followed is not None and self.train_tab.followed.run_dir == message.run.path:
            self.action_switch_tab(2)

    def stop_training(self) -> None:
        """Safe from any thread; the trainer ends after its current batch and keeps what it finished."""
        self.stop_requested.set()
        if self.trainer is not None:
            self.trainer.stop()
        if self.sweep is not None:
            self.sweep.stop()

    async def action_quit(self) -> None:
        if not self.is_training:
            self.exit(0)
            return
        question = "A run is training. Stop it and quit? Finished epochs and checkpoints are kept."
        spec = self.sweep_tab.spec
        if self.sweep_launched and spec is not None:
            question = (
                f"Sweep {spec.name} is running. Stop its trials and quit? They end as stopped; starting the same sweep"
                f" again (or mnist-tui sweep --resume {spec.name}) goes on."
            )
        self.push_screen(ConfirmScreen(question), callback=self.quit_confirmed)

    def quit_confirmed(self, confirmed: bool | None) -> None:
        if confirmed:
            self.run_worker(self.stop_and_exit(), group="quit")

    async def stop_and_exit(self, return_code: int = 0) -> None:
        """Stop the run after its current batch, wait until its files are written, then exit."""
        self.stop_training()
        self.train_tab.show_message(f"stopping the {'sweep' if self.sweep_launched else 'run'} before quitting…")
        if self.training_worker is not None:
            await self.workers.wait_for_complete([self.training_worker])
        self.exit(return_code=return_code)

    def on_unmount(self) -> None:
        # However the app ends, a paused or running trainer must not keep the process alive.
        self.stop_training()
        for number, handler in self.previous_signal_handlers.items():
            signal.signal(number, handler)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if not self.dashboard_shown:
            return
        worker = event.worker
        if worker.group != "training":
            return
        self.refresh_bindings()  # p and x show in the footer while a run trains
        sweep = worker.name == "sweep_worker"
        if sweep and worker is self.training_worker and worker.is_finished:
            self.sweep_ended(worker)  # which says how it ended, a failure too
        if event.state != WorkerState.ERROR:
            return
        error = worker.error
        message = str(error) or type(error).__name__
        if not sweep:
            self.log_line("error", f"the run could not start: {message}")
            self.notify(message, title="run failed", severity="error", timeout=10)
        self.train_tab.show_message(f"failed: {message}")
        if self.live is not None and self.live.finished is None:
            self.live.apply(RunFinished("failed", message, "", {}))
        self.update_header()

    def sweep_ended(self, worker: Worker[None]) -> None:
        if worker.state == WorkerState.ERROR:
            error = worker.error
            outcome = f"failed: {str(error) or type(error).__name__}"
        elif self.sweep is not None and self.sweep.stopped or worker.state == WorkerState.CANCELLED:
            outcome = "stopped"
        else:
            outcome = "finished"
        self.sweep_tab.ended(outcome, self.sweep)
        self.update_header()

    # --- state and the header -----------------------------------------------------------------------

    @property
    def dashboard(self) -> Screen[Any]:
        """The screen of tabs, also while a dialog is over it (App.query_one looks only in the top screen, and the
        run's events keep coming while a dialog asks)."""
        return self.screen_stack[0]

    @property
    def setup_panel(self) -> SetupPanel:
        return self.dashboard.query_one(SetupPanel)

    @property
    def train_tab(self) -> TrainTab:
        return self.dashboard.query_one(TrainTab)

    @property
    def sweep_tab(self) -> SweepTab:
        return self.dashboard.query_one(SweepTab)

    @property
    def live(self) -> LiveRun | None:
        """The run in progress (or the last one), as the Train tab knows it."""
        return self.train_tab_shown.live if self.train_tab_shown is not None else None

    @property
    def dashboard_shown(self) -> bool:
        """False while the app shuts down: a worker's late result then has no widget to go to."""
        # While the app shuts down, `is_running` is already False but widgets are still being removed.
        return self.is_running and self.train_tab_shown is not None and self.train_tab_shown.is_attached

    @property
    def is_training(self) -> bool:
        return self.training_worker is not None and self.training_worker.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )

    @property
    def status(self) -> str:
        live = self.live
        if live is None:
            return "idle"
        if self.stop_requested.is_set() and live.finished is None:
            return "stopping"
        followed = self.train_tab.followed
        if followed is not None and followed.pid is not None and live.finished is None:
            return f"{live.status} (process {followed.pid})"
        return live.status

    def update_header(self) -> None:
        config = self.setup_panel.config()
        device = config.device
        live = self.live
        if live is not None and live.started is not None:
            started = live.started
            device = started.device_name if started.device == "cpu" else f"{started.device} {started.device_name}"
        result = run_result(live.finished.summary, compact=True) if live and live.finished else ""
        sweep = self.sweep_tab.header_text() if self.sweep_launched else None
        if sweep is not None:  # the sweep's trial, then the trial's own status while one trains
            self.sub_title = f"{sweep} · {self.status}" if self.is_training else sweep
            return
        # A finished run's figures take the place of the dataset and device, so they fit at 80 columns.
        self.sub_title = f"{self.status} · {result}" if result else f"{config.dataset} · {device} · {self.status}"

    def log_line(self, level: str, text: str) -> None:
        self.train_tab.log_line(level, text)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """A toast, and a repaint of the screen once it has gone: while a hidden tab redraws (the Train tab's
        once-a-second tick), Textual 8 leaves an expired toast's pixels over a tab that does not redraw (Draw,
        Sweep) until something there does."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)
        expired = (self.NOTIFICATION_TIMEOUT if timeout is None else timeout) + 0.1
        self.set_timer(expired, self.repaint_after_toast)

    def repaint_after_toast(self) -> None:
        if self.screen_stack:  # the app may be closing, its screens gone, when the timer fires
            self.screen.refresh()

    # --- keys that move around ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ModalScreen):
            return False  # let the dialog's own keys through
        if action == "lr_find":  # a Setup key, shown there only; greyed out while a run trains, which it would slow
            if self.dashboard.query_one(TabbedContent).active != "setup":
                return False
            return None if self.is_training else True
        if action == "start" and self.is_training:
            return None  # shown greyed out
        if action == "stop" and self.train_tab.following_live:
            return True
        if action in ("pause", "stop") and not self.is_training:
            return False  # left out of the footer while nothing trains: at 80 columns it has no room to spare
        if action == "pause" and self.sweep_launched:
            return None  # greyed out: a sweep's trials are not paused
        return True

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_switch_tab(self, number: int) -> None:
        tabs = self.dashboard.query_one(TabbedContent)
        panes = tabs.get_child_by_type(ContentSwitcher).children  # in tab order, whoever added them
        if 1 <= number <= len(panes):
            tabs.active = panes[number - 1].id or ""
            self.focus_first_in(panes[number - 1])

    def focus_first_in(self, pane: Widget) -> None:
        """Put the keyboard in the tab just opened, so its own keys (arrows, space, r) work at once."""
        for widget in self.screen.focus_chain:
            if pane in widget.ancestors:
                widget.focus()
                return

    def on_runs_panel_inspect_requested(self, message: RunsPanel.InspectRequested) -> None:
        self.dashboard.query_one(MistakesTab).show_run(message.run.path)
        self.dashboard.query_one(DrawTab).use_run(message.run.path)
        self.action_switch_tab(5)

    # --- background loading -------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="catalog")
    def load_catalog_worker(self) -> None:
        try:
            devices, models = self.catalog_loader()
        except Exception as error:  # a broken torch install must not take the dashboard down
            self.post_message(CatalogFailed(f"{type(error).__name__}: {error}"))
        else:
            self.post_message(CatalogLoaded(devices, models))

    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        if not self.dashboard_shown:
            return
        self.setup_panel.set_catalog(message.devices, message.models)
        self.catalog_ready = True
        self.update_header()
        if self.start_on_ready:
            self.start_on_ready = False
            self.action_start()

    def on_catalog_failed(self, message: CatalogFailed) -> None:
        if not self.dashboard_shown:
            return
        self.log_line("error", f"could not load PyTorch, so no run can start: {message.error}")

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs")
    def load_runs_worker(self) -> None:
        runs = self.runs_loader(self.runs_dir)
        if not get_current_worker().is_cancelled:  # a newer look at the runs folder took its place
            self.post_message(RunsLoaded(runs))

    def on_runs_loaded(self, message: RunsLoaded) -> None:
        if not self.dashboard_shown:
            return
        self.dashboard.query_one(RunsPanel).set_runs(message.runs)

    def watch_runs(self) -> None:
        """One look at a time: a slow disk must not let two read the same followers."""
        if self.watch_worker is None or self.watch_worker.is_finished:
            self.watch_worker = self.watch_runs_worker()

    @work(thread=True, exit_on_error=False, group="watch")
    def watch_runs_worker(self) -> None:
        """Once a second: every run's live row, a stat per run when nothing changed; posted when one did."""
        rows = poll_runs(self.runs_dir, self.run_followers)
        if rows != self.watched_rows:
            self.watched_rows = rows
            self.post_message(RunsProgressed(rows))

    def on_runs_progressed(self, message: RunsProgressed) -> None:
        if not self.dashboard_shown:
            return
        if self.dashboard.query_one(RunsPanel).show_progress(message.rows):
            self.load_runs_worker()
        live = [name for name, row in message.rows.items() if row.status in LIVE]
        if live and self.live is None and not self.is_training:  # nothing in the Train tab yet: show the newest
            self.follow_run(self.runs_dir / live[0])
            self.notify(f"following {live[0]}, trained by another process: see the Train tab (2)", timeout=6)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()  # the footer shows each tab's own keys
        if event.pane.id == "runs":
            self.load_runs_worker()

    # --- export -------------------------------------------------------------------------------------

    def action_export(self) -> None:
        run_dir = None
        if self.dashboard.query_one(TabbedContent).active == "sweep":
            self.sweep_tab.export()
            return
        if self.dashboard.query_one(TabbedContent).active == "runs":
            run_dir = self.dashboard.query_one(RunsPanel).run_path()
        elif self.live is not None and self.live.started is not None:
            run_dir = Path(self.live.started.run_dir)
        if run_dir is None:
            self.notify("nothing to export yet: start a run, or pick one in the Runs tab (4)", severity="warning")
            return
        self.log_line("info", f"exporting {run_dir}…")
        self.export_worker(run_dir)

    @work(thread=True, exit_on_error=False, group="export")
    def export_worker(self, run_dir: Path) -> None:
        try:
            paths, warning = self.exporter(run_dir, self.data_dir)
        except Exception as error:  # reported in the log and a toast; the run folder is unchanged
            self.post_message(ExportFailed(run_dir, str(error) or type(error).__name__))
        else:
            self.post_message(ExportFinished(run_dir, paths, warning))

    def on_export_finished(self, message: ExportFinished) -> None:
        if not self.dashboard_shown:
            return
        listed = "\n".join(str(path) for path in message.paths)
        self.log_line("success", f"exported {', '.join(str(path) for path in message.paths)}")
        if message.warning:
            self.log_line("warning", message.warning)
        self.notify(listed, title="exported", timeout=8)

    def on_export_failed(self, message: ExportFailed) -> None:
        if not self.dashboard_shown:
            return
        self.log_line("error", f"export failed: {message.error}")
        self.notify(message.error, title="export failed", severity="error", timeout=8)

    # --- signals ------------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """Without these, SIGTERM or a closed SSH session (SIGHUP) would kill the process mid-batch, leaving the
        run without summary.json and with a stale run.pid, and `mnist-tui stop` (STOP_SIGNAL) would kill it
        outright. Installed with signal.signal, not the event loop's add_signal_handler, so a hang-up detaches from
        the dead terminal before the loop runs anything else."""
        if threading.current_thread() is not threading.main_thread():  # only the main thread may set them
            return
        loop = asyncio.get_running_loop()

        def on_signal(number: int, _frame: FrameType | None) -> None:
            if is_hang_up(number):
                detach_from_terminal()
            if self.signal_exit_status is None:
                self.signal_exit_status = SIGNAL_EXIT[number]
                self.stop_training()
                loop.call_soon_threadsafe(self.exit_on_signal)

        def on_stop_signal(_number: int, _frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(self.stop_from_another_process)

        handlers: dict[int, Callable[[int, FrameType | None], None]] = {number: on_signal for number in ENDING_SIGNALS}
        if STOP_SIGNAL not in ENDING_SIGNALS:  # where it is SIGTERM (no SIGUSR1), it ends the dashboard too
            handlers[STOP_SIGNAL] = on_stop_signal
        self.previous_signal_handlers = {number: signal.signal(number, handler) for number, handler in handlers.items()}

    def stop_from_another_process(self) -> None:
        """`mnist-tui stop` (or another dashboard's x) on the run or sweep trial trained here: stopped as with x,
        and the dashboard stays up."""
        if not self.is_training or self.signal_exit_status is not None:  # ended meanwhile, or the app is ending
            return
        self.stop_training()
        if self.sweep_launched:
            self.log_line(
                "warning",
                "stopped from another process (mnist-tui stop): the sweep's running trials end as stopped after"
                " their current batch, and no other starts; starting the same sweep again goes on",
            )
        else:
            self.log_line(
                "warning",
                "stopped from another process (mnist-tui stop): after the current batch; finished epochs and"
                " checkpoints are kept",
            )
        self.update_header()

    def exit_on_signal(self) -> None:
        self.run_worker(self.stop_and_exit(self.signal_exit_status or 0), group="quit")


def run_dashboard(*, data_dir: Path, runs_dir: Path, preset: dict[str, Any] | None = None, start: bool = False) -> int:
    """Open the dashboard; returns the process exit code."""
    app = MnistTuiApp(data_dir=data_dir, runs_dir=runs_dir, preset=preset, start=start)
    result = app.run()
    if app.return_code not in (None, 0):
        return app.return_code
    return result or 0
