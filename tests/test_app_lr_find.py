"""Setup's `l`: the learning-rate range test in the dashboard, with the real engine on tiny generated data, and with
fakes for the paths that depend on timing (progress, cancel) or on failures (bad data, a loss that is nan)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from fake_run import FakeCurve, FakeTrainer, fake_catalog, fake_trainer_class, range_curve, scripted_events
from test_app import MessageWaiter, engine_event, make_app, type_into
from textual.notifications import Notify
from textual.widgets import Input
from textual.widgets._footer import FooterKey
from textual.worker import Worker, WorkerState

from engine.config import RunConfig
from engine.events import DownloadProgress, Event, RunFinished, RunStarted
from tui.app import MnistTuiApp
from tui.engine_api import RangeCurve, RangeTester, TrainerFactory
from tui.messages import EngineEvent, RangeTestProgressed
from tui.screens.lr_find import BATCHES, LrFindScreen, rounded
from tui.tabs.setup import SetupPanel
from tui.widgets.progress import ProgressPanel
from tui.widgets.range_chart import CURSOR_MARKER, SUGGESTED_MARKER, RangeTestChart


def range_test_ended(message: object) -> bool:
    return (
        isinstance(message, Worker.StateChanged)
        and message.worker.group == "lr-find"
        and message.state in (WorkerState.SUCCESS, WorkerState.ERROR)
    )


def toast(text: str) -> Callable[[object], bool]:
    return lambda message: isinstance(message, Notify) and text in message.notification.message


def lr_field(app: MnistTuiApp) -> str:
    return app.query_one("#field-lr", Input).value


def footer_keys(app: MnistTuiApp) -> dict[str, bool]:
    """The keys the footer shows, and whether each is enabled (not greyed out)."""
    return {key.key: not key.has_class("-disabled") for key in app.query(FooterKey)}


def chart_text(screen: LrFindScreen) -> str:
    return str(screen.query_one(RangeTestChart).render())


def test_the_range_test_picks_a_rate_for_the_setup(tiny_data: Path, runs_dir: Path) -> None:
    """The real engine: the curve, the cursor on the suggested rate, one batch right, enter: the lr field has it."""

    async def scenario() -> None:
        app = make_app(tiny_data, runs_dir, model="linear", batch_size=32)
        waiter = MessageWaiter()
        async with app.run_test(size=(100, 30), message_hook=waiter) as pilot:
            await app.workers.wait_for_complete()
            setup = app.query_one(SetupPanel)
            before = setup.config()
            await pilot.press("l")
            assert isinstance(app.screen, LrFindScreen)
            screen = app.screen
            await waiter.wait_for(range_test_ended)
            await pilot.pause()
            curve = screen.curve
            assert curve is not None, str(screen.query_one("#lr-find-readout").render())
            assert 100 <= len(curve.rates) <= BATCHES
            assert curve.rates == tuple(sorted(curve.rates))
            suggested = curve.rates[curve.suggested_index]
            assert 1e-4 <= suggested <= 0.3
            assert screen.cursor == curve.suggested_index
            assert CURSOR_MARKER in chart_text(screen)  # drawn over the suggestion's marker
            assert f"suggested {suggested:.1e}" in str(screen.query_one("#lr-find-readout").render())
            assert screen.query_one(ProgressPanel).message.startswith(f"done: {len(curve.rates)} batches")

            await pilot.press("right")
            assert screen.cursor == curve.suggested_index + 1
            chosen = curve.rates[screen.cursor]
            assert chosen > suggested
            readout = str(screen.query_one("#lr-find-readout").render())
            assert f"lr {chosen:.1e}" in readout and CURSOR_MARKER in chart_text(screen)
            assert SUGGESTED_MARKER in chart_text(screen)  # the cursor has left the suggestion: both show

            await pilot.press("enter")
            await pilot.pause()
            assert not isinstance(app.screen, LrFindScreen)
            assert lr_field(app) == f"{rounded(chosen):g}"
            assert setup.config().lr == rounded(chosen)
            assert setup.config() == before.with_changes(lr=rounded(chosen))  # nothing else changed
            assert setup.validate_fields() == {}
            assert app.focused is app.query_one("#field-lr")
            assert "from the range test" in app.query_one("#log").lines_written[-1]
        assert not runs_dir.exists() or not any(runs_dir.iterdir())  # no run folder, no file

    asyncio.run(scenario())


class BlockingRangeTest:
    """A download, half a curve, then batches that go on until the screen asks it to stop: the cancel path, with no
    clock. After the download it waits for `downloaded` to be set, so a test can see the download's progress."""

    def __init__(self) -> None:
        self.downloaded = threading.Event()
        self.stopped = threading.Event()
        self.config: RunConfig | None = None

    def __call__(
        self,
        config: RunConfig,
        data_dir: Path,
        *,
        batches: int,
        should_stop: Callable[[], bool],
        on_progress: Callable[[RangeCurve], None],
        on_download: Callable[[DownloadProgress], None],
    ) -> FakeCurve:
        self.config = config
        on_download(DownloadProgress("train-images-idx3-ubyte.gz", 1000, 2000, 500.0))
        self.downloaded.wait()
        curve = range_curve(50)
        on_progress(curve)
        while not should_stop():
            self.stopped.wait(0.01)  # a batch
        self.stopped.set()
        return curve


def fake_app(
    tiny_data: Path,
    runs_dir: Path,
    tester: RangeTester,
    trainer_loader: Callable[[], TrainerFactory] = fake_trainer_class,
) -> MnistTuiApp:
    return MnistTuiApp(
        data_dir=tiny_data,
        runs_dir=runs_dir,
        preset={"model": "linear", "lr": 0.01},
        catalog_loader=fake_catalog,
        trainer_loader=trainer_loader,
        range_tester_loader=lambda: tester,
    )


def test_escape_cancels_the_test_through_should_stop(tiny_data: Path, runs_dir: Path) -> None:
    tester = BlockingRangeTest()

    async def scenario() -> None:
        app = fake_app(tiny_data, runs_dir, tester)
        waiter = MessageWaiter()
        async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
            await app.workers.wait_for_complete()
            await type_into(pilot, "batch_size", "64")
            await pilot.press("l")
            screen = app.screen
            assert isinstance(screen, LrFindScreen)
            await waiter.wait_for(lambda message: isinstance(message, EngineEvent))
            await pilot.pause()
            progress = screen.query_one(ProgressPanel)
            assert progress.message.startswith("downloading train-images-idx3-ubyte.gz")
            assert (progress.completed, progress.total) == (1000, 2000)
            tester.downloaded.set()
            await waiter.wait_for(lambda message: isinstance(message, RangeTestProgressed))
            await pilot.pause()
            assert progress.message.startswith(f"batch 50 of at most {BATCHES} · lr ")
            assert (progress.completed, progress.total) == (50, BATCHES)
            assert screen.query_one(RangeTestChart).curve is not None  # the curve so far is drawn
            await pilot.press("right", "enter")  # no cursor, nothing to choose while it runs
            assert app.screen is screen

            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, LrFindScreen)
            assert await asyncio.to_thread(tester.stopped.wait, 30)
            await app.workers.wait_for_complete()
            assert lr_field(app) == "0.01"
            assert app.query_one(SetupPanel).config().lr == 0.01
        assert tester.config is not None and tester.config.batch_size == 64  # the Setup's settings, as they stood

    asyncio.run(scenario())


def test_escape_after_the_test_leaves_the_rate_unchanged(tiny_data: Path, runs_dir: Path) -> None:
    curve = range_curve()

    def whole_curve(config: RunConfig, data_dir: Path, **hooks: object) -> FakeCurve:
        return curve

    async def scenario() -> None:
        app = fake_app(tiny_data, runs_dir, whole_curve)
        waiter = MessageWaiter()
        async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("l")
            screen = app.screen
            assert isinstance(screen, LrFindScreen)
            await waiter.wait_for(range_test_ended)
            await pilot.pause()
            assert screen.cursor == 60
            await pilot.press("shift+right")
            assert screen.cursor == 70
            await pilot.press("s")  # back to the suggestion
            assert screen.cursor == 60
            await pilot.press("end", "right")
            assert screen.cursor == len(curve.rates) - 1
            await pilot.press("home", "left")
            assert screen.cursor == 0
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, LrFindScreen)
            assert lr_field(app) == "0.01"

    asyncio.run(scenario())


def test_failures_show_in_the_screen_and_the_app_stays_up(tiny_data: Path, runs_dir: Path) -> None:
    def bad_data_folder(config: RunConfig, data_dir: Path, **hooks: object) -> FakeCurve:
        raise RuntimeError(f"mnist is not in {data_dir}/MNIST/raw and downloading is turned off")

    def out_of_memory(config: RunConfig, data_dir: Path, **hooks: object) -> FakeCurve:
        class OutOfMemoryError(RuntimeError):  # torch.OutOfMemoryError, by name
            pass

        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def nan_from_the_start(config: RunConfig, data_dir: Path, **hooks: object) -> FakeCurve:
        return FakeCurve((1e-6,), (float("nan"),), (float("nan"),), 0)

    expected = {
        bad_data_folder: "mnist is not in",
        out_of_memory: "CUDA out of memory. Tried to allocate 2.00 GiB (try a smaller batch size)",
        nan_from_the_start: "the loss was nan or infinite from the first batches",
    }

    async def scenario(tester: RangeTester, message: str) -> None:
        app = fake_app(tiny_data, runs_dir, tester)
        waiter = MessageWaiter()
        async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("l")
            screen = app.screen
            assert isinstance(screen, LrFindScreen)
            await waiter.wait_for(range_test_ended)
            await pilot.pause()
            assert message in str(screen.query_one("#lr-find-readout").render())
            assert not screen.query_one(RangeTestChart).display
            await pilot.press("enter")  # nothing to choose
            assert app.screen is screen
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, LrFindScreen)
            assert lr_field(app) == "0.01"
            await pilot.press("l")  # the app is still up: the key works again
            assert isinstance(app.screen, LrFindScreen)

    for tester, message in expected.items():
        asyncio.run(scenario(tester, message))


def test_an_invalid_field_or_a_run_refuses_the_range_test_as_the_footer_shows(tiny_data: Path, runs_dir: Path) -> None:
    tester = BlockingRangeTest()
    tester.downloaded.set()

    class LongRun(FakeTrainer):
        """Trains until stopped."""

        def __init__(self, config: RunConfig, *, runs_dir: Path, data_dir: Path, emit: Callable[[Event], None]):
            super().__init__(config, runs_dir=runs_dir, data_dir=data_dir, emit=emit)
            self.stopped = threading.Event()

        def stop(self) -> None:
            self.stopped.set()

        def run(self) -> RunFinished:
            events = scripted_events(self.config)
            self.emit(events[0])
            self.stopped.wait()
            self.emit(events[-1])
            return events[-1]

    async def scenario() -> None:
        app = fake_app(tiny_data, runs_dir, tester, trainer_loader=lambda: LongRun)
        waiter = MessageWaiter()
        async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            footer = footer_keys(app)
            assert footer["l"] and "p" not in footer and "x" not in footer  # at 80 columns there is room for l
            await type_into(pilot, "lr", "20")
            await pilot.press("l")
            await waiter.wait_for(toast("fix the setup first (lr: must be a number above 0 and at most 10"))  # as s
            assert not isinstance(app.screen, LrFindScreen)
            assert app.focused is app.query_one("#field-lr")
            await type_into(pilot, "lr", "0.001,0.01")  # a sweep: which of its setups would the test train?
            await pilot.press("l")
            await waiter.wait_for(toast("the range test trains one setup: give each field one value"))
            assert not isinstance(app.screen, LrFindScreen)
            await type_into(pilot, "lr", "0.01")

            app.action_switch_tab(4)  # (the focused number field would take a typed 4)
            await pilot.pause()
            assert "l" not in app.screen.active_bindings  # a Setup key: not in the Runs tab's footer
            await pilot.press("l")
            await pilot.pause()
            assert not isinstance(app.screen, LrFindScreen)

            app.action_switch_tab(1)
            await pilot.press("s")
            await waiter.wait_for(engine_event(RunStarted))
            app.action_switch_tab(1)
            await pilot.pause()
            footer = footer_keys(app)
            assert not footer["l"] and footer["p"] and footer["x"]  # l greyed out while the run trains
            await pilot.press("l")
            await pilot.pause()
            assert not isinstance(app.screen, LrFindScreen)
            await pilot.press("x")
            await waiter.wait_for(engine_event(RunFinished))
            await app.workers.wait_for_complete()
            await pilot.pause()
            footer = footer_keys(app)
            assert footer["l"] and "p" not in footer and "x" not in footer
            await pilot.press("l")
            assert isinstance(app.screen, LrFindScreen)  # the run is over: the test may start
            await pilot.press("escape", "ctrl+p", "l")  # a text field that takes letters gets the l
            await pilot.pause()
            assert app.screen.query_one(Input).value == "l"
        assert tester.config is not None and tester.config.lr == 0.01

    asyncio.run(scenario())
