"""End to end: the installed `mnist-tui` in a real terminal (tmux, 80x24), driven by keys like a person would."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it)")


def installed_command() -> str:
    beside_python = Path(sys.executable).with_name("mnist-tui")
    command = str(beside_python) if beside_python.exists() else shutil.which("mnist-tui")
    if command is None:
        pytest.skip("the mnist-tui command is not installed")
    return command


class Terminal:
    """A tmux server of our own (its own socket), so no user session is touched."""

    def __init__(self, name: str) -> None:
        self.base = [TMUX, "-L", name, "-f", os.devnull]

    def tmux(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.base, *args], capture_output=True, text=True)

    def start(self, command: str, width: int = 80, height: int = 24) -> None:
        self.tmux("new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height), command).check_returncode()

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "app").stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "app", *keys).check_returncode()

    def alive(self) -> bool:
        return self.tmux("has-session", "-t", "app").returncode == 0

    def wait_until(self, condition: Callable[[], bool], what: str, seconds: float) -> None:
        """Poll a condition up to a deadline: waiting on the app's visible state, not sleeping on a guess."""
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; screen:\n{self.screen()}")
            time.sleep(0.2)

    def close(self) -> None:
        self.tmux("kill-server")


def test_train_watch_and_quit_in_tmux(tiny_data: Path, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    exit_file = tmp_path / "exit-status"
    app = (
        f"{shlex.quote(installed_command())} --data-dir {shlex.quote(str(tiny_data))}"
        f" --runs-dir {shlex.quote(str(runs_dir))} --model linear --epochs 2"
    )
    terminal = Terminal(f"mnist-tui-test-{os.getpid()}")
    terminal.start(f"{app}; echo $? > {shlex.quote(str(exit_file))}")
    try:
        terminal.wait_until(lambda: "s Start" in terminal.screen(), "the first screen with its keys", 60)
        assert "idle" in terminal.screen()
        terminal.wait_until(lambda: "parameters" in terminal.screen(), "the model list", 120)
        terminal.keys("s")
        terminal.wait_until(lambda: "finished: test acc" in terminal.screen(), "the run to finish", 180)
        screen = terminal.screen()
        assert "100%" in screen
        assert "accuracy" in screen and "loss" in screen

        terminal.keys("3")
        terminal.wait_until(lambda: "test, epoch" in terminal.screen(), "the test confusion matrix", 30)
        assert "200 images" in terminal.screen()

        terminal.keys("q")
        terminal.wait_until(exit_file.exists, "the app to exit", 60)
        assert exit_file.read_text().strip() == "0"
        terminal.wait_until(lambda: not terminal.alive(), "the pane's process to end", 30)
    finally:
        terminal.close()

    (run_dir,) = runs_dir.iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_a_sweep_from_setup_fills_the_sweep_tab_in_tmux(tiny_data: Path, tmp_path: Path) -> None:
    """At 80x24: a list typed into the learning rate, s, and the Sweep tab's rows appear as the trials end."""
    runs_dir = tmp_path / "runs"
    app = (
        f"{shlex.quote(installed_command())} --data-dir {shlex.quote(str(tiny_data))}"
        f" --runs-dir {shlex.quote(str(runs_dir))} --model linear --epochs 1"
    )
    terminal = Terminal(f"mnist-tui-sweep-test-{os.getpid()}")
    terminal.start(app)
    try:
        terminal.wait_until(lambda: "parameters" in terminal.screen(), "the model list", 120)
        for _ in range(6):  # dataset, model, device, epochs, batch size, learning rate
            terminal.keys("Tab")
        terminal.keys("C-u")
        terminal.wait_until(lambda: "must be a number" in terminal.screen(), "the learning rate field emptied", 10)
        terminal.keys("0.003,0.03")
        terminal.wait_until(lambda: "2 trials (grid over" in terminal.screen(), "the sweep's plan in Setup", 10)
        terminal.keys("s")
        terminal.wait_until(lambda: "finished · 2/2 done" in terminal.screen(), "the sweep to finish", 120)
        screen = terminal.screen()
        assert "7 Sweep" in screen and "trial" in screen and "val acc" in screen
        rows = [line.split() for line in screen.splitlines() if " completed " in f" {line} "]
        assert sorted(row[1] if row[0] == "★" else row[0] for row in rows) == ["0", "1"], screen
        assert any(row[0] == "★" for row in rows)  # the best trial marked
        terminal.keys("q")
        terminal.wait_until(lambda: not terminal.alive(), "the app to exit", 60)
    finally:
        terminal.close()
    assert (runs_dir / "sweeps").is_dir() and len([p for p in runs_dir.iterdir() if p.name != "sweeps"]) == 2
