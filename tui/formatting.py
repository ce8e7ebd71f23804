"""How numbers read on screen, shared by the dashboard and the headless CLI (no Textual here)."""

from __future__ import annotations

from typing import Any

from rich.filesize import decimal

from engine.events import CheckpointSaved, DownloadProgress, EpochEnded, Event, Notice, RunFinished, RunStarted


def format_duration(seconds: float | None) -> str:
    """m:ss, or h:mm:ss from an hour; "-" when unknown."""
    if seconds is None:
        return "-"
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def format_metric(value: float | None) -> str:
    """An accuracy or F1 to four places; "-" when the run has none (yet)."""
    return "-" if value is None else f"{value:.4f}"


def download_figures(progress: DownloadProgress) -> str:
    """Bytes done of the total (or so far, when the server does not say) and the rate: "4.2 MB of 9.9 MB, 1.3 MB/s"."""
    done = decimal(progress.done_bytes)
    size = f"{done} of {decimal(progress.total_bytes)}" if progress.total_bytes else done
    return f"{size}, {decimal(int(progress.bytes_per_second))}/s"


def download_text(progress: DownloadProgress) -> str:
    return f"downloading {progress.file}: {download_figures(progress)}"


def format_switch(value: bool) -> str:
    """An on/off setting in words, so it reads the same without colour."""
    return "on" if value else "off"


def run_result(summary: dict[str, Any], compact: bool = False) -> str:
    """The figures a finished run is judged by, those it got to: test accuracy and F1, best validation accuracy,
    training time; "" when it has none. Compact, they fit the header at 80 columns."""
    parts = []
    if summary.get("test_accuracy") is not None:
        test = f"{summary['test_accuracy']:.4f} F1 {format_metric(summary.get('test_f1'))}"
        parts.append(f"test {test}" if compact else f"test acc {test}")
    if summary.get("val_accuracy") is not None:
        parts.append(f"val {summary['val_accuracy']:.4f}" if compact else f"best val acc {summary['val_accuracy']:.4f}")
    if summary.get("train_seconds") is not None:
        duration = format_duration(summary["train_seconds"])
        parts.append(duration if compact else f"trained {duration}")
    return ", ".join(parts)


def describe_event(event: Event) -> tuple[str, str] | None:
    """(level, text) for the events worth a line in the dashboard's log and the CLI's output; progress and evaluations
    have their own panels and bars."""
    if isinstance(event, RunStarted):
        config = event.config
        resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
        trial = f" (sweep {config['sweep']}, trial {config.get('trial')})" if config.get("sweep") is not None else ""
        return "info", (
            f"run started: {config['model']} on {config['dataset']}{trial}, {event.parameters:,} parameters,"
            f" {event.train_size:,}/{event.val_size:,}/{event.test_size:,} train/val/test images,"
            f" {event.device} ({event.device_name}){resumed}; folder {event.run_dir}"
        )
    if isinstance(event, EpochEnded):
        return "info", (
            f"epoch {event.epoch}/{event.epochs}: train loss {event.train_loss:.4f} acc {event.train_accuracy:.4f},"
            f" val loss {event.val_loss:.4f} acc {event.val_accuracy:.4f} F1 {event.val_f1:.4f}"
        )
    if isinstance(event, CheckpointSaved):
        return "info", f"checkpoint {event.kind} (epoch {event.epoch}): {event.path}"
    if isinstance(event, Notice):
        return event.level, event.message
    if isinstance(event, RunFinished):
        level = "success" if event.status == "completed" else "warning" if event.status == "stopped" else "error"
        result = run_result(event.summary)
        return (
            level,
            f"run {event.status}: {event.message}; {result + '; ' if result else ''}folder {event.run_dir or '(none)'}",
        )
    return None
