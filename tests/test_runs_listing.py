"""Listing runs: the settings that tell runs apart, sorting, and folders that cannot be read as runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import RunConfig
from engine.runs import differing_settings, list_runs
from tui.cli import main


def write_run(runs_dir: Path, name: str, summary: dict | None = None, **settings) -> Path:
    folder = runs_dir / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(RunConfig(model="cnn", **settings).to_dict()))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def table_rows(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines() if line.lstrip().startswith("2026") and "broken:" not in line]


def test_differing_settings_names_only_what_differs_in_readable_runs(tmp_path: Path) -> None:
    write_run(tmp_path, "20260101-000001-mnist-cnn", lr=0.01, batch_size=128, augment=True, epochs=2)
    write_run(tmp_path, "20260101-000002-mnist-cnn", lr=0.003, batch_size=128, augment=False, epochs=5)
    (tmp_path / "20260101-000003-mnist-cnn").mkdir()  # broken: no settings to compare
    # epochs has its own column whatever its values, so it is not a differing setting
    assert differing_settings(list_runs(tmp_path)) == ["lr", "augment"]
    assert differing_settings(list_runs(tmp_path)[:1]) == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no config.json"),
        ('{"model": "cnn",', "config.json is not valid JSON"),
        ("[1, 2]", "config.json holds a JSON list"),
        (b"\xff\xfe", "config.json is not valid JSON"),
    ],
)
def test_a_folder_whose_config_cannot_be_read_is_listed_as_broken_with_the_reason(
    tmp_path: Path, content: str | bytes | None, reason: str
) -> None:
    write_run(tmp_path, "20260101-000001-mnist-cnn", {"status": "completed"})
    broken = tmp_path / "20260101-000002-mnist-cnn"
    broken.mkdir()
    if isinstance(content, bytes):
        (broken / "config.json").write_bytes(content)
    elif content is not None:
        (broken / "config.json").write_text(content)
    runs = list_runs(tmp_path)
    assert [(run.name, run.status) for run in runs] == [
        (broken.name, "broken"),
        ("20260101-000001-mnist-cnn", "completed"),
    ]
    assert reason in runs[0].problem


def test_runs_command_shows_the_differing_settings_and_the_broken_runs(tmp_path: Path, capsys) -> None:
    write_run(tmp_path, "20260101-000001-mnist-cnn", {"status": "completed", "test_accuracy": 0.99}, lr=0.01)
    write_run(tmp_path, "20260101-000002-mnist-cnn", {"status": "completed", "test_accuracy": 0.97}, lr=0.003)
    (tmp_path / "20260101-000003-mnist-cnn").mkdir()
    (tmp_path / "20260101-000003-mnist-cnn" / "config.json").write_text("not json")

    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("run "))
    assert header.split()[:2] == ["run", "lr"] and "batch" not in header
    assert "20260101-000003-mnist-cnn is broken: config.json is not valid JSON" in out

    assert main(["runs", "--runs-dir", str(tmp_path), "--sort", "test-acc"]) == 0
    rows = table_rows(capsys.readouterr().out)
    # 0.97, 0.99, then the broken run (no figure)
    assert [row[0] for row in rows] == [f"20260101-00000{n}-mnist-cnn" for n in (2, 1, 3)]
    assert main(["runs", "--runs-dir", str(tmp_path), "--sort", "lr", "--reverse"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert [row[1] for row in rows] == ["0.01", "0.003", "-"]  # unknown last, whichever the order


def test_runs_command_refuses_an_unknown_sort_column(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["runs", "--runs-dir", str(tmp_path), "--sort", "nope"])
    assert exited.value.code == 2
    assert "--sort: invalid choice: 'nope'" in capsys.readouterr().err
