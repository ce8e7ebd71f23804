"""The event log: run started and finished, checkpoints, exports, warnings and errors."""

from __future__ import annotations

from collections import deque

from rich.markup import escape
from textual.widgets import RichLog

from engine.events import CheckpointSaved, EpochEnded, Event, Notice, RunFinished, RunStarted
from tui.formatting import run_result

LEVEL_STYLES = {"info": "", "success": "green", "warning": "yellow", "error": "bold red"}


def describe_event(event: Event) -> tuple[str, str] | None:
    """(level, text) for the events worth a log line; progress and evaluations have their own panels."""
    if isinstance(event, RunStarted):
        config = event.config
        resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
        return "info", (
            f"run started: {config['model']} on {config['dataset']}, {event.parameters:,} parameters,"
            f" {event.train_size:,}/{event.val_size:,}/{event.test_size:,} train/val/test images,"
            f" {event.device} ({event.device_name}){resumed}; folder {event.run_dir}"
        )
    if isinstance(event, EpochEnded):
        return "info", (
            f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.4f} acc {event.train_accuracy:.4f},"
            f" val loss {event.val_loss:.4f} acc {event.val_accuracy:.4f} F1 {event.val_f1:.4f}"
        )
    if isinstance(event, CheckpointSaved):
        return "info", f"checkpoint {event.kind} (epoch {event.epoch}): {event.path}"
    if isinstance(event, Notice):
        return event.level, event.message
    if isinstance(event, RunFinished):
        level = "success" if event.status == "completed" else "warning" if event.status == "stopped" else "error"
        result = run_result(event.summary)
        return (
            level,
            f"run {event.status}: {event.message}; {result + '; ' if result else ''}folder {event.run_dir or '(none)'}",
        )
    return None


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

    def on_resize(self) -> None:
        self.clear()
        for level, text in self.entries:
            self._write_entry(level, text)

    def add_event(self, event: Event) -> None:
        described = describe_event(event)
        if described is not None:
            self.add(*described)
