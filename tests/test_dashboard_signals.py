"""The dashboard as a real process on a pseudo-terminal: `kill` (SIGTERM) and a closed terminal (SIGHUP) mid-run."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
import torch

from engine.runs import LOCK_FILE, list_runs

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[1]


def _take_terminal() -> None:
    """In the child, after setsid: the pseudo-terminal on stdin becomes its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Dashboard:
    """`mnist-tui --start` on an 80x24 pseudo-terminal of its own, as the leader of its session: closing the
    terminal's other end hangs it up, and the kernel sends it SIGHUP, as when an SSH connection drops."""

    def __init__(self, data_dir: Path, runs_dir: Path) -> None:
        self.terminal, screen_side = os.openpty()
        fcntl.ioctl(screen_side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tui.cli import entry_point; entry_point()",
             "--data-dir", str(data_dir), "--runs-dir", str(runs_dir), "--model", "linear", "--schedule", "none",
             "--epochs", "200", "--batch-size", "1", "--start"],
            stdin=screen_side, stdout=screen_side, stderr=screen_side, cwd=ROOT, start_new_session=True,
            preexec_fn=_take_terminal, env={**os.environ, "TERM": "xterm-256color"},
        )  # fmt: skip
        os.close(screen_side)
        self.closing = threading.Event()
        self.reader = threading.Thread(target=self._read_screen, daemon=True)
        self.reader.start()

    def _read_screen(self) -> None:
        """Read what the app draws, as a terminal would, so it never blocks on a full buffer."""
        while not self.closing.is_set():
            ready, _, _ = select.select([self.terminal], [], [], 0.1)
            if ready:
                try:
                    os.read(self.terminal, 65536)
                except OSError:  # the app ended and closed its side
                    return

    def close_terminal(self) -> None:
        self.closing.set()
        self.reader.join()
        os.close(self.terminal)

    def finish(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            if not self.closing.is_set():
                self.close_terminal()


def _wait_for_first_epoch(runs_dir: Path, process: subprocess.Popen) -> None:
    """Poll the run folder up to a deadline: the app is mid-run once epoch 1's line is on disk."""
    deadline = time.monotonic() + 120
    while not any(run.epochs for run in list_runs(runs_dir)):
        assert process.poll() is None, f"the dashboard ended early with status {process.returncode}"
        assert time.monotonic() < deadline, "the run never finished its first epoch"
        time.sleep(0.2)


@pytest.mark.parametrize(("how", "status"), [("hang-up", 129), ("terminate", 143)], ids=["terminal-closed", "sigterm"])
def test_the_dashboard_stops_its_run_cleanly_on_a_signal(how: str, status: int, tiny_data: Path, tmp_path) -> None:
    runs_dir = tmp_path / "runs"
    dashboard = Dashboard(tiny_data, runs_dir)
    _wait_for_first_epoch(runs_dir, dashboard.process)
    if how == "hang-up":
        dashboard.close_terminal()
    else:
        dashboard.process.send_signal(signal.SIGTERM)
    assert dashboard.finish() == status

    (run,) = list_runs(runs_dir)
    assert run.status == "stopped" and run.summary["message"].startswith("stopped by the user during epoch")
    assert run.summary["epochs_completed"] == len(run.epochs) < 200
    assert torch.load(run.path / "last.pt", weights_only=True)["epoch"] == len(run.epochs)
    assert not (run.path / LOCK_FILE).exists()
