"""Several values for one of Setup's pickers (a sweep over them): space marks, enter takes those marked."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static


class ChoicesScreen(ModalScreen[tuple[str, ...] | None]):
    """Dismissed with the values marked, in the picker's order (None when cancelled)."""

    BINDINGS = [
        Binding("enter", "confirm", "Use these", priority=True),  # before the list's own enter, which marks
        Binding("escape", "dismiss(None)", "Cancel"),
    ]

    def __init__(self, label: str, options: list[tuple[str, str]], chosen: set[str]) -> None:
        super().__init__()
        self.label = label
        self.options = options
        self.chosen = chosen

    def compose(self) -> ComposeResult:
        with Vertical(id="choices-dialog"):
            yield Static(f"[b]{self.label}[/b]: mark one or several (a sweep over them)")
            yield SelectionList[str](*((prompt, value, value in self.chosen) for prompt, value in self.options))
            yield Static("[dim]space marks, enter uses those marked, escape cancels[/dim]")

    def action_confirm(self) -> None:
        marked = set(self.query_one(SelectionList).selected)
        values = tuple(value for _prompt, value in self.options if value in marked)
        if not values:
            self.notify("mark at least one with space", severity="warning")
            return
        self.dismiss(values)
