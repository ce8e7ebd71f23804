"""The Mistakes and Draw tabs inside the dashboard: opened from the Runs tab, filtered from the matrix."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_app import MessageWaiter
from test_inspect_tui import settle
from textual.widgets import Footer, Static, TabbedContent
from trained import train_tiny_run

from tui.app import MnistTuiApp
from tui.messages import ExportFinished, RunsLoaded
from tui.tabs.draw import DrawTab
from tui.tabs.mistakes import MistakesTab
from tui.tabs.runs import RunsPanel
from tui.widgets.canvas import DrawingCanvas
from tui.widgets.matrix import SelectableConfusionMatrix, worst_cell


def test_inspect_a_run_from_the_runs_tab_and_filter_by_the_worst_cell(tiny_data: Path, runs_dir: Path) -> None:
    run_dir = train_tiny_run(runs_dir, tiny_data)

    async def scenario() -> None:
        app = MnistTuiApp(data_dir=tiny_data, runs_dir=runs_dir)
        waiter = MessageWaiter()
        async with app.run_test(size=(120, 40), message_hook=waiter) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("4")
            await waiter.wait_for(lambda m: isinstance(m, RunsLoaded) and m.runs)
            await pilot.pause()
            assert app.query_one(RunsPanel).highlighted.path == run_dir
            await pilot.press("i")
            inspected = await waiter.wait_for(lambda m: isinstance(m, MistakesTab.Inspected))
            await waiter.wait_for(lambda m: isinstance(m, DrawTab.ModelLoaded))
            assert app.query_one("TabbedContent").active == "mistakes"
            inspection = inspected.inspection
            assert Path(inspection.run_dir) == run_dir and inspection.split == "test"
            assert sum(map(sum, inspection.evaluated.confusion)) == 200
            assert inspection.mistakes, "the tiny data has label noise, so there are mistakes"

            matrix = app.query_one(SelectableConfusionMatrix)
            assert matrix.cursor == worst_cell(inspection.evaluated.confusion)
            matrix.focus()
            await pilot.press("enter")
            await pilot.pause()
            tab = app.query_one(MistakesTab)
            true, predicted = matrix.cursor
            assert tab.pair == (true, predicted)
            expected = inspection.evaluated.confusion[true][predicted]
            shown = [m for m in inspection.mistakes if (m.true, m.predicted) == (true, predicted)]
            assert len(shown) == expected > 0

            # e exports the run being looked at through the engine, mistakes.png included.
            await pilot.press("4")
            await pilot.pause()
            await pilot.press("e")
            exported = await waiter.wait_for(lambda m: isinstance(m, ExportFinished))
            assert (run_dir / "mistakes.png") in exported.paths and exported.warning is None

    asyncio.run(scenario())


def test_the_draw_tab_keeps_the_keyboard_on_the_canvas_and_its_bars_fit_80x24(tiny_data: Path, runs_dir: Path) -> None:
    train_tiny_run(runs_dir, tiny_data)

    async def scenario() -> None:
        app = MnistTuiApp(data_dir=tiny_data, runs_dir=runs_dir)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            tabs, canvas = app.query_one(TabbedContent), app.query_one(DrawingCanvas)
            await pilot.press("6")
            assert app.focused is canvas
            await pilot.press(*["left"] * 40, *["up"] * 40)  # past the canvas's edges: never onto another tab
            assert tabs.active == "draw" and canvas.cursor == (0, 0)
            await pilot.press("tab")  # away from the canvas, onto the tab bar: the hint says how to come back
            assert "press [b]tab[/b] to draw" in str(app.query_one("#draw-help", Static).content)
            await pilot.press("tab")
            assert app.focused is canvas and "arrows move" in str(app.query_one("#draw-help", Static).content)
            for opened_by in ("click", "tab bar"):  # any way of opening the tab puts the keyboard on the canvas
                await pilot.press("1")
                if opened_by == "click":
                    await pilot.click("#--content-tab-draw")
                else:
                    # From the first field to the tab bar; Setup to Draw, wrapping round past Sweep.
                    await pilot.press("shift+tab", "left", "left")
                await pilot.pause()
                assert tabs.active == "draw" and app.focused is canvas, opened_by

            await pilot.press("down", "right", *["shift+down"] * 20)
            await settle(pilot)
            bars = app.query_one("#draw-bars", Static)
            lines = [strip.text.rstrip() for strip in bars.render_lines(bars.region.reset_offset)]
            assert len(lines) == 10 and all(line.endswith("%") for line in lines)  # one line per class
            assert bars.region.bottom <= app.query_one(Footer).region.y  # all on screen, above the footer
            assert bars.region.right <= 80

    asyncio.run(scenario())
