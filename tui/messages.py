"""Textual messages: what the engine and the app's background workers tell the widgets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from engine.events import Event
from engine.progress import RunProgress
from engine.runs import RunRecord
from tui.engine_api import DeviceEntry, ModelEntry, RangeCurve


class EngineEvent(Message, bubble=False):
    """One trainer event that does not wait for the display tick, posted from the training thread to the Train
    tab (post_message is thread-safe and never blocks); it wakes the tab to draw its queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


@dataclass
class CatalogLoaded(Message):
    """The devices and models, loaded off the first frame (they need torch)."""

    devices: Sequence[DeviceEntry]
    models: Sequence[ModelEntry]


@dataclass
class CatalogFailed(Message):
    error: str


@dataclass
class RangeTestProgressed(Message):
    """The learning-rate range test's curve so far, a few times a second. It carries the whole curve, so a newer
    one replaces one still queued."""

    curve: RangeCurve

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RangeTestProgressed)


@dataclass
class RunsLoaded(Message):
    runs: list[RunRecord]


@dataclass
class ExportFinished(Message):
    run_dir: Path
    paths: list[Path]
    warning: str | None = None  # a part that was skipped (mistakes.png without the dataset)


@dataclass
class ExportFailed(Message):
    run_dir: Path
    error: str


@dataclass
class RunsProgressed(Message):
    """The runs folder's live rows (engine.progress.RunProgress by run name, newest first), when one changed."""

    rows: dict[str, RunProgress]
