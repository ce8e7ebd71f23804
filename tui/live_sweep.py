"""A sweep in progress as the dashboard knows it, no widgets here: which trial the Train tab follows, and where
each running trial is.

`update` is the sweep's `on_update`: it runs on the trainers' threads (one per trial at once), so it only appends
and stores, under a lock, and never waits on the UI. The followed trial's events go on into the Train tab's queue
(the one pipeline every run's events take, see tui/tabs/train.py), where each trial's RunStarted begins a fresh
view. When the followed trial ends while others still train (several jobs), the next one is followed: its events
so far are queued again, from its RunStarted, so its view starts whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from engine.events import BatchProgress, DownloadProgress, Event, RunFinished, RunStarted
from engine.sweeps import SweepSpec, TrialUpdate


@dataclass(frozen=True)
class SweepPlan:
    """A sweep as Setup makes it: its spec, the devices its trials take (one trial at a time on each), and whether
    a sweep of that name and settings exists already (starting it continues it)."""

    spec: SweepSpec
    devices: list[str]
    continues: bool = False


class SweepRouter:
    def __init__(self, queue: Callable[[Event], None], trial_changed: Callable[[int], None]) -> None:
        self.queue = queue  # into the Train tab
        self.trial_changed = trial_changed  # a trial started: its row should be read from the study
        self.lock = threading.Lock()
        self.followed: int | None = None
        self.progress: dict[int, BatchProgress] = {}  # the running trials' latest
        self.history: dict[int, list[Event]] = {}  # the running trials' events but progress, from their RunStarted

    def update(self, update: TrialUpdate) -> None:
        event, number = update.event, update.number
        with self.lock:
            if isinstance(event, RunStarted):
                self.history[number] = []
                if self.followed is None:
                    self.followed = number
            if isinstance(event, BatchProgress):
                self.progress[number] = event
            elif isinstance(event, RunFinished):
                self.history.pop(number, None)
                self.progress.pop(number, None)
            elif number in self.history:
                self.history[number].append(event)
            if number == self.followed or (self.followed is None and isinstance(event, DownloadProgress)):
                self.queue(event)
                if isinstance(event, RunFinished):
                    self._follow_next()
        if isinstance(event, RunStarted):
            self.trial_changed(number)

    def _follow_next(self) -> None:
        self.followed = min(self.history, default=None)
        if self.followed is None:
            return
        for event in self.history[self.followed]:
            self.queue(event)
        if self.followed in self.progress:
            self.queue(self.progress[self.followed])

    def running(self) -> dict[int, str]:
        """Each running trial's place: "epoch/epochs step/steps", or "" before its first batch."""
        with self.lock:
            return {
                number: f"{p.epoch}/{p.epochs} {p.step}/{p.steps_per_epoch}" if (p := self.progress.get(number)) else ""
                for number in self.history
            }
