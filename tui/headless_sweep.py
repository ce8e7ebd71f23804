"""The headless sweep commands: `sweep` with a live Rich table of its trials, `sweeps` listing them, `lr-find`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from engine.events import BatchProgress, RunStarted
from tui.formatting import format_duration, format_metric
from tui.signals import StopOnSignals

if TYPE_CHECKING:  # engine.sweeps' Sweep loads torch when built: only when the command runs
    from engine.lr_find import RangeTest
    from engine.sweeps import Sweep, SweepSpec, TrialRow, TrialUpdate

EXIT_OK, EXIT_FAILED = 0, 1
STATUS_STYLES = {"completed": "", "running": "bold", "pruned": "dim", "stopped": "yellow", "failed": "red dim"}
IMPORTANCE_BAR_WIDTH = 30


def format_param(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def trials_table(spec: SweepSpec, rows: list[TrialRow], live: dict[int, str], title: str) -> Table:
    """One row per trial: number, status (with the running trial's epoch and step), parameters, val acc, seconds;
    the best completed trial in bold green, pruned and failed ones dimmed."""
    from engine.sweeps import best_row

    names = sorted(spec.space)
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("trial", justify="right")
    table.add_column("status")
    for name in names:
        table.add_column(name, justify="right")
    for heading in ("val acc", "test acc", "time"):
        table.add_column(heading, justify="right")
    best = best_row(rows)
    for row in rows:
        status = row.status if row.status != "running" else f"running {live.get(row.number, '')}".strip()
        style = "bold green" if best is not None and row.number == best.number else STATUS_STYLES.get(row.status, "dim")
        table.add_row(
            str(row.number),
            status,
            *(format_param(row.params.get(name, "")) for name in names),
            format_metric(row.val_accuracy),
            format_metric(row.test_accuracy),
            format_duration(row.seconds),
            style=style,
        )
    return table


def importance_bars(importances: dict[str, float], width: int = IMPORTANCE_BAR_WIDTH) -> Table:
    """A bar per parameter, `width` characters for a share of 1 (Optuna's importances add up to 1)."""
    title = "parameter importances (Optuna)"
    table = Table(title=title, box=None, show_header=False, min_width=len(title))
    for name, share in importances.items():
        bar = "█" * max(1, round(share * width))
        table.add_row(name, Text(bar, style="cyan"), f"{share:.2f}")
    return table


def sweep_with_table(
    spec: SweepSpec,
    *,
    runs_dir: Path,
    data_dir: Path,
    devices: list[str],
    jobs: int,
    storage: str | None,
    download: bool,
) -> int:
    """Run a sweep with a live table; Ctrl+C (SIGTERM, SIGHUP, `mnist-tui stop` on a trial) stops its running trials
    as `stopped` and ends the sweep, and a rerun of the same command continues it. Exit 0 with a completed trial, 1
    without, 130 (143, 129, 143) on a signal."""
    from engine.sweeps import Sweep, trial_rows

    console = Console()
    live_progress: dict[int, str] = {}

    def on_update(update: TrialUpdate) -> None:
        event = update.event
        if isinstance(event, BatchProgress):
            live_progress[update.number] = f"{event.epoch}/{event.epochs} {event.step}/{event.steps_per_epoch}"
        elif isinstance(event, RunStarted):
            live_progress[update.number] = update.device

    sweep = Sweep(
        spec,
        runs_dir=runs_dir,
        data_dir=data_dir,
        devices=devices,
        jobs=jobs,
        storage=storage,
        download=download,
        on_update=on_update,
    )
    budget = spec.budget
    plan = f"{budget} trials" if budget is not None else f"trials for {format_duration(spec.timeout)}"
    console.print(
        f"sweep {spec.name}: {plan}, {spec.sampler} sampler, {'median pruning' if spec.prune else 'no pruning'},"
        f" {jobs} at a time on {', '.join(devices)}; study in {storage_text(sweep, storage)}",
        markup=False,
        highlight=False,
    )
    failure: list[BaseException] = []

    def search() -> None:
        try:
            sweep.run()
        except BaseException as error:  # handed to the main thread, which reports it
            failure.append(error)

    title = f"sweep {spec.name}"
    with StopOnSignals(sweep.stop) as signals:
        thread = threading.Thread(target=search, name="mnist-tui-sweep", daemon=True)
        thread.start()
        with Live(console=console, refresh_per_second=2, transient=True) as live:
            while thread.is_alive():
                live.update(trials_table(spec, trial_rows(sweep.study), live_progress, title))
                thread.join(0.5)
    if failure:
        raise failure[0]
    return _report(console, sweep, signals)


def storage_text(sweep: Sweep, storage: str | None) -> str:
    from engine.sweeps import JOURNAL_FILE, _public_url

    return _public_url(storage) or str(sweep.folder / JOURNAL_FILE)


def _report(console: Console, sweep: Sweep, signals: StopOnSignals) -> int:
    """The final table, the best trial, the importances and the files; the exit status."""
    from engine.sweeps import best_row, importances, trial_rows

    rows = trial_rows(sweep.study)
    console.print(trials_table(sweep.spec, rows, {}, f"sweep {sweep.spec.name}"))
    paths = sweep.write_files()
    best = best_row(rows)
    if best is not None:
        params = ", ".join(f"{name} {format_param(value)}" for name, value in sorted(best.params.items()))
        console.print(
            f"best: trial {best.number} ({params or 'no parameters'}): val acc {format_metric(best.val_accuracy)},"
            f" test acc {format_metric(best.test_accuracy)}; run {Path(best.run_dir or '').name}",
            markup=False,
            highlight=False,
        )
    shares = importances(sweep.study)
    if shares:
        console.print(importance_bars(shares))
    for path in paths:
        console.print(f"wrote {path}", markup=False, highlight=False)
    if signals.received or sweep.stopped:
        console.print(f"stopped: run the same command again (or `mnist-tui sweep --resume {sweep.spec.name}`) to go on")
        return signals.exit_status
    if best is None:
        Console(stderr=True).print("mnist-tui: error: no trial completed", markup=False)
        return EXIT_FAILED
    return EXIT_OK


def print_sweeps(runs_dir: Path) -> int:
    from engine.sweeps import list_sweeps

    console = Console()
    sweeps = list_sweeps(runs_dir)
    if not sweeps:
        console.print(f"no sweeps in {runs_dir} yet: start one with `mnist-tui sweep --name NAME --lr 0.001,0.01`")
        return EXIT_OK
    table = Table(title=f"sweeps in {runs_dir}", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    for heading, justify in (("name", "left"), ("done", "right"), ("pruned", "right"), ("failed", "right")):
        table.add_column(heading, justify=justify)  # type: ignore[arg-type]
    table.add_column("best val acc", justify="right")
    table.add_column("best run")
    for sweep in sweeps:
        table.add_row(
            sweep.name,
            str(sweep.done),
            str(sweep.pruned),
            str(sweep.failed),
            format_metric(sweep.best_val_accuracy),
            sweep.best_run or (sweep.problem or "-"),
        )
    console.print(table)
    return EXIT_OK


def print_range_test(result: RangeTest, png: Path) -> int:
    """The loss against the learning rate (log scale) drawn in the terminal, the suggested rate marked."""
    import plotext as plt

    plt.clear_figure()
    plt.theme("clear")  # no colours: the plot must read the same piped into a file
    plt.plot(result.log10_rates, result.smoothed_losses, marker="braille", label="smoothed loss")
    plt.vertical_line(result.suggested_log10, color="red")
    plt.title(f"learning-rate range test: suggested {result.suggested:.3g} (red line)")
    plt.xlabel("log10 learning rate")
    plt.plotsize(min(100, Console().width), 20)
    plt.show()
    console = Console()
    console.print(
        f"suggested learning rate: {result.suggested:.3g} (steepest descent of the smoothed loss over"
        f" {len(result.rates)} batches); plot in {png}",
        markup=False,
        highlight=False,
    )
    return EXIT_OK
