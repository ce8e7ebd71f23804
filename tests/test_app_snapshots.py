"""Snapshots of the dashboard, built through its factory with a fixed catalog and a scripted run."""

from __future__ import annotations

from pathlib import Path

from fake_run import fake_catalog, fake_trainer_class

from tui.app import MnistTuiApp


def make_app() -> MnistTuiApp:
    # Relative, fixed paths: they show in the log, and a temporary folder would change every run.
    return MnistTuiApp(
        data_dir=Path("data"),
        runs_dir=Path("no-such-runs-folder"),
        preset={"model": "linear", "epochs": 4},
        catalog_loader=fake_catalog,
        trainer_loader=fake_trainer_class,
    )


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def finish_run(pilot) -> None:
    await settle(pilot)
    await pilot.press("s")
    await settle(pilot)
    await pilot.pause()


def test_idle_80x24(snap_compare):
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=settle)


def test_idle_120x40(snap_compare):
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=settle)


def test_finished_run_120x40(snap_compare):
    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=finish_run)


def test_finished_run_confusion_80x24(snap_compare):
    async def run_before(pilot) -> None:
        await finish_run(pilot)
        await pilot.press("3")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
