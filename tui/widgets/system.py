"""The system pane: CPU and memory of a training process and of the machine, and each GPU the run uses."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.system import GpuSample, SystemSample

GIB = 1024  # MiB


def _figure(value: float | None, unit: str) -> str:
    """A figure and its unit; "?" and the unit where it could not be read (the notes say why)."""
    return f"?{unit}" if value is None else f"{value:,.0f}{unit}"


def _gib(used: float | None, total: float | None) -> str:
    if used is None or total is None:
        return "?"
    return f"{used / GIB:.1f}/{total / GIB:.1f} GiB"


def gpu_text(gpu: GpuSample) -> str:
    return (
        f"GPU {gpu.index} {gpu.name}: {_figure(gpu.utilization_percent, '%')}"
        f" · {_gib(gpu.memory_used_mib, gpu.memory_total_mib)} · {_figure(gpu.temperature_c, ' °C')}"
        f" · {_figure(gpu.power_watts, ' W')}"
    )


def system_text(whose: str, sample: SystemSample) -> Text:
    """`whose`: the process sampled, in words ("this dashboard", "trainer process 4242")."""
    text = Text.assemble(
        (f"{whose}: ", "bold"),
        f"CPU {_figure(sample.process_cpu_percent, '%')} · RSS {_figure(sample.process_memory_mib, ' MiB')}",
        "   ",
        ("machine: ", "bold"),
        f"CPU {_figure(sample.machine_cpu_percent, '%')}"
        f" · memory {_gib(sample.machine_memory_used_mib, sample.machine_memory_total_mib)}",
    )
    for gpu in sample.gpus:
        text.append("   ")
        text.append(gpu_text(gpu))
    for note in sample.notes:
        text.append(f"   {note}", "yellow")
    return text


class SystemPane(Static):
    """Shows the latest sample the Train tab's monitor posts; wraps onto a second line on narrow screens."""

    DEFAULT_CSS = """
    SystemPane { height: auto; max-height: 3; color: $text-muted; }
    """

    def show(self, whose: str, sample: SystemSample) -> None:
        self.update(system_text(whose, sample))

    def show_message(self, text: str) -> None:
        self.update(Text(text))
