"""What the machine is doing while a run trains: CPU, memory and NVIDIA GPUs.

psutil reads CPU and memory; NVML (the nvidia-ml-py package) reads NVIDIA GPUs where a driver is present.
Whatever cannot be read is reported in `SystemSample.notes` with the reason, never raised. No torch here:
the dashboard samples from its own thread without loading it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

MIB = 2**20
MIN_INTERVAL_SECONDS = 1.0  # a sampler asked more often returns its last sample


@dataclass(frozen=True)
class GpuSample:
    index: int  # NVML's index of the GPU (nvidia-smi's numbering)
    name: str
    utilization_percent: float | None
    memory_used_mib: float | None
    memory_total_mib: float | None
    temperature_c: float | None
    power_watts: float | None


@dataclass(frozen=True)
class SystemSample:
    process_cpu_percent: float | None  # of one core: 200 is two cores busy
    machine_cpu_percent: float | None  # of the whole machine
    process_memory_mib: float | None  # resident
    machine_memory_used_mib: float | None
    machine_memory_total_mib: float | None
    gpus: tuple[GpuSample, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)  # what could not be read, and why


def peak_process_memory_mib() -> float | None:
    """This process's peak resident memory so far, or None where the platform does not say."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (MIB if sys.platform == "darwin" else 1024), 1)  # macOS reports bytes, Linux KiB


def _load_nvml() -> tuple[ModuleType | None, str | None]:
    try:
        import pynvml
    except ImportError:
        return None, "GPU: nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
    except Exception as error:  # NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        return None, f"GPU: no NVIDIA driver to ask ({error})"
    return pynvml, None


def nvml_indices(cuda_indices: Sequence[int], visible: str | None = None) -> list[int | str]:
    """NVML's index (or UUID) of each CUDA device index, through CUDA_VISIBLE_DEVICES when it renumbers them."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES") if visible is None else visible
    if not visible:
        return list(cuda_indices)
    listed = [item.strip() for item in visible.split(",") if item.strip()]
    mapped: list[int | str] = []
    for index in cuda_indices:
        if index < len(listed):
            item = listed[index]
            mapped.append(int(item) if item.isdigit() else item)
    return mapped


def cuda_indices(device: str) -> list[int]:
    """The CUDA device indices a run's device string names ("cuda:1" -> [1], "cuda" -> [0]); none for cpu or mps."""
    kind, _, index = device.partition(":")
    if kind != "cuda":
        return []
    return [int(index)] if index.isdigit() else [0]


class SystemSampler:
    """Samples one process and the machine; `gpus` are CUDA device indices as the process numbers them."""

    def __init__(self, pid: int | None = None, gpus: Sequence[int] = (), nvml: Any = None):
        self.pid = os.getpid() if pid is None else pid
        self.gpus = list(gpus)
        self._notes: list[str] = []
        self._last: SystemSample | None = None
        self._last_at = 0.0
        try:
            import psutil
        except ImportError:
            self._psutil = None
            self._process = None
            self._notes.append("CPU and memory: psutil is not installed (pip install psutil)")
        else:
            self._psutil = psutil
            try:
                self._process = psutil.Process(self.pid)
                self._process.cpu_percent(None)  # the first reading only starts the interval
            except psutil.Error as error:
                self._process = None
                self._notes.append(f"process {self.pid}: {error}")
            psutil.cpu_percent(None)
        self._nvml = nvml
        if self.gpus and nvml is None:
            self._nvml, reason = _load_nvml()
            if reason:
                self._notes.append(reason)

    def sample(self) -> SystemSample:
        now = time.monotonic()
        if self._last is not None and now - self._last_at < MIN_INTERVAL_SECONDS:
            return self._last
        notes = list(self._notes)
        process_cpu = process_memory = machine_cpu = used = total = None
        if self._process is not None and self._psutil is not None:
            try:
                process_cpu = self._process.cpu_percent(None)
                process_memory = self._process.memory_info().rss / MIB
            except self._psutil.Error as error:  # the process ended
                notes.append(f"process {self.pid}: {error}")
        if self._psutil is not None:
            machine_cpu = self._psutil.cpu_percent(None)
            memory = self._psutil.virtual_memory()
            used, total = (memory.total - memory.available) / MIB, memory.total / MIB
        gpus = tuple(self._gpu_samples(notes)) if self._nvml is not None else ()
        self._last = SystemSample(process_cpu, machine_cpu, process_memory, used, total, gpus, tuple(notes))
        self._last_at = now
        return self._last

    def _gpu_samples(self, notes: list[str]) -> list[GpuSample]:
        nvml = self._nvml
        samples = []
        for which in nvml_indices(self.gpus):
            try:
                if isinstance(which, str):
                    handle = nvml.nvmlDeviceGetHandleByUUID(which)
                    index = int(nvml.nvmlDeviceGetIndex(handle))
                else:
                    handle, index = nvml.nvmlDeviceGetHandleByIndex(which), which
                name = nvml.nvmlDeviceGetName(handle)
            except Exception as error:
                notes.append(f"GPU {which}: {error}")
                continue
            samples.append(_gpu_sample(nvml, handle, index, name))
        return samples

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # shutting down a library that is already gone needs no message
                pass
            self._nvml = None


def _gpu_sample(nvml: Any, handle: Any, index: int, name: str | bytes) -> GpuSample:
    return GpuSample(
        index=index,
        name=name.decode() if isinstance(name, bytes) else str(name),
        utilization_percent=_read(lambda: nvml.nvmlDeviceGetUtilizationRates(handle).gpu),
        memory_used_mib=_read(lambda: nvml.nvmlDeviceGetMemoryInfo(handle).used / MIB),
        memory_total_mib=_read(lambda: nvml.nvmlDeviceGetMemoryInfo(handle).total / MIB),
        temperature_c=_read(lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
        power_watts=_read(lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1000),  # NVML reports milliwatts
    )


def _read(read: Any) -> float | None:
    """One NVML figure, or None where this GPU does not report it (NVML_ERROR_NOT_SUPPORTED)."""
    try:
        return float(read())
    except Exception:
        return None
