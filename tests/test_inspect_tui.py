"""The inspection widgets: half-block digits, the selectable matrix, the mistakes gallery, the drawing tab."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from rich.table import Table
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Static, TabbedContent, TabPane
from textual.worker import WorkerCancelled
from trained import train_tiny_run

from engine.runs import load_run
from tui.tabs.draw import DrawTab
from tui.tabs.mistakes import MistakesTab
from tui.widgets.canvas import SIDE, DrawingCanvas, line, probability_bars
from tui.widgets.digits import UPPER_HALF, DigitImage
from tui.widgets.gallery import MistakeGallery, filter_mistakes
from tui.widgets.matrix import SelectableConfusionMatrix, worst_cell
from tui.widgets.report import ReportView, report_table


@pytest.fixture(scope="module")
def tiny_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_run(tmp_path_factory.mktemp("runs"), tiny_data)


def rendered_cells(renderable: object) -> list[list[Segment]]:
    console = Console(width=80, color_system="truecolor")
    lines = Segment.split_lines(console.render(renderable, console.options))
    return [[s for s in line if s.text] for line in lines]


def test_half_blocks_put_the_upper_pixel_in_front_and_the_lower_behind() -> None:
    rows = rendered_cells(DigitImage([[0, 255, 10], [128, 64, 200], [30, 40, 50]]))
    assert len(rows) == 2 and all(s.text == UPPER_HALF for row in rows for s in row)
    colours = [[(s.style.color.triplet[0], s.style.bgcolor.triplet[0]) for s in row] for row in rows]
    assert colours == [[(0, 128), (255, 64), (10, 200)], [(30, 0), (40, 0), (50, 0)]]  # odd height: black below


def test_a_28_by_28_digit_takes_28_by_14_cells_from_bytes_or_floats() -> None:
    pixels = bytes(3 * i % 256 for i in range(28 * 28))
    rows = rendered_cells(DigitImage(pixels))
    assert len(rows) == 14 and all(len(row) == 28 for row in rows)
    assert rows[0][1].style.color == Color.from_rgb(3, 3, 3) and rows[0][1].style.bgcolor == Color.from_rgb(87, 87, 87)
    scaled = rendered_cells(DigitImage([[0.0, 1.0]], scale=2, marked=(0, 0)))
    assert [(s.text, s.style.bgcolor) for s in scaled[0]] == [
        ("  ", Color.parse("red")),
        ("  ", Color.from_rgb(255, 255, 255)),
    ]


def test_worst_cell_and_filter_by_cell() -> None:
    confusion = [[50, 2, 0], [7, 40, 1], [0, 0, 30]]
    assert worst_cell(confusion) == (1, 0)
    assert worst_cell([[5, 0], [0, 5]]) is None
    mistakes = [
        SimpleNamespace(true=t, predicted=p, confidence=c) for t, p, c in [(1, 0, 0.9), (0, 1, 0.8), (1, 0, 0.5)]
    ]
    assert filter_mistakes(mistakes, (1, 0)) == [mistakes[0], mistakes[2]]
    assert filter_mistakes(mistakes, (2, 2)) == []
    assert filter_mistakes(mistakes, None) == mistakes


def test_the_report_lists_every_class_and_both_averages(tiny_run: Path) -> None:
    evaluation = load_run(tiny_run).latest_evaluation("test")
    text = "\n".join("".join(s.text for s in row) for row in rendered_cells(report_table(evaluation)))
    for row in (*evaluation.per_class, evaluation.macro_avg, evaluation.weighted_avg):
        assert row.name in text and f"{row.f1:.4f}" in text
    assert f"{evaluation.accuracy:.4f}" in text


class TabApp(App):
    def __init__(self, tab: object):
        super().__init__()
        self.tab = tab

    def compose(self) -> ComposeResult:
        yield self.tab


async def settle(pilot: Pilot) -> None:
    """Let workers finish and the messages they posted be handled (workers can start workers)."""
    for _ in range(3):
        try:
            await pilot.app.workers.wait_for_complete()
        except WorkerCancelled:  # superseded by a newer request (exclusive workers); that one is awaited next
            continue
        await pilot.pause()


def test_enter_on_a_matrix_cell_shows_that_cells_mistakes(tiny_run: Path, tiny_data: Path) -> None:
    async def scenario() -> None:
        messages: list[object] = []
        tab = MistakesTab(data_dir=tiny_data, runs_dir=tiny_run.parent)
        async with TabApp(tab).run_test(size=(120, 40), message_hook=messages.append) as pilot:
            tab.show_run(tiny_run)
            await settle(pilot)
            inspected = [m for m in messages if isinstance(m, MistakesTab.Inspected)]
            assert inspected and tab.inspection is inspected[-1].inspection
            confusion = tab.inspection.evaluated.confusion
            matrix = tab.query_one(SelectableConfusionMatrix)
            assert matrix.cursor == worst_cell(confusion)
            gallery = tab.query_one(MistakeGallery)
            assert len(gallery.mistakes) == len(tab.inspection.mistakes)

            matrix.focus()
            await pilot.press("enter")
            true, predicted = worst_cell(confusion)
            selected = [m for m in messages if isinstance(m, SelectableConfusionMatrix.CellSelected)]
            assert (selected[-1].true, selected[-1].predicted) == (true, predicted)
            assert len(gallery.mistakes) == confusion[true][predicted]
            assert all((m.true, m.predicted) == (true, predicted) for m in gallery.mistakes)

            await pilot.press("right", "enter")
            column = (predicted + 1) % 10
            assert tab.pair == (true, column) and len(gallery.mistakes) == confusion[true][column]

            await pilot.press("a")
            assert tab.pair is None and len(gallery.mistakes) == len(tab.inspection.mistakes)
            assert gallery.page_size >= 2 and gallery.page_count > 1
            await pilot.press("n", "n", "b")
            assert gallery.page == 1
            assert gallery.page_mistakes() == gallery.mistakes[gallery.page_size : 2 * gallery.page_size]
            assert isinstance(tab.query_one(ReportView).content, Table)

    asyncio.run(scenario())


def test_the_mistakes_tab_explains_a_runs_folder_without_runs(tmp_path: Path, tiny_data: Path) -> None:
    async def scenario() -> None:
        messages: list[object] = []
        tab = MistakesTab(data_dir=tiny_data, runs_dir=tmp_path / "empty")
        async with TabApp(tab).run_test(message_hook=messages.append) as pilot:
            await settle(pilot)
            failed = [m for m in messages if isinstance(m, MistakesTab.Failed)]
            assert failed and "no trained run" in failed[0].message

    asyncio.run(scenario())


def test_a_drag_line_has_no_gaps() -> None:
    points = line((0, 0), (3, 7))
    assert points[0] == (0, 0) and points[-1] == (3, 7)
    assert all(max(abs(a[0] - b[0]), abs(a[1] - b[1])) == 1 for a, b in zip(points, points[1:], strict=False))


@pytest.mark.parametrize("width", [16, 24, 60])
def test_probability_bars_take_one_line_per_class_at_any_width(width: int) -> None:
    console = Console(width=width, color_system=None)
    with console.capture() as capture:
        console.print(probability_bars([str(d) for d in range(10)], [0.01] * 9 + [0.91]))
    lines = capture.get().splitlines()
    assert len(lines) == 10 and all(len(line) <= width and line.endswith("%") for line in lines)
    assert lines[9].startswith("9 ━") and lines[9].endswith("91.0%")


def test_keyboard_drawing_is_painted_and_classified_live(tiny_run: Path) -> None:
    async def scenario() -> None:
        messages: list[object] = []
        tab = DrawTab(runs_dir=tiny_run.parent)
        async with TabApp(tab).run_test(size=(120, 40), message_hook=messages.append) as pilot:
            await settle(pilot)  # the newest run's model loads without any use_run call
            assert tab.predictor is not None and tab.predictor.run_dir == tiny_run
            canvas = tab.query_one(DrawingCanvas)
            canvas.focus()
            await pilot.press("up", "up", "space", *["shift+down"] * 6)
            await settle(pilot)
            row, column = SIDE // 2 - 2, SIDE // 2
            assert [canvas.pixels[r][column] for r in range(row, row + 7)] == [1.0] * 7
            assert canvas.pixels[row - 2][column] == 0.0
            classified = [m for m in messages if isinstance(m, DrawTab.Classified)]
            assert classified and classified[-1].probabilities == pytest.approx(tab.predictor.predict(canvas.pixels))
            assert sum(classified[-1].probabilities) == pytest.approx(1.0, abs=1e-5)
            assert "prediction:" in str(tab.query_one("#draw-prediction", Static).content)

            await pilot.press("c")
            await settle(pilot)
            assert not any(any(r) for r in canvas.pixels)
            assert "draw something" in str(tab.query_one("#draw-prediction", Static).content)

    asyncio.run(scenario())


def test_a_mouse_drag_paints_a_stroke(tiny_run: Path) -> None:
    async def scenario() -> None:
        tab = DrawTab(runs_dir=tiny_run.parent)
        async with TabApp(tab).run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            canvas = tab.query_one(DrawingCanvas)
            await pilot.mouse_down(canvas, offset=(1 + 2 * 5, 1 + 3))  # inside the border: pixel (3, 5)
            await pilot.hover(canvas, offset=(1 + 2 * 5, 1 + 20))
            await pilot.mouse_up(canvas, offset=(1 + 2 * 5, 1 + 20))
            await settle(pilot)
            assert [canvas.pixels[r][5] for r in range(3, 21)] == [1.0] * 18
            assert "prediction:" in str(tab.query_one("#draw-prediction", Static).content)

    asyncio.run(scenario())


def test_the_inspection_widgets_do_not_import_torch() -> None:
    code = (
        "import sys, tui.tabs.mistakes, tui.tabs.draw, tui.widgets.report, tui.widgets.matrix;"
        " sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1]).returncode == 0


def test_a_hidden_tab_loads_nothing_until_it_is_shown(tiny_run: Path, tiny_data: Path) -> None:
    class Tabs(App):
        def compose(self) -> ComposeResult:
            with TabbedContent():
                with TabPane("Mistakes", id="mistakes"):
                    yield MistakesTab(data_dir=tiny_data, runs_dir=tiny_run.parent)
                with TabPane("Draw", id="draw"):
                    yield DrawTab(runs_dir=tiny_run.parent)

    async def scenario() -> None:
        app = Tabs()
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            draw = app.query_one(DrawTab)
            assert app.query_one(MistakesTab).inspection is not None
            assert not draw.requested and draw.predictor is None
            app.query_one(TabbedContent).active = "draw"
            await settle(pilot)
            assert draw.predictor is not None and draw.predictor.run_dir == tiny_run

    asyncio.run(scenario())
