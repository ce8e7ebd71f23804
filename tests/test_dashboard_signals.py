"""The dashboard as a real process on a pseudo-terminal: `kill` (SIGTERM) and a closed terminal (SIGHUP) mid-run end
it; `mnist-tui stop` (the stop signal) stops its run and leaves it up."""

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
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from engine.runs import LOCK_FILE, list_runs
from tui.signals import STOP_SIGNAL

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
        self.screen = bytearray()  # everything the app has drawn
        self.reader = threading.Thread(target=self._read_screen, daemon=True)
        self.reader.start()

    def _read_screen(self) -> None:
        """Read what the app draws, as a terminal would, so it never blocks on a full buffer."""
        while not self.closing.is_set():
            ready, _, _ = select.select([self.terminal], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.terminal, 65536)
                except OSError:  # the app ended and closed its side
                    return

    def drawn_since(self, start: int, text: str) -> bool:
        return text.encode() in self.screen[start:]

    def press(self, key: str) -> None:
        os.write(self.terminal, key.encode())

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


def _wait_for(condition: Callable[[], object], process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the dashboard ended with status {process.returncode} before {what}"
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.05)


@pytest.mark.skipif(STOP_SIGNAL == signal.SIGTERM, reason="no stop signal of its own here (no SIGUSR1)")
def test_mnist_tui_stop_stops_the_dashboards_run_and_the_dashboard_stays_up(tiny_data: Path, tmp_path) -> None:
    runs_dir = tmp_path / "runs"
    dashboard = Dashboard(tiny_data, runs_dir)
    _wait_for_first_epoch(runs_dir, dashboard.process)
    (run,) = list_runs(runs_dir)
    drawn = len(dashboard.screen)
    stopped = subprocess.run(
        [sys.executable, "-m", "tui", "stop", run.path.name, "--runs-dir", str(runs_dir)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr
    assert f"({signal.Signals(STOP_SIGNAL).name}) to stop {run.path.name}" in stopped.stdout
    assert f"{run.path.name} stopped: stopped by the user during epoch" in stopped.stdout

    (run,) = list_runs(runs_dir)
    assert run.status == "stopped" and run.summary["epochs_completed"] == len(run.epochs) < 200
    assert not (run.path / LOCK_FILE).exists()
    # Still up: its log says who stopped the run, its header that the run stopped (drawn once the run's end reached
    # it, so nothing trains any more), and q then quits at once.
    _wait_for(
        lambda: (
            dashboard.drawn_since(drawn, "stopped from another process (mnist-tui stop)")
            and dashboard.drawn_since(drawn, "stopped · ")
        ),
        dashboard.process,
        "the log line and the header's stopped",
    )
    assert dashboard.process.poll() is None
    dashboard.press("q")
    assert dashboard.finish() == 0
