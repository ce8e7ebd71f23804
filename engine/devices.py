"""Which devices exist, and turning a user's device name into a torch.device with a clear error."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DeviceError(RuntimeError):
    pass


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # what to pass as --device: "cpu", "cuda:0", "mps"
    label: str  # what a person reads: "NVIDIA A100 80GB (79.1 GiB free)"


def _cuda_label(index: int) -> str:
    name = torch.cuda.get_device_name(index)
    try:
        free, _total = torch.cuda.mem_get_info(index)
        return f"{name} ({free / 2**30:.1f} GiB free)"
    except RuntimeError:  # a busy or faulty GPU should not hide the others
        return name


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def list_devices() -> list[DeviceInfo]:
    """The devices this machine can train on, best first."""
    devices = [DeviceInfo(f"cuda:{i}", _cuda_label(i)) for i in range(torch.cuda.device_count())]
    if _mps_available():
        devices.append(DeviceInfo("mps", "Apple GPU (Metal)"))
    devices.append(DeviceInfo("cpu", f"CPU ({torch.get_num_threads()} threads)"))
    return devices


def resolve_device(requested: str) -> torch.device:
    """'auto' picks the first GPU; anything else must exist on this machine."""
    requested = requested.strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda:0")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise DeviceError(f"unknown device {requested!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            raise DeviceError(
                f"device {requested!r} asked for, but this machine has no usable CUDA GPU"
                " (no NVIDIA driver, or a CPU-only PyTorch build): use --device cpu or auto"
            )
        index = 0 if device.index is None else device.index
        if index >= count:
            raise DeviceError(
                f"device {requested!r} asked for, but this machine has {count} CUDA GPU(s):"
                f" use cuda:0 to cuda:{count - 1}"
            )
        return torch.device("cuda", index)
    if device.type == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' asked for, but Apple's Metal backend is not available here: use cpu")
        return device
    raise DeviceError(f"unsupported device {requested!r}: use auto, cpu, cuda, cuda:N or mps")


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (Metal)"
    return f"CPU ({torch.get_num_threads()} threads)"


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and ~8x slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
