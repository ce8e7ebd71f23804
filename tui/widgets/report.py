"""The per-class report (scikit-learn's classification report) of one evaluation, as a widget."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.widgets import Static

from engine.events import ClassReport, Evaluated


def report_table(evaluation: Evaluated) -> Table:
    """Precision, recall, F1 and support per class, then accuracy and the macro and weighted averages."""
    table = Table(
        title=f"{evaluation.split} report, epoch {evaluation.epoch}",
        box=None,
        padding=(0, 1),
        header_style="bold",
    )
    table.add_column("class")
    for column in ("precision", "recall", "F1", "support"):
        table.add_column(column, justify="right")

    def add(row: ClassReport, **style: Any) -> None:
        table.add_row(
            str(row.name),
            f"{row.precision:.4f}",
            f"{row.recall:.4f}",
            f"{row.f1:.4f}",
            f"{row.support:,}",
            **style,
        )

    per_class = evaluation.per_class
    worst_f1 = min((row.f1 for row in per_class), default=None)
    for row in per_class:
        add(row, style="red" if row.f1 == worst_f1 else None)
    support = sum(row.support for row in per_class)
    table.add_row("accuracy", "", "", f"{evaluation.accuracy:.4f}", f"{support:,}", end_section=False)
    add(evaluation.macro_avg, style="bold")
    add(evaluation.weighted_avg, style="bold")
    return table


class ReportView(Static):
    """Shows `show(evaluation)`: an Evaluated, live or read back from a run folder."""

    DEFAULT_CSS = """
    ReportView { height: auto; width: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__("no evaluation yet", id=id, classes=classes)

    def show(self, evaluation: Evaluated) -> None:
        self.update(report_table(evaluation))
