"""The Runs tab: past runs from the runs folder; the highlighted one's curves and confusion matrix.

Space marks runs for comparison: with two or more marked, the charts overlay their validation curves.
The table has a column for each setting that differs between the runs; `o` sorts by the next column, `O` reverses.
On a narrow screen `c` switches the detail between the curves and the confusion matrix.
While runs train (here or in other processes), their rows show what the app's watcher reads from their
progress.jsonl: status, and a "now" column with epoch, step, images/s and the latest validation accuracy. `f` opens
the highlighted run in the Train tab: followed live while another process trains it, else shown from its records.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable

from engine.progress import LIVE, RunProgress
from engine.runs import RunRecord
from tui.run_columns import DATE, STATUS, RunColumn, run_date, tab_columns
from tui.tabs.sortable import SORT_BINDINGS, Cell, SortsByColumn, fill_sorted, highlighted_key
from tui.widgets.charts import LineChart, comparison_lines, epoch_lines
from tui.widgets.confusion import ConfusionView

RESUMABLE_STATUSES = ("interrupted", "stopped")
STATUS_STYLES = {"completed": "green", "failed": "red", "diverged": "red", "broken": "bold red"}
MARK = "✓ "
NOW = "now"  # the heading of the live runs' column, shown while a run trains


def run_cell(column: RunColumn, run: RunRecord, marked: bool, progress: RunProgress | None = None) -> Cell:
    """`progress`: the run's live row while it trains, whose status is newer than the one read from disk."""
    text = Text(column.text(run))
    if column is DATE:
        text = Text(MARK if marked else "  ") + text
    elif column is STATUS:
        status = progress.status if progress is not None else run.status
        text = Text(status, STATUS_STYLES.get(status, "yellow"))
    return Cell(text, column.value(run))


def now_cell(progress: RunProgress | None) -> Cell:
    """Epoch and step in progress, images/s and the latest validation accuracy ("2/3 140/196 10,696 img/s val 0.97")."""
    if progress is None:
        return Cell(Text(""), None)
    parts = [f"{progress.epoch or '-'}/{progress.epochs or '?'}"]
    if progress.step is not None:
        parts.append(f"{progress.step}/{progress.steps_per_epoch or '?'}")
    if progress.images_per_second is not None:
        parts.append(f"{progress.images_per_second:,.0f} img/s")
    if progress.val_accuracy is not None:
        parts.append(f"val {progress.val_accuracy:.4f}")
    return Cell(Text(" ".join(parts)), progress.updated)


class RunsPanel(SortsByColumn, Vertical):
    BINDINGS = [
        Binding("space", "toggle_mark", "Compare"),
        Binding("r", "resume", "Resume run"),
        Binding("i", "inspect", "Inspect run"),
        Binding("f", "follow", "Follow"),
        Binding("c", "toggle_detail", "Curves/matrix"),
        *SORT_BINDINGS,
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

    class FollowRequested(Message):
        """Show the run in the Train tab: live while it trains, else from its records."""

        def __init__(self, run: RunRecord) -> None:
            super().__init__()
            self.run = run

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.progress: dict[str, RunProgress] = {}  # the live rows of the runs training now
        self.progress_seen: dict[str, tuple[str, float | None, float | None]] | None = None  # see show_progress
        self.runs: list[RunRecord] = []  # newest first, as on disk; the table may show them sorted otherwise
        self.marked: set[str] = set()
        self.columns: list[RunColumn] = []
        self.sorted_by = DATE.heading  # newest first
        self.sort_reversed = True
        self.wanted: str | None = None  # a run to highlight once it is listed (see highlight_run)

    def compose(self) -> ComposeResult:
        yield DataTable(cursor_type="row", zebra_stripes=True, id="runs-table")
        with Horizontal(id="runs-detail"):
            with Vertical(id="runs-charts"):
                yield LineChart("loss", id="runs-loss")
                yield LineChart("accuracy", id="runs-accuracy")
            yield ConfusionView("select a run to see its confusion matrix", id="runs-confusion")

    def on_mount(self) -> None:
        self.fill_table()

    def set_runs(self, runs: list[RunRecord]) -> None:
        """Show these runs (newest first), keeping the highlighted run, the marks and the sort."""
        self.runs = runs
        self.marked &= {run.name for run in runs}
        self.fill_table()
        self._show_detail()

    def show_progress(self, rows: dict[str, RunProgress]) -> bool:
        """Show every run's live row (by name); True when the runs on disk should be read again: a run came or
        went, or one started, ended, or finished an evaluation (its curves and results changed)."""
        live = {name: row for name, row in rows.items() if row.status in LIVE}
        seen = {name: (row.status, row.val_accuracy, row.test_accuracy) for name, row in rows.items()}
        # The first rows come with the runs the app read on mount: only later changes call for reading them again.
        changed = self.progress_seen is not None and seen != self.progress_seen
        self.progress_seen = seen
        refill, self.progress = set(live) != set(self.progress), live
        table = self.query_one(DataTable)
        cells = {name: (run_cell(STATUS, run, False, row), now_cell(row)) for name, row in live.items()
                 if (run := self.runs_by_name.get(name)) is not None and name in table.rows}  # fmt: skip
        # The table's columns are measured when it is filled (see fill_table): a wider cell fills it again.
        widths = {key.value: column.width for key, column in table.columns.items()}
        too_wide = any(
            status.shown.cell_len > widths[STATUS.heading] or now.shown.cell_len > widths.get(NOW, 0)
            for status, now in cells.values()
        )
        if refill or too_wide:
            self.fill_table()
            return changed
        for name, (status, now) in cells.items():
            table.update_cell(name, STATUS.heading, status)
            table.update_cell(name, NOW, now)
        return changed

    def fill_table(self) -> None:
        """Columns for the settings that differ, the sorted one marked with its direction; rows sorted; the
        highlighted run stays highlighted (or the one asked for by highlight_run, once listed)."""
        table = self.query_one(DataTable)
        self.columns = tab_columns(self.runs)
        if self.sorted_by not in [column.heading for column in self.columns]:  # a setting no longer differs
            self.sorted_by, self.sort_reversed = DATE.heading, True
        headings = [column.heading for column in self.columns]
        rows = {
            run.name: [
                run_cell(column, run, run.name in self.marked, self.progress.get(run.name)) for column in self.columns
            ]
            for run in self.runs
        }
        if self.progress:  # after the status
            at = headings.index(STATUS.heading) + 1
            headings.insert(at, NOW)
            for name, cells in rows.items():
                cells.insert(at, now_cell(self.progress.get(name)))
        fill_sorted(table, headings, rows, self.sorted_by, self.sort_reversed)
        if self.wanted is not None and self.wanted in table.rows:
            table.move_cursor(row=table.get_row_index(self.wanted))
            self.wanted = None

    def highlight_run(self, name: str) -> None:
        """Highlight this run, now if it is listed, else once it is (a run that just ended may not be yet)."""
        self.wanted = name
        table = self.query_one(DataTable)
        if name in table.rows:
            table.move_cursor(row=table.get_row_index(name))
            self.wanted = None

    def sort_headings(self) -> list[str]:
        return [column.heading for column in self.columns]

    @property
    def runs_by_name(self) -> dict[str, RunRecord]:
        return {run.name: run for run in self.runs}

    @property
    def highlighted_name(self) -> str | None:
        return highlighted_key(self.query_one(DataTable))

    @property
    def highlighted(self) -> RunRecord | None:
        name = self.highlighted_name
        return self.runs_by_name.get(name) if name is not None else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_detail()

    def action_toggle_mark(self) -> None:
        run = self.highlighted
        if run is None:
            return
        self.marked ^= {run.name}
        table = self.query_one(DataTable)
        table.update_cell(run.name, DATE.heading, run_cell(DATE, run, run.name in self.marked))
        self._show_detail()

    def action_toggle_detail(self) -> None:
        """On a narrow screen the curves and the confusion matrix take turns; wide screens show both."""
        self.toggle_class("-show-confusion")

    def action_inspect(self) -> None:
        run = self.highlighted_or_say()
        if run is not None:
            self.post_message(self.InspectRequested(run))

    def action_follow(self) -> None:
        run = self.highlighted_or_say()
        if run is not None:
            self.post_message(self.FollowRequested(run))

    def action_resume(self) -> None:
        run = self.highlighted_or_say()
        if run is None:
            return
        if run.status not in RESUMABLE_STATUSES:
            self.notify(
                f"{run.name} is {run.status}: only interrupted or stopped runs can be resumed", severity="warning"
            )
        else:
            self.post_message(self.ResumeRequested(run))

    def highlighted_or_say(self) -> RunRecord | None:
        """The highlighted run, or None with a toast saying to pick one (for the keys that act on it)."""
        run = self.highlighted
        if run is None:
            self.notify("no run highlighted: pick one in the table first", severity="warning")
        return run

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
        elif run is not None and run.problem is not None:
            loss_chart.show([], f"broken: {run.problem}")
            accuracy_chart.show([], "nothing on disk is removed or changed")
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
