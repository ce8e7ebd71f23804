"""The per-class report (scikit-learn's classification report) of one evaluation, as a widget."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from textual.widgets import Static


def _value(row: Any, name: str) -> Any:
    """A field of a ClassReport event, or of the same row read back from metrics.jsonl as a dict."""
    return row[name] if isinstance(row, dict) else getattr(row, name)


def report_table(evaluation: Any) -> Table:
    """Precision, recall, F1 and support per class, then accuracy and the macro and weighted averages.

    `evaluation` is an engine.events.Evaluated or its dict from metrics.jsonl (RunRecord.latest_evaluation).
    """
    table = Table(
        title=f"{_value(evaluation, 'split')} report, epoch {_value(evaluation, 'epoch')}",
        box=None,
        padding=(0, 1),
        header_style="bold",
    )
    table.add_column("class")
    for column in ("precision", "recall", "F1", "support"):
        table.add_column(column, justify="right")

    def add(row: Any, **style: Any) -> None:
        table.add_row(
            str(_value(row, "name")),
            f"{_value(row, 'precision'):.4f}",
            f"{_value(row, 'recall'):.4f}",
            f"{_value(row, 'f1'):.4f}",
            f"{_value(row, 'support'):,}",
            **style,
        )

    per_class = _value(evaluation, "per_class")
    worst_f1 = min((_value(row, "f1") for row in per_class), default=None)
    for row in per_class:
        add(row, style="red" if _value(row, "f1") == worst_f1 else None)
    support = sum(_value(row, "support") for row in per_class)
    table.add_row("accuracy", "", "", f"{_value(evaluation, 'accuracy'):.4f}", f"{support:,}", end_section=False)
    add(_value(evaluation, "macro_avg"), style="bold")
    add(_value(evaluation, "weighted_avg"), style="bold")
    return table


class ReportView(Static):
    """Shows `show(evaluation)`: an Evaluated event (live) or an evaluation dict read from a run folder."""

    DEFAULT_CSS = """
    ReportView { height: auto; width: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__("no evaluation yet", id=id, classes=classes)

    def show(self, evaluation: Any) -> None:
        self.update(report_table(evaluation))
