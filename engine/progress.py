"""A run's progress on disk, for whoever follows it from another process: `<run folder>/progress.jsonl`.

One JSON line per record, `{"type": "<event class>", "time": <unix seconds>, "event": {<its fields>}}`, each
event one the trainer emitted (engine/events.py) and read back as the same dataclass. The RunStarted record also
carries "pid" and "process_started" (the trainer's process, as in run.pid). Every event but DownloadProgress is
recorded (downloads come before the run folder exists); BatchProgress once a second (the latest one at each
write, and the one each epoch ends on), and less often as the run goes on: after every PROGRESS_LINES_PER_DOUBLING
progress lines the interval doubles, so a 10-hour run keeps about 8,000 lines (~2 MB). A resumed run appends to
the same file from its own RunStarted.

Lines are appended by a thread at most once a second, never by the training thread, and only whole lines are
read back: a torn last line (a write under way, or a killed trainer) is read once it is complete.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from engine.events import (
    EVENT_TYPES,
    BatchProgress,
    DownloadProgress,
    EpochEnded,
    Evaluated,
    Event,
    Notice,
    PauseChanged,
    RunFinished,
    RunStarted,
    event_from_dict,
)
from engine.runs import process_start_time, read_summary, running_pid

PROGRESS_FILE = "progress.jsonl"
WRITE_INTERVAL_SECONDS = 1.0
PROGRESS_LINES_PER_DOUBLING = 1800  # half an hour at one progress line a second


@dataclass(frozen=True)
class ProgressRecord:
    time: float  # unix seconds when the trainer emitted the event
    event: Event
    pid: int | None = None  # RunStarted only: the trainer's process id ...
    process_started: str | None = None  # ... and its start time (see engine.runs.process_start_time)


def encode(record: ProgressRecord) -> bytes:
    line: dict[str, Any] = {"type": type(record.event).__name__, "time": record.time, "event": asdict(record.event)}
    if record.pid is not None:
        line.update(pid=record.pid, process_started=record.process_started)
    return (json.dumps(line) + "\n").encode()


def decode(line: bytes) -> ProgressRecord | None:
    """The record on one line, or None for a line that is not one (corrupt, or from a newer version)."""
    try:
        raw = json.loads(line)
        event = event_from_dict(EVENT_TYPES[raw["type"]], raw["event"])
        return ProgressRecord(float(raw["time"]), event, raw.get("pid"), raw.get("process_started"))
    except (ValueError, KeyError, TypeError):
        return None


def read_progress(run_dir: Path, offset: int = 0) -> tuple[list[ProgressRecord], int]:
    """The complete records from byte `offset` on, and the offset after the last complete line (where to read next)."""
    try:
        with open(Path(run_dir) / PROGRESS_FILE, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]
    records = [record for line in complete.splitlines() if (record := decode(line)) is not None]
    return records, offset + len(complete)


class ProgressBuffer:
    """The lines waiting to be written: every event as it comes, the latest BatchProgress once its interval is up.

    Not thread-safe (ProgressRecorder locks around it). `clock` is injectable so a test can replay hours.
    """

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.progress_lines = 0
        self._pending: list[bytes] = []
        self._latest_progress: ProgressRecord | None = None
        self._last_progress_time = -float("inf")

    @property
    def progress_interval(self) -> float:
        return WRITE_INTERVAL_SECONDS * 2 ** (self.progress_lines // PROGRESS_LINES_PER_DOUBLING)

    def add(self, event: Event, **process: Any) -> None:
        record = ProgressRecord(self.clock(), event, **process)
        if isinstance(event, BatchProgress):
            self._latest_progress = record
            return
        # The step an epoch ended on is written before its end, so a follower's progress reaches it; another progress
        # line not yet due would now come out of order: the event after it supersedes it.
        self._take_due_progress(due_now=isinstance(event, EpochEnded))
        self._latest_progress = None
        self._pending.append(encode(record))

    def take(self) -> bytes:
        """Everything due now, as whole lines."""
        self._take_due_progress()
        lines, self._pending = b"".join(self._pending), []
        return lines

    def _take_due_progress(self, due_now: bool = False) -> None:
        record = self._latest_progress
        if record is None:
            return
        # Due a little early: the writer thread's second is never exact, and a line a hair short would wait a second.
        if not due_now and record.time - self._last_progress_time < self.progress_interval * 0.9:
            return
        self._pending.append(encode(record))
        self._latest_progress = None
        self._last_progress_time = record.time
        self.progress_lines += 1


class ProgressRecorder:
    """Wraps the trainer's emit: each event goes on to `emit` at once and, from RunStarted on, to the run folder's
    progress.jsonl, which a thread appends to at most once a second (the training thread never waits on a disk).

    Events emitted before RunStarted (a notice about mixed precision, a resume) are recorded just after it.
    """

    def __init__(self, emit: Callable[[Event], None]):
        self._emit = emit
        self._lock = threading.Lock()
        self._buffer = ProgressBuffer()
        self._early: list[Event] = []
        self._path: Path | None = None
        self._finished = threading.Event()
        self._writer: threading.Thread | None = None

    def __call__(self, event: Event) -> None:
        self._emit(event)
        if isinstance(event, DownloadProgress):
            return
        with self._lock:
            if isinstance(event, RunStarted):
                self._start(event)
            elif self._path is None:
                self._early.append(event)  # no run folder yet (or never, when the run fails before it)
            else:
                self._buffer.add(event)
        if isinstance(event, RunFinished) and self._writer is not None:
            self._finished.set()
            self._writer.join()

    def _start(self, event: RunStarted) -> None:
        pid = os.getpid()
        self._buffer.add(event, pid=pid, process_started=process_start_time(pid))
        for early in self._early:
            self._buffer.add(early)
        self._early = []
        self._path = Path(event.run_dir) / PROGRESS_FILE
        self._writer = threading.Thread(
            target=self._write_until_finished, args=(self._path,), name="mnist-tui-progress", daemon=True
        )
        self._writer.start()

    def _write_until_finished(self, path: Path) -> None:
        file = None  # opened with the first lines, so a trainer killed before them leaves no empty file
        try:
            while True:
                finished = self._finished.wait(WRITE_INTERVAL_SECONDS)
                with self._lock:
                    lines = self._buffer.take()
                if lines:
                    file = file or open(path, "ab")
                    file.write(lines)
                    file.flush()
                if finished:
                    return
        except OSError as error:  # a full disk: training goes on, only its followers lose sight of it
            self._emit(Notice("warning", f"progress.jsonl is no longer written ({error})"))
        finally:
            if file is not None:
                file.close()


# --- following a run ------------------------------------------------------------------------------------------

LIVE = ("running", "paused")


@dataclass(frozen=True)
class RunProgress:
    """What a live row shows: all of it from the records (status also from the run lock and summary.json)."""

    status: str  # running, paused, completed, stopped, failed, diverged, or interrupted (the trainer died)
    epoch: int | None = None  # the epoch being trained (1-based), else the last one finished
    epochs: int | None = None
    step: int | None = None  # within the epoch
    steps_per_epoch: int | None = None
    images_per_second: float | None = None  # while training
    val_accuracy: float | None = None  # the latest validation
    test_accuracy: float | None = None
    updated: float | None = None  # unix seconds of the latest record
    pid: int | None = None


def fold(progress: RunProgress, record: ProgressRecord) -> RunProgress:
    """The row after one more record."""
    event, updated = record.event, record.time
    if isinstance(event, RunStarted):
        return RunProgress("running", event.start_epoch, event.config.get("epochs"), updated=updated, pid=record.pid)
    if isinstance(event, BatchProgress):
        return replace(
            progress,
            epoch=event.epoch,
            epochs=event.epochs,
            step=event.step,
            steps_per_epoch=event.steps_per_epoch,
            images_per_second=event.images_per_second,
            updated=updated,
        )
    if isinstance(event, EpochEnded):
        return replace(progress, epoch=event.epoch, step=progress.steps_per_epoch, updated=updated)
    if isinstance(event, Evaluated) and event.split == "val":
        return replace(progress, val_accuracy=event.accuracy, updated=updated)
    if isinstance(event, Evaluated):
        return replace(progress, test_accuracy=event.accuracy, updated=updated)
    if isinstance(event, PauseChanged):
        return replace(progress, status="paused" if event.paused else "running", updated=updated)
    if isinstance(event, RunFinished):
        return replace(progress, status=event.status, images_per_second=None, updated=updated)
    return replace(progress, updated=updated)


class ProgressFollower:
    """Follows one run folder: `poll()` reads only the records added since the last call (a stat when none were),
    `progress` is the live row, with the status checked against the run lock (a killed trainer's run reads as
    interrupted, never running)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.offset = 0
        self._size = -1
        self._recorded = RunProgress("running")  # until the records or the lock say otherwise
        self._settled: RunProgress | None = None  # the status needs no more checks until the file changes

    def poll(self) -> list[ProgressRecord]:
        try:
            size = (self.run_dir / PROGRESS_FILE).stat().st_size
        except FileNotFoundError:
            size = 0
        if size == self._size:
            return []
        self._size = size
        self._settled = None
        records, self.offset = read_progress(self.run_dir, self.offset)
        for record in records:
            self._recorded = fold(self._recorded, record)
        return records

    @property
    def progress(self) -> RunProgress:
        if self._settled is not None:
            return self._settled
        recorded = self._recorded
        if recorded.status not in LIVE:
            self._settled = recorded
            return recorded
        if running_pid(self.run_dir) is not None:
            return recorded
        # The trainer is gone: summary.json says how it ended (its RunFinished may be a moment behind), else it died.
        summary = read_summary(self.run_dir) or {}
        settled = replace(recorded, status=summary.get("status", "interrupted"), images_per_second=None)
        if recorded.updated is None:  # a run from before progress.jsonl: its summary's figures
            settled = replace(
                settled,
                epoch=summary.get("epochs_completed"),
                epochs=summary.get("epochs"),
                val_accuracy=summary.get("val_accuracy"),
                test_accuracy=summary.get("test_accuracy"),
            )
        self._settled = settled
        return settled
