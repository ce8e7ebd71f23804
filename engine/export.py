"""Writing a run's PNG and CSV files: from what the run wrote to disk, and mistakes.png from engine.predict's
inspection. The UI and the CLI both call export_with_mistakes."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: never open a window, never need a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from engine.events import Evaluated  # noqa: E402
from engine.runs import DiskFullError, RunRecord, RunsError, atomic_write, load_run  # noqa: E402

if TYPE_CHECKING:
    from engine.events import Split
    from engine.predict import Inspection

CONFUSION_PNG = "confusion_matrix.png"
MISTAKES_PNG = "mistakes.png"
CURVES_PNG = "curves.png"
METRICS_CSV = "metrics.csv"
EPOCH_COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "val_f1",
    "learning_rate",
    "seconds",
)
REPORT_COLUMNS = ("precision", "recall", "f1", "support")
CSV_COLUMNS = ("kind", *EPOCH_COLUMNS, "split", "class", *REPORT_COLUMNS)


class ExportError(RuntimeError):
    pass


def _save_figure(figure: plt.Figure, path: Path) -> None:
    try:
        with atomic_write(path, "wb") as f:
            figure.savefig(f, format="png", dpi=120, bbox_inches="tight")
    finally:  # a failed write must not leave the figure open in a long-running dashboard
        plt.close(figure)


def plot_confusion(run: RunRecord, evaluation: Evaluated, path: Path) -> None:
    matrix = np.array(evaluation.confusion)
    names = [row.name for row in evaluation.per_class]
    figure, axes = plt.subplots(figsize=(7.5, 6.5))
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(
            column,
            row,
            str(count),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if count > threshold else "black",
        )
    long_names = max(map(len, names)) > 2
    axes.set_xticks(range(len(names)), names, rotation=45 if long_names else 0, ha="right" if long_names else "center")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(
        f"{run.config.get('model')} on {run.config.get('dataset')}: {evaluation.split} accuracy"
        f" {evaluation.accuracy:.4f}, macro F1 {evaluation.f1:.4f}"
    )
    _save_figure(figure, path)


def plot_curves(run: RunRecord, path: Path) -> None:
    epochs = [e.epoch for e in run.epochs]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    loss_axes.plot(epochs, [e.train_loss for e in run.epochs], "o-", label="train")
    loss_axes.plot(epochs, [e.val_loss for e in run.epochs], "o-", label="validation")
    loss_axes.set(title="loss", xlabel="epoch", ylabel="cross-entropy")
    accuracy_axes.plot(epochs, [e.train_accuracy for e in run.epochs], "o-", label="train")
    accuracy_axes.plot(epochs, [e.val_accuracy for e in run.epochs], "o-", label="validation")
    accuracy_axes.set(title="accuracy", xlabel="epoch", ylabel="accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.legend()
        axes.xaxis.get_major_locator().set_params(integer=True)
    figure.suptitle(f"{run.name}: {run.config.get('model')} on {run.config.get('dataset')}")
    _save_figure(figure, path)


def write_metrics_csv(run: RunRecord, path: Path) -> None:
    """One rectangular table: a row per epoch, then the per-class report of each split's latest evaluation.

    The `kind` column tells the two apart ("epoch" or "class"), so a spreadsheet or pandas can filter on it.
    """
    with atomic_write(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        for epoch in run.epochs:
            writer.writerow({"kind": "epoch", **{column: getattr(epoch, column) for column in EPOCH_COLUMNS}})
        for split in ("val", "test"):
            evaluation = run.latest_evaluation(split)
            if evaluation is None:
                continue
            for row in (*evaluation.per_class, evaluation.macro_avg, evaluation.weighted_avg):
                writer.writerow(
                    {
                        "kind": "class",
                        "epoch": evaluation.epoch,
                        "split": split,
                        "class": row.name,
                        **{column: getattr(row, column) for column in REPORT_COLUMNS},
                    }
                )


def export_run(run_dir: Path) -> list[Path]:
    """Write confusion_matrix.png, curves.png and metrics.csv into the run folder; return their paths."""
    try:
        run = load_run(Path(run_dir))
    except RunsError as error:
        raise ExportError(str(error)) from None
    if not run.epochs:
        raise ExportError(f"{run.path} has no finished epoch yet: nothing to export")
    evaluation = run.latest_evaluation("test") or run.latest_evaluation("val")
    if evaluation is None:
        raise ExportError(f"{run.path} has no evaluation yet: nothing to export")
    targets = [run.path / CONFUSION_PNG, run.path / CURVES_PNG, run.path / METRICS_CSV]
    try:
        plot_confusion(run, evaluation, targets[0])
        plot_curves(run, targets[1])
        write_metrics_csv(run, targets[2])
    except DiskFullError as error:
        raise ExportError(f"could not write the export into {run.path}: {error}; the run itself is unchanged") from None
    except OSError as error:
        raise ExportError(
            f"could not write the export into {run.path} ({error.strerror or error}): check the folder's"
            " permissions and free space; the run itself is unchanged"
        ) from None
    return targets


def plot_mistakes(inspection: Inspection, path: Path, count: int = 36) -> None:
    """A grid of the worst mistakes (most confident first), each titled true -> predicted and confidence."""
    shown = inspection.mistakes[:count]
    columns = 6
    rows = max(1, -(-len(shown) // columns))
    figure, grid = plt.subplots(rows, columns, figsize=(columns * 1.6, rows * 1.8 + 0.6), squeeze=False)
    names = inspection.class_names
    for axes in grid.flat:
        axes.axis("off")
    for axes, mistake in zip(grid.flat, shown, strict=False):
        axes.imshow(np.frombuffer(mistake.pixels, dtype=np.uint8).reshape(28, 28), cmap="gray", vmin=0, vmax=255)
        axes.set_title(
            f"{names[mistake.true]} → {names[mistake.predicted]}\n{mistake.confidence:.0%}", fontsize=8, color="C3"
        )
    if not shown:
        grid.flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center", transform=grid.flat[0].transAxes)
    run_name = Path(inspection.run_dir).name
    figure.suptitle(
        f"{run_name}: {len(inspection.mistakes)} mistakes on {inspection.split}"
        f" (accuracy {inspection.evaluated.accuracy:.4f}); worst {len(shown)}, true → predicted",
        fontsize=9,
    )
    _save_figure(figure, path)


def export_mistakes(run_dir: Path, data_dir: Path, split: Split | None = None) -> Path:
    """Write mistakes.png (the worst mistakes with their labels) into the run folder; return its path."""
    from engine.predict import inspect_run  # torch: only when asked for

    inspection = inspect_run(run_dir, data_dir, split)
    path = Path(run_dir) / MISTAKES_PNG
    plot_mistakes(inspection, path)
    return path


def export_with_mistakes(run_dir: Path, data_dir: Path) -> tuple[list[Path], str | None]:
    """export_run's files, then mistakes.png (which needs the dataset's images).

    Returns the paths written and a warning when mistakes.png could not be made: the other files stand.
    """
    paths = export_run(run_dir)
    try:
        paths.append(export_mistakes(run_dir, data_dir))
    except Exception as error:  # missing data or no checkpoint yet: the rest of the export is still good
        return paths, f"mistakes.png skipped: {error}"
    return paths, None
