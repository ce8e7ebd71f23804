"""Smoke tests for the speed benchmark's pieces on tiny data (the benchmark itself is `python -m bench`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.accuracy import EpochPoint, first_reaching
from bench.app import drawing_ratios, start, visible_characters
from bench.run import main
from bench.throughput import Tick, engine_images_per_second, reference_images_per_second, steady_images_per_second


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
