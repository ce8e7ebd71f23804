"""Snapshots of every tab at 80x24 and 120x40, the app built through its factory with what would vary injected:
a fixed catalog, a scripted run, past runs, their mistakes, a classifier and a range test (tests/fake_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_run import (
    RUNS_DIR,
    FakeSampler,
    fake_catalog,
    fake_classifier_loader,
    fake_inspection,
    fake_range_tester,
    fake_runs,
    fake_sweep_class,
    fake_trainer_class,
)

from tui.app import MnistTuiApp
from tui.tabs.sweep import SweepTab


def make_app() -> MnistTuiApp:
    # Relative, fixed paths: they show in the log, and a temporary folder would change every run.
    return MnistTuiApp(
        data_dir=Path("data"),
        runs_dir=RUNS_DIR,
        preset={"model": "linear", "epochs": 4},
        catalog_loader=fake_catalog,
        trainer_loader=fake_trainer_class,
        range_tester_loader=fake_range_tester,
        sweep_loader=fake_sweep_class,
        runs_loader=fake_runs,
        inspector=fake_inspection,
        classifier_loader=fake_classifier_loader(),
        system_sampler=FakeSampler,
    )


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def finish_run(pilot) -> None:
    await settle(pilot)
    await pilot.press("s")
    await settle(pilot)
    await pilot.pause()


SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


@pytest.mark.parametrize("size", SIZES)
def test_setup_tab(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=settle)


@pytest.mark.parametrize("size", SIZES)
def test_train_tab(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=finish_run)


@pytest.mark.parametrize("size", SIZES)
def test_confusion_tab(snap_compare, size):
    async def run_before(pilot) -> None:
        await finish_run(pilot)
        await pilot.press("3")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=run_before)


async def open_runs(pilot) -> None:
    await settle(pilot)
    await pilot.press("4")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_runs_tab(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=open_runs)


async def inspect_newest(pilot) -> None:
    """The Runs tab's i: the highlighted (newest) run in the Mistakes and Draw tabs; the Mistakes tab opens."""
    await open_runs(pilot)
    await pilot.press("i")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_mistakes_tab(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=inspect_newest)


@pytest.mark.parametrize("size", SIZES)
def test_draw_tab(snap_compare, size):
    async def run_before(pilot) -> None:
        await inspect_newest(pilot)
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("down", "down", "right", "right", "space", *["shift+down"] * 12, *["shift+right"] * 4)
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_lr_find_screen(snap_compare, size):
    """Setup's l: the range test's curve, the suggested rate (▼) and the cursor (●) moved three batches past it."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        await pilot.press("right", "right", "right")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=run_before)


async def finish_sweep(pilot) -> None:
    """A 2x2 sweep typed into Setup and started: the fake runs its four trials (the last one pruned)."""
    await settle(pilot)
    app = pilot.app
    for field, text in (("lr", "0.003,0.01"), ("epochs", "1,2"), ("sweep_name", "demo")):
        field_input = app.query_one(f"#field-{field}")
        field_input.focus()
        field_input.value = text
    await pilot.press("tab", "s")
    tab = app.query_one(SweepTab)
    for _ in range(200):  # until its last rows are read and its end said
        await settle(pilot)
        if tab.outcome == "finished" and not tab.to_announce:
            break
    app.clear_notifications()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_sweep_tab(snap_compare, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=finish_sweep)
