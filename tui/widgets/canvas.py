"""Draw a digit: a 28 x 28 canvas for the mouse or the keyboard, classified live by a run's model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import get_current_worker

from tui.widgets.cursor import ARROW_BINDINGS
from tui.widgets.digits import DigitImage
from tui.widgets.newest_run import FollowsNewestRun

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


KEYS_HINT = (
    "[b]draw a digit[/b]: drag the mouse, or arrows move the red cursor, [b]space[/b] paints,"
    " [b]shift+arrows[/b] paint as they move, [b]c[/b] clears"
)
AWAY_HINT = "[b]draw a digit[/b]: drag the mouse, or press [b]tab[/b] to draw with the keyboard"


class DrawTab(FollowsNewestRun, Horizontal):
    """The "Draw" tab: draw a digit (mouse drag, or arrows + space, shift+arrows to paint while moving, `c` clear);
    the selected run's best model classifies it after every stroke, with a bar per class.

    Mount:   `with TabPane("Draw"): yield DrawTab(runs_dir=runs_dir)`
    Drive:   `tab.use_run(run_dir)` (e.g. on RunFinished or when a run is picked in the Runs tab); with no
             call it uses the newest run in runs_dir that has a checkpoint, looked up when first shown.
    Posts:   `DrawTab.ModelLoaded(predictor)` when a model is ready, `DrawTab.Classified(run_dir, probabilities)`
             after each classification, `DrawTab.Failed(message)` when the model cannot be loaded (the tab
             shows it too); all bubble up to the app. Handles `DrawingCanvas.Changed` itself.
    The model is loaded and run in thread workers (engine.predict.Predictor), never on the UI thread.
    """

    DEFAULT_CSS = """
    DrawTab { height: 1fr; }
    DrawTab #draw-left { width: auto; padding: 0 1; }
    DrawTab #draw-right { width: 1fr; padding: 0 1; }
    DrawTab #draw-help, DrawTab #draw-model, DrawTab #draw-prediction { height: auto; }
    DrawTab #draw-prediction { margin: 1 0; }
    """

    class Classified(Message):
        def __init__(self, run_dir: str, probabilities: tuple[float, ...]):
            super().__init__()
            self.run_dir = run_dir
            self.probabilities = probabilities

    class ModelLoaded(Message):
        def __init__(self, predictor: Any):
            super().__init__()
            self.predictor = predictor

    def __init__(self, *, runs_dir: Path, id: str | None = None):
        super().__init__(id=id)
        self.runs_dir = Path(runs_dir)
        self.predictor: Any = None  # an engine.predict.Predictor, only ever called from workers

    def compose(self) -> ComposeResult:
        with Vertical(id="draw-left"):
            yield Static(KEYS_HINT, id="draw-help")
            yield DrawingCanvas(id="canvas")
        with Vertical(id="draw-right"):
            yield Static("", id="draw-model")
            yield Static("", id="draw-prediction")
            yield Static("", id="draw-bars")

    @on(events.Show)
    def focus_canvas(self) -> None:
        """However the tab was opened (its key, a click, the tab bar's arrows), the keys in the hint work at once."""
        self.query_one(DrawingCanvas).focus()

    def on_descendant_focus(self) -> None:
        self.query_one("#draw-help", Static).update(KEYS_HINT)

    def on_descendant_blur(self) -> None:
        # The canvas is the only focusable widget here: without it the arrows would move along the tab bar.
        self.query_one("#draw-help", Static).update(AWAY_HINT)

    def load_newest(self) -> None:
        self._model_status("looking for a run with a checkpoint ...")
        self._load(None)

    def use_run(self, run_dir: Path | str) -> None:
        """Classify with `run_dir`'s best model from now on (loaded in a worker)."""
        self.requested = True
        self._model_status(f"loading {Path(run_dir).name} ...")
        self._load(Path(run_dir))

    @work(thread=True, exclusive=True, exit_on_error=False, group="draw-model")
    def _load(self, run_dir: Path | None) -> None:
        from engine.predict import Predictor

        self.load_in_worker(run_dir, lambda path: self.ModelLoaded(Predictor(path)))

    def on_draw_tab_model_loaded(self, message: ModelLoaded) -> None:
        self.predictor = message.predictor
        config = self.predictor.config
        self._model_status(f"model: [b]{config.model}[/b] on {config.dataset} from {self.predictor.run_dir.name}")
        self._classify(self.query_one(DrawingCanvas).snapshot())

    def on_follows_newest_run_failed(self, message: FollowsNewestRun.Failed) -> None:
        self._model_status(f"[red]{message.message}[/red]")

    def on_drawing_canvas_changed(self, message: DrawingCanvas.Changed) -> None:
        message.stop()
        if self.predictor is not None:
            self._classify(message.pixels)

    @work(thread=True, exclusive=True, exit_on_error=False, group="draw-classify")
    def _classify(self, pixels: tuple[tuple[float, ...], ...]) -> None:
        predictor = self.predictor
        try:
            probabilities = predictor.predict(pixels)
        except Exception as error:  # e.g. a model for another input size
            self.post_message(self.Failed(f"could not classify the drawing: {error}"))
            return
        if get_current_worker().is_cancelled:  # a newer drawing is being classified: this result is stale
            return
        self.post_message(self.Classified(str(predictor.run_dir), probabilities))

    def on_draw_tab_classified(self, message: Classified) -> None:
        names = self.predictor.class_names
        canvas = self.query_one(DrawingCanvas)
        if not any(any(row) for row in canvas.pixels):
            self.query_one("#draw-prediction", Static).update("[dim]draw something to classify it[/dim]")
            self.query_one("#draw-bars", Static).update("")
            return
        best = max(range(len(names)), key=message.probabilities.__getitem__)
        self.query_one("#draw-prediction", Static).update(
            f"prediction: [b green]{names[best]}[/b green] ({message.probabilities[best]:.1%})"
        )
        self.query_one("#draw-bars", Static).update(probability_bars(names, message.probabilities))

    def _model_status(self, markup: str) -> None:
        self.query_one("#draw-model", Static).update(markup)
