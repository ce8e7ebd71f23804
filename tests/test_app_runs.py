"""The Runs tab: past runs from disk, comparing several, and the resume key (r)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path

from fake_run import FakeTrainer, evaluated, fake_catalog, fake_trainer_class

from engine.config import RunConfig
from engine.events import EpochEnded
from engine.runs import RunDirectory, evaluation_record
from tui.app import MnistTuiApp
from tui.tabs.runs import RunsPanel
from tui.widgets.charts import LineChart
from tui.widgets.confusion import ConfusionView


def write_run(runs_dir: Path, epochs: int, summary: dict | None, **settings) -> Path:
    config = RunConfig(model="linear", epochs=3, **settings)
    run = RunDirectory.create(runs_dir, config.dataset, config.model, config.to_dict())
    for epoch in range(1, epochs + 1):
        accuracy = 0.8 + 0.05 * epoch
        record = EpochEnded(epoch, 3, 0.5 / epoch, accuracy, 0.6 / epoch, accuracy, accuracy, 0.001, 1.0)
        run.append_metrics({"kind": "epoch", **asdict(record)})
        run.append_metrics(evaluation_record(evaluated("val", epoch, 100, accuracy)))
    if summary is not None:
        run.write_summary(summary)
    return run.path


def make_app(runs_dir: Path, trainer_loader=fake_trainer_class) -> MnistTuiApp:
    return MnistTuiApp(
        data_dir=Path("data"), runs_dir=runs_dir, catalog_loader=fake_catalog, trainer_loader=trainer_loader
    )


async def open_runs_tab(pilot) -> None:
    """Once the runs folder has been read, switch to the Runs tab and let it show them."""
    await pilot.app.workers.wait_for_complete()
    await pilot.press("4")
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_runs_tab_shows_and_compares_runs(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, 3, {"status": "completed", "test_accuracy": 0.95, "test_f1": 0.95, "duration_seconds": 61})
    write_run(runs_dir, 2, None)  # killed: no summary

    async def scenario() -> None:
        app = make_app(runs_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await open_runs_tab(pilot)
            panel = app.query_one(RunsPanel)
            assert [run.status for run in panel.runs] == ["interrupted", "completed"]
            assert panel.query_one("#runs-accuracy", LineChart).point_count == 4  # train + val, two epochs
            assert sum(map(sum, panel.query_one(ConfusionView).evaluation.confusion)) == 100
            panel.query_one("#runs-table").focus()
            await pilot.press("space", "down", "space")
            await pilot.pause()
            accuracy = panel.query_one("#runs-accuracy", LineChart)
            assert [len(line.xs) for line in accuracy.lines] == [2, 3]  # one validation curve per marked run

    asyncio.run(scenario())


def test_resume_key_continues_the_run_through_from_run(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    run_dir = write_run(runs_dir, 1, {"status": "stopped"})
    FakeTrainer.resumed.clear()

    async def scenario() -> None:
        app = make_app(runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runs_tab(pilot)
            app.query_one("#runs-table").focus()
            await pilot.press("r")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert FakeTrainer.resumed == [run_dir]
            assert app.status == "finished"

    asyncio.run(scenario())


def test_run_status_fits_an_80_column_screen(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, 1, None)  # "interrupted": the longest status
    visible: list[str] = []

    async def scenario() -> None:
        app = make_app(runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runs_tab(pilot)
            table = app.query_one("#runs-table")
            visible.extend(strip.text for strip in table.render_lines(table.region.reset_offset)[:2])

    asyncio.run(scenario())
    header, row = visible
    assert "status" in header and "interrupted" in row and "test F1" in header


def visible_table(app: MnistTuiApp) -> list[str]:
    table = app.query_one("#runs-table")
    return [strip.text for strip in table.render_lines(table.region.reset_offset)]


def test_runs_that_differ_show_those_settings_and_sort_by_any_column(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    for lr, accuracy in ((0.01, 0.91), (0.003, 0.97), (0.001, 0.93)):
        write_run(runs_dir, 3, {"status": "completed", "test_accuracy": accuracy}, lr=lr, batch_size=128)

    async def scenario() -> None:
        app = make_app(runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runs_tab(pilot)
            panel = app.query_one(RunsPanel)
            header = visible_table(app)[0]
            assert "lr" in header.split() and "batch" not in header  # only what differs
            assert [row.split()[4] for row in visible_table(app)[1:4]] == ["0.001", "0.003", "0.01"]  # newest first
            panel.query_one("#runs-table").focus()
            await pilot.press("down")  # the 0.003 run stays highlighted whatever the order
            for _ in range(3):  # date -> data/model -> status -> lr
                await pilot.press("o")
            await pilot.pause()
            assert "lr ▲" in visible_table(app)[0]
            assert [row.split()[4] for row in visible_table(app)[1:4]] == ["0.001", "0.003", "0.01"]
            await pilot.press("O")
            await pilot.pause()
            assert [row.split()[4] for row in visible_table(app)[1:4]] == ["0.01", "0.003", "0.001"]
            assert panel.highlighted.config["lr"] == 0.003
            await pilot.press("o", "o", "o")  # lr -> epochs -> val acc -> test acc
            await pilot.pause()
            assert "test acc ▲" in visible_table(app)[0]
            assert [row.split()[4] for row in visible_table(app)[1:4]] == ["0.01", "0.001", "0.003"]

    asyncio.run(scenario())


def test_a_run_folder_with_a_broken_config_is_listed_with_the_reason(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    write_run(runs_dir, 1, {"status": "completed"})
    broken = runs_dir / "20990101-000000-mnist-cnn"
    broken.mkdir()
    (broken / "config.json").write_text('{"model": "cnn",')

    async def scenario() -> None:
        app = make_app(runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_runs_tab(pilot)
            panel = app.query_one(RunsPanel)
            assert [run.status for run in panel.runs] == ["broken", "completed"]
            assert "broken" in visible_table(app)[1]
            chart = panel.query_one("#runs-loss", LineChart)
            assert "config.json is not valid JSON" in chart.placeholder

    asyncio.run(scenario())
