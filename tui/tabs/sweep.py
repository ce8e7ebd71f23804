"""The Sweep tab: a sweep's trials as a table that fills while they train, sorted from the keyboard, the best trial
marked, and Optuna's parameter importances as bars.

A sweep the app starts is shown live: `router = tab.begin(plan, queue)`, `SweepTab.Built(sweep)` once its worker has
built it, `tab.ended(outcome)` when that worker ends. The table is read from the study (in a thread worker) when a
trial starts or ends, not on every event; between those, the running trials' epoch and step are drawn on the Train
tab's display tick (`show_running`). With no sweep shown, the tab lists the sweeps in the runs folder; enter opens
one (its table, importances and export, not its training).

Posts (bubbling to the app): `SweepTab.OpenTrial(run_dir)` on enter on a trial, `SweepTab.Ended(level, text)` once
the rows of a sweep that ended are in, and ExportFinished / ExportFailed for `export()`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import get_current_worker

from engine.events import Event
from engine.sweeps import COUNTED, SPEC_FILE, SweepSpec, SweepSummary, TrialRow, TrialUpdate, best_row, sweep_folder
from tui.engine_api import DrivenSweep, SweepFactory
from tui.formatting import format_duration, format_metric
from tui.headless_sweep import format_param, importance_bars
from tui.live_sweep import SweepPlan, SweepRouter
from tui.messages import ExportFailed, ExportFinished
from tui.run_columns import SETTING_HEADINGS
from tui.tabs.sortable import SORT_BINDINGS, Cell, SortsByColumn, fill_sorted, highlighted_key

DIMMED = ("pruned", "failed", "diverged", "stopped")
STATUS_STYLES = {"completed": "green", "running": "yellow", "failed": "red", "diverged": "red"}
BEST_MARK = "★"
IMPORTANCE_BAR_WIDTH = 20
RESULT_HEADINGS = ("val acc", "val F1", "test acc", "time")
PAST_HEADINGS = ("sweep", "done", "pruned", "failed", "best val acc", "best run")
HOW_TO_START = (
    "To start a sweep, type a list (0.001,0.01) or a range (1e-4:1e-1) into a number field in Setup (1), or press"
    " , on a picker to mark several models, datasets or devices; then s."
)


def load_sweep_class() -> SweepFactory:
    from engine.sweeps import Sweep

    return Sweep


def counts(rows: list[TrialRow]) -> dict[str, int]:
    """Trials by status; "done" are those the budget counts."""
    found = {status: sum(row.status == status for row in rows) for status in (*COUNTED, "stopped", "running")}
    found["done"] = sum(found[status] for status in COUNTED)
    return found


def param_heading(name: str) -> str:
    return SETTING_HEADINGS.get(name, name)


class SweepTab(SortsByColumn, Vertical):
    DEFAULT_CSS = """
    SweepTab { height: 1fr; }
    SweepTab #sweep-summary { height: auto; }
    SweepTab #sweep-table { height: auto; max-height: 75%; }
    SweepTab #sweep-importances { height: auto; margin-top: 1; }
    """
    # a: all sweeps, as the Mistakes tab's a is all mistakes.
    BINDINGS = [*SORT_BINDINGS, Binding("a", "list_sweeps", "All sweeps", show=False)]

    class OpenTrial(Message):
        """Show this trial's run: its curves and confusion matrix (Runs tab), its mistakes."""

        def __init__(self, run_dir: Path) -> None:
            super().__init__()
            self.run_dir = run_dir

    class Ended(Message):
        """A sweep started here ended; `text` says how, and what was best (`toast`: the same, shorter)."""

        def __init__(self, level: str, text: str, toast: str) -> None:
            super().__init__()
            self.level = level
            self.text = text
            self.toast = toast

    class TrialChanged(Message, bubble=False):
        """A trial started or ended (posted from the trainers' threads): read the rows again."""

    class RowsRead(Message, bubble=False):
        def __init__(self, sweep: DrivenSweep, rows: list[TrialRow], shares: dict[str, float] | None) -> None:
            super().__init__()
            self.sweep = sweep
            self.rows = rows
            self.shares = shares  # None: not read this time

    class SweepsListed(Message, bubble=False):
        def __init__(self, sweeps: list[SweepSummary]) -> None:
            super().__init__()
            self.sweeps = sweeps

    class Built(Message, bubble=False):
        """The sweep started here is built, its study open (posted from the app's sweep worker)."""

        def __init__(self, sweep: DrivenSweep) -> None:
            super().__init__()
            self.sweep = sweep

    class Opened(Message, bubble=False):
        def __init__(self, sweep: DrivenSweep) -> None:
            super().__init__()
            self.sweep = sweep

    def __init__(
        self,
        *,
        runs_dir: Path,
        data_dir: Path,
        sweep_loader: Callable[[], SweepFactory] = load_sweep_class,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.runs_dir = Path(runs_dir)
        self.data_dir = Path(data_dir)
        self.sweep_loader = sweep_loader
        self.spec: SweepSpec | None = None  # the sweep shown; None: the list of sweeps
        self.sweep: DrivenSweep | None = None  # once built (or opened)
        self.devices: list[str] = []
        self.router: SweepRouter | None = None  # while a sweep started here runs
        self.live = False
        self.launched = False  # the sweep shown was started here (not opened from the runs folder)
        self.outcome = ""
        self.to_announce = False  # the sweep ended and its last rows are to be read, then said
        self.rows: list[TrialRow] = []
        self.shares: dict[str, float] | None = None
        self.shares_for = -1  # the completed trials the shares were read for
        self.running_places: dict[int, str] = {}
        self.past: list[SweepSummary] | None = None
        self.sorted_by = PAST_HEADINGS[0]
        self.sort_reversed = False

    def compose(self) -> ComposeResult:
        yield Static(HOW_TO_START, id="sweep-summary")
        yield DataTable(cursor_type="row", zebra_stripes=True, id="sweep-table")
        yield Static("", id="sweep-importances")

    def on_mount(self) -> None:
        self.fill_table()

    def on_show(self) -> None:
        if self.spec is None and self.past is None:
            self.past = []
            self.list_worker()

    # --- a sweep started here ---------------------------------------------------------------------------------

    def begin(self, plan: SweepPlan, queue: Callable[[Event], None]) -> Callable[[TrialUpdate], None]:
        """Show this sweep, about to start; returns the callback for its trials' updates (the trainers' threads)."""
        self.show_sweep(plan.spec, None, plan.devices)
        self.live = self.launched = True
        self.outcome = "starting: loading PyTorch and the study…"
        self.router = SweepRouter(queue, self.trial_ended)
        self.draw()
        return self.router.update

    def trial_ended(self, number: int) -> None:
        """A trial started (the router) or ended (the sweep's `on_trial_end`): on a trainer's thread."""
        self.post_message(self.TrialChanged())

    def on_sweep_tab_built(self, message: Built) -> None:
        """Read what its study holds already (a sweep continued)."""
        if not self.live:  # it ended (failed) before this came
            return
        self.sweep = message.sweep
        self.outcome = "running"
        self.draw()
        self.read_rows()

    def ended(self, outcome: str, sweep: DrivenSweep | None) -> None:
        """Its worker ended: "finished", "stopped", or "failed: why"; `sweep` as built (None: it failed before)."""
        self.sweep = sweep or self.sweep
        self.live = False
        self.outcome = outcome
        self.router = None
        self.running_places = {}
        self.to_announce = True
        if self.sweep is None:  # it failed before its study opened
            self.announce()
        else:
            self.read_rows()
        self.draw()

    def show_running(self) -> None:
        """The running trials' epoch and step (the display tick, while a sweep runs)."""
        if self.router is None:
            return
        places = self.router.running()
        if places != self.running_places:
            self.running_places = places
            self.fill_table()

    def on_sweep_tab_trial_changed(self, message: TrialChanged) -> None:
        self.read_rows()

    # --- reading the study ------------------------------------------------------------------------------------

    def read_rows(self) -> None:
        if self.sweep is not None:
            self.rows_worker(self.sweep, self.shares_for)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep-rows")
    def rows_worker(self, sweep: DrivenSweep, shares_for: int) -> None:
        """The trials as the study holds them; the importances when the completed trials changed (they take a
        forest of trees to compute: not on every read)."""
        rows = sweep.rows()
        completed = counts(rows)["completed"]
        shares = sweep.importances() if completed != shares_for and completed >= 2 else None
        if not get_current_worker().is_cancelled:  # a newer read took its place
            self.post_message(self.RowsRead(sweep, rows, shares))

    def on_sweep_tab_rows_read(self, message: RowsRead) -> None:
        if message.sweep is not self.sweep:
            return
        self.rows = message.rows
        completed = counts(self.rows)["completed"]
        if message.shares is not None:
            self.shares, self.shares_for = message.shares, completed
        elif completed < 2:
            self.shares, self.shares_for = None, -1
        self.fill_table()
        self.draw()
        if self.to_announce:
            self.announce()

    def announce(self) -> None:
        self.to_announce = False
        spec = self.spec
        if spec is None:
            return
        found = counts(self.rows)
        done = f"{found['done']} of {spec.budget} trials done"
        export = "e in the Sweep tab writes trials.csv and sweep.png"
        if self.outcome.startswith("failed"):
            text = f"sweep {spec.name} {self.outcome}"
            self.post_message(self.Ended("error", text, text))
        elif self.outcome == "stopped":
            again = f"start it again (s, same setup and name) or `mnist-tui sweep --resume {spec.name}` to go on"
            text = f"sweep {spec.name} stopped: {done}"
            self.post_message(self.Ended("warning", f"{text}; {again}; {export}", f"{text}; s again goes on"))
        else:
            text = f"sweep {spec.name} finished: {done}; {self.best_text()}"
            self.post_message(self.Ended("success", f"{text}; {export}", text))

    def best_text(self) -> str:
        best = best_row(self.rows)
        if best is None:
            return "no trial completed"
        params = ", ".join(f"{param_heading(k)} {format_param(v)}" for k, v in sorted(best.params.items()))
        return (
            f"best: trial {best.number} ({params}), val acc {format_metric(best.val_accuracy)},"
            f" test acc {format_metric(best.test_accuracy)}"
        )

    # --- past sweeps ------------------------------------------------------------------------------------------

    def action_list_sweeps(self) -> None:
        if self.live:
            self.notify("a sweep is running: its table stays until it ends", severity="warning")
            return
        self.spec, self.sweep, self.rows, self.shares, self.launched = None, None, [], None, False
        self.past = self.past or []
        self.fill_table()
        self.draw()
        self.list_worker()

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep-list")
    def list_worker(self) -> None:
        from engine.sweeps import list_sweeps

        sweeps = list_sweeps(self.runs_dir)
        if not get_current_worker().is_cancelled:
            self.post_message(self.SweepsListed(sweeps))

    def on_sweep_tab_sweeps_listed(self, message: SweepsListed) -> None:
        self.past = message.sweeps
        if self.spec is None:
            self.fill_table()
            self.draw()

    def open_past(self, name: str) -> None:
        summary = next((sweep for sweep in self.past or [] if sweep.name == name), None)
        if summary is not None and summary.problem is not None:
            self.notify(f"sweep {name} cannot be opened here: {summary.problem}", severity="warning")
            return
        self.notify(f"opening sweep {name}…", timeout=2)
        self.open_worker(name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep-open")
    def open_worker(self, name: str) -> None:
        spec = SweepSpec.from_dict(json.loads((sweep_folder(self.runs_dir, name) / SPEC_FILE).read_text()))
        factory = self.sweep_loader()
        sweep = factory(
            spec,
            runs_dir=self.runs_dir,
            data_dir=self.data_dir,
            devices=["cpu"],
            jobs=1,
            on_update=lambda update: None,
            on_trial_end=lambda number: None,
        )
        if not get_current_worker().is_cancelled:
            self.post_message(self.Opened(sweep))

    def on_sweep_tab_opened(self, message: Opened) -> None:
        if self.live or self.spec is not None:  # a sweep started meanwhile
            return
        self.show_sweep(message.sweep.spec, message.sweep, [])
        self.outcome = "opened from the runs folder"
        self.read_rows()

    def show_sweep(self, spec: SweepSpec, sweep: DrivenSweep | None, devices: list[str]) -> None:
        self.spec, self.sweep, self.devices, self.launched = spec, sweep, devices, False
        self.rows, self.shares, self.shares_for, self.running_places = [], None, -1, {}
        self.sorted_by, self.sort_reversed = "trial", False
        self.fill_table()
        self.draw()

    # --- drawing ----------------------------------------------------------------------------------------------

    def headings(self) -> list[str]:
        if self.spec is None:
            return list(PAST_HEADINGS)
        return ["trial", "status", *map(param_heading, sorted(self.spec.space)), *RESULT_HEADINGS]

    def sort_headings(self) -> list[str]:
        return self.headings()

    def fill_table(self) -> None:
        table = self.query_one(DataTable)
        rows = self.trial_cells() if self.spec is not None else self.past_cells()
        headings = self.headings()
        if self.sorted_by not in headings:  # the table's columns changed (a sweep shown, or the list)
            self.sorted_by, self.sort_reversed = headings[0], False
        fill_sorted(table, headings, rows, self.sorted_by, self.sort_reversed)

    def trial_cells(self) -> dict[str, list[Cell]]:
        best = best_row(self.rows)
        names = sorted(self.spec.space) if self.spec is not None else []
        cells = {}
        for row in self.rows:
            is_best = best is not None and row.number == best.number
            style = "bold green" if is_best else "dim" if row.status in DIMMED else ""
            status = row.status
            if status == "running" and self.running_places.get(row.number):
                status = f"running {self.running_places[row.number]}"

            def cell(text: str, value: Any, style: str = style, justify: str = "right") -> Cell:
                return Cell(Text(text, style=style, justify=justify), value)  # type: ignore[arg-type]

            cells[str(row.number)] = [
                cell(f"{BEST_MARK if is_best else ' '} {row.number}", row.number),
                cell(status, row.status, style if is_best else f"{style} {STATUS_STYLES.get(row.status, '')}", "left"),
                *(cell(format_param(row.params.get(name, "-")), row.params.get(name)) for name in names),
                cell(format_metric(row.val_accuracy), row.val_accuracy),
                cell(format_metric(row.val_f1), row.val_f1),
                cell(format_metric(row.test_accuracy), row.test_accuracy),
                cell(format_duration(row.seconds), row.seconds),
            ]
        return cells

    def past_cells(self) -> dict[str, list[Cell]]:
        cells = {}
        for sweep in self.past or []:
            cells[sweep.name] = [
                Cell(Text(sweep.name), sweep.name),
                Cell(Text(str(sweep.done), justify="right"), sweep.done),
                Cell(Text(str(sweep.pruned), justify="right"), sweep.pruned),
                Cell(Text(str(sweep.failed), justify="right"), sweep.failed),
                Cell(Text(format_metric(sweep.best_val_accuracy), justify="right"), sweep.best_val_accuracy),
                Cell(Text(sweep.best_run or sweep.problem or "-"), sweep.best_run),
            ]
        return cells

    def draw(self) -> None:
        self.query_one("#sweep-summary", Static).update(self.summary())
        self.query_one("#sweep-importances", Static).update(self.importances_view())

    def summary(self) -> RenderableType:
        spec = self.spec
        if spec is None:
            if self.past is None or not self.past:
                return Text(f"{HOW_TO_START}\nNo sweeps in {self.runs_dir} yet.")
            return Text(f"{HOW_TO_START}\nSweeps in {self.runs_dir}: enter opens one.")
        found = counts(self.rows)
        budget = spec.budget if spec.budget is not None else "?"
        parts = [f"{found['done']}/{budget} done"]
        parts += [f"{found[status]} {status}" for status in (*COUNTED[1:], "stopped") if found[status]]
        if found["running"]:
            parts.append(f"{found['running']} running")
        head = Text.assemble((f"sweep {spec.name}", "bold"), f": {self.outcome} · {', '.join(parts)}")
        over = ", ".join(map(param_heading, sorted(spec.space)))
        where = f"; {len(self.devices)} at a time on {', '.join(self.devices)}" if self.devices else ""
        keys = "enter opens a trial's run" + ("" if self.live else ", a lists every sweep")
        how = Text(f"{spec.sampler} over {over}{where}; {BEST_MARK} best val acc; {keys}", "dim")
        return Group(head, how)

    def importances_view(self) -> RenderableType:
        if self.spec is None:
            return ""
        if self.shares:
            ranked = sorted(self.shares.items(), key=lambda item: -item[1])
            return importance_bars({param_heading(name): share for name, share in ranked}, IMPORTANCE_BAR_WIDTH)
        completed = counts(self.rows)["completed"]
        if completed < 2:
            return Text(f"parameter importances: after two completed trials ({completed} so far)", "dim")
        if self.shares is None:
            return Text("parameter importances: computing…", "dim")
        return Text("parameter importances: none (the completed trials do not differ enough to say)", "dim")

    # --- keys -------------------------------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if key is None:
            return
        if self.spec is None:
            self.open_past(key)
            return
        row = next((row for row in self.rows if str(row.number) == key), None)
        if row is None:
            return
        if row.run_dir is None:
            self.notify(f"trial {row.number} has no run folder: it {row.status} before its run started")
            return
        self.post_message(self.OpenTrial(Path(row.run_dir)))

    @property
    def highlighted_trial(self) -> TrialRow | None:
        key = highlighted_key(self.query_one(DataTable))
        return next((row for row in self.rows if str(row.number) == key), None)

    def export(self) -> None:
        """trials.csv and sweep.png of the sweep shown, in a worker; the paths come back in ExportFinished."""
        if self.sweep is None:
            what = "its study is still opening" if self.spec is not None else "start one from Setup, or open one"
            self.notify(f"no sweep to export yet: {what}", severity="warning")
            return
        self.export_worker(self.sweep)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweep-export")
    def export_worker(self, sweep: DrivenSweep) -> None:
        try:
            paths = sweep.write_files()
        except Exception as error:  # reported in the log and a toast; the trials' runs are untouched
            self.post_message(ExportFailed(sweep.folder, str(error) or type(error).__name__))
        else:
            self.post_message(ExportFinished(sweep.folder, paths))

    def header_text(self) -> str | None:
        """For the app's header: "sweep NAME trial k/N" while a sweep started here runs, how it ended after."""
        spec = self.spec
        if spec is None or not self.launched:
            return None
        found = counts(self.rows)
        budget = spec.budget if spec.budget is not None else "?"
        if self.live:
            first = min(found["done"] + 1, spec.budget or found["done"] + 1)
            last = max(first, found["done"] + found["running"])
            trials = f"trial {first}/{budget}" if last == first else f"trials {first}-{last}/{budget}"
            return f"sweep {spec.name} {trials}"
        return f"sweep {spec.name} {self.outcome.split(':')[0]} {found['done']}/{budget}"
