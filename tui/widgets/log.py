"""The event log: run started and finished, checkpoints, exports, warnings and errors."""

from __future__ import annotations

from collections import deque

from rich.markup import escape
from textual import events
from textual.widgets import RichLog

from engine.events import Event
from tui.formatting import describe_event

LEVEL_STYLES = {"info": "", "success": "green", "warning": "yellow", "error": "bold red"}


class EventLog(RichLog):
    """Keeps its entries so they can be wrapped again when the log's width changes (or it first shows)."""

    MAX_ENTRIES = 2000

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=True, max_lines=self.MAX_ENTRIES, min_width=20)
        self.entries: deque[tuple[str, str]] = deque(maxlen=self.MAX_ENTRIES)

    @property
    def lines_written(self) -> list[str]:
        return [text for _level, text in self.entries]

    def add(self, level: str, text: str) -> None:
        self.entries.append((level, text))
        self._write_entry(level, text)

    def _write_entry(self, level: str, text: str) -> None:
        style = LEVEL_STYLES.get(level, "")
        self.write(f"[{style}]{escape(text)}[/]" if style else escape(text))

    def on_resize(self, event: events.Resize) -> None:
        self.clear()
        for level, text in self.entries:
            self._write_entry(level, text)

    def add_event(self, event: Event) -> None:
        described = describe_event(event)
        if described is not None:
            self.add(*described)
