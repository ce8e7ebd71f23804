"""The learning-rate range test (engine/lr_find.py and `mnist-tui lr-find`) on the tiny generated data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine.config import RunConfig
from engine.lr_find import range_test, steepest_descent
from tui.cli import main


def test_the_steepest_descent_is_found_before_the_lowest_loss() -> None:
    rates = [10 ** (-6 + i / 10) for i in range(60)]
    # A loss flat at first, falling fastest at index 30, lowest at 45, then climbing.
    losses = [2 - math.tanh((i - 30) / 5) if i <= 45 else 1.0 + (i - 45) for i in range(60)]
    assert steepest_descent(rates, losses) == 30


def test_the_range_test_suggests_a_sane_rate_and_writes_no_run(tiny_data: Path, runs_dir: Path) -> None:
    config = RunConfig(model="linear", batch_size=32, device="cpu")
    curves = []  # what the dashboard draws as the test runs: the curve so far, after each batch
    result = range_test(config, tiny_data, download=False, batches=200, on_progress=curves.append)
    assert 100 <= len(result.rates) <= 200 and result.rates == tuple(sorted(result.rates))
    assert [len(curve.rates) for curve in curves] == list(range(1, len(result.rates) + 1))
    assert curves[-1] == result
    assert 1e-4 <= result.suggested <= 0.3
    assert result.smoothed_losses[result.suggested_index] < result.smoothed_losses[0]


def test_the_command_draws_the_curve_and_writes_the_png(
    tiny_data: Path, runs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "lr.png"
    args = ["lr-find", "--model", "linear", "--batch-size", "32", "--data-dir", str(tiny_data)]
    code = main([*args, "--runs-dir", str(runs_dir), "--no-download", "--output", str(png)])
    out = capsys.readouterr().out
    assert code == 0 and "suggested learning rate:" in out and "log10 learning rate" in out
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert not runs_dir.exists()  # no run folder left behind
    with pytest.raises(SystemExit) as caught:
        main([*args, "--batches", "3"])
    assert caught.value.code == 2 and "--batches" in capsys.readouterr().err
