"""The headless CLI as a real process: Ctrl+C, SIGTERM, a closed SSH session, `mnist-tui stop`, and kill -9 at random
moments."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from engine.runs import LOCK_FILE, TEMP_SUFFIX, list_runs, load_run, signal_trainer
from tui.cli import main
from tui.signals import STOP_SIGNAL

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--model", "linear", "--schedule", "none", "--lr", "0.001", "--no-download"]


class Training:
    """`mnist-tui train` in a subprocess whose stdout a thread reads; `act` runs on that thread `delay` seconds
    after the first line containing `when`, so processes started together are each acted on in time."""

    def __init__(
        self,
        data_dir: Path,
        runs_dir: Path,
        epochs: int,
        *,
        when: str,
        act: Callable[[subprocess.Popen], None],
        delay: float = 0.0,
        hang_up: bool = False,
        batch_size: int = 2,
    ):
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tui.cli import entry_point; entry_point()", *TRAIN,
             "--batch-size", str(batch_size), "--epochs", str(epochs),
             "--data-dir", str(data_dir), "--runs-dir", str(runs_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        )  # fmt: skip
        self.output: list[str] = []
        self.acted = threading.Event()
        self._when, self._act, self._delay, self._hang_up = when, act, delay, hang_up
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            if self._when in line and not self.acted.is_set():
                time.sleep(self._delay)
                self._act(self.process)
                self.acted.set()
                if self._hang_up:
                    break
        self.process.stdout.close()  # after a hang-up: the terminal is gone, writing to it now would fail

    def finish(self, timeout: float = 120) -> int:
        code = self.process.wait(timeout=timeout)
        assert self.acted.wait(10), f"never saw {self._when!r} in: {''.join(self.output)}"
        return code


# Ctrl+C, kill, closed SSH session, and `mnist-tui stop` (sent through the run's lock, as the command does)
SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129, STOP_SIGNAL: 143}


def _send(number: int, process: subprocess.Popen, runs_dir: Path) -> None:
    if number == STOP_SIGNAL:
        (run,) = list_runs(runs_dir)
        assert signal_trainer(run.path, STOP_SIGNAL) == process.pid
    else:
        process.send_signal(number)


def test_signals_stop_the_run_and_keep_finished_epochs(tiny_data: Path, tmp_path: Path) -> None:
    # One process per signal, started together so their start-up times overlap; each is signalled as soon as
    # its own first epoch ends.
    trainings = {
        number: Training(
            tiny_data,
            tmp_path / signal.Signals(number).name,
            epochs=50,
            when="epoch 1/50:",
            act=lambda process, number=number: _send(number, process, tmp_path / signal.Signals(number).name),
            hang_up=number == signal.SIGHUP,
        )
        for number in SIGNALS
    }
    for number, training in trainings.items():
        assert training.finish() == SIGNALS[number], training.process.stderr.read()
        assert "Traceback" not in training.process.stderr.read()
        (run,) = list_runs(tmp_path / signal.Signals(number).name)
        assert run.status == "stopped"
        # signalled as epoch 1 ended: it stops during epoch 2 (or, at the latest, right after it)
        assert 1 <= len(run.epochs) <= 2 and run.summary["epochs_completed"] == len(run.epochs)
        last = torch.load(run.path / "last.pt", weights_only=True)
        assert last["epoch"] == len(run.epochs)
        assert not (run.path / LOCK_FILE).exists()


def _check_run_files(run_dir: Path) -> None:
    """Every file is whole: JSON parses, checkpoints load safely, metrics lines all parse."""
    for path in run_dir.iterdir():
        if path.name.endswith(TEMP_SUFFIX):
            assert path.name.startswith("."), f"{path.name}: a temporary file must stay hidden"
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".pt":
            state = torch.load(path, weights_only=True)
            assert state["epoch"] >= 1 and "model" in state
        elif path.suffix == ".jsonl":
            text = path.read_text()
            assert text.endswith("\n")
            for line in text.splitlines():
                json.loads(line)


def test_kill_9_at_random_moments_leaves_whole_files_and_resumes(
    tiny_data: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    epochs = 4
    rng = random.Random(20261125)
    status_before_kill: list[str] = []

    def look_then_kill(process: subprocess.Popen, runs_dir: Path) -> None:
        status_before_kill.append(list_runs(runs_dir)[0].status)
        process.kill()

    # Each crash comes a random moment after a random point: start-up done, epoch 1 ended, epoch 2 ended.
    triggers = ["run started:", f"epoch 1/{epochs}:", f"epoch 2/{epochs}:"]
    trainings = [
        Training(
            tiny_data,
            tmp_path / f"runs-{attempt}",
            epochs=epochs,
            when=trigger,
            act=lambda process, attempt=attempt: look_then_kill(process, tmp_path / f"runs-{attempt}"),
            delay=rng.uniform(0, 0.4),  # the random moment of the crash (the test's input, not a wait)
            batch_size=1,  # 500 steps an epoch: the kill lands mid-run even on a fast machine
        )
        for attempt, trigger in enumerate(triggers)
    ]
    killed: list[Path] = []
    for attempt, training in enumerate(trainings):
        training.finish()
        (run_dir,) = [path for path in (tmp_path / f"runs-{attempt}").iterdir() if path.is_dir()]
        _check_run_files(run_dir)
        run = load_run(run_dir)
        assert [e.epoch for e in run.epochs] == list(range(1, len(run.epochs) + 1))
        if run.summary is None:
            assert run.status == "interrupted"
            killed.append(run_dir)
    assert status_before_kill == ["running"] * len(triggers)
    assert killed, "at least one kill landed before the run finished"

    monkeypatch.setenv("COLUMNS", "200")
    assert main(["runs", "--runs-dir", str(killed[0].parent)]) == 0
    assert "interrupted" in capsys.readouterr().out

    resumed = max(killed, key=lambda run_dir: len(load_run(run_dir).epochs))  # the least left to train
    base = ["train", "--runs-dir", str(resumed.parent), "--data-dir", str(tiny_data), "--no-download"]
    assert main([*base, "--resume", resumed.name]) == 0
    run = load_run(resumed)
    assert run.status == "completed" and [e.epoch for e in run.epochs] == list(range(1, epochs + 1))
    assert run.summary["epochs_completed"] == epochs and run.latest_evaluation("test") is not None
    assert not list(resumed.glob(f".*{TEMP_SUFFIX}"))
    _check_run_files(resumed)
