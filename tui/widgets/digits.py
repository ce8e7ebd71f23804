"""Grayscale images drawn with text cells, as Rich renderables (pure: no torch, no Textual).

A terminal cell is about twice as tall as it is wide, so at scale 1 each cell shows two pixels stacked:
'▀' with the upper pixel as foreground and the lower as background, and a 28 x 28 digit takes 28 x 14 cells.
At scale 2 each pixel is two blank cells side by side painted with its gray: 56 x 28 cells, square pixels
big enough to hit with a mouse.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

UPPER_HALF = "▀"
Pixels = Sequence[Sequence[float]] | bytes


def pixel_rows(pixels: Pixels, width: int = 28) -> list[list[int]]:
    """Rows of 0-255 ints from row-major bytes or a sequence of rows (ints, or floats in [0, 1])."""
    if isinstance(pixels, (bytes, bytearray)):
        return [list(pixels[start : start + width]) for start in range(0, len(pixels), width)]
    rows = [list(row) for row in pixels]
    if any(isinstance(value, float) for row in rows for value in row):
        return [[min(255, max(0, round(value * 255))) for value in row] for row in rows]
    return [[min(255, max(0, int(value))) for value in row] for row in rows]


def gray(value: int) -> Color:
    return Color.from_rgb(value, value, value)


class DigitImage:
    """A grayscale image (0 black, 255 white) as half blocks (scale 1) or double-width cells (scale 2).

    `marked` is a (row, column) pixel drawn in `mark_color` instead, for a cursor.
    """

    def __init__(
        self,
        pixels: Pixels,
        *,
        width: int = 28,
        scale: int = 1,
        marked: tuple[int, int] | None = None,
        mark_color: str = "red",
    ):
        self.rows = pixel_rows(pixels, width)
        self.width = len(self.rows[0]) if self.rows else 0
        self.scale = scale
        self.marked = marked
        self.mark_color = Color.parse(mark_color)

    def _color(self, row: int, column: int) -> Color:
        if (row, column) == self.marked:
            return self.mark_color
        if row >= len(self.rows):  # the lower half of the last cell of an odd-height image
            return gray(0)
        return gray(self.rows[row][column])

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.scale == 1:
            for top in range(0, len(self.rows), 2):
                for column in range(self.width):
                    style = Style(color=self._color(top, column), bgcolor=self._color(top + 1, column))
                    yield Segment(UPPER_HALF, style)
                yield Segment.line()
        else:
            for row in range(len(self.rows)):
                for column in range(self.width):
                    yield Segment(" " * self.scale, Style(bgcolor=self._color(row, column)))
                yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width * self.scale, self.width * self.scale)
