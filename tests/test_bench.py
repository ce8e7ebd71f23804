"""Smoke tests for the speed benchmark's pieces on tiny data (the benchmark itself is `python -m bench`)."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections import deque
from pathlib import Path

import pytest

from bench.accuracy import EpochPoint, first_reaching
from bench.app import Alternation, alternate_drawing, drawing_ratios, start, visible_characters
from bench.run import main
from bench.throughput import Tick, engine_images_per_second, reference_images_per_second, steady_images_per_second
from engine.events import BatchProgress


def test_steady_throughput_skips_the_warm_up_ticks() -> None:
    ticks = [Tick(0.0, 100, 1.0), Tick(0.5, 300, 1.0), Tick(1.5, 500, 1.0)]
    assert steady_images_per_second(ticks, skip_seconds=0.5) == (800, 2.0)
    assert steady_images_per_second([], skip_seconds=0.5) == (0, 0.0)


def test_first_reaching_finds_the_first_epoch_at_the_target() -> None:
    points = [EpochPoint(1, 5.0, 0.98), EpochPoint(2, 10.0, 0.991), EpochPoint(3, 15.0, 0.995)]
    assert first_reaching(points, 0.99) == points[1]
    assert first_reaching(points, 0.999) is None


def test_visible_characters_ignores_escape_sequences() -> None:
    assert visible_characters(b"\x1b[?1049h\x1b[1;1H\x1b[38;2;1;2;3mab c\x1b[0m\x1b]0;title\x07") == 3


def test_both_loops_measure_on_tiny_data(tiny_data: Path) -> None:
    assert engine_images_per_second("linear", tiny_data, seconds=0.2, warmup_seconds=0) > 0
    assert reference_images_per_second("linear", tiny_data, seconds=0.2, warmup_seconds=0) > 0


def test_bench_rejects_an_unknown_section(tiny_data: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(tiny_data), "--only", "nonsense"])
    assert exit_info.value.code == 2
    assert "unknown section(s) nonsense" in capsys.readouterr().err


def test_a_failing_child_reports_its_error_output() -> None:
    child = start([sys.executable, "-c", "import sys; print('x' * 200_000); sys.exit('bad data folder')"])
    with pytest.raises(RuntimeError, match="exited 1: bad data folder"):
        child.output(child.process.wait(60))  # 200 kB of output: a pipe would have blocked the child


def test_drawing_blocks_compare_with_their_non_drawing_neighbours() -> None:
    blocks = [[True, 10.0], [False, 20.0], [True, 18.0], [False, None], [True, 9.0], [False, 10.0], [True, None]]
    # The first against its one neighbour, the second against the one with a speed, the third against 10.
    assert drawing_ratios(blocks) == [0.5, 0.9, 0.9]
    assert drawing_ratios([[True, 5.0]]) == []  # no neighbour: no ratio


def test_without_the_dashboard_the_app_section_measures_the_cli_and_says_so(monkeypatch) -> None:
    from rich.console import Console

    import bench.app
    from bench.run import measure_app, tables

    monkeypatch.setattr(bench.app, "dashboard_installed", lambda: False)
    monkeypatch.setattr(bench.app, "cli_run", lambda data_dir, runs_dir, preset: (1000.0, 500.0))
    monkeypatch.setattr(bench.app, "app_run", lambda *args, **kwargs: pytest.fail("the dashboard was run"))
    result = measure_app(Path("unused"), 2, Console(quiet=True))
    assert result["cli_images_per_second"] == 1000
    assert result["overhead_percent"] == bench.app.NOT_INSTALLED
    assert len(tables({"app": result})) == 1


class ClockedProgress:
    """A stand-in for the dashboard's run state: 100 steps a second in epochs of 30 steps (0.3 s), each followed
    by 0.1 s of evaluation that sends no progress, so every 0.5 s block spans an epoch's end."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.pending: deque = deque()

    @property
    def progress(self) -> BatchProgress:
        epoch, into_epoch = divmod(time.perf_counter() - self.started, 0.4)
        into_epoch = min(into_epoch, 0.3)  # evaluating: the newest progress is the epoch's last step
        step = int(100 * into_epoch)
        elapsed = 0.4 * epoch + into_epoch
        return BatchProgress(int(epoch) + 1, 1000, step, 30, int(epoch) * 30 + step, 0.1, 100.0, elapsed, 1.0)


def test_drawing_blocks_measure_however_short_the_epochs() -> None:
    class FakeApp:
        drawing = True
        live = ClockedProgress()
        stopped = False

        def stop_training(self) -> None:
            self.stopped = True

    app = FakeApp()
    blocks = asyncio.run(alternate_drawing(app, threading.Event(), Alternation(block_seconds=0.5, blocks=4)))
    assert [drawing for drawing, _ in blocks] == [True, False, True, False]
    # Evaluation time never counts: ~100 steps/s in every block (scheduling slack aside), none left out.
    assert all(speed is not None and 80 < speed < 125 for _, speed in blocks), blocks
    assert app.stopped and app.drawing  # the run is stopped once the blocks are taken, drawing left on


def test_an_empty_drawing_measure_fails_the_app_section_with_its_reason(tmp_path: Path, monkeypatch, capsys) -> None:
    import bench.app

    monkeypatch.setattr(bench.app, "dashboard_installed", lambda: True)
    monkeypatch.setattr(bench.app, "cli_run", lambda data_dir, runs_dir, preset: (1000.0, 500.0))
    untimed = {"window_seconds": 1.0, "ui_thread_cpu_seconds": 0.0, "process_cpu_seconds": 1.0}
    untimed["blocks"] = [[True, None], [False, None]]
    monkeypatch.setattr(bench.app, "app_run", lambda *args, **kwargs: (990.0, 500.0, untimed))
    out_file = tmp_path / "results.json"
    assert main(["--data-dir", "unused", "--only", "app", "--rounds", "1", "--out", str(out_file)]) == 1
    reason = "the drawing on/off measure compared no block: 2 blocks in 1 rounds, 0 with a training speed"
    assert reason in " ".join(capsys.readouterr().out.split())  # however Rich wrapped it
    assert json.loads(out_file.read_text())["failed"]["app"].startswith(reason)
    rates = json.loads(out_file.read_text())["cpu_fp32_matmul_gflops"]
    assert set(rates) == {"app", "after"} and all(rate > 0 for rate in rates.values())  # beside every figure


def test_the_matmul_rate_measures_a_product_of_known_size(monkeypatch) -> None:
    import bench.machine

    monkeypatch.setitem(bench.machine.MATRIX_SIZE, "cpu", 64)
    clock = iter(range(100))  # each product takes exactly one microsecond
    monkeypatch.setattr(bench.machine.time, "perf_counter", lambda: next(clock) * 1e-6)
    assert bench.machine.matmul_tflops("float32", "cpu", repeats=3) == 0.524  # 2 * 64**3 flops in 1 us
