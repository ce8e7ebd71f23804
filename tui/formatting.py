"""How numbers read on screen, shared by the dashboard and the headless CLI (no Textual here)."""

from __future__ import annotations


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


def format_switch(value: bool) -> str:
    """An on/off setting in words, so it reads the same without colour."""
    return "on" if value else "off"
