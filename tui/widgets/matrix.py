"""A confusion matrix with a cell cursor: arrows move it, enter (or a click) picks a (true, predicted) pair."""

from __future__ import annotations

from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from tui.widgets.cursor import ARROW_BINDINGS

NO_MATRIX = "no confusion matrix yet"


def worst_cell(confusion: Sequence[Sequence[int]]) -> tuple[int, int] | None:
    """The off-diagonal (true, predicted) cell with the most images, or None when nothing is confused."""
    count, cell = max(
        (
            (count, (true, predicted))
            for true, row in enumerate(confusion)
            for predicted, count in enumerate(row)
            if true != predicted
        ),
        default=(0, None),
    )
    return cell if count > 0 else None


class SelectableConfusionMatrix(Widget, can_focus=True):
    """Rows are true classes, columns predicted ones ("t\\p" in the corner).

    Posts `CellSelected(true, predicted)` on enter or a click on a cell.

    Feed it with `show(confusion, class_names)`; the cursor starts on the worst off-diagonal cell.
    """

    DEFAULT_CSS = """
    SelectableConfusionMatrix { height: auto; width: auto; min-height: 3; }
    """
    BINDINGS = [
        *ARROW_BINDINGS,
        Binding("enter", "select", "show cell's mistakes"),
        Binding("w", "worst", "worst cell"),
    ]

    cursor: reactive[tuple[int, int]] = reactive((0, 0))

    class CellSelected(Message):
        def __init__(self, true: int, predicted: int):
            super().__init__()
            self.true = true
            self.predicted = predicted

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.confusion: tuple[tuple[int, ...], ...] = ()
        self.class_names: tuple[str, ...] = ()

    def show(self, confusion: Sequence[Sequence[int]], class_names: Sequence[str]) -> None:
        self.confusion = tuple(tuple(int(c) for c in row) for row in confusion)
        self.class_names = tuple(class_names)
        self.cursor = worst_cell(self.confusion) or (0, 0)
        self.refresh(layout=True)

    @property
    def cell_width(self) -> int:
        widest = max((len(str(c)) for row in self.confusion for c in row), default=1)
        return max(widest, *(len(self._label(i)) for i in range(len(self.class_names))), 3) + 1

    @property
    def label_width(self) -> int:
        """Room for the true class's name at the start of each row."""
        return max((len(self._label(i)) for i in range(len(self.class_names))), default=1) + 2

    def _label(self, index: int) -> str:
        return self.class_names[index][:5] if index < len(self.class_names) else str(index)

    def action_move(self, rows: int, columns: int) -> None:
        size = len(self.confusion)
        if size:
            row, column = self.cursor
            self.cursor = ((row + rows) % size, (column + columns) % size)

    def action_select(self) -> None:
        if self.confusion:
            self.post_message(self.CellSelected(*self.cursor))

    def action_worst(self) -> None:
        cell = worst_cell(self.confusion)
        if cell is not None:
            self.cursor = cell

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self.confusion:
            return
        row, column = offset.y - 1, (offset.x - self.label_width) // self.cell_width
        if 0 <= row < len(self.confusion) and 0 <= column < len(self.confusion) and offset.x >= self.label_width:
            self.cursor = (row, column)
            self.action_select()

    def get_content_width(self, container: Size, viewport: Size) -> int:
        if not self.confusion:
            return len(NO_MATRIX)
        return self.label_width + self.cell_width * max(1, len(self.confusion))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return 2 + len(self.confusion)

    def render(self) -> Text:
        if not self.confusion:
            return Text(NO_MATRIX, style="dim")
        width = self.cell_width
        off_diagonal = max((c for t, row in enumerate(self.confusion) for p, c in enumerate(row) if t != p), default=0)
        text = Text("", no_wrap=True, overflow="ellipsis")
        text.append("t\\p".ljust(self.label_width), style="dim")
        for column in range(len(self.confusion)):
            text.append(self._label(column).rjust(width), style="bold")
        text.append("\n")
        for row, counts in enumerate(self.confusion):
            text.append(self._label(row).rjust(self.label_width - 2).ljust(self.label_width), style="bold")
            for column, count in enumerate(counts):
                style = self._cell_style(row, column, count, off_diagonal)
                if (row, column) == self.cursor:
                    style += Style(reverse=True, bold=True)
                text.append(str(count).rjust(width), style=style)
            text.append("\n")
        true, predicted = self.cursor
        text.append(
            f"rows true, columns predicted; cursor: {self._label(true)} as {self._label(predicted)}:"
            f" {self.confusion[true][predicted]}",
            style="dim",
        )
        return text

    @staticmethod
    def _cell_style(row: int, column: int, count: int, off_diagonal_max: int) -> Style:
        if row == column:
            return Style(color="green")
        if count == 0:
            return Style(color="grey35")
        heat = count / max(1, off_diagonal_max)
        return Style(color="white", bgcolor=f"rgb({60 + int(150 * heat)},0,0)")
