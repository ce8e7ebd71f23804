"""The Draw tab: draw a digit and watch a run's best model classify it after every stroke."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from tui.engine_api import DigitClassifier
from tui.tabs.newest_run import FollowsNewestRun
from tui.widgets.canvas import DrawingCanvas, probability_bars


def load_predictor(run_dir: Path) -> DigitClassifier:
    """A run's best model, loaded (in a worker: engine.predict imports torch)."""
    from engine.predict import Predictor

    return Predictor(run_dir)


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
        def __init__(self, predictor: DigitClassifier):
            super().__init__()
            self.predictor = predictor

    def __init__(
        self,
        *,
        runs_dir: Path,
        loader: Callable[[Path], DigitClassifier] = load_predictor,
        id: str | None = None,
    ):
        super().__init__(id=id)
        self.runs_dir = Path(runs_dir)
        self.loader = loader
        self.predictor: DigitClassifier | None = None  # only ever called from workers

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
        self.load_in_worker(run_dir, lambda path: self.ModelLoaded(self.loader(path)))

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
        if predictor is None:
            return
        try:
            probabilities = predictor.predict(pixels)
        except Exception as error:  # e.g. a model for another input size
            self.post_message(self.Failed(f"could not classify the drawing: {error}"))
            return
        if get_current_worker().is_cancelled:  # a newer drawing is being classified: this result is stale
            return
        self.post_message(self.Classified(str(predictor.run_dir), probabilities))

    def on_draw_tab_classified(self, message: Classified) -> None:
        if self.predictor is None:
            return
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
