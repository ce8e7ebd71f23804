"""The Mistakes and Draw tabs inside the dashboard: opened from the Runs tab, filtered from the matrix."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_app import MessageWaiter
from trained import train_tiny_run

from tui.app import MnistTuiApp
from tui.messages import ExportFinished, RunsLoaded
from tui.widgets.canvas import DrawTab
from tui.widgets.gallery import MistakesTab
from tui.widgets.matrix import SelectableConfusionMatrix, worst_cell
from tui.widgets.runs import RunsPanel


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
