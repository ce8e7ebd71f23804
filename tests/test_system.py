"""The system sampler: CPU and memory through psutil, NVIDIA GPUs through NVML (faked here), and what is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine import system
from engine.system import SystemSampler, nvml_indices

ROOT = Path(__file__).resolve().parents[1]


class FakeNvml:
    """The pynvml calls the sampler makes, for two GPUs; the second cannot report its power."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self) -> None:
        self.shut_down = False

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index > 1:
            raise RuntimeError("Invalid Argument")
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=87 - handle)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(used=3 * 2**30, total=80 * 2**30)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        return 61

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        if handle == 1:
            raise RuntimeError("Not Supported")
        return 312_000

    def nvmlShutdown(self) -> None:
        self.shut_down = True


def test_a_sample_has_the_process_the_machine_and_each_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml()
    sampler = SystemSampler(gpus=[0, 1, 2], nvml=nvml)
    sample = sampler.sample()
    assert sample.process_memory_mib > 10 and sample.machine_memory_total_mib > sample.machine_memory_used_mib > 0
    assert sample.process_cpu_percent is not None and 0 <= sample.machine_cpu_percent <= 100
    first, second = sample.gpus
    assert (first.name, first.utilization_percent, first.memory_used_mib, first.memory_total_mib) == (
        "NVIDIA H100 80GB HBM3",
        87,
        3072,
        81920,
    )
    assert (first.temperature_c, first.power_watts) == (61, 312)
    assert second.utilization_percent == 86 and second.power_watts is None  # not supported: None, no crash
    assert sample.notes == ("GPU 2: Invalid Argument",)
    assert sampler.sample() is sample  # asked again within a second: the same sample, nothing read twice
    sampler.close()
    assert nvml.shut_down


def test_no_gpu_asked_for_reads_no_nvml() -> None:
    sample = SystemSampler(gpus=[]).sample()
    assert sample.gpus == () and not sample.notes


def test_missing_libraries_are_notes_not_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil now raises ImportError
    monkeypatch.setitem(sys.modules, "pynvml", None)
    sample = SystemSampler(gpus=[0]).sample()
    assert sample.process_cpu_percent is None and sample.gpus == ()
    assert any("psutil is not installed" in note for note in sample.notes)
    assert any("nvidia-ml-py is not installed" in note for note in sample.notes)


def test_cuda_visible_devices_renumbering_is_followed() -> None:
    assert nvml_indices([0, 1], visible="") == [0, 1]
    assert nvml_indices([0, 1], visible="3,1") == [3, 1]
    assert nvml_indices([0], visible="GPU-8d3f") == ["GPU-8d3f"]


def test_the_peak_process_memory_is_in_mib() -> None:
    peak = system.peak_process_memory_mib()
    assert peak is None or 10 < peak < 64 * 1024


def test_the_gpu_check_without_a_gpu_says_so_and_exits_0(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_check.sh"), str(tmp_path / "out")],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "no CUDA GPU here" in result.stdout
    assert "inputs" in result.stdout  # it checked what it would need on a GPU machine
    assert not (tmp_path / "out").exists()
