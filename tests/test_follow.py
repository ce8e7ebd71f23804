"""Runs that outlive the terminal: progress.jsonl and its follower, `train --detach`, `stop`, `runs --watch`."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.watch_idle import watch_cpu_seconds, write_runs
from engine.config import RunConfig, recipe_config
from engine.events import BatchProgress, EpochEnded, RunFinished
from engine.progress import (
    PROGRESS_FILE,
    PROGRESS_LINES_PER_DOUBLING,
    ProgressBuffer,
    ProgressFollower,
    ProgressRecord,
    encode,
    read_progress,
)
from engine.runs import LOCK_FILE, SUMMARY_FILE, RunsError, process_start_time, read_summary, signal_trainer, write_json
from engine.trainer import Trainer
from tui import background

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[1]
# batch 2 on 500 images: 250 steps an epoch, a few seconds a run on this CPU
LONG_RUN = ["--model", "linear", "--schedule", "none", "--batch-size", "2", "--device", "cpu", "--no-download"]


def mnist_tui(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tui", *args], capture_output=True, text=True, timeout=180, cwd=ROOT, **options
    )


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> object:
    """The condition's first true value, checked every 50 ms; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout} s for {what}")
        time.sleep(0.05)
    return value


def started_run(output: str) -> Path:
    """The run folder `train --detach` printed."""
    first = output.splitlines()[0]
    assert first.startswith("training in the background (process "), output
    return Path(first.rsplit(": ", 1)[1])


def test_events_come_back_as_the_dataclasses_the_trainer_emitted(tiny_data: Path, runs_dir: Path) -> None:
    emitted = []
    finished = Trainer(
        recipe_config("linear", epochs=2, device="cpu"), runs_dir=runs_dir, data_dir=tiny_data, emit=emitted.append
    ).run()
    records, offset = read_progress(Path(finished.run_dir))
    assert offset == (Path(finished.run_dir) / PROGRESS_FILE).stat().st_size
    read = [record.event for record in records]
    assert [e for e in read if not isinstance(e, BatchProgress)] == [
        e for e in emitted if not isinstance(e, BatchProgress)
    ]
    assert all(e in emitted for e in read if isinstance(e, BatchProgress))
    assert records[0].pid == os.getpid() and records[0].process_started == process_start_time(os.getpid())


def test_a_training_process_is_followed_step_by_step_to_its_end(tiny_data: Path, runs_dir: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "train", *LONG_RUN, "--epochs", "30", "--data-dir", str(tiny_data),
         "--runs-dir", str(runs_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    run_dir = wait_for(lambda: next(runs_dir.glob("2*"), None), 120, "the run folder")
    follower = ProgressFollower(run_dir)
    steps, live_statuses = [], set()
    while True:
        alive = process.poll() is None  # before the poll: an ended trainer has written every record
        steps += [record.event.global_step for record in follower.poll() if isinstance(record.event, BatchProgress)]
        if not alive:
            break
        if steps:
            live_statuses.add(follower.progress.status)
        time.sleep(0.05)
    assert process.returncode == 0, process.stderr.read()
    assert len(steps) >= 2 and steps == sorted(set(steps)), steps
    assert "running" in live_statuses
    row = follower.progress
    assert (row.status, row.epoch, row.epochs, row.step) == ("completed", 30, 30, 250)
    assert row.val_accuracy is not None and row.test_accuracy is not None and row.images_per_second is None


def test_detach_returns_once_the_run_has_its_folder_and_the_run_completes(tiny_data: Path, runs_dir: Path) -> None:
    started = mnist_tui(
        "train", *LONG_RUN, "--epochs", "40", "--data-dir", str(tiny_data), "--runs-dir", str(runs_dir), "--detach"
    )
    assert started.returncode == 0, started.stderr
    run_dir = started_run(started.stdout)
    assert not (run_dir / SUMMARY_FILE).exists()  # back before the run ended
    assert f"mnist-tui stop {run_dir.name}" in started.stdout and "mnist-tui runs --watch" in started.stdout
    summary = wait_for(lambda: read_summary(run_dir), 180, "summary.json")
    assert summary["status"] == "completed"
    # summary.json comes before the command's last lines: wait for those in the log (its output goes there).
    wait_for(lambda: f"run folder: {run_dir}" in (run_dir / background.TRAIN_LOG).read_text(), 60, "the last line")
    assert [path.name for path in runs_dir.iterdir()] == [run_dir.name]  # no log left behind in the runs folder


def test_detach_of_a_run_that_fails_before_its_folder_exits_1_with_the_reason(tmp_path: Path) -> None:
    result = mnist_tui(
        "train", *LONG_RUN, "--data-dir", str(tmp_path / "empty"), "--runs-dir", str(tmp_path / "runs"), "--detach"
    )
    assert result.returncode == 1 and result.stdout == ""
    assert "mnist is not in" in result.stderr and "ended before it started (exit status 1)" in result.stderr
    assert "Traceback" not in result.stderr
    assert list((tmp_path / "runs").iterdir()) == []


def test_stop_ends_a_detached_run_within_a_batch_and_keeps_its_epochs(tiny_data: Path, runs_dir: Path) -> None:
    started = mnist_tui(
        "train", *LONG_RUN, "--epochs", "1000", "--data-dir", str(tiny_data), "--runs-dir", str(runs_dir), "--detach"
    )
    run_dir = started_run(started.stdout)
    follower = ProgressFollower(run_dir)
    wait_for(lambda: follower.poll() is not None and (follower.progress.epoch or 0) >= 2, 120, "epoch 2")
    began = time.monotonic()
    stopped = mnist_tui("stop", run_dir.name, "--runs-dir", str(runs_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert time.monotonic() - began < 30
    assert f"{run_dir.name} stopped: stopped by the user during epoch" in stopped.stdout
    summary = read_summary(run_dir)
    assert summary["status"] == "stopped" and 1 <= summary["epochs_completed"] < 1000
    assert (run_dir / "last.pt").is_file() and not (run_dir / LOCK_FILE).exists()
    follower.poll()
    assert follower.progress.status == "stopped"
    assert "stopped: stopped by the user during epoch" in (run_dir / background.TRAIN_LOG).read_text()
    again = mnist_tui("stop", run_dir.name, "--runs-dir", str(runs_dir))
    assert again.returncode == 1 and "is not running: it is stopped; nothing to stop" in again.stderr

    resumed = mnist_tui("train", "--resume", run_dir.name, "--runs-dir", str(runs_dir), "--data-dir", str(tiny_data),
                        "--no-download", "--detach")  # fmt: skip
    assert started_run(resumed.stdout) == run_dir
    assert mnist_tui("stop", run_dir.name, "--runs-dir", str(runs_dir)).returncode == 0
    log = (run_dir / background.TRAIN_LOG).read_text()
    assert log.count(f"Continue with `mnist-tui train --resume {run_dir.name}`") == 2  # the first run's log is kept


@pytest.fixture
def never_signal(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every signal sent through os.kill or pidfd_send_signal, none of them delivered (signal 0, which only asks
    whether a process is alive, still is)."""
    sent: list = []
    real_kill = os.kill
    monkeypatch.setattr(os, "kill", lambda pid, number: real_kill(pid, 0) if number == 0 else sent.append(number))
    monkeypatch.setattr(signal, "pidfd_send_signal", lambda *args: sent.append(args), raising=False)
    return sent


def _run_locked_by(runs_dir: Path, lock: str) -> Path:
    run_dir = runs_dir / "20261126-010203-mnist-linear"
    run_dir.mkdir(parents=True)
    write_json(run_dir / "config.json", RunConfig().to_dict())
    (run_dir / LOCK_FILE).write_text(lock)
    return run_dir


def test_a_stale_lock_of_a_process_gone_is_never_signalled(runs_dir: Path, never_signal: list, capsys) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run_dir = _run_locked_by(runs_dir, f"{gone.pid} 12345\n")
    assert background.stop_and_print(runs_dir, run_dir.name, timeout=5) == 1
    assert "is not running: it is interrupted (its trainer is gone" in capsys.readouterr().err
    with pytest.raises(RunsError, match="is not running"):
        signal_trainer(run_dir, signal.SIGTERM)
    assert never_signal == []


def test_a_lock_whose_id_now_names_another_process_is_never_signalled(runs_dir: Path, never_signal: list) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        real_start = process_start_time(other.pid)
        run_dir = _run_locked_by(runs_dir, f"{other.pid} {int(real_start) - 1}\n")  # a trainer started earlier
        assert background.stop_and_print(runs_dir, run_dir.name, timeout=5) == 1
        with pytest.raises(RunsError, match="is not running"):
            signal_trainer(run_dir, signal.SIGTERM)
        assert never_signal == [] and other.poll() is None
    finally:
        other.communicate(b"")


def _lines(*events) -> list[bytes]:
    return [encode(ProgressRecord(float(index), event)) for index, event in enumerate(events)]


def test_a_torn_last_line_is_skipped_then_read_once_complete(tmp_path: Path) -> None:
    progress = BatchProgress(1, 2, 10, 250, 10, 0.5, 1000.0, 1.0, 9.0)
    finished = RunFinished("completed", "training completed", str(tmp_path), {"status": "completed"})
    first, second = _lines(progress, finished)
    path = tmp_path / PROGRESS_FILE
    path.write_bytes(first + second[:20])
    follower = ProgressFollower(tmp_path)
    assert [record.event for record in follower.poll()] == [progress]
    assert follower.offset == len(first)
    with open(path, "ab") as f:
        f.write(second[20:])
    assert [record.event for record in follower.poll()] == [finished]
    assert follower.poll() == []
    assert [record.event for record in read_progress(tmp_path)[0]] == [progress, finished]


def test_progress_lines_thin_out_so_a_ten_hour_run_stays_small() -> None:
    now = [0.0]
    buffer = ProgressBuffer(clock=lambda: now[0])
    written = bytearray()
    step, hour = 0, 3600
    while now[0] < 10 * hour:  # ten batches a second for ten hours, an epoch an hour
        step += 1
        buffer.add(BatchProgress(1, 10, step, 10**6, step, 0.1, 5000.0, now[0], 1.0))
        if step % (10 * hour) == 0:
            buffer.add(EpochEnded(step // (10 * hour), 10, 0.1, 0.9, 0.1, 0.9, 0.9, 0.001, hour))
        if step % 10 == 0:  # the writer thread's once-a-second take
            written += buffer.take()
        now[0] += 0.1
    lines = [json.loads(line) for line in written.splitlines()]
    progress_times = [line["time"] for line in lines if line["type"] == "BatchProgress"]
    assert sum(line["type"] == "EpochEnded" for line in lines) == 10  # every other event is kept
    gaps = [later - earlier for earlier, later in zip(progress_times, progress_times[1:], strict=False)]
    assert min(gaps) >= 0.9  # one a second at most (give or take the writer thread's timing)
    assert progress_times[PROGRESS_LINES_PER_DOUBLING - 1] < PROGRESS_LINES_PER_DOUBLING + 1  # one a second at first
    assert len(progress_times) < 8000 and len(written) < 2_500_000, (len(progress_times), len(written))
    assert progress_times[-1] > 10 * hour - 20  # the latest progress is never far behind


def test_the_step_an_epoch_ends_on_is_written_before_its_end() -> None:
    now = [0.0]
    buffer = ProgressBuffer(clock=lambda: now[0])
    buffer.add(BatchProgress(1, 2, 1, 250, 1, 0.5, 1000.0, 0.0, 9.0))
    buffer.take()
    now[0] = 0.3  # the last step's progress is not due for another 0.6 s
    last_step = BatchProgress(1, 2, 250, 250, 250, 0.1, 1000.0, 0.3, 0.3)
    buffer.add(last_step)
    ended = EpochEnded(1, 2, 0.1, 0.9, 0.1, 0.9, 0.9, 0.001, 0.3)
    buffer.add(ended)
    assert [json.loads(line)["type"] for line in buffer.take().splitlines()] == ["BatchProgress", "EpochEnded"]


def test_runs_watch_draws_the_live_table_and_leaves_on_ctrl_c(runs_dir: Path) -> None:
    names = write_runs(runs_dir, 3)
    controller, terminal = pty.openpty()
    watch = subprocess.Popen(
        [sys.executable, "-m", "tui", "runs", "--watch", "--runs-dir", str(runs_dir)],
        stdin=terminal, stdout=terminal, stderr=terminal, cwd=ROOT, env={**os.environ, "COLUMNS": "120"},
    )  # fmt: skip
    os.close(terminal)
    screen = bytearray()
    drawn = threading.Event()

    def read() -> None:
        while chunk := _read_or_end(controller):
            screen.extend(chunk)
            if all(name.encode() in screen for name in names) and b"interrupted" in screen:
                drawn.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert drawn.wait(60), screen.decode(errors="replace")
        watch.send_signal(signal.SIGINT)
        assert watch.wait(30) == 0
    finally:
        watch.kill()
        reader.join(10)
        os.close(controller)
    text = screen.decode(errors="replace")
    assert "completed" in text and "running" in text and "Traceback" not in text


def _read_or_end(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other end closed
        return b""


def test_watching_idle_runs_costs_little_cpu(tmp_path: Path) -> None:
    names = write_runs(tmp_path, 50)
    cpu = watch_cpu_seconds(tmp_path, names[-1], seconds=3)
    assert cpu / 3 < 0.05, f"{cpu:.3f} CPU s in 3 s"


def test_watch_with_sort_is_a_usage_error(tmp_path: Path) -> None:
    result = mnist_tui("runs", "--watch", "--sort", "status", "--runs-dir", str(tmp_path))
    assert result.returncode == 2 and "--watch lists the newest runs first" in result.stderr
