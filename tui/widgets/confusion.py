"""The confusion matrix as a Rich heat map, with the per-class precision, recall and F1 beside it."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from engine.events import Evaluated

SPLIT_NAMES = {"val": "validation", "test": "test"}
ROW_LABEL_WIDTH = 8


def _heat(count: int, row_total: int, diagonal: bool) -> Style:
    """Shade by the share of the true class: green on the diagonal, red for confusions."""
    share = count / row_total if row_total else 0.0
    if count == 0:
        return Style(color="grey42")
    level = int(40 + 160 * (share if diagonal else min(1.0, share * 5)))
    background = (0, level, 0) if diagonal else (level, 0, 0)
    return Style(color="white", bgcolor="rgb({},{},{})".format(*background), bold=diagonal)


def confusion_table(evaluation: Evaluated) -> Table:
    """Rows are true classes, columns predicted classes; each cell holds its count."""
    matrix: list[list[int]] = [list(row) for row in evaluation.confusion]
    names = [row.name for row in evaluation.per_class]
    width = max(3, len(str(max((max(row) for row in matrix), default=0))))
    table = Table(box=box.SIMPLE_HEAD, padding=0, collapse_padding=True, show_edge=False, pad_edge=False)
    table.add_column("true", justify="right", no_wrap=True, max_width=ROW_LABEL_WIDTH, style="bold")
    for index in range(len(names)):
        table.add_column(str(index), justify="right", min_width=width, max_width=width, no_wrap=True)
    for index, (name, row) in enumerate(zip(names, matrix, strict=True)):
        total = sum(row)
        cells = [Text(str(count), style=_heat(count, total, i == index)) for i, count in enumerate(row)]
        label = name if name == str(index) else f"{index} {name}"
        table.add_row(label[:ROW_LABEL_WIDTH], *cells)
    return table


def class_report_table(evaluation: Evaluated) -> Table:
    """Precision, recall and F1 per class, on the same rows as the matrix beside it."""
    table = Table(box=box.SIMPLE_HEAD, padding=0, show_edge=False, pad_edge=False)
    for column in ("prec", "recall", "F1"):
        table.add_column(column, justify="right", min_width=6, no_wrap=True)
    for row in evaluation.per_class:
        table.add_row(f"{row.precision:.3f}", f"{row.recall:.3f}", f"{row.f1:.3f}")
    return table


def evaluation_title(evaluation: Evaluated) -> str:
    split = SPLIT_NAMES.get(evaluation.split, evaluation.split)
    total = sum(sum(row) for row in evaluation.confusion)
    return (
        f"{split}, epoch {evaluation.epoch}: accuracy {evaluation.accuracy:.4f},"
        f" macro F1 {evaluation.f1:.4f}, {total:,} images"
    )


def evaluation_renderable(evaluation: Evaluated) -> RenderableType:
    grid = Table.grid(padding=(0, 1))
    grid.add_row(confusion_table(evaluation), class_report_table(evaluation))
    legend = Text("rows: true class, columns: predicted class; green: correct, red: confused", style="dim")
    return Group(Text(evaluation_title(evaluation), style="bold"), grid, legend)


class ConfusionView(Static):
    """Shows the latest evaluation; `evaluation` keeps it for whoever needs the numbers (tests, export)."""

    def __init__(self, placeholder: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text(placeholder, style="dim"), id=id, classes=classes)
        self.evaluation: Evaluated | None = None

    def show(self, evaluation: Evaluated | None, placeholder: str = "no evaluation yet") -> None:
        self.evaluation = evaluation
        self.update(evaluation_renderable(evaluation) if evaluation else Text(placeholder, style="dim"))
