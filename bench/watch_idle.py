"""What watching a runs folder of idle runs costs while nothing changes: `mnist-tui runs --watch`, or the dashboard.

    python bench/watch_idle.py [--runs 50] [--seconds 30] [--dashboard]

Writes that many run folders into a temporary runs folder (most completed, some killed, some "running" under
this process's id so their lock is live), starts `mnist-tui runs --watch` (or, with --dashboard, `mnist-tui`,
which follows the newest running run in its Train tab and samples its system pane) on a pseudo-terminal, so it
draws as it would for a user; waits for its first screen (the dashboard: also until its start-up work, PyTorch's
import among it, has settled), then prints the CPU seconds it used over the next `--seconds` of wall time.
"""

from __future__ import annotations

import argparse
import os
import pty
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from engine.config import RunConfig
from engine.events import BatchProgress, RunFinished, RunStarted
from engine.progress import PROGRESS_FILE, ProgressRecord, encode
from engine.runs import LOCK_FILE, process_start_time, write_json

ROOT = Path(__file__).resolve().parents[1]


def write_runs(runs_dir: Path, count: int) -> list[str]:
    """`count` run folders: one in ten running (locked by this process), one in ten killed, the rest completed."""
    config = RunConfig().to_dict()
    names = []
    for index in range(count):
        name = f"20261126-{index:06d}-mnist-cnn"
        run_dir = runs_dir / name
        run_dir.mkdir(parents=True)
        write_json(run_dir / "config.json", config)
        records = [
            ProgressRecord(0.0, RunStarted(str(run_dir), config, "cpu", "CPU", 7850, 50_000, 10_000, 10_000, ("0",))),
            ProgressRecord(1.0, BatchProgress(1, 2, 100, 196, 100, 0.3, 10_000.0, 1.0, 2.0)),
        ]
        if index % 10 == 0:
            pid = os.getpid()
            (run_dir / LOCK_FILE).write_text(f"{pid} {process_start_time(pid)}\n")
        elif index % 10 != 1:
            summary = {"status": "completed", "message": "training completed"}
            records.append(ProgressRecord(2.0, RunFinished("completed", "training completed", str(run_dir), summary)))
            write_json(run_dir / "summary.json", summary)
        (run_dir / PROGRESS_FILE).write_bytes(b"".join(map(encode, records)))
        names.append(name)
    return names


SETTLED_CPU_SHARE = 0.1  # the dashboard has settled once a second of wall time costs less than this of one core


def watch_cpu_seconds(runs_dir: Path, newest_name: str, seconds: float, dashboard: bool = False) -> float:
    """CPU seconds (user + system) `mnist-tui runs --watch` (or the dashboard) uses over `seconds`, from its first
    table on (the dashboard: from its first screen, once settled)."""
    controller, terminal = pty.openpty()
    command = ["--runs-dir", str(runs_dir)] if dashboard else ["runs", "--watch", "--runs-dir", str(runs_dir)]
    first_screen = b"Draw" if dashboard else newest_name.encode()  # the dashboard's last tab, the table's top row
    watch = subprocess.Popen(
        [sys.executable, "-m", "tui", *command],
        stdin=terminal, stdout=terminal, stderr=terminal, cwd=ROOT,
        env={**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"},
    )  # fmt: skip
    os.close(terminal)
    drawn = threading.Event()
    screen = bytearray()

    def read() -> None:  # keeps the terminal drained so the watcher never blocks on a write
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                return
            if not chunk:
                return
            screen.extend(chunk)
            if first_screen in screen:
                drawn.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not drawn.wait(60):
            raise RuntimeError(f"nothing drawn by `mnist-tui {' '.join(command)}` within 60 s: {screen[-2000:]!r}")
        process = psutil.Process(watch.pid)
        if dashboard:
            wait_until_settled(process)
        before = process.cpu_times()
        time.sleep(seconds)  # the measured interval
        after = process.cpu_times()
    finally:
        watch.terminate()
        watch.wait(10)
        os.close(controller)
    return (after.user - before.user) + (after.system - before.system)


def wait_until_settled(process: psutil.Process, timeout: float = 60.0) -> None:
    """Until a second of wall time costs the process under SETTLED_CPU_SHARE of a core (a worker importing PyTorch
    and loading the runs is done)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(process.cpu_times()[:2])
        time.sleep(1.0)  # the window measured
        if sum(process.cpu_times()[:2]) - before < SETTLED_CPU_SHARE:
            return
    raise RuntimeError(f"the dashboard was still busy {timeout:g} s after its first screen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--dashboard", action="store_true", help="measure the dashboard (mnist-tui), not runs --watch")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        names = write_runs(Path(folder), args.runs)
        cpu = watch_cpu_seconds(Path(folder), names[-1], args.seconds, args.dashboard)  # the newest: the top row
    watcher = "the dashboard (mnist-tui)" if args.dashboard else "mnist-tui runs --watch"
    print(
        f"{watcher}, {args.runs} idle runs: {cpu:.3f} CPU s in {args.seconds:g} s of wall time"
        f" ({cpu / args.seconds:.2%} of one core)"
    )


if __name__ == "__main__":
    main()
