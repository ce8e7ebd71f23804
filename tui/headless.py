"""The headless subcommands: a Rich progress bar over the trainer's events, the runs table, export."""

from __future__ import annotations

import csv
import json
import queue
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from engine.config import RunConfig
from engine.events import (
    BatchProgress,
    CheckpointSaved,
    DownloadProgress,
    EpochEnded,
    Event,
    Notice,
    RunFinished,
    RunStarted,
)
from engine.runs import RunRecord, list_runs
from tui.formatting import describe_event, download_figures, format_duration, format_metric
from tui.run_columns import command_columns, sortable_columns
from tui.signals import StopOnSignals

if TYPE_CHECKING:  # engine.predict imports torch: only when a command needs it
    from engine.predict import ImagePrediction

EXIT_OK, EXIT_FAILED = 0, 1
# The dashboard's log lines, styled for a scrolling terminal: checkpoints dim, notices stand out.
LINE_STYLES: dict[type, str] = {RunStarted: "", EpochEnded: "", CheckpointSaved: "dim", Notice: "yellow"}


def results_table(summary: dict[str, Any]) -> Table:
    """The reference notebook's results row: final validation and test accuracy and F1."""
    table = Table(title=f"{summary['model']} on {summary['dataset']} ({summary['status']})")
    for column in ("val accuracy", "val F1", "test accuracy", "test F1", "best epoch", "train time"):
        table.add_column(column, justify="right")
    table.add_row(
        format_metric(summary.get("val_accuracy")),
        format_metric(summary.get("val_f1")),
        format_metric(summary.get("test_accuracy")),
        format_metric(summary.get("test_f1")),
        str(summary.get("best_epoch") or "-"),
        format_duration(summary.get("train_seconds")),
    )
    return table


def train_with_progress(
    config: RunConfig | None,
    *,
    data_dir: Path,
    runs_dir: Path,
    export: bool,
    download: bool,
    debug: bool,
    resume_dir: Path | None = None,
    on_run_folder: Callable[[str], None] | None = None,
) -> int:
    """Train `config` (or continue the run in `resume_dir`) with a progress bar; return the exit status.

    `on_run_folder` is called with the run folder once it exists (a detached run hands it to its parent).

    Ctrl+C, SIGTERM, SIGHUP and `mnist-tui stop` (STOP_SIGNAL) stop the run before its next batch; finished
    epochs and last.pt stay on disk.
    """
    from engine.trainer import Trainer

    console = Console(stderr=False)
    events: queue.Queue[Event] = queue.Queue()
    if resume_dir is not None:
        trainer = Trainer.from_run(resume_dir, data_dir=data_dir, emit=events.put, download=download)
    elif config is not None:
        trainer = Trainer(config, runs_dir=runs_dir, data_dir=data_dir, emit=events.put, download=download)
    else:
        raise ValueError("train_with_progress needs a config, or a run folder to resume")
    # One row per dataset file downloaded (first use), then one for training: a title, the bar, the figures.
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[figures]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = None
    downloads: dict[str, Any] = {}
    with StopOnSignals(trainer.stop) as signals:
        thread = trainer.start()
        with progress:
            while True:
                event = events.get()
                if isinstance(event, DownloadProgress):
                    if event.file not in downloads:
                        downloads[event.file] = progress.add_task(event.file, total=event.total_bytes, figures="")
                    progress.update(
                        downloads[event.file],
                        completed=event.done_bytes,
                        total=event.total_bytes,
                        figures=download_figures(event),
                    )
                elif isinstance(event, BatchProgress):
                    description = f"epoch {event.epoch}/{event.epochs}"
                    figures = (
                        f"{event.step}/{event.steps_per_epoch}  loss {event.loss:.4f}"
                        f"  {event.images_per_second:,.0f} img/s  ETA {format_duration(event.eta_seconds)}"
                    )
                    if task is None:
                        task = progress.add_task(description, total=event.steps_per_epoch, figures=figures)
                    progress.update(
                        task,
                        completed=event.step,
                        total=event.steps_per_epoch,
                        description=description,
                        figures=figures,
                    )
                elif isinstance(event, RunFinished):
                    break
                elif isinstance(event, CheckpointSaved | EpochEnded | Notice | RunStarted):
                    level, text = describe_event(event) or ("info", "")
                    if isinstance(event, Notice):
                        text = f"{level}: {text}"
                    progress.console.print(text, style=LINE_STYLES[type(event)], markup=False, highlight=False)
                    if isinstance(event, RunStarted) and on_run_folder is not None:
                        on_run_folder(event.run_dir)
        thread.join()

    if event.summary.get("epochs_completed"):
        console.print(results_table(event.summary))
    if event.run_dir:
        console.print(f"run folder: {event.run_dir}")
    if event.status == "completed" and export:
        export_and_print(runs_dir, event.run_dir, data_dir, console)
    if event.status == "stopped":
        console.print(
            f"stopped: {event.message}; finished epochs and last.pt are kept."
            f" Continue with `mnist-tui train --resume {Path(event.run_dir).name}`"
        )
        return signals.exit_status
    if event.status != "completed":
        if debug and trainer.error is not None:
            traceback.print_exception(type(trainer.error), trainer.error, trainer.error.__traceback__)
        Console(stderr=True).print(f"mnist-tui: {event.status}: {event.message}", markup=False, soft_wrap=True)
        return EXIT_FAILED
    return EXIT_OK


def runs_table(runs_dir: Path, runs: list[RunRecord]) -> Table:
    """One row per run, in the given order, with a column for each setting that differs between them."""
    table = Table(title=f"runs in {runs_dir}", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    columns = command_columns(runs)
    for column in columns:
        table.add_column(column.heading, justify=column.justify, no_wrap=True)
    # Run names and statuses are what `--resume` and `export` take: never cut them short, even when narrow.
    for index in (0, -1):
        table.columns[index].min_width = max((len(columns[index].text(run)) for run in runs), default=0)
    for run in runs:
        table.add_row(*(column.text(run) for column in columns))
    return table


def table_console() -> Console:
    """Standard output for a table: the terminal's width, or when piped or redirected (no width to fit) wide
    enough that rows are never cut or wrapped."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def print_runs(runs_dir: Path, sort: str | None = None, reverse: bool = False) -> int:
    """The runs table, newest first or sorted by the column named `sort`; broken runs' reasons under it."""
    console = table_console()
    runs = list_runs(runs_dir)
    if not runs:
        console.print(f"no runs in {runs_dir} yet: start one with `mnist-tui train` or `mnist-tui`")
        return EXIT_OK
    if sort is not None:
        column = next(column for column in sortable_columns() if column.name == sort)
        runs.sort(key=lambda run: column.sort_key(run, reverse), reverse=reverse)
    elif reverse:
        runs.reverse()
    console.print(runs_table(runs_dir, runs))
    for run in runs:
        if run.problem is not None:
            console.print(f"{run.name} is broken: {run.problem}", markup=False, highlight=False)
    return EXIT_OK


def export_and_print(runs_dir: Path, run: str, data_dir: Path, console: Console | None = None) -> int:
    """export_run's files, then mistakes.png (from the images in data_dir; skipped with a warning without them)."""
    from engine.export import export_with_mistakes
    from engine.runs import find_run

    console = console or Console()
    paths, warning = export_with_mistakes(find_run(runs_dir, str(run)), data_dir)
    for path in paths:
        console.print(f"wrote {path}")
    if warning:
        Console(stderr=True).print(f"mnist-tui: warning: {warning}", markup=False)
    return EXIT_OK


def prediction_record(class_names: tuple[str, ...], result: ImagePrediction) -> dict[str, Any]:
    """One image's row for the table, --json and --csv: the prediction, its probability, every class's, or the
    error."""
    probabilities = result.probabilities
    if probabilities is None:
        return {
            "image": str(result.path),
            "prediction": None,
            "probability": None,
            "probabilities": None,
            "error": result.error,
        }
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return {
        "image": str(result.path),
        "prediction": class_names[best],
        "probability": probabilities[best],
        "probabilities": dict(zip(class_names, probabilities, strict=True)),
        "error": result.error,
    }


def predictions_table(run_name: str, class_names: tuple[str, ...], records: list[dict[str, Any]]) -> Table:
    """One row per image (records from prediction_record): the prediction and every class's probability."""
    table = Table(title=f"classified by {run_name}", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("image", overflow="fold")
    table.add_column("prediction", no_wrap=True)
    for name in class_names:
        table.add_column(name, justify="right", no_wrap=True)
    for record in records:
        if record["error"] is not None:  # the reason goes to stderr: here it would squeeze the columns
            table.add_row(record["image"], Text("error", style="red"))
            continue
        best = record["prediction"]
        table.add_row(
            record["image"],
            Text(f"{best} ({record['probability']:.1%})", style="bold green"),
            *(
                Text(f"{p:.0%}", style="bold green" if name == best else "")
                for name, p in record["probabilities"].items()
            ),
        )
    return table


def predict_and_print(runs_dir: Path, run: str, paths: list[Path], output: str = "table") -> int:
    """Classify image files (and the images in folders) with a run's best model, loaded once: a table, or
    JSON or CSV for scripts. A file that cannot be read is a row with its error; the exit status is then 1."""
    from engine.predict import predict_images
    from engine.runs import find_run

    run_dir = find_run(runs_dir, str(run))
    class_names, results = predict_images(run_dir, paths)
    records = [prediction_record(class_names, result) for result in results]
    if output == "json":
        print(json.dumps(records, indent=2))
    elif output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["image", "prediction", "probability", *class_names, "error"])
        for record in records:
            probabilities = (record["probabilities"] or dict.fromkeys(class_names)).values()
            writer.writerow(
                [record["image"], record["prediction"], record["probability"], *probabilities, record["error"]]
            )
    else:
        table_console().print(predictions_table(run_dir.name, class_names, records))
    errors = [result.error for result in results if result.error is not None]
    if errors:
        stderr = Console(stderr=True, soft_wrap=True)
        for error in [*errors, f"{len(errors)} of {len(results)} images could not be classified"]:
            stderr.print(f"mnist-tui: error: {error}", markup=False, highlight=False)
        return EXIT_FAILED
    return EXIT_OK
