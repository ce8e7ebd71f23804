"""Sweeps from the dashboard (Pilot): Setup's fields holding lists start a sweep with the real engine on tiny data,
the Sweep tab fills, sorts, opens a trial's run and exports; x stops it; a bad spec starts nothing."""

from __future__ import annotations

import asyncio
import csv
import signal
from pathlib import Path

import pytest
from fake_run import RUNS_DIR, FakeSampler, FakeSweep, fake_catalog, fake_runs, fake_trainer_class
from rich.console import Group
from rich.text import Text
from test_app import PNG_SIGNATURE, MessageWaiter, engine_event, type_into
from textual.widgets import DataTable, Input, SelectionList, Static, TabbedContent

from engine.events import RunStarted
from engine.runs import signal_trainer
from engine.sweeps import Sweep, parse_spec, sweep_folder
from tui.app import MnistTuiApp
from tui.messages import ExportFinished
from tui.screens.choices import ChoicesScreen
from tui.signals import STOP_SIGNAL
from tui.tabs.mistakes import MistakesTab
from tui.tabs.runs import RunsPanel
from tui.tabs.setup import SetupPanel
from tui.tabs.sweep import BEST_MARK, SweepTab
from tui.tabs.train import TrainTab
from tui.widgets.progress import ProgressPanel


def make_app(tiny_data: Path, runs_dir: Path, **preset) -> MnistTuiApp:
    return MnistTuiApp(data_dir=tiny_data, runs_dir=runs_dir, preset={"model": "linear", **preset})


def table_rows(app: MnistTuiApp) -> list[list[str]]:
    """The Sweep tab's table as shown: one list of cell texts per row, in the order on screen."""
    table = app.query_one("#sweep-table", DataTable)
    return [[cell.shown.plain.strip() for cell in table.get_row_at(index)] for index in range(table.row_count)]


def headings(app: MnistTuiApp) -> list[str]:
    table = app.query_one("#sweep-table", DataTable)
    return [str(column.label).rstrip(" ▲▼") for column in table.columns.values()]


def shown_text(app: MnistTuiApp, selector: str) -> str:
    """What a Static holds, shown or not (a hidden tab's widgets are not rendered)."""
    content = app.query_one(selector, Static).content
    parts = content.renderables if isinstance(content, Group) else [content]
    return "\n".join(part.plain if isinstance(part, Text) else str(part) for part in parts)


def sweep_ended(message: object) -> bool:
    return isinstance(message, SweepTab.Ended)


async def name_sweep(pilot, name: str) -> None:
    await type_into(pilot, "sweep_name", name)


def test_a_sweep_started_from_setup_fills_sorts_opens_and_exports(tiny_data: Path, runs_dir: Path) -> None:
    async def scenario() -> None:
        app = make_app(tiny_data, runs_dir)
        waiter = MessageWaiter()
        async with app.run_test(size=(120, 40), message_hook=waiter) as pilot:
            await app.workers.wait_for_complete()
            await type_into(pilot, "lr", "0.001,0.01")
            await type_into(pilot, "epochs", "1,2")
            setup = app.query_one(SetupPanel)
            assert setup.has_class("-sweep")  # the sweep's own rows show
            await name_sweep(pilot, "grid")
            assert setup.validate_fields() == {}
            assert setup.sweep is not None and setup.sweep.spec.budget == 4
            assert "sweep grid: 4 trials" in shown_text(app, "#setup-plan")

            await pilot.press("tab", "s")  # out of the name field (it takes letters), then start
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "sweep"
            assert any(line.startswith("starting sweep grid: 4 trials") for line in app.query_one("#log").lines_written)
            ended = await waiter.wait_for(sweep_ended, timeout=240)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert ended.level == "success", ended.text
            assert "sweep grid finished: 4 of 4 trials done" in ended.text

            rows = table_rows(app)
            assert headings(app) == ["trial", "status", "epochs", "lr", "val acc", "val F1", "test acc", "time"]
            assert len(rows) == 4
            assert {row[1] for row in rows} <= {"completed", "pruned"}
            tab = app.query_one(SweepTab)
            completed = [row for row in tab.rows if row.status == "completed"]
            best = max(completed, key=lambda row: row.val_accuracy)
            (marked,) = [row for row in rows if row[0].startswith(BEST_MARK)]
            assert marked[0] == f"{BEST_MARK} {best.number}"
            assert app.sub_title.startswith("sweep grid finished 4/4")

            # o: sorted by the next column (status), then by epochs; O reverses.
            await pilot.press("o", "o")
            await pilot.pause()
            epochs = [int(row[2]) for row in table_rows(app)]
            assert epochs == sorted(epochs) and epochs[0] == 1 and epochs[-1] == 2
            await pilot.press("O")
            await pilot.pause()
            assert [int(row[2]) for row in table_rows(app)] == sorted(epochs, reverse=True)
            await pilot.press("o", "o", "O")  # by lr, then by val acc, largest first
            await pilot.pause()
            val = [float(row[4]) for row in table_rows(app)]
            assert val == sorted(val, reverse=True)
            assert table_rows(app)[0][0] == f"{BEST_MARK} {best.number}" or table_rows(app)[0][1] == "pruned"

            # enter on the highlighted (best) trial opens its run in the Runs tab, and in Mistakes.
            table = app.query_one("#sweep-table", DataTable)
            table.move_cursor(row=0)
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "runs"
            run_name = Path(best.run_dir).name
            assert app.query_one(RunsPanel).highlighted_name == run_name
            assert Path(app.query_one(MistakesTab).inspection.run_dir) == Path(best.run_dir)

            # e in the Sweep tab writes trials.csv and sweep.png.
            await pilot.press("7", "e")
            exported = await waiter.wait_for(lambda m: isinstance(m, ExportFinished), timeout=120)
            folder = sweep_folder(runs_dir, "grid")
            assert exported.paths == [folder / "trials.csv", folder / "sweep.png"]
            with open(folder / "trials.csv") as f:
                assert len(list(csv.DictReader(f))) == 4
            assert (folder / "sweep.png").read_bytes().startswith(PNG_SIGNATURE)

    asyncio.run(scenario())


@pytest.mark.parametrize("how", ["x", "mnist-tui stop"])
def test_x_or_stop_stops_the_running_trial_and_the_dashboard_stays(how: str, tiny_data: Path, runs_dir: Path) -> None:
    if how != "x" and STOP_SIGNAL == signal.SIGTERM:
        pytest.skip("no stop signal of its own here (no SIGUSR1): SIGTERM would end this test's process")

    async def scenario() -> None:
        app = make_app(tiny_data, runs_dir)
        waiter = MessageWaiter()
        async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
            await app.workers.wait_for_complete()
            await type_into(pilot, "epochs", "2000")  # long enough to outlast the test
            await type_into(pilot, "lr", "0.001,0.01")
            await name_sweep(pilot, "long")
            await pilot.press("tab", "s")
            started = await waiter.wait_for(engine_event(RunStarted))
            assert app.sub_title.startswith("sweep long trial 1/2")
            if how == "x":
                await pilot.press("x")
            else:  # the trial's run lock names this process: the signal comes here, as from `mnist-tui stop`
                signal_trainer(Path(started.event.run_dir), STOP_SIGNAL)
            ended = await waiter.wait_for(sweep_ended, timeout=120)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert ended.level == "warning" and "sweep long stopped: 0 of 2 trials done" in ended.text
            assert [row[1] for row in table_rows(app)] == ["stopped"]  # the second trial never started
            assert app.is_running and not app.is_training
            # Starting the same sweep again goes on: the Setup says so.
            setup = app.query_one(SetupPanel)
            assert setup.sweep is not None and setup.sweep.continues
            assert "continues sweep long" in shown_text(app, "#setup-plan")

    asyncio.run(scenario())


def test_a_bad_spec_is_shown_beside_its_field_and_starts_nothing(tiny_data: Path, runs_dir: Path) -> None:
    async def scenario() -> None:
        app = make_app(tiny_data, runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await type_into(pilot, "lr", "0.1:")
            await pilot.press("a", "b", "c")  # not number characters: the field refuses them
            assert app.query_one("#field-lr", Input).value == "0.1:"
            await type_into(pilot, "lr", "0.1:0.01")
            setup = app.query_one(SetupPanel)
            assert "lower to a higher" in setup.errors["lr"] and app.query_one("#row-lr").has_class("-invalid")
            await pilot.press("s")
            await pilot.pause()
            assert not app.is_training and app.query_one(TabbedContent).active == "setup"
            assert not (runs_dir / "sweeps").exists()
            await type_into(pilot, "lr", "0.001,20")  # a value a run would refuse
            assert "at most 10" in setup.errors["lr"]
            await type_into(pilot, "lr", "0.001,0.01")
            assert setup.validate_fields() == {}
            await type_into(pilot, "lr", "1e-4:1e-1")  # a range: TPE, and the engine's default budget
            assert setup.sweep is not None and setup.sweep.spec.sampler == "tpe" and setup.sweep.spec.budget == 20
            assert app.query_one("#field-sweep_trials", Input).placeholder == "20"
            await type_into(pilot, "sweep_trials", "3")
            assert setup.sweep is not None and setup.sweep.spec.budget == 3
            await type_into(pilot, "sweep_trials", "0")
            assert setup.sweep is None and "at least 1" in setup.errors["sweep_trials"]
            await type_into(pilot, "sweep_name", "a/b")
            assert "cannot name a folder" in setup.errors["sweep_name"]
            await type_into(pilot, "lr", "0.003")  # one value again: a run, as before
            assert not setup.has_class("-sweep") and setup.sweep is None

    asyncio.run(scenario())


def test_comma_on_a_picker_chooses_several_models(tiny_data: Path, runs_dir: Path) -> None:
    async def scenario() -> None:
        app = make_app(tiny_data, runs_dir, epochs=1)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            app.query_one("#field-model").focus()
            await pilot.press("comma")
            await pilot.pause()
            assert isinstance(app.screen, ChoicesScreen)
            choices = app.screen.query_one(SelectionList)
            assert choices.selected == ["linear"]
            await pilot.press("down", "space", "enter")  # mlp too
            await pilot.pause()
            setup = app.query_one(SetupPanel)
            assert app.query_one("#field-model").value == "linear,mlp"
            assert setup.config().lr == 0.01  # no recipe applied for several models: the fields stay
            assert setup.validate_fields() == {}
            assert setup.sweep is not None and setup.sweep.spec.budget == 2
            assert list(setup.sweep.spec.space) == ["model"]
            # One model marked again: a run of it, with its recipe.
            await pilot.press("comma", "space", "enter")  # unmark linear
            await pilot.pause()
            assert app.query_one("#field-model").value == "mlp"
            assert setup.sweep is None and setup.config().lr == 0.003

    asyncio.run(scenario())


def test_past_sweeps_are_listed_and_one_opens_with_enter(tiny_data: Path, runs_dir: Path) -> None:
    spec = parse_spec("past", {"model": "linear", "epochs": "1", "lr": "0.003,0.03"})
    Sweep(spec, runs_dir=runs_dir, data_dir=tiny_data, devices=["cpu"], download=False).run()

    async def scenario() -> None:
        app = make_app(tiny_data, runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("7")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert headings(app)[:2] == ["sweep", "done"]
            assert [row[:3] for row in table_rows(app)] == [["past", "2", "0"]]
            await pilot.press("enter")
            tab = app.query_one(SweepTab)
            for _ in range(100):  # opening builds the Sweep (torch, the study) in a worker, then reads its rows
                await app.workers.wait_for_complete()
                await pilot.pause()
                if tab.rows:
                    break
            assert tab.spec is not None and tab.spec.name == "past"
            assert [row[1] for row in table_rows(app)] == ["completed", "completed"]
            assert shown_text(app, "#sweep-summary").startswith("sweep past: opened from the runs folder · 2/2 done")
            await pilot.press("a")  # back to the list of all sweeps
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert tab.spec is None and headings(app)[0] == "sweep"

    asyncio.run(scenario())


def fake_app(sweep_class: type = FakeSweep) -> MnistTuiApp:
    return MnistTuiApp(
        data_dir=Path("data"),
        runs_dir=RUNS_DIR,
        preset={"model": "linear", "epochs": 1},
        catalog_loader=fake_catalog,
        trainer_loader=fake_trainer_class,
        sweep_loader=lambda: sweep_class,
        runs_loader=fake_runs,
        system_sampler=FakeSampler,
    )


async def start_fake_sweep(pilot, waiter: MessageWaiter, lr: str = "0.003,0.01") -> SweepTab.Ended:
    await pilot.app.workers.wait_for_complete()
    await type_into(pilot, "lr", lr)
    await type_into(pilot, "epochs", "1,2")
    await type_into(pilot, "sweep_name", "demo")
    await pilot.press("tab", "s")
    ended = await waiter.wait_for(sweep_ended, timeout=60)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    return ended


def test_the_train_tab_shows_each_trial_in_turn(runs_dir: Path) -> None:
    async def scenario() -> None:
        app = fake_app()
        waiter = MessageWaiter()
        async with app.run_test(size=(120, 40), message_hook=waiter) as pilot:
            ended = await start_fake_sweep(pilot, waiter)
            assert ended.level == "success" and "best: trial 2 (epochs 2, lr 0.003), val acc 0.9400" in ended.text
            restarts = {
                id(m) for m in waiter.seen if isinstance(m, TrainTab.Drawn) and m.restarted
            }  # seen as it bubbles
            assert len(restarts) == 3  # each trial after the first began a fresh view
            assert app.live is not None and app.live.started.config["trial"] == 3
            assert len(app.live.epochs) == 2  # the last trial's epochs only
            assert app.query_one(ProgressPanel).title == "sweep demo trial 3"
            started = [line for line in app.query_one("#log").lines_written if line.startswith("run started:")]
            assert [line.split("(sweep demo, trial ")[1][0] for line in started] == ["0", "1", "2", "3"]
            assert app.sub_title == "sweep demo finished 4/4"

    asyncio.run(scenario())


class FailingSweep(FakeSweep):
    def run(self) -> None:
        raise RuntimeError("the disk is full")


def test_a_sweep_that_fails_says_why_and_the_dashboard_stays(runs_dir: Path) -> None:
    async def scenario() -> None:
        app = fake_app(FailingSweep)
        waiter = MessageWaiter()
        async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
            ended = await start_fake_sweep(pilot, waiter)
            assert ended.level == "error" and ended.text == "sweep demo failed: the disk is full"
            assert app.query_one("#log").lines_written[-1] == ended.text
            assert app.is_running and not app.is_training
            assert app.sub_title == "sweep demo failed 0/4"

    asyncio.run(scenario())


def test_several_devices_need_something_to_sweep(runs_dir: Path) -> None:
    async def scenario() -> None:
        app = fake_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            setup = app.query_one(SetupPanel)
            app.query_one("#field-device").choose(("cuda:0", "cpu"))
            await pilot.pause()
            assert "need a field holding a list" in setup.errors["device"] and setup.sweep is None
            await type_into(pilot, "lr", "0.003,0.01")
            assert setup.validate_fields() == {}
            assert setup.sweep is not None and setup.sweep.devices == ["cuda:0", "cpu"]

    asyncio.run(scenario())
