"""Tables sorted from the keyboard, as the Runs and Sweep tabs do: `o` sorts by the next column (smallest first),
`O` reverses; the sorted column's heading carries an arrow, and unknown values go last whichever way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable

from tui.run_columns import sort_key

SORT_ARROWS = {False: " ▲", True: " ▼"}
SORT_BINDINGS = [
    Binding("o", "sort", "Sort"),
    Binding("O", "reverse_sort", "Reverse sort", show=False),
]


@dataclass(frozen=True)
class Cell:
    """What the table shows, and the value that DataTable.sort orders it by (not the text)."""

    shown: Text  # not a str: DataTable measures a str it gets from __rich__ as one cell wide
    value: Any

    def __rich__(self) -> Text:
        return self.shown


def fill_sorted(
    table: DataTable[Any], headings: list[str], rows: dict[str, list[Cell]], sorted_by: str, reverse: bool
) -> None:
    """Fill `table` with these rows (by key), sorted by the column `sorted_by`; the highlighted row stays
    highlighted."""
    current = highlighted_key(table)
    table.clear(columns=True)
    for index, heading in enumerate(headings):
        label = Text(heading + (SORT_ARROWS[reverse] if heading == sorted_by else ""))
        # Measured here, not left to DataTable: it measures when idle, and a frame drawn before that keeps
        # its too-narrow columns in its cache.
        width = max([label.cell_len, *(cells[index].shown.cell_len for cells in rows.values())])
        table.add_column(label, key=heading, width=width)
    for key, cells in rows.items():
        table.add_row(*cells, key=key)
    table.sort(sorted_by, key=lambda cell: sort_key(cell.value, reverse), reverse=reverse)
    if current is not None and current in table.rows:
        table.move_cursor(row=table.get_row_index(current))


def highlighted_key(table: DataTable[Any]) -> str | None:
    if not table.is_valid_row_index(table.cursor_row):
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


class SortsByColumn(Widget):
    """A base for a table's tab (before its container class: `class RunsPanel(SortsByColumn, Vertical)`, whose
    BINDINGS end with SORT_BINDINGS), which provides `sort_headings()` and `fill_table()`, filling the table sorted
    by `sorted_by`."""

    sorted_by: str
    sort_reversed: bool

    def sort_headings(self) -> list[str]:
        raise NotImplementedError

    def fill_table(self) -> None:
        raise NotImplementedError

    def action_sort(self) -> None:
        """Sort by the next column, smallest first (`O` reverses)."""
        headings = self.sort_headings()
        if not headings:
            return
        at = headings.index(self.sorted_by) if self.sorted_by in headings else -1
        self.sorted_by = headings[(at + 1) % len(headings)]
        self.sort_reversed = False
        self._sort()

    def action_reverse_sort(self) -> None:
        self.sort_reversed = not self.sort_reversed
        self._sort()

    def _sort(self) -> None:
        self.fill_table()
        order = "largest first" if self.sort_reversed else "smallest first"
        self.notify(f"sorted by {self.sorted_by.strip()}, {order}", timeout=2)
