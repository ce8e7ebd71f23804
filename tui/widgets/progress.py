"""Epoch and step, throughput, elapsed time and ETA, all from the latest BatchProgress event."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from engine.events import BatchProgress, DownloadProgress
from tui.formatting import download_text, format_duration

IDLE_MESSAGE = "no run yet: press s to start one with the current setup"


def progress_text(progress: BatchProgress) -> str:
    return (
        f"epoch {progress.epoch}/{progress.epochs}  step {progress.step}/{progress.steps_per_epoch}"
        f"  loss {progress.loss:.4f}  {progress.images_per_second:,.0f} img/s"
        f"  elapsed {format_duration(progress.elapsed_seconds)}  ETA {format_duration(progress.eta_seconds)}"
    )


class ProgressPanel(Widget):
    """One line of figures over a bar for the whole run (all epochs' steps).

    One widget, repainted only when the display tick hands it new progress: every screen update costs the UI
    thread (and so training) time, and Textual's ProgressBar repaints on a timer of its own.
    """

    DEFAULT_CSS = """
    ProgressPanel {
        height: 2;
    }
    ProgressPanel > .progress-panel--bar {
        color: $primary;
    }
    ProgressPanel > .progress-panel--back {
        color: $surface-lighten-1;
    }
    ProgressPanel > .progress-panel--done {
        color: $success;
    }
    """
    COMPONENT_CLASSES = {"progress-panel--bar", "progress-panel--back", "progress-panel--done"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.message = IDLE_MESSAGE
        self.title = ""  # what the figures and messages are about, when it needs saying (a sweep's trial)
        self.completed: int = 0
        self.total: int | None = 1

    @property
    def fraction(self) -> float:
        return min(self.completed / self.total, 1.0) if self.total else 0.0

    def render(self) -> RenderableType:
        bar = ProgressBar(
            total=self.total,
            completed=self.completed,
            style=self.get_component_rich_style("progress-panel--back"),
            complete_style=self.get_component_rich_style("progress-panel--bar"),
            finished_style=self.get_component_rich_style("progress-panel--done"),
        )
        bar_row = Table.grid(expand=True)
        bar_row.add_column(ratio=1)
        bar_row.add_column(width=5, justify="right")
        bar_row.add_row(bar, f"{self.fraction:.0%}")
        message = f"{self.title} · {self.message}" if self.title else self.message
        return Group(Text(message, no_wrap=True, overflow="ellipsis"), bar_row)

    def show(self, progress: BatchProgress) -> None:
        self.message = progress_text(progress)
        self.completed, self.total = progress.global_step, progress.epochs * progress.steps_per_epoch
        self.refresh()

    def show_download(self, progress: DownloadProgress) -> None:
        """The dataset coming in on first use: the file, bytes done of the total, and the rate."""
        self.message = download_text(progress)
        self.completed, self.total = progress.done_bytes, progress.total_bytes  # None: a pulsing bar
        self.refresh()

    def show_count(self, message: str, completed: int, total: int) -> None:
        """Any other work counted against its total (the learning-rate range test's batches)."""
        self.message = message
        self.completed, self.total = completed, total
        self.refresh()

    def show_message(self, message: str) -> None:
        self.message = message
        self.refresh()

    def reset(self) -> None:
        self.completed, self.total = 0, 1
        self.refresh()
