"""The learning-rate range test's curve: loss against log10 learning rate, the suggested rate and a cursor marked."""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from tui.engine_api import RangeCurve

SUGGESTED_MARKER = "▼"  # markers as well as colours: the two vertical lines look alike without colour
CURSOR_MARKER = "●"


def decade_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Whole powers of ten between low and high (log10 values), labelled as rates: 1e-6, 1e-5, ..."""
    ticks = [float(d) for d in range(math.ceil(low), math.floor(high) + 1)]
    return ticks, [f"1e{int(d)}" for d in ticks]


class RangeTestChart(PlotextPlot):
    """The raw loss (grey) and the smoothed loss (cyan) against log10 of the rate; once the test is done, the
    suggested rate (red, ▼) and the cursor (yellow, ●) as vertical lines."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.curve: RangeCurve | None = None
        self.cursor: int | None = None  # an index into the curve; None while the test runs
        self.placeholder = "no batches yet"

    def show(self, curve: RangeCurve, cursor: int | None = None) -> None:
        self.curve, self.cursor = curve, cursor
        self.refresh()

    def render(self) -> RenderResult:
        curve = self.curve
        if curve is None or len(curve.rates) < 2:
            return Text(self.placeholder, style="dim")
        xs = [math.log10(rate) for rate in curve.rates]
        smoothed = list(curve.smoothed_losses)
        low = min(min(curve.losses), min(smoothed))
        high = max(smoothed)
        high += (high - low) * 0.05 or 0.1
        plt = self.plt
        plt.clear_figure()
        # The raw loss shoots up once the rate is too high: held at the top edge, it leaves the curve readable.
        plt.plot(xs, [min(loss, high) for loss in curve.losses], marker="braille", color="gray")
        plt.plot(xs, smoothed, marker="braille", color="cyan")
        plt.xlim(xs[0], xs[-1])
        plt.ylim(low, high)
        ticks, labels = decade_ticks(xs[0], xs[-1])
        if len(ticks) >= 2:
            plt.xticks(ticks, labels)
        plt.xlabel("learning rate (log scale)")
        if self.cursor is not None:
            marks = ((curve.suggested_index, "red", SUGGESTED_MARKER), (self.cursor, "yellow", CURSOR_MARKER))
            for index, color, marker in marks:
                plt.vertical_line(xs[index], color=color)
                plt.scatter([xs[index]], [smoothed[index]], marker=marker, color=color)
        return super().render()
