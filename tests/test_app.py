"""The dashboard driven from the keyboard with Pilot, training the linear model on tiny generated data."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from textual.message import Message
from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent

from engine.events import PauseChanged, RunFinished, RunStarted
from tui.app import MnistTuiApp
from tui.formatting import format_duration
from tui.messages import EngineEvent, ExportFinished
from tui.screens.confirm import ConfirmScreen
from tui.tabs.setup import SetupPanel
from tui.widgets.charts import LineChart
from tui.widgets.confusion import ConfusionView
from tui.widgets.progress import ProgressPanel

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class MessageWaiter:
    """A message_hook that lets a test await the first message matching a condition."""

    def __init__(self) -> None:
        self.seen: list[Message] = []
        self._waiting: list[tuple[Callable[[Message], bool], asyncio.Future]] = []

    def __call__(self, message: Message) -> None:
        self.seen.append(message)
        for condition, future in list(self._waiting):
            if not future.done() and condition(message):
                future.set_result(message)

    async def wait_for(self, condition: Callable[[Message], bool], timeout: float = 120) -> Message:
        for message in self.seen:
            if condition(message):
                return message
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((condition, future))
        return await asyncio.wait_for(future, timeout)


def engine_event(kind: type, **fields) -> Callable[[Message], bool]:
    def matches(message: Message) -> bool:
        if not isinstance(message, EngineEvent) or not isinstance(message.event, kind):
            return False
        return all(getattr(message.event, name) == value for name, value in fields.items())

    return matches


def make_app(tiny_data: Path, runs_dir: Path, **preset) -> MnistTuiApp:
    return MnistTuiApp(data_dir=tiny_data, runs_dir=runs_dir, preset=preset)


@asynccontextmanager
async def started_long_run(tiny_data: Path, runs_dir: Path) -> AsyncIterator[tuple[MnistTuiApp, Pilot, MessageWaiter]]:
    """The app at 80x24 just after it started a run of the linear model long enough to outlast the test."""
    app = make_app(tiny_data, runs_dir, model="linear", epochs=2000)
    waiter = MessageWaiter()
    async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("s")
        await waiter.wait_for(engine_event(RunStarted))
        yield app, pilot, waiter


async def type_into(pilot, field: str, text: str) -> None:
    widget = pilot.app.query_one(f"#field-{field}", Input)
    widget.focus()
    await pilot.pause()
    widget.clear()
    await pilot.press(*text)
    await pilot.pause()


def test_pick_model_train_and_export(tiny_data: Path, runs_dir: Path) -> None:
    async def scenario() -> None:
        app = make_app(tiny_data, runs_dir, model="cnn")
        waiter = MessageWaiter()
        async with app.run_test(size=(100, 30), message_hook=waiter) as pilot:
            await app.workers.wait_for_complete()  # torch, devices and models loaded
            setup = app.query_one(SetupPanel)
            assert setup.config().model == "cnn"
            # Pick the linear model from its picker: the fields take its recipe.
            app.query_one("#field-model").focus()
            await pilot.press("enter", "home", "enter")
            await pilot.pause()
            assert setup.config().model == "linear"
            assert setup.config().lr == 0.01  # the linear recipe
            await type_into(pilot, "epochs", "2")
            assert setup.validate_fields() == {}

            await pilot.press("s")
            finished = await waiter.wait_for(engine_event(RunFinished))
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert finished.event.status == "completed", finished.event.message
            assert app.status == "finished"
            # The figures a user waits for, where the run ends: the header, the progress panel, the log's last line.
            summary = finished.event.summary
            test = f"{summary['test_accuracy']:.4f} F1 {summary['test_f1']:.4f}"
            val, trained = f"{summary['val_accuracy']:.4f}", format_duration(summary["train_seconds"])
            assert app.sub_title == f"finished · test {test}, val {val}, {trained}"
            figures = f"test acc {test}, best val acc {val}, trained {trained}"
            assert app.query_one(ProgressPanel).message == f"finished: {figures}"
            assert app.query_one("#log").lines_written[-1].startswith(f"run completed: training completed; {figures};")

            assert app.query_one("#loss-chart", LineChart).point_count > 0
            assert app.query_one("#accuracy-chart", LineChart).point_count == 4  # train + val, two epochs
            evaluation = app.query_one("#confusion-view", ConfusionView).evaluation
            assert evaluation.split == "test"
            assert sum(map(sum, evaluation.confusion)) == 200  # the tiny test split

            await pilot.press("e")
            exported = await waiter.wait_for(lambda m: isinstance(m, ExportFinished))
            await pilot.pause()
            pngs = [path for path in exported.paths if path.suffix == ".png"]
            assert [path.name for path in pngs] == ["confusion_matrix.png", "curves.png", "mistakes.png"]
            for path in pngs:
                assert path.read_bytes().startswith(PNG_SIGNATURE)
            assert any(str(pngs[0]) in line for line in app.query_one("#log").lines_written)

    asyncio.run(scenario())


def test_pause_resume_and_stop_from_keys(tiny_data: Path, runs_dir: Path) -> None:
    async def scenario() -> None:
        async with started_long_run(tiny_data, runs_dir) as (app, pilot, waiter):
            await pilot.press("p")
            await waiter.wait_for(engine_event(PauseChanged, paused=True))
            await pilot.pause()
            assert app.status == "paused"
            assert "paused" in app.sub_title
            await pilot.press("p")
            await waiter.wait_for(engine_event(PauseChanged, paused=False))
            await pilot.pause()
            assert app.status.startswith("training epoch")
            await pilot.press("x")
            finished = await waiter.wait_for(engine_event(RunFinished))
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert finished.event.status == "stopped"
            assert app.status == "stopped"
            summary = json.loads((Path(finished.event.run_dir) / "summary.json").read_text())
            assert summary["status"] == "stopped"

    asyncio.run(scenario())


def test_invalid_field_blocks_start(tiny_data: Path, runs_dir: Path) -> None:
    async def scenario() -> None:
        app = make_app(tiny_data, runs_dir, model="linear")
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await type_into(pilot, "epochs", "0")
            message = str(app.query_one("#error-epochs").render())
            assert "whole number from 1 to 10000" in message
            await type_into(pilot, "lr", "20")
            assert "at most 10" in str(app.query_one("#error-lr").render())
            await pilot.press("s")
            await pilot.pause()
            assert app.training_worker is None
            assert app.query_one(TabbedContent).active == "setup"
            assert not runs_dir.exists() or not any(runs_dir.iterdir())
            await type_into(pilot, "epochs", "1")
            await type_into(pilot, "lr", "0.01")
            assert str(app.query_one("#error-epochs").render()) == ""

    asyncio.run(scenario())


def test_quit_during_training_leaves_no_thread(tiny_data: Path, runs_dir: Path) -> None:
    finished_runs: list[RunFinished] = []

    async def scenario() -> None:
        async with started_long_run(tiny_data, runs_dir) as (app, pilot, waiter):
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await waiter.wait_for(engine_event(RunFinished))
        finished_runs.extend(m.event for m in waiter.seen if engine_event(RunFinished)(m))
        assert app.return_code == 0

    asyncio.run(scenario())  # asyncio.run also joins the worker threads' executor
    assert threading.enumerate() == [threading.main_thread()]
    assert [run.status for run in finished_runs] == ["stopped"]
    run_dir = Path(finished_runs[0].run_dir)
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped"
    assert (run_dir / "config.json").is_file()


def test_app_closing_while_paused_still_ends_the_trainer(tiny_data: Path, runs_dir: Path) -> None:
    async def scenario() -> None:
        async with started_long_run(tiny_data, runs_dir) as (app, pilot, waiter):
            await pilot.press("p")
            await waiter.wait_for(engine_event(PauseChanged, paused=True))
        # Leaving run_test closes the app without q: the paused trainer must still stop.

    asyncio.run(scenario())  # would hang here on a trainer still waiting to be resumed
    assert threading.enumerate() == [threading.main_thread()]
    (run_dir,) = runs_dir.iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped"


def test_a_toast_expiring_after_the_app_closed_repaints_nothing(tiny_data: Path, runs_dir: Path) -> None:
    """notify() repaints the screen once its toast has gone; the app may have closed by then (a sweep test hit
    Textual's ScreenStackError from that timer while the app shut down)."""

    async def scenario() -> MnistTuiApp:
        app = make_app(tiny_data, runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            app.notify("bye", timeout=60)
        return app

    app = asyncio.run(scenario())
    assert not app.screen_stack
    app.repaint_after_toast()  # the timer's callback, as it would fire late: no error
