"""The `l` screen: the learning-rate range test on the Setup's settings, drawn as it runs; then a cursor on the curve
whose rate `enter` hands back for the learning-rate field.

The test runs in this screen's thread worker and writes nothing (engine.lr_find); escape cancels it after its
current batch. Closing the screen, or quitting the app, cancels the worker too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from engine.config import RunConfig
from engine.events import DownloadProgress
from tui.engine_api import RangeCurve, RangeTester
from tui.messages import EngineEvent, RangeTestProgressed
from tui.widgets.progress import ProgressPanel
from tui.widgets.range_chart import CURSOR_MARKER, SUGGESTED_MARKER, RangeTestChart

BATCHES = 300  # the most batches the ramp takes (engine.lr_find.MAX_BATCHES; that module imports torch)
PROGRESS_INTERVAL = 0.25  # seconds between redraws of the curve while it grows
BIG_STEP = 10  # batches the cursor moves with shift+arrow: a factor of about 1.6 in the rate
MIN_POINTS = 3  # a curve shorter than this has no slope to suggest a rate from
OUT_OF_MEMORY = ("OutOfMemoryError", "MemoryError")  # torch.OutOfMemoryError (CUDA), without importing torch


@dataclass(frozen=True)
class ChosenRate:
    """What `enter` hands back: the cursor's rate to 2 significant figures, and what the test suggested."""

    rate: float
    suggested: float
    batches: int


def rounded(rate: float) -> float:
    """The rate to 2 significant figures: 0.0032, not 0.0031622776601683794."""
    return float(f"{rate:.2g}")


def readout(curve: RangeCurve, cursor: int) -> str:
    suggested = curve.rates[curve.suggested_index]
    return (
        f"{CURSOR_MARKER} lr {curve.rates[cursor]:.1e} · loss {curve.smoothed_losses[cursor]:.2f}"
        f"  ({SUGGESTED_MARKER} suggested {suggested:.1e})"
    )


def failure_text(error: BaseException) -> str:
    message = str(error) or type(error).__name__
    if type(error).__name__ in OUT_OF_MEMORY or "out of memory" in message:  # MPS says so in a RuntimeError
        message += " (try a smaller batch size)"
    return message


class LrFindScreen(ModalScreen[ChosenRate | None]):
    """Dismissed with the chosen rate on enter, with None on escape (which also stops a test still running)."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("left", "move(-1)", show=False),
        Binding("right", "move(1)", show=False),
        Binding("shift+left,pageup", f"move(-{BIG_STEP})", show=False),
        Binding("shift+right,pagedown", f"move({BIG_STEP})", show=False),
        Binding("home", "move_to(0)", show=False),
        Binding("end", "move_to(-1)", show=False),
        Binding("s", "suggested", show=False),
        Binding("enter", "choose", "Use this rate"),
    ]

    def __init__(self, config: RunConfig, data_dir: Path, loader: Callable[[], RangeTester]) -> None:
        super().__init__()
        self.config = config
        self.data_dir = data_dir
        self.loader = loader  # imports torch, so it is called in the worker
        self.curve: RangeCurve | None = None  # the whole curve, once the test is done
        self.cursor = 0
        self.worker: Worker[RangeCurve] | None = None

    def compose(self) -> ComposeResult:
        config = self.config
        with Vertical(id="lr-find-dialog"):
            yield Static(
                f"[b]learning-rate range test[/b]  {config.model} on {config.dataset}, {config.optimizer},"
                f" batch size {config.batch_size}, {config.device}",
                id="lr-find-title",
            )
            yield ProgressPanel(id="lr-find-progress")
            yield RangeTestChart(id="lr-find-chart")
            yield Static("the suggested rate, and a cursor to pick one, once the test ends", id="lr-find-readout")
            yield Static("escape cancels the test", id="lr-find-keys")

    def on_mount(self) -> None:
        self.query_one(ProgressPanel).show_count("loading PyTorch and the training images…", 0, BATCHES)
        self.worker = self.range_test_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="lr-find")
    def range_test_worker(self) -> RangeCurve:
        worker = get_current_worker()
        last_posted = 0.0

        def on_progress(curve: RangeCurve) -> None:
            nonlocal last_posted
            now = time.monotonic()
            if now - last_posted >= PROGRESS_INTERVAL:
                last_posted = now
                self.post_message(RangeTestProgressed(curve))

        def on_download(progress: DownloadProgress) -> None:
            self.post_message(EngineEvent(progress))

        tester = self.loader()
        return tester(
            self.config,
            self.data_dir,
            batches=BATCHES,
            should_stop=lambda: worker.is_cancelled,
            on_progress=on_progress,
            on_download=on_download,
        )

    # --- while it runs ------------------------------------------------------------------------------

    def on_engine_event(self, message: EngineEvent) -> None:
        if isinstance(message.event, DownloadProgress):  # the dataset on first use
            self.query_one(ProgressPanel).show_download(message.event)

    def on_range_test_progressed(self, message: RangeTestProgressed) -> None:
        if self.curve is not None:
            return  # a last update overtaken by the result
        curve = message.curve
        self.query_one(ProgressPanel).show_count(
            f"batch {len(curve.rates)} of at most {BATCHES} · lr {curve.rates[-1]:.1e}"
            f" · loss {curve.smoothed_losses[-1]:.2f}",
            len(curve.rates),
            BATCHES,
        )
        self.query_one(RangeTestChart).show(curve)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker:
            return
        if event.state == WorkerState.SUCCESS and event.worker.result is not None:
            self.finished(event.worker.result)
        elif event.state == WorkerState.ERROR and event.worker.error is not None:
            self.failed(failure_text(event.worker.error))

    def finished(self, curve: RangeCurve) -> None:
        done = len(curve.rates)
        if done < MIN_POINTS:
            self.failed("the loss was nan or infinite from the first batches: there is no curve to read a rate from")
            return
        self.curve, self.cursor = curve, curve.suggested_index
        ending = "" if done >= BATCHES else f", ended early: the loss diverged at lr {curve.rates[-1]:.1e}"
        self.query_one(ProgressPanel).show_count(f"done: {done} batches{ending}", done, done)
        self.query_one("#lr-find-keys", Static).update(
            "←/→ move (shift: 10 batches)  s suggested  enter use this rate  escape close"
        )
        self.show_cursor()

    def failed(self, message: str) -> None:
        self.query_one(ProgressPanel).show_message("the range test failed")
        self.query_one(RangeTestChart).display = False
        self.query_one("#lr-find-readout", Static).update(Text.assemble(("✗ ", "bold red"), message))
        self.query_one("#lr-find-keys", Static).update("escape closes; the learning rate is unchanged")

    # --- the cursor -----------------------------------------------------------------------------------

    def show_cursor(self) -> None:
        if self.curve is None:
            return
        self.query_one(RangeTestChart).show(self.curve, self.cursor)
        self.query_one("#lr-find-readout", Static).update(readout(self.curve, self.cursor))

    def action_move(self, batches: int) -> None:
        if self.curve is not None:
            self.cursor = max(0, min(self.cursor + batches, len(self.curve.rates) - 1))
            self.show_cursor()

    def action_move_to(self, index: int) -> None:
        if self.curve is not None:
            self.cursor = index % len(self.curve.rates)
            self.show_cursor()

    def action_suggested(self) -> None:
        if self.curve is not None:
            self.action_move_to(self.curve.suggested_index)

    def action_choose(self) -> None:
        curve = self.curve
        if curve is not None:
            suggested = curve.rates[curve.suggested_index]
            self.dismiss(ChosenRate(rounded(curve.rates[self.cursor]), suggested, len(curve.rates)))

    def action_close(self) -> None:
        if self.worker is not None:
            self.worker.cancel()  # the test stops after its current batch
        self.dismiss(None)
