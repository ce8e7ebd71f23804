"""Sweeps (engine/sweeps.py and `mnist-tui sweep`/`sweeps`) on the tiny generated data."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from engine import trainer
from engine.config import RunConfig
from engine.models import Linear
from engine.runs import list_runs, signal_trainer
from engine.sweeps import (
    Choices,
    Range,
    SpecError,
    Sweep,
    TrialUpdate,
    open_study,
    parse_dimension,
    parse_spec,
    sweep_folder,
    trial_rows,
)
from tui.cli import main
from tui.signals import STOP_SIGNAL

TINY = {"model": "linear", "epochs": "2"}


def sweep_args(tiny_data: Path, runs_dir: Path, *words: str) -> list[str]:
    return ["sweep", "--data-dir", str(tiny_data), "--runs-dir", str(runs_dir), "--no-download", *words]


def read_trials(runs_dir: Path, name: str) -> list[dict[str, str]]:
    with open(sweep_folder(runs_dir, name) / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_lists_ranges_and_single_values_parse() -> None:
    assert parse_dimension("lr", "0.001,0.01") == Choices((0.001, 0.01))
    assert parse_dimension("lr", "1e-4:1e-1") == Range(1e-4, 1e-1, log=True)
    assert parse_dimension("batch_size", "32:256") == Range(32, 256, log=False)
    assert parse_dimension("augment", "true,false") == Choices((True, False))
    spec = parse_spec("s", {"model": "cnn,mlp", "lr": "0.001,0.003,0.01", "epochs": "2"})
    assert spec.sampler == "grid" and spec.budget == 6 and spec.fixed == {"epochs": 2}
    ranged = parse_spec("s", {"lr": "1e-4:1e-1"})
    assert ranged.sampler == "tpe" and ranged.budget == 20


@pytest.mark.parametrize(
    ("settings", "option", "words"),
    [
        ({"lr": "0.1:abc"}, "--lr", "'abc' is not a number"),
        ({"model": "cnn:mlp"}, "--model", "takes a list of choices"),
        ({"lr": ","}, "--lr", "gives no value"),
        ({"lr": "0.1:0.01"}, "--lr", "lower to a higher"),
        ({"weight_decay": "0:0.1"}, "--weight-decay", "above 0"),
        ({"model": "cnn,resnet"}, "--model", "unknown model 'resnet'"),
        ({"lr": "0.001,20"}, "--lr", "at most 10"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_option(settings: dict[str, str], option: str, words: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec("s", settings)
    assert caught.value.option == option and words in str(caught.value)


def test_the_cli_refuses_a_bad_spec_with_exit_2(
    tiny_data: Path, runs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(sweep_args(tiny_data, runs_dir, "--name", "bad", "--lr", "0.1:abc"))
    assert caught.value.code == 2
    assert "--lr: 'abc' is not a number" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(sweep_args(tiny_data, runs_dir, "--name", "bad", "--lr", "0.01:0.1", "--sampler", "grid"))
    assert caught.value.code == 2 and "the grid sampler takes lists only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(sweep_args(tiny_data, runs_dir, "--name", "bad", "--lr", "0.01,0.1", "--storage", "nosuchdb://x"))
    assert caught.value.code == 2 and "--storage: " in capsys.readouterr().err
    assert not (runs_dir / "sweeps" / "bad").exists()


def test_a_2x2_grid_writes_four_trials_and_the_files(
    tiny_data: Path, runs_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(sweep_args(tiny_data, runs_dir, "--name", "g", "--model", "linear", "--epochs", "2",
                           "--lr", "0.003,0.03", "--batch-size", "32,64", "--no-prune"))  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "best: trial" in out
    rows = read_trials(runs_dir, "g")
    assert len(rows) == 4 and {row["status"] for row in rows} == {"completed"}
    assert {(row["lr"], row["batch_size"]) for row in rows} == {
        (lr, bs) for lr in ("0.003", "0.03") for bs in ("32", "64")
    }
    assert (sweep_folder(runs_dir, "g") / "sweep.png").stat().st_size > 1000
    runs = list_runs(runs_dir)  # each trial is an ordinary run folder naming its sweep and number
    assert len(runs) == 4 and all(run.problem is None and run.status == "completed" for run in runs)
    assert sorted(run.config["trial"] for run in runs) == [0, 1, 2, 3]
    assert {run.config["sweep"] for run in runs} == {"g"}
    assert main(["sweeps", "--runs-dir", str(runs_dir)]) == 0
    listing = capsys.readouterr().out
    assert "g " in listing and max(float(row["val_accuracy"]) for row in rows) == pytest.approx(
        float(listing.split()[listing.split().index("g") + 4])
    )


def test_a_trial_behind_the_median_is_pruned_and_keeps_its_folder(tiny_data: Path, runs_dir: Path) -> None:
    # Two good trials first (the pruner's start-up), then one whose rate is far too low to learn in an epoch.
    spec = parse_spec("p", {**TINY, "epochs": "3", "lr": "0.03,0.02,0.000001"})
    sweep = Sweep(spec, runs_dir=runs_dir, data_dir=tiny_data, devices=["cpu"], download=False)
    for lr in (0.03, 0.02, 0.000001):  # the grid's order is random: this one is Optuna's queue
        sweep.study.enqueue_trial({"lr": lr})
    sweep.run()
    rows = trial_rows(open_study(spec, runs_dir))
    by_lr = {row.params["lr"]: row for row in rows}
    assert len(rows) == 3
    assert by_lr[0.000001].status == "pruned", rows
    assert {by_lr[0.03].status, by_lr[0.02].status} == {"completed"}
    pruned_run = [run for run in list_runs(runs_dir) if run.config["lr"] == 0.000001][0]
    assert pruned_run.status == "stopped" and len(pruned_run.epochs) < 3
    assert "pruned by sweep p" in pruned_run.summary["message"]


def test_a_diverging_trial_does_not_end_the_sweep(
    tiny_data: Path, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The largest rate a run accepts (10) does not blow these small models up: at it the loss is made infinite.
    real_forward, real_optimizer = Linear.forward, trainer.build_optimizer

    def optimizer_marking_lr_10(config: RunConfig, model: torch.nn.Module, device: torch.device) -> Any:
        model.blows_up = config.lr == 10
        return real_optimizer(config, model, device)

    def forward_blowing_up(self: Linear, x: torch.Tensor) -> torch.Tensor:
        logits = real_forward(self, x)
        return logits * math.inf if self.training and self.blows_up else logits

    monkeypatch.setattr(trainer, "build_optimizer", optimizer_marking_lr_10)
    monkeypatch.setattr(Linear, "forward", forward_blowing_up)
    spec = parse_spec("d", {**TINY, "lr": "10,0.01"}, prune=False)
    at_end: dict[int, str] = {}  # each trial's status as the study holds it when on_trial_end hears of it

    def trial_ended(number: int) -> None:
        at_end[number] = next(row.status for row in sweep.rows() if row.number == number)

    sweep = Sweep(
        spec, runs_dir=runs_dir, data_dir=tiny_data, devices=["cpu"], download=False, on_trial_end=trial_ended
    )
    sweep.run()
    statuses = {row.params["lr"]: row.status for row in trial_rows(open_study(spec, runs_dir))}
    assert statuses == {10.0: "diverged", 0.01: "completed"}
    assert sorted(at_end.values()) == ["completed", "diverged"]  # never "running": the outcome is stored first


def test_two_workers_share_one_study_and_run_no_trial_twice(tiny_data: Path, runs_dir: Path) -> None:
    words = sweep_args(tiny_data, runs_dir, "--name", "two", "--model", "linear", "--epochs", "1",
                       "--lr", "0.001,0.003,0.01", "--batch-size", "32,64", "--no-prune")  # fmt: skip
    workers = [subprocess.Popen([sys.executable, "-m", "tui", *words], stdout=subprocess.PIPE) for _ in range(2)]
    for worker in workers:
        worker.communicate(timeout=240)
        assert worker.returncode == 0
    # Each worker's trials.csv holds the study as it stood when that worker ended: the study itself is complete.
    spec = parse_spec("two", {"model": "linear", "epochs": "1", "lr": "0.001,0.003,0.01", "batch_size": "32,64"})
    rows = trial_rows(open_study(spec, runs_dir, create=False))
    assert {row.status for row in rows} == {"completed"}
    assert len(rows) == 6 and len({(row.params["lr"], row.params["batch_size"]) for row in rows}) == 6
    assert len(list_runs(runs_dir)) == 6  # no grid point trained twice, by either worker


def test_a_stopped_sweep_resumes_counting_what_is_done(tiny_data: Path, runs_dir: Path) -> None:
    spec = parse_spec("r", {**TINY, "epochs": "3", "lr": "0.001,0.003,0.01"}, prune=False)
    first: list[Sweep] = []

    def stop_in_second_trial(update: TrialUpdate) -> None:
        if update.number == 1:
            first[0].stop()

    first.append(
        Sweep(
            spec, runs_dir=runs_dir, data_dir=tiny_data, devices=["cpu"], download=False, on_update=stop_in_second_trial
        )  # fmt: skip
    )
    first[0].run()
    assert [row.status for row in trial_rows(first[0].study)] == ["completed", "stopped"]
    code = main(sweep_args(tiny_data, runs_dir, "--resume", "r"))
    assert code == 0
    rows = read_trials(runs_dir, "r")
    completed = [row for row in rows if row["status"] == "completed"]
    assert len(completed) == 3 and len({row["lr"] for row in completed}) == 3
    assert [row["status"] for row in rows].count("stopped") == 1


@pytest.mark.parametrize("how", ["ctrl-c", "mnist-tui stop"])
def test_ctrl_c_or_stop_ends_the_sweep_its_running_trial_stopped_keeping_the_spec(
    how: str, tiny_data: Path, runs_dir: Path
) -> None:
    words = sweep_args(tiny_data, runs_dir, "--name", "c", "--model", "linear", "--epochs", "200",
                       "--lr", "0.001,0.003", "--no-prune")  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "tui", *words], stdout=subprocess.PIPE, text=True, env=env)
    assert worker.stdout is not None
    worker.stdout.readline()  # the plan line: the signal handler is in place once it is printed
    deadline = time.monotonic() + 60
    while not (running := [run for run in list_runs(runs_dir) if run.status == "running"]):  # the first trial's
        assert time.monotonic() < deadline, "no trial started"
        time.sleep(0.05)
    if how == "ctrl-c":
        worker.send_signal(signal.SIGINT)
    else:  # as `mnist-tui stop TRIAL_RUN`: the signal goes to the sweep's process, through the trial's run lock
        assert signal_trainer(running[0].path, STOP_SIGNAL) == worker.pid
    out, _ = worker.communicate(timeout=120)
    assert worker.returncode == (130 if how == "ctrl-c" else 143) and "stopped" in out
    assert [row["status"] for row in read_trials(runs_dir, "c")] == ["stopped"]
    spec = json.loads((sweep_folder(runs_dir, "c") / "sweep.json").read_text())
    assert spec["space"]["lr"]["values"] == [0.001, 0.003]


def test_two_jobs_in_one_process_train_every_grid_point_once(tiny_data: Path, runs_dir: Path) -> None:
    spec = parse_spec("j", {**TINY, "lr": "0.001,0.003,0.01,0.03"}, prune=False)
    devices_seen: set[str] = set()
    sweep = Sweep(spec, runs_dir=runs_dir, data_dir=tiny_data, devices=["cpu"], jobs=2, download=False,
                  on_update=lambda update: devices_seen.add(update.device))  # fmt: skip
    sweep.run()
    rows = trial_rows(sweep.study)
    assert sorted(row.params["lr"] for row in rows) == [0.001, 0.003, 0.01, 0.03]
    assert {row.status for row in rows} == {"completed"} and devices_seen == {"cpu"}
    assert len(list_runs(runs_dir)) == 4
