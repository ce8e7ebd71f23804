"""The Mistakes tab: a run's confusion matrix and report beside the gallery of its mistakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from engine.events import Split
from tui.tabs.newest_run import FollowsNewestRun
from tui.widgets.gallery import MistakeGallery, filter_mistakes
from tui.widgets.matrix import SelectableConfusionMatrix
from tui.widgets.report import ReportView

if TYPE_CHECKING:  # engine.predict imports torch: the tab loads it in a worker
    from engine.predict import Inspection, Mistake

Inspector = Callable[[Path, Path, "Split | None"], "Inspection"]  # (run folder, data folder, split)


def score_run(run_dir: Path, data_dir: Path, split: Split | None) -> Inspection:
    """Score the run's best model on its split and collect its mistakes (in a worker: this imports torch)."""
    from engine.predict import inspect_run

    return inspect_run(run_dir, data_dir, split)


class MistakesTab(FollowsNewestRun, Vertical):
    """The "Mistakes" tab: confusion matrix + per-class report on the left, the gallery on the right.

    Mount:   `with TabPane("Mistakes"): yield MistakesTab(data_dir=data_dir, runs_dir=runs_dir)`
    Drive:   `tab.show_run(run_dir)` (e.g. on RunFinished, or when a run is picked in the Runs tab);
             with no call, it shows the newest run in runs_dir that has a checkpoint when first shown.
             `tab.filter_pair(true, predicted)` / `tab.clear_filter()` from outside (e.g. the dashboard's matrix).
    Handles: `SelectableConfusionMatrix.CellSelected` from its own matrix (filters the gallery).
    Posts:   `MistakesTab.Inspected(inspection)` when a run's mistakes are in (an engine.predict.Inspection:
             run_dir, split, class_names, evaluated, mistakes), `MistakesTab.Failed(message)` when they
             cannot be computed (the tab shows the message too). Both bubble up to the app.
    Keys:    arrows + enter on the matrix, `w` worst cell, `n`/`b` (or PageDown/PageUp) page, `a` all mistakes.
    Loading scores the run's best model on its split in a thread worker (torch stays out of the UI thread).
    """

    DEFAULT_CSS = """
    MistakesTab { height: 1fr; }
    MistakesTab #mistakes-status { height: auto; padding: 0 1; }
    MistakesTab #mistakes-left { width: auto; max-width: 60; padding: 0 1; }
    MistakesTab #mistakes-right { width: 1fr; padding: 0 1; }
    MistakesTab #gallery-header { height: auto; }
    MistakesTab SelectableConfusionMatrix { margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("n,pagedown", "page(1)", "next page"),
        Binding("b,pageup", "page(-1)", "previous page"),  # not p: that pauses training everywhere
        Binding("a", "clear_filter", "all mistakes"),
    ]

    class Inspected(Message):
        def __init__(self, inspection: Inspection):
            super().__init__()
            self.inspection = inspection

    def __init__(self, *, data_dir: Path, runs_dir: Path, inspector: Inspector = score_run, id: str | None = None):
        super().__init__(id=id)
        self.data_dir = Path(data_dir)
        self.runs_dir = Path(runs_dir)
        self.inspector = inspector
        self.inspection: Inspection | None = None
        self.pair: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="mistakes-status")
        with Horizontal():
            with Vertical(id="mistakes-left"):
                yield SelectableConfusionMatrix(id="mistakes-matrix")
                yield ReportView(id="mistakes-report")
            with Vertical(id="mistakes-right"):
                yield Static("", id="gallery-header")
                yield MistakeGallery(id="gallery")

    def load_newest(self) -> None:
        self._status("looking for a run with a checkpoint ...")
        self._load(None, None)

    def show_run(self, run_dir: Path | str, split: Split | None = None) -> None:
        """Score `run_dir`'s best model on `split` (default: test if the run got there, else val) and show it."""
        self.requested = True
        self._status(f"scoring {Path(run_dir).name} ... (loading the model and the data)")
        self._load(Path(run_dir), split)

    @work(thread=True, exclusive=True, exit_on_error=False, group="inspect")
    def _load(self, run_dir: Path | None, split: Split | None) -> None:
        self.load_in_worker(run_dir, lambda path: self.Inspected(self.inspector(path, self.data_dir, split)))

    def failure(self, run_dir: Path | None, error: Exception) -> str:
        from engine.checkpoints import CheckpointError

        if isinstance(error, CheckpointError):
            return f"{error}: this run has no usable checkpoint yet"
        return str(error) or type(error).__name__

    def on_mistakes_tab_inspected(self, message: Inspected) -> None:
        inspection = message.inspection
        self.inspection = inspection
        self.pair = None
        evaluated = inspection.evaluated
        self.query_one(SelectableConfusionMatrix).show(evaluated.confusion, inspection.class_names)
        self.query_one(ReportView).show(evaluated)
        self._status(
            f"[b]{Path(inspection.run_dir).name}[/b]: {len(inspection.mistakes):,} mistakes on the"
            f" {inspection.split} split (accuracy {evaluated.accuracy:.4f}, macro F1 {evaluated.f1:.4f})"
            " [dim]- on the matrix ([b]tab[/b] to it): arrows, enter shows a cell's mistakes, w worst cell;"
            " a all, n/b page[/dim]"
        )
        self._refresh_gallery()

    def on_mistake_gallery_resized(self, message: MistakeGallery.Resized) -> None:
        if self.inspection is not None:
            self._update_header()

    def on_follows_newest_run_failed(self, message: FollowsNewestRun.Failed) -> None:
        self._status(f"[red]{message.message}[/red]")

    def on_selectable_confusion_matrix_cell_selected(self, message: SelectableConfusionMatrix.CellSelected) -> None:
        message.stop()
        self.filter_pair(message.true, message.predicted)

    def filter_pair(self, true: int, predicted: int) -> None:
        """Show only the images of class `true` predicted as `predicted`."""
        self.pair = (true, predicted)
        self._refresh_gallery()

    def action_clear_filter(self) -> None:
        self.clear_filter()

    def clear_filter(self) -> None:
        self.pair = None
        self._refresh_gallery()

    def action_page(self, step: int) -> None:
        gallery = self.query_one(MistakeGallery)
        gallery.page += step
        self._update_header()

    @property
    def shown_mistakes(self) -> list[Mistake]:
        """The mistakes the gallery pages through: all, or the selected cell's."""
        return filter_mistakes(self.inspection.mistakes if self.inspection else (), self.pair)

    def _refresh_gallery(self) -> None:
        if self.inspection is None:
            return
        names = self.inspection.class_names
        if self.pair is not None and self.pair[0] == self.pair[1]:
            empty = f"true {names[self.pair[0]]} predicted {names[self.pair[1]]} is correct: no mistakes there"
        elif self.pair is not None:
            empty = f"no {names[self.pair[0]]} was predicted as {names[self.pair[1]]}"
        else:
            empty = "no mistakes: every image is classified correctly"
        self.query_one(MistakeGallery).show(self.shown_mistakes, names, empty)
        self._update_header()

    def _update_header(self) -> None:
        if self.inspection is None:
            return
        gallery = self.query_one(MistakeGallery)
        names = self.inspection.class_names
        which = (
            f"true [green]{names[self.pair[0]]}[/green] predicted [red]{names[self.pair[1]]}[/red]"
            if self.pair
            else "all mistakes"
        )
        self.query_one("#gallery-header", Static).update(
            f"{which}: {len(gallery.mistakes):,}, worst first - page {gallery.page + 1}/{gallery.page_count}"
        )

    def _status(self, markup: str) -> None:
        self.query_one("#mistakes-status", Static).update(markup)
