"""The Runs tab: past runs from the runs folder; the highlighted one's curves and confusion matrix.

Space marks runs for comparison: with two or more marked, the charts overlay their validation curves.
On a narrow screen `c` switches the detail between the curves and the confusion matrix.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable

from engine.runs import RunRecord
from tui.formatting import format_duration, format_metric
from tui.widgets.charts import LineChart, comparison_lines, epoch_lines
from tui.widgets.confusion import ConfusionView

RESUMABLE_STATUSES = ("interrupted", "stopped")
# Status straight after the run's name and time last: at 80 columns everything but the time fits.
COLUMNS = ("  date", "data/model", "status", "epochs", "val acc", "test acc", "test F1", "time")
MARK = "✓ "


def run_date(run: RunRecord) -> str:
    """'11-25 04:38' from the folder name's timestamp (YYYYmmdd-HHMMSS-...)."""
    stamp = run.name[:15]
    if len(stamp) == 15 and stamp[8] == "-" and stamp.replace("-", "").isdigit():
        return f"{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return "?"


def run_row(run: RunRecord, marked: bool) -> tuple[str | Text, ...]:
    summary = run.summary or {}
    status_style = {"completed": "green", "failed": "red", "diverged": "red"}.get(run.status, "yellow")
    return (
        f"{MARK if marked else '  '}{run_date(run)}",
        f"{run.config.get('dataset', '?')}/{run.config.get('model', '?')}",
        Text(run.status, style=status_style),
        f"{len(run.epochs)}/{run.config.get('epochs', '?')}",
        format_metric(run.best_val_accuracy),
        format_metric(summary.get("test_accuracy")),
        format_metric(summary.get("test_f1")),
        format_duration(summary.get("duration_seconds")),
    )


class RunsPanel(Vertical):
    BINDINGS = [
        Binding("space", "toggle_mark", "Compare"),
        Binding("r", "resume", "Resume run"),
        Binding("i", "inspect", "Inspect run"),
        Binding("c", "toggle_detail", "Curves/matrix"),
    ]

    class ResumeRequested(Message):
        def __init__(self, run: RunRecord) -> None:
            super().__init__()
            self.run = run

    class InspectRequested(Message):
        """Open the run in the Mistakes and Draw tabs."""

        def __init__(self, run: RunRecord) -> None:
            super().__init__()
            self.run = run

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.runs: list[RunRecord] = []
        self.marked: set[str] = set()

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=True, id="runs-table")
        with Horizontal(id="runs-detail"):
            with Vertical(id="runs-charts"):
                yield LineChart("loss", id="runs-loss")
                yield LineChart("accuracy", id="runs-accuracy")
            yield ConfusionView("select a run to see its confusion matrix", id="runs-confusion")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)

    def set_runs(self, runs: list[RunRecord]) -> None:
        """Show these runs (newest first), keeping the highlighted run and the marks."""
        current = self.highlighted
        self.runs = runs
        self.marked &= {run.name for run in runs}
        table = self.query_one(DataTable)
        table.clear()
        for run in runs:
            table.add_row(*run_row(run, run.name in self.marked), key=run.name)
        if not runs:
            self._show_detail()
            return
        names = [run.name for run in runs]
        table.move_cursor(row=names.index(current.name) if current and current.name in names else 0)
        self._show_detail()

    @property
    def highlighted(self) -> RunRecord | None:
        table = self.query_one(DataTable)
        if not self.runs or table.cursor_row is None or not 0 <= table.cursor_row < len(self.runs):
            return None
        return self.runs[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def action_toggle_mark(self) -> None:
        run = self.highlighted
        if run is None:
            return
        self.marked ^= {run.name}
        table = self.query_one(DataTable)
        table.update_cell(run.name, COLUMNS[0], run_row(run, run.name in self.marked)[0])
        self._show_detail()

    def action_toggle_detail(self) -> None:
        """On a narrow screen the curves and the confusion matrix take turns; wide screens show both."""
        self.toggle_class("-show-confusion")

    def action_inspect(self) -> None:
        run = self.highlighted
        if run is None:
            self.notify("no run highlighted: pick one in the table first", severity="warning")
        else:
            self.post_message(self.InspectRequested(run))

    def action_resume(self) -> None:
        run = self.highlighted
        if run is None:
            self.notify("no run highlighted: pick one in the table first", severity="warning")
        elif run.status not in RESUMABLE_STATUSES:
            self.notify(
                f"{run.name} is {run.status}: only interrupted or stopped runs can be resumed", severity="warning"
            )
        else:
            self.post_message(self.ResumeRequested(run))

    def _show_detail(self) -> None:
        loss_chart = self.query_one("#runs-loss", LineChart)
        accuracy_chart = self.query_one("#runs-accuracy", LineChart)
        confusion = self.query_one("#runs-confusion", ConfusionView)
        run = self.highlighted
        compared = [r for r in self.runs if r.name in self.marked]
        if len(compared) >= 2:
            curves = [(f"{run_date(r)} {r.config.get('model', '?')}", r.epochs) for r in compared]
            loss_chart.show(comparison_lines(curves, "val_loss"))
            accuracy_chart.show(comparison_lines(curves, "val_accuracy"))
        elif run is not None:
            loss_chart.show(epoch_lines(run.epochs, "loss"), "no finished epoch")
            accuracy_chart.show(epoch_lines(run.epochs, "accuracy"), "no finished epoch")
        else:
            loss_chart.show([], "no runs yet")
            accuracy_chart.show([], "no runs yet")
        evaluation = run.latest_evaluation("test") or run.latest_evaluation("val") if run else None
        confusion.show(evaluation, "no evaluation in this run")

    def run_path(self) -> Path | None:
        run = self.highlighted
        return run.path if run else None
