"""The run in progress as the dashboard knows it: state folded from engine events, no widgets here."""

from __future__ import annotations

from collections import deque

from engine.events import (
    BatchProgress,
    EpochEnded,
    Evaluated,
    Event,
    PauseChanged,
    RunFinished,
    RunStarted,
)
from tui.series import BoundedSeries
from tui.widgets.charts import Line, epoch_lines

FINISHED_STATUS = {"completed": "finished", "stopped": "stopped", "failed": "failed", "diverged": "failed (diverged)"}


class LiveRun:
    """Series for the charts, the latest progress and evaluation, and the run's status.

    The training thread appends every event to `pending` (a deque, safe across threads), in order; the Train
    tab folds them in on its display tick, or at once for the events that wake it (tui/tabs/train.py). A sweep's
    trials come one after another through one queue: the next run's LiveRun takes over `pending` at its RunStarted.
    """

    def __init__(self, pending: deque[Event] | None = None) -> None:
        self.started: RunStarted | None = None
        self.progress: BatchProgress | None = None
        self.pending: deque[Event] = deque() if pending is None else pending
        self.train_loss = BoundedSeries()
        self.epochs: list[EpochEnded] = []
        self.evaluation: Evaluated | None = None
        self.paused = False
        self.finished: RunFinished | None = None

    def apply(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
        elif isinstance(event, BatchProgress):
            self.progress = event
            self.train_loss.append(event.global_step / event.steps_per_epoch, event.loss)
        elif isinstance(event, EpochEnded):
            self.epochs.append(event)
        elif isinstance(event, Evaluated):
            self.evaluation = event
        elif isinstance(event, PauseChanged):
            self.paused = event.paused
        elif isinstance(event, RunFinished):
            self.finished = event
            self.paused = False

    def fold_pending(self, one_run: bool = False) -> list[Event]:
        """Apply the events queued by the training thread, oldest first, and return them. With `one_run`, stop
        before the RunStarted of a next run (see `next_run_waiting`)."""
        folded = []
        while self.pending:
            if one_run and self.next_run_waiting:
                break
            event = self.pending.popleft()
            self.apply(event)
            folded.append(event)
        return folded

    @property
    def next_run_waiting(self) -> bool:
        """The next queued event starts another run (a sweep's next trial) after this one started."""
        return self.started is not None and bool(self.pending) and isinstance(self.pending[0], RunStarted)

    @property
    def status(self) -> str:
        if self.finished is not None:
            return FINISHED_STATUS.get(self.finished.status, self.finished.status)
        if self.paused:
            return "paused"
        if self.progress is not None:
            return f"training epoch {self.progress.epoch}/{self.progress.epochs}"
        return "starting"

    def loss_lines(self) -> list[Line]:
        xs, ys = self.train_loss.points()
        validation = epoch_lines(self.epochs, "loss")[1]
        return [Line("train loss (smoothed)", xs, ys, "cyan"), validation]

    def accuracy_lines(self) -> list[Line]:
        return epoch_lines(self.epochs, "accuracy")
