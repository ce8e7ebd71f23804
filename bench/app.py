"""The app's costs: dashboard overhead on training speed, seconds to the first frame, peak memory.

The dashboard lives in `tui.app`; when it is not installed these measures say so instead of failing.
The probe (`python -m bench.app --data-dir D --runs-dir R --preset JSON`) runs the app headless with
Textual's `App.run_test()`, constructed as `tui.app.<App subclass>(data_dir=, runs_dir=, preset=, start=True)`,
and waits for the engine's RunFinished event, which the app posts wrapped in a message with an `event`
attribute. Throughput on both sides comes from the run's own summary.json, computed the same way. The probe
also prints, as one JSON line, the CPU seconds its UI thread and the whole process spent while the run trained
(from the first progress the app drew to the end): the dashboard's cost measured directly, free of the
run-to-run noise of throughput.

With `--alternate SECONDS --blocks N` the probe also switches the dashboard's drawing off and on in blocks of
that length during the one run, prints the training speed of each block, and stops the run after N blocks
(so the measure takes the same time on a fast machine as on a slow one): blocks side by side share whatever
the machine was doing, so their ratio isolates what drawing costs (this VM's speed drifts by 10-20% from run
to run, and even between the epochs of one run).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import json
import os
import pty
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from engine.config import RunConfig
from engine.events import BatchProgress, RunFinished
from engine.runs import list_runs

NOT_INSTALLED = "n/a (dashboard not installed)"
APP_KEYWORDS = ("data_dir", "runs_dir", "preset", "start")
ANSI_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|P[^\x1b]*\x1b\\|[@-Z\\-_])")
FIRST_FRAME_CHARACTERS = 40  # visible characters on screen that mean a frame, not just terminal set-up
TERMINAL_SIZE = (40, 120)  # rows, columns
# How often the drawing on/off measure reads the newest progress: the trainer sends it ~20 times a second,
# and each read is one deque lookup on the UI thread, in drawing and non-drawing blocks alike.
PROGRESS_SAMPLE_SECONDS = 0.1


def dashboard_installed() -> bool:
    return importlib.util.find_spec("tui.app") is not None


def mnist_tui_command() -> list[str]:
    """The installed `mnist-tui` launcher beside this interpreter, else the same entry point through Python."""
    script = Path(sys.executable).with_name("mnist-tui")
    if script.exists():
        return [str(script)]
    if shutil.which("mnist-tui"):
        return ["mnist-tui"]
    return [sys.executable, "-c", "from tui.cli import entry_point; entry_point()"]


def run_images_per_second(runs_dir: Path) -> float:
    """Training images per second of the one finished run in `runs_dir`, from its summary.json."""
    runs = [run for run in list_runs(runs_dir) if run.summary]
    if len(runs) != 1:
        raise RuntimeError(f"expected one finished run in {runs_dir}, found {len(runs)}")
    summary = runs[0].summary
    if summary["status"] != "completed":
        raise RuntimeError(f"the run in {runs_dir} ended {summary['status']}: {summary['message']}")
    config = RunConfig.from_dict(runs[0].config)
    return config.train_size * summary["epochs_completed"] / summary["train_seconds"]


def memory_high_water_mib(pid: int) -> float | None:
    """The process's own peak resident memory (VmHWM), or None where /proc has no such process."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def wait_with_peak_memory(process: subprocess.Popen, timeout: float) -> tuple[int, float]:
    """(exit code, peak resident memory in MiB) of a child.

    Polls the child's VmHWM rather than trusting ru_maxrss: a child's ru_maxrss starts at its parent's
    size when forked (Linux carries it across exec), and this parent holds torch and whole datasets.
    """
    deadline = time.monotonic() + timeout
    peak = 0.0
    while True:
        peak = max(peak, memory_high_water_mib(process.pid) or 0.0)
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, peak or usage.ru_maxrss / 1024  # Linux reports KiB
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError(f"{process.args} took longer than {timeout:.0f} s")
        time.sleep(0.05)


@dataclass
class Child:
    """A bench subprocess; its output goes to temporary files, so a chatty child never blocks on a full pipe."""

    process: subprocess.Popen
    stdout: IO[bytes]
    stderr: IO[bytes]

    def output(self, code: int) -> str:
        """Its standard output once it ended with `code`; raises with its error output when that was not 0."""
        self.stdout.seek(0)
        self.stderr.seek(0)
        if code != 0:
            tail = self.stderr.read().decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"{' '.join(map(str, self.process.args))} exited {code}: {tail}")
        return self.stdout.read().decode()


def start(command: list[str]) -> Child:
    stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    return Child(subprocess.Popen(command, stdout=stdout, stderr=stderr), stdout, stderr)


def cli_command(data_dir: Path, runs_dir: Path, preset: dict[str, Any]) -> list[str]:
    options = [f"--{name.replace('_', '-')}={value}" for name, value in preset.items()]
    return [*mnist_tui_command(), "train", f"--data-dir={data_dir}", f"--runs-dir={runs_dir}", *options]


@dataclass(frozen=True)
class Alternation:
    """Drawing switched off and on in blocks of `block_seconds`; the run is stopped after `blocks` of them."""

    block_seconds: float
    blocks: int


def probe_command(
    data_dir: Path, runs_dir: Path, preset: dict[str, Any], alternation: Alternation | None = None
) -> list[str]:
    command = [sys.executable, "-m", "bench.app", f"--data-dir={data_dir}", f"--runs-dir={runs_dir}"]
    command.append(f"--preset={json.dumps(preset)}")
    if alternation is None:
        return command
    return [*command, f"--alternate={alternation.block_seconds}", f"--blocks={alternation.blocks}"]


def cli_run(data_dir: Path, runs_dir: Path, preset: dict[str, Any], timeout: float = 600) -> tuple[float, float]:
    """(images/s, peak MiB) of `mnist-tui train` with the preset."""
    child = start(cli_command(data_dir, runs_dir, preset))
    code, peak = wait_with_peak_memory(child.process, timeout)
    child.output(code)
    return run_images_per_second(runs_dir), peak


def app_run(
    data_dir: Path,
    runs_dir: Path,
    preset: dict[str, Any],
    timeout: float = 600,
    alternation: Alternation | None = None,
) -> tuple[float, float, dict[str, Any]]:
    """(images/s, peak MiB, what the probe measured) of the same run inside the dashboard, run by the probe."""
    child = start(probe_command(data_dir, runs_dir, preset, alternation))
    code, peak = wait_with_peak_memory(child.process, timeout)
    cpu = json.loads(child.output(code).splitlines()[-1])
    return run_images_per_second(runs_dir), peak, cpu


def visible_characters(output: bytes) -> int:
    text = ANSI_ESCAPE.sub("", output.decode("utf-8", errors="replace"))
    return sum(1 for character in text if not character.isspace())


def seconds_to_first_frame(command: list[str], timeout: float = 30) -> float:
    """Launch `command` on a pseudo-terminal and time until its output holds a screenful of visible text."""
    import fcntl
    import struct
    import termios

    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", *TERMINAL_SIZE, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(TERMINAL_SIZE[1]), "LINES": str(TERMINAL_SIZE[0])}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=terminal, stdout=terminal, stderr=terminal, env=env, start_new_session=True, close_fds=True
    )
    os.close(terminal)
    output = b""
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([controller], [], [], 0.05)
            if ready:
                try:
                    output += os.read(controller, 65536)
                except OSError:  # the program exited and closed the terminal
                    break
                if visible_characters(output) >= FIRST_FRAME_CHARACTERS:
                    return time.perf_counter() - started
            elif process.poll() is not None:
                break
        tail = ANSI_ESCAPE.sub("", output.decode("utf-8", errors="replace")).strip()[-300:]
        raise RuntimeError(f"no frame from {' '.join(command)} (exit {process.poll()}): {tail}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        os.close(controller)


def dashboard_class() -> type:
    """The App subclass in tui.app that takes the same keywords as run_dashboard."""
    from textual.app import App

    module = importlib.import_module("tui.app")
    for value in vars(module).values():
        if inspect.isclass(value) and issubclass(value, App) and value.__module__ == module.__name__:
            if set(APP_KEYWORDS) <= set(inspect.signature(value).parameters):
                return value
    raise RuntimeError(f"tui.app has no App subclass taking {', '.join(APP_KEYWORDS)} as keywords")


def switchable(app_class: type) -> type:
    """The dashboard with a switch for its progress tick (the Train tab's): off, it draws neither progress nor
    the loss chart (epoch-end events still draw, as they would anyway). Patches the tab's class: the probe
    process runs this one app."""
    from tui.tabs.train import TrainTab

    tick = TrainTab.show_latest_progress

    def show_latest_progress(tab: TrainTab) -> None:
        if getattr(tab.app, "drawing", True):
            tick(tab)

    TrainTab.show_latest_progress = show_latest_progress  # type: ignore[method-assign]

    class SwitchableDashboard(app_class):
        drawing = True

    return SwitchableDashboard


def newest_progress(app: Any) -> BatchProgress | None:
    """The newest BatchProgress the app holds, drawn or still queued. Read on the UI thread, the only one that
    takes from the queue."""
    if app.live is None:
        return None
    # list() copies the deque in one step under the GIL; iterating it directly races the training thread.
    queued = [event for event in list(app.live.pending) if isinstance(event, BatchProgress)]
    return queued[-1] if queued else app.live.progress


async def alternate_drawing(app: Any, finished: threading.Event, alternation: Alternation) -> list[list]:
    """[drawing, steps per second or None] per block, drawing on and off in turn; then the run is stopped.

    The newest progress is sampled every PROGRESS_SAMPLE_SECONDS, and a block's speed counts only the time
    between two samples of the same epoch: the evaluation at an epoch's end never counts, and a block that
    spans one still measures, however short the epochs (on a fast machine a whole epoch takes less than a
    block). A block without two samples in one epoch, or cut short by the run's end, has no speed.
    """
    while newest_progress(app) is None and not finished.is_set():
        await asyncio.sleep(0.05)
    blocks: list[list] = []
    drawing = True
    while not finished.is_set() and len(blocks) < alternation.blocks:
        app.drawing = drawing
        steps, seconds = 0, 0.0
        previous = newest_progress(app)
        block_end = time.perf_counter() + alternation.block_seconds
        while time.perf_counter() < block_end and not finished.is_set():
            await asyncio.sleep(PROGRESS_SAMPLE_SECONDS)
            current = newest_progress(app)
            if current.epoch == previous.epoch and current.elapsed_seconds > previous.elapsed_seconds:
                steps += current.global_step - previous.global_step
                seconds += current.elapsed_seconds - previous.elapsed_seconds
            previous = current
        blocks.append([drawing, steps / seconds if seconds > 0 and not finished.is_set() else None])
        drawing = not drawing
    app.drawing = True
    app.stop_training()  # as the x key does; the run then ends as stopped, with its finished epochs
    return blocks


def drawing_ratios(blocks: list[list]) -> list[float]:
    """Speed of each drawing block over the mean speed of the non-drawing blocks just before and after it
    (either alone where the other has no speed)."""
    ratios = []
    for index, (drawing, speed) in enumerate(blocks):
        neighbours = [
            blocks[other][1] for other in (index - 1, index + 1) if 0 <= other < len(blocks) and not blocks[other][0]
        ]
        neighbours = [neighbour for neighbour in neighbours if neighbour is not None]
        if drawing and speed is not None and neighbours:
            ratios.append(speed / statistics.fmean(neighbours))
    return ratios


async def run_in_dashboard(
    data_dir: Path, runs_dir: Path, preset: dict[str, Any], timeout: float, alternation: Alternation | None = None
) -> dict[str, Any]:
    """Start a run in the headless app, wait for its end; the CPU seconds spent while it trained, and with
    an `alternation` the drawing on/off blocks.

    The window opens at the first message the UI thread handles once the app shows progress (messages
    flow several times a second while training) and closes at RunFinished; both ends are read on the UI
    thread, so `thread_time` there is the UI thread's own CPU time.
    """
    finished = threading.Event()
    window: dict[str, tuple[float, float, float]] = {}

    def clocks() -> tuple[float, float, float]:
        return time.perf_counter(), time.thread_time(), time.process_time()

    def on_message(message: Any) -> None:
        if "start" not in window and getattr(getattr(app, "live", None), "progress", None) is not None:
            window["start"] = clocks()
        if isinstance(getattr(message, "event", None), RunFinished):
            window["end"] = clocks()
            finished.set()

    app_class = dashboard_class() if alternation is None else switchable(dashboard_class())
    app = app_class(data_dir=data_dir, runs_dir=runs_dir, preset=preset, start=True)
    result: dict[str, Any] = {}
    async with app.run_test(size=TERMINAL_SIZE[::-1], message_hook=on_message):
        waiting = asyncio.create_task(asyncio.to_thread(finished.wait, timeout))
        if alternation is not None:
            result["blocks"] = await alternate_drawing(app, finished, alternation)
        if not await waiting:
            raise TimeoutError(f"the dashboard run did not finish within {timeout:.0f} s")
    if "start" not in window:
        raise RuntimeError("the run finished before the dashboard showed any progress: use a longer run")
    wall, ui, process = (end - start for start, end in zip(window["start"], window["end"], strict=True))
    return {"window_seconds": wall, "ui_thread_cpu_seconds": ui, "process_cpu_seconds": process, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one training run inside the headless dashboard.")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--preset", type=json.loads, required=True, help="run settings as a JSON object")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--alternate", type=float, help="switch drawing off and on in blocks of this many seconds")
    parser.add_argument("--blocks", type=int, default=24, help="with --alternate: stop the run after this many")
    args = parser.parse_args()
    alternation = Alternation(args.alternate, args.blocks) if args.alternate else None
    measured = asyncio.run(run_in_dashboard(args.data_dir, args.runs_dir, args.preset, args.timeout, alternation))
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
