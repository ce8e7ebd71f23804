"""Signals that end a run from outside: Ctrl+C, `kill` (SIGTERM), a closed SSH session (SIGHUP), and the stop
signal of `mnist-tui stop` (SIGUSR1).

The headless CLI stops the trainer (or a sweep's running trials) before its next batch on any of them, keeps what
it finished, and exits with the shell's status for the signal (143 for the stop signal, as for SIGTERM). The
dashboard ends on SIGTERM and SIGHUP alike, but on the stop signal it stops its run and stays up.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

SIGNAL_EXIT: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
if hasattr(signal, "SIGHUP"):
    SIGNAL_EXIT[signal.SIGHUP] = 129

# "Stop this run after its current batch", which `mnist-tui stop` and the dashboard's x on a followed run send to
# the process holding the run's lock. Not SIGTERM, so a dashboard asked to stop its run is not also ended; where
# there is no SIGUSR1 (Windows), SIGTERM, with its meaning.
STOP_SIGNAL: int = signal.SIGUSR1 if hasattr(signal, "SIGUSR1") else signal.SIGTERM
STOP_EXIT = SIGNAL_EXIT[signal.SIGTERM]  # what a headless run stopped so exits with: 143, as when stop sent SIGTERM
STOPPING_SIGNALS: dict[int, int] = {**SIGNAL_EXIT, STOP_SIGNAL: STOP_EXIT}  # a headless run's, with exit statuses


def is_hang_up(number: int) -> bool:
    return number == getattr(signal, "SIGHUP", None)


def detach_from_terminal() -> None:
    """After a hang-up the terminal is gone, and writing to it or reading from it fails: use /dev/null instead.

    Reads then see an end of file at once, never an error (a reader blocked on stdin could stop the exit).
    """
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


class StopOnSignals:
    """While inside: Ctrl+C, SIGTERM, SIGHUP and the stop signal call `stop` (after a hang-up, once the process no
    longer writes to the dead terminal); on leaving, the handlers from before are back. For the headless commands."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self.stop = stop
        self.received: list[int] = []
        self.previous: dict[int, Any] = {}  # the handlers signal.signal handed back

    def __enter__(self) -> StopOnSignals:
        self.previous = {number: signal.signal(number, self.on_signal) for number in STOPPING_SIGNALS}
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def on_signal(self, number: int, _frame: FrameType | None) -> None:
        if is_hang_up(number):
            detach_from_terminal()
        self.received.append(number)
        self.stop()

    @property
    def exit_status(self) -> int:
        """The shell's status for the first signal received; 130 (as Ctrl+C) for a stop that came otherwise."""
        return STOPPING_SIGNALS.get(self.received[0], 130) if self.received else 130
