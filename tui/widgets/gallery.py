"""The misclassified gallery: a run's mistakes drawn in the terminal, filtered by a confusion-matrix cell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from tui.widgets.digits import DigitImage

if TYPE_CHECKING:  # engine.predict imports torch
    from engine.predict import Mistake

CELL_WIDTH = 30  # a 28-cell digit plus a gap
CELL_HEIGHT = 16  # 14 rows of half blocks, a caption, a gap


def filter_mistakes(mistakes: Sequence[Mistake], pair: tuple[int, int] | None) -> list[Mistake]:
    """The mistakes of one (true, predicted) cell, in their order (worst first); all of them for None."""
    if pair is None:
        return list(mistakes)
    true, predicted = pair
    return [m for m in mistakes if m.true == true and m.predicted == predicted]


class MistakeGallery(Widget):
    """A page of mistakes, as many as fit: each digit in half blocks with true label, prediction, confidence."""

    DEFAULT_CSS = """
    MistakeGallery { height: 1fr; width: 1fr; }
    """

    page: reactive[int] = reactive(0)

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.mistakes: list[Mistake] = []
        self.class_names: Sequence[str] = tuple(str(digit) for digit in range(10))
        self.empty_message = "no mistakes to show"

    def show(self, mistakes: Sequence[Mistake], class_names: Sequence[str], empty_message: str) -> None:
        self.mistakes = list(mistakes)
        self.class_names = class_names
        self.empty_message = empty_message
        self.page = 0
        self.refresh()

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(columns, rows) of digits that fit the widget's current size."""
        return max(1, self.size.width // CELL_WIDTH), max(1, self.size.height // CELL_HEIGHT)

    @property
    def page_size(self) -> int:
        columns, rows = self.grid_shape
        return columns * rows

    @property
    def page_count(self) -> int:
        return max(1, -(-len(self.mistakes) // self.page_size))

    def validate_page(self, page: int) -> int:
        return max(0, min(page, self.page_count - 1))

    def page_mistakes(self) -> list[Mistake]:
        start = self.page * self.page_size
        return self.mistakes[start : start + self.page_size]

    def on_resize(self) -> None:
        self.page = self.validate_page(self.page)
        self.post_message(self.Resized())

    class Resized(Message):
        """The page size changed with the widget's size, so page counts shown elsewhere are stale."""

    def render(self) -> Table | Text:
        shown = self.page_mistakes()
        if not shown:
            return Text(self.empty_message, style="dim")
        columns, _ = self.grid_shape
        grid = Table.grid(padding=(0, CELL_WIDTH - 28))  # collapsed between columns, none at the edges
        for _ in range(columns):
            grid.add_column(width=28)
        names = self.class_names
        cells = [
            Group(
                DigitImage(mistake.pixels),
                Text.assemble(
                    ("true ", "dim"),
                    (names[mistake.true], "bold green"),
                    (" pred ", "dim"),
                    (names[mistake.predicted], "bold red"),
                    f" {mistake.confidence:.0%}",
                    no_wrap=True,
                    overflow="ellipsis",
                ),
                Text(""),
            )
            for mistake in shown
        ]
        for start in range(0, len(cells), columns):
            grid.add_row(*cells[start : start + columns])
        return grid
