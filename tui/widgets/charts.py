"""Line charts through textual-plotext, redrawn at most ten times a second whatever the event rate."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Region
from textual.strip import Strip
from textual.timer import Timer
from textual_plotext import PlotextPlot

from engine.events import EpochEnded
from tui.series import DEFAULT_CAPACITY

T = TypeVar("T")

MIN_REDRAW_INTERVAL = 0.1  # seconds: by default charts redraw at most ~10 times a second
EPOCH_MARKER = "●"
MAX_MARKED_POINTS = 40  # beyond this many epochs the markers would only smear the line
PALETTE = ("cyan", "orange", "green", "magenta", "blue", "red", "yellow")


@dataclass(frozen=True)
class Line:
    label: str
    xs: list[float]
    ys: list[float]
    color: str = "cyan"
    per_epoch: bool = False  # few points: draw markers on them


class LineChart(PlotextPlot):
    """A titled chart of a few lines; `show` may be called per event, the redraw is throttled."""

    def __init__(
        self,
        title: str,
        *,
        min_interval: float = MIN_REDRAW_INTERVAL,
        cpu_share: float | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.title = title
        self.min_interval = min_interval  # seconds between redraws, however often `show` is called
        # The most of one core redraws may take: a chart that is slow to draw (a big terminal, a slow
        # machine) then redraws less often instead of taking time from training.
        self.cpu_share = cpu_share
        self._render_seconds = 0.0  # the last redraw: plotting, then Textual turning the plot into lines
        self._plotted = False
        self.lines: list[Line] = []
        self.placeholder = "no data yet"
        self._last_redraw = 0.0
        self._pending: Timer | None = None

    @property
    def point_count(self) -> int:
        return sum(len(line.xs) for line in self.lines)

    @property
    def redraw_interval(self) -> float:
        if self.cpu_share is None:
            return self.min_interval
        return max(self.min_interval, self._render_seconds / self.cpu_share)

    def show(self, lines: list[Line], placeholder: str = "no data yet", *, schedule: bool = True) -> None:
        """Draw `lines` now if the last redraw is old enough, else later: on a timer, or with `schedule=False`
        at the next `show` or `flush` (for callers on a steady tick: the redraw then shares the tick's screen
        update instead of costing one of its own)."""
        self.lines = [line for line in lines if line.xs]
        self.placeholder = placeholder
        if self._pending is not None:
            return  # the redraw already scheduled will pick these lines up
        wait = self._last_redraw + self.redraw_interval - time.monotonic()
        if wait <= 0:
            self._redraw()
        elif schedule:
            self._pending = self.set_timer(wait, self._redraw)

    def flush(self) -> None:
        """Draw the latest lines now (at the end of a run, so the final state never waits on the throttle)."""
        if self._pending is not None:
            self._pending.stop()
        self._redraw()

    def _redraw(self) -> None:
        self._pending = None
        self._last_redraw = time.monotonic()
        self.refresh()

    def render_lines(self, crop: Region) -> list[Strip]:
        started = time.perf_counter()
        self._plotted = False
        lines = super().render_lines(crop)
        if self._plotted:  # not merely lines from Textual's cache
            self._render_seconds = time.perf_counter() - started
        return lines

    def render(self) -> RenderResult:
        if not self.lines:
            return Text(f"{self.title}: {self.placeholder}", style="dim")
        self._plotted = True
        plt = self.plt
        plt.clear_data()
        plt.title(self.title)
        plt.xlabel("epoch")
        for line in self.lines:
            plt.plot(line.xs, line.ys, marker="braille", label=line.label, color=line.color)
            if line.per_epoch:  # one point per epoch: mark each so a one-epoch run still shows
                plt.scatter(line.xs, line.ys, marker=EPOCH_MARKER, color=line.color)
        return super().render()


def thinned(records: Sequence[T], limit: int = DEFAULT_CAPACITY) -> Sequence[T]:
    """At most `limit` records, evenly spaced, always keeping the last: long runs draw as fast as short ones."""
    if len(records) <= limit:
        return records
    step = (len(records) - 1) / (limit - 1)
    return [records[round(i * step)] for i in range(limit)]


def _per_epoch_line(label: str, epochs: Sequence[EpochEnded], key: str, color: str) -> Line:
    shown = thinned(epochs)
    xs = [float(e.epoch) for e in shown]
    return Line(label, xs, [getattr(e, key) for e in shown], color, per_epoch=len(shown) <= MAX_MARKED_POINTS)


def epoch_lines(epochs: Sequence[EpochEnded], metric: str) -> list[Line]:
    """Train and validation lines of one metric ("loss" or "accuracy") from epoch records."""
    return [
        _per_epoch_line(f"train {metric}", epochs, f"train_{metric}", "cyan"),
        _per_epoch_line(f"val {metric}", epochs, f"val_{metric}", "orange"),
    ]


def comparison_lines(runs: list[tuple[str, list[EpochEnded]]], key: str) -> list[Line]:
    """One line per run of the same per-epoch value, for overlaying several runs."""
    return [_per_epoch_line(name, epochs, key, PALETTE[i % len(PALETTE)]) for i, (name, epochs) in enumerate(runs)]
