"""Signals that end a run from outside: Ctrl+C, `kill` (SIGTERM), a closed SSH session (SIGHUP), and the stop
signal of `mnist-tui stop` (SIGUSR1).

The headless CLI stops the trainer (or a sweep's running trials) before its next batch on any of them, keeps what
it finished, and exits with the shell's status for the signal (143 for the stop signal, as for SIGTERM). The
dashboard ends on SIGTERM and SIGHUP alike, but on the stop signal it stops its run and stays up.
"""

from __future__ import annotations

import os
import signal

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
