"""Signals that end a run from outside: Ctrl+C, `kill` (SIGTERM), a closed SSH session (SIGHUP).

The headless CLI and the dashboard both stop the trainer before its next batch on these, keep what it finished,
and exit with the shell's status for the signal.
"""

from __future__ import annotations

import os
import signal

SIGNAL_EXIT: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
if hasattr(signal, "SIGHUP"):
    SIGNAL_EXIT[signal.SIGHUP] = 129


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
