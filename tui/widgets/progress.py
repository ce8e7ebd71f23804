"""Epoch and step, throughput, elapsed time and ETA, all from the latest BatchProgress event."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static

from engine.events import BatchProgress
from tui.formatting import format_duration


def progress_text(progress: BatchProgress) -> str:
    return (
        f"epoch {progress.epoch}/{progress.epochs}  step {progress.step}/{progress.steps_per_epoch}"
        f"  loss {progress.loss:.4f}  {progress.images_per_second:,.0f} img/s"
        f"  elapsed {format_duration(progress.elapsed_seconds)}  ETA {format_duration(progress.eta_seconds)}"
    )


class ProgressPanel(Vertical):
    """A bar over the whole run (all epochs' steps) and one line of figures."""

    def compose(self) -> ComposeResult:
        yield Static("no run yet: press s to start one with the current setup", id="progress-text")
        yield ProgressBar(total=1, show_eta=False, id="progress-bar")

    def show(self, progress: BatchProgress) -> None:
        self.set_text(progress_text(progress))
        self.query_one(ProgressBar).update(
            total=progress.epochs * progress.steps_per_epoch, progress=progress.global_step
        )

    def show_message(self, message: str) -> None:
        self.set_text(message)

    def set_text(self, text: str) -> None:
        # The line is one row high (app.tcss), so new text never resizes it: repaint only, no screen-wide layout.
        self.query_one("#progress-text", Static).update(text, layout=False)

    def reset(self) -> None:
        self.query_one(ProgressBar).update(total=1, progress=0)
