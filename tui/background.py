"""Runs that outlive the terminal: `train --detach`, `stop RUN` and `runs --watch`.

No torch here: stopping and watching start at once. A detached run is the headless `mnist-tui train` in a process
of its own session; it is followed through its progress.jsonl (engine/progress.py) and stopped through its run
lock (engine/runs.py), like any other run.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich import box
from rich.live import Live
from rich.table import Table

from engine.progress import ProgressFollower, RunProgress
from engine.runs import CONFIG_FILE, check_writable, find_run, load_run, read_summary, running_pid, signal_trainer
from tui.formatting import format_metric
from tui.headless import EXIT_FAILED, EXIT_OK, table_console
from tui.signals import STOP_SIGNAL

TRAIN_LOG = "train.log"
REFRESH_SECONDS = 1.0
STOP_POLL_SECONDS = 0.1  # how often `stop` looks at the run lock while the trainer finishes its batch


def start_detached(train_arguments: list[str], runs_dir: Path, follow_hint: str = "") -> int:
    """Start `mnist-tui train <train_arguments>` in a session of its own and return once it has its run folder.

    The child writes to a hidden log in the runs folder until its run folder exists, then to train.log there, and
    names the folder on a pipe (see `hand_over`). A child that ends without naming
    one failed before it had a folder: its log is printed here, and its exit status returned.
    """
    runs_dir = check_writable(runs_dir)
    log_path = runs_dir / f".detached-{secrets.token_hex(4)}.log"
    read_fd, write_fd = os.pipe()
    try:
        with open(log_path, "wb") as log, open(os.devnull, "rb") as no_input:
            child = subprocess.Popen(
                [sys.executable, "-m", "tui", *train_arguments, "--log-file", str(log_path), "--handover-fd",
                 str(write_fd)],
                stdin=no_input, stdout=log, stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "160"},  # a log: no terminal width to fit
            )  # fmt: skip
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as handover:
        run_dir = handover.read().decode().strip()  # until the child names its run folder, or ends
    if not run_dir:
        code = child.wait()
        output = log_path.read_text(errors="replace").strip()
        log_path.unlink(missing_ok=True)
        print(output, file=sys.stderr)
        print(f"mnist-tui: error: the background run ended before it started (exit status {code})", file=sys.stderr)
        return code or EXIT_FAILED
    name = Path(run_dir).name
    print(f"training in the background (process {child.pid}): {run_dir}")
    print(f"  its output:  {Path(run_dir) / TRAIN_LOG}")
    print(f"  follow it:   mnist-tui runs --watch{follow_hint}   (or the dashboard's Runs tab: mnist-tui{follow_hint})")
    print(f"  stop it:     mnist-tui stop {name}{follow_hint}")
    return EXIT_OK


def hand_over(log_path: Path, handover_fd: int, run_dir: str) -> None:
    """In the detached child, once its run folder exists: carry on writing to the run's train.log (appended to, as
    a resumed run's log is), then tell the parent the folder."""
    sys.stdout.flush()
    sys.stderr.flush()
    with open(Path(run_dir) / TRAIN_LOG, "ab") as run_log:
        run_log.write(log_path.read_bytes())  # what was written before the folder existed
        for fd in (1, 2):
            os.dup2(run_log.fileno(), fd)
    log_path.unlink()
    os.write(handover_fd, run_dir.encode())
    os.close(handover_fd)


def stop_and_print(runs_dir: Path, run: str, timeout: float) -> int:
    """Stop the run's trainer after its current batch, wherever it was started, and wait until it has ended."""
    path = find_run(runs_dir, run)
    status = load_run(path).status
    if status != "running":
        reason = " (its trainer is gone: killed, or the machine restarted)" if status == "interrupted" else ""
        print(f"mnist-tui: error: {path.name} is not running: it is {status}{reason}; nothing to stop", file=sys.stderr)
        return EXIT_FAILED
    pid = signal_trainer(path, STOP_SIGNAL)
    print(
        f"asked process {pid} ({signal.Signals(STOP_SIGNAL).name}) to stop {path.name} after its current batch",
        flush=True,
    )
    deadline = time.monotonic() + timeout
    while running_pid(path) is not None:
        if time.monotonic() > deadline:
            print(
                f"mnist-tui: error: {path.name} is still running {timeout:g} s later (an evaluation or checkpoint may"
                " be under way); see `mnist-tui runs`",
                file=sys.stderr,
            )
            return EXIT_FAILED
        time.sleep(STOP_POLL_SECONDS)
    summary = read_summary(path) or {}
    ended = summary.get("status", "interrupted")
    if ended == "stopped":
        print(
            f"{path.name} stopped: {summary.get('message')}; {summary.get('epochs_completed', 0)} finished epochs"
            f" and last.pt are kept. Continue with `mnist-tui train --resume {path.name}`"
        )
        return EXIT_OK
    print(f"{path.name} ended as {ended}: {summary.get('message', 'without a summary.json')}")
    return EXIT_OK if ended == "completed" else EXIT_FAILED


def _fraction(done: int | None, total: int | None) -> str:
    return "-" if done is None else f"{done}/{total if total is not None else '?'}"


def progress_table(runs_dir: Path, rows: dict[str, RunProgress]) -> Table:
    """One row per run (name: its live row), as `mnist-tui runs --watch` shows them."""
    table = Table(title=f"runs in {runs_dir}", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("run", no_wrap=True, min_width=max(map(len, rows), default=3))
    table.add_column("status", no_wrap=True, min_width=11)
    for heading in ("epoch", "step", "img/s", "val acc", "test acc"):
        table.add_column(heading, justify="right", no_wrap=True)
    for name, row in rows.items():
        table.add_row(
            name,
            row.status,
            _fraction(row.epoch, row.epochs),
            _fraction(row.step, row.steps_per_epoch),
            "-" if row.images_per_second is None else f"{row.images_per_second:,.0f}",
            format_metric(row.val_accuracy),
            format_metric(row.test_accuracy),
        )
    if not rows:
        table.caption = "no runs yet: start one with `mnist-tui train --detach`"
    return table


def poll_runs(runs_dir: Path, followers: dict[str, ProgressFollower]) -> dict[str, RunProgress]:
    """Every run's live row, newest first; `followers` keeps each run's follower (and its read offset) between
    calls, so a call costs a directory listing and a stat per run when nothing has changed."""
    try:
        names = [entry.name for entry in os.scandir(runs_dir) if entry.is_dir() and not entry.name.startswith(".")]
    except FileNotFoundError:
        names = []
    for name in names:
        if name not in followers and (runs_dir / name / CONFIG_FILE).is_file():
            followers[name] = ProgressFollower(runs_dir / name)
    for name in set(followers) - set(names):
        del followers[name]
    rows = {}
    for name in sorted(followers, reverse=True):
        followers[name].poll()
        rows[name] = followers[name].progress
    return rows


def watch_runs(runs_dir: Path) -> int:
    """A live table of the runs folder, redrawn when a row changes, checked once a second; Ctrl+C ends it."""
    runs_dir = Path(runs_dir).expanduser()
    followers: dict[str, ProgressFollower] = {}
    shown = None
    try:
        with Live(console=table_console(), auto_refresh=False) as live:
            while True:
                rows = poll_runs(runs_dir, followers)
                if rows != shown:
                    live.update(progress_table(runs_dir, rows), refresh=True)
                    shown = rows
                time.sleep(REFRESH_SECONDS)
    except KeyboardInterrupt:
        return EXIT_OK
