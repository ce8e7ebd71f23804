"""A 28 x 28 canvas to draw a digit on with the mouse or the keyboard, and the bars of its class probabilities."""

from __future__ import annotations

from collections.abc import Sequence

from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from tui.widgets.cursor import ARROW_BINDINGS
from tui.widgets.digits import DigitImage

SIDE = 28
SCALE = 2  # each pixel is two cells wide and one tall: square, and a mouse maps to exactly one pixel
# Ink of one brush dab around its centre: a pen about 2-3 pixels wide with soft edges, like MNIST strokes.
BRUSH = {(0, 0): 1.0, (-1, 0): 0.7, (1, 0): 0.7, (0, -1): 0.7, (0, 1): 0.7}
BRUSH.update({(dr, dc): 0.35 for dr in (-1, 1) for dc in (-1, 1)})


def blank() -> list[list[float]]:
    return [[0.0] * SIDE for _ in range(SIDE)]


def paint(pixels: list[list[float]], row: int, column: int) -> None:
    """One brush dab centred on (row, column); ink only ever gets darker where strokes cross."""
    for (dr, dc), ink in BRUSH.items():
        r, c = row + dr, column + dc
        if 0 <= r < SIDE and 0 <= c < SIDE:
            pixels[r][c] = max(pixels[r][c], ink)


def line(start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, int]]:
    """The pixels from start to end inclusive, so a fast mouse drag leaves no gaps."""
    (r0, c0), (r1, c1) = start, end
    steps = max(abs(r1 - r0), abs(c1 - c0), 1)
    return [(round(r0 + (r1 - r0) * i / steps), round(c0 + (c1 - c0) * i / steps)) for i in range(steps + 1)]


class DrawingCanvas(Widget, can_focus=True):
    """28 x 28 pixels (floats, 0 black to 1 full ink). Posts `Changed(pixels)` after every stroke or dab."""

    DEFAULT_CSS = f"""
    DrawingCanvas {{ width: {SIDE * SCALE + 2}; height: {SIDE + 2}; border: round $secondary; }}
    DrawingCanvas:focus {{ border: round $accent; }}
    """
    BINDINGS = [
        *ARROW_BINDINGS,
        Binding("shift+up", "move(-1, 0, True)", "paint up", show=False),
        Binding("shift+down", "move(1, 0, True)", "paint down", show=False),
        Binding("shift+left", "move(0, -1, True)", "paint left", show=False),
        Binding("shift+right", "move(0, 1, True)", "paint right", show=False),
        Binding("space", "paint", "paint"),
        Binding("c", "clear", "clear"),
    ]

    cursor: reactive[tuple[int, int]] = reactive((SIDE // 2, SIDE // 2))

    class Changed(Message):
        def __init__(self, pixels: tuple[tuple[float, ...], ...]):
            super().__init__()
            self.pixels = pixels

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.pixels = blank()
        self._last_drag: tuple[int, int] | None = None

    def snapshot(self) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(row) for row in self.pixels)

    def _changed(self) -> None:
        self.refresh()
        self.post_message(self.Changed(self.snapshot()))

    def action_move(self, rows: int, columns: int, painting: bool = False) -> None:
        row, column = self.cursor
        if painting:
            paint(self.pixels, row, column)
        self.cursor = (max(0, min(SIDE - 1, row + rows)), max(0, min(SIDE - 1, column + columns)))
        if painting:
            paint(self.pixels, *self.cursor)
            self._changed()

    def action_paint(self) -> None:
        paint(self.pixels, *self.cursor)
        self._changed()

    def action_clear(self) -> None:
        self.pixels = blank()
        self._changed()

    def _pixel_at(self, event: events.MouseEvent) -> tuple[int, int] | None:
        offset = event.get_content_offset(self)
        if offset is None:
            return None
        row, column = offset.y, offset.x // SCALE
        return (row, column) if 0 <= row < SIDE and 0 <= column < SIDE else None

    def on_mouse_down(self, event: events.MouseDown) -> None:
        pixel = self._pixel_at(event)
        if pixel is None:
            return
        self.capture_mouse()
        self._last_drag = pixel
        self.cursor = pixel
        paint(self.pixels, *pixel)
        self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        pixel = self._pixel_at(event)
        if self._last_drag is None or pixel is None:
            return
        for point in line(self._last_drag, pixel):
            paint(self.pixels, *point)
        self._last_drag = self.cursor = pixel
        self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._last_drag is not None:
            self._last_drag = None
            self.release_mouse()
            self._changed()  # classify once per stroke: a drag sends dozens of moves

    def render(self) -> DigitImage:
        return DigitImage(self.pixels, scale=SCALE, marked=self.cursor if self.has_focus else None)


def probability_bars(class_names: Sequence[str], probabilities: Sequence[float]) -> Table:
    """One line per class: name, a bar as wide as the space allows, the percentage; the most likely highlighted."""
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    table = Table.grid(expand=True, padding=(0, 1, 0, 0))
    table.add_column(justify="right", no_wrap=True)
    table.add_column(ratio=1)
    table.add_column(justify="right", no_wrap=True)
    for index, (name, probability) in enumerate(zip(class_names, probabilities, strict=True)):
        style = "bold green" if index == best else "bold"
        colour = "green" if index == best else "blue"
        bar = ProgressBar(total=1.0, completed=probability, complete_style=colour, finished_style=colour)
        table.add_row(Text(name, style=style), bar, Text(f"{probability:.1%}", style=style if index == best else ""))
    return table
