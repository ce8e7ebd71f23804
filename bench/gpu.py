"""The GPU section of `python -m bench` (`--only gpu`): the GPU, its matrix-product rates, training throughput
(float32, bf16 autocast, torch.compile, larger batches), time to accuracy, and the dashboard's cost there.

Tiny models on a big GPU are bound by kernel launches and Python, not arithmetic, so the throughput table
shows each lever beside the default recipe. Every figure sits beside the GPU's measured float32 matmul rate,
so figures of different cards and days can be compared.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.machine import matmul_tflops

THROUGHPUT_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("linear", {}),
    ("mlp", {}),
    ("cnn", {}),
    ("cnn", {"amp": True}),
    ("cnn", {"compile": True}),
    ("cnn", {"batch_size": 1024}),
    ("best", {}),
    ("best", {"amp": True}),
    ("best", {"batch_size": 2048}),
    ("best", {"batch_size": 2048, "amp": True}),
)
# The default recipes, and cnn with larger batches at higher rates: a GPU takes a batch of 512 or 1024 in
# about the time of one of 256 (kernel launches, not arithmetic, set the pace), so fewer steps train faster.
ACCURACY_VARIANTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("cnn", {}),
    ("cnn", {"batch_size": 512, "lr": 0.015}),
    ("cnn", {"batch_size": 1024, "lr": 0.02}),
    ("best", {}),
)
PROFILED = (("cnn", {}), ("cnn", {"amp": True}))  # where a step's GPU time goes, float32 against bf16
APP_PRESET = {"model": "cnn", "epochs": 10, "device": "cuda"}  # ~2-3 s of training on an H100
TARGETS = {
    "cnn_seconds_to_0.990": 0.76,  # tuomaso/train_mnist_fast's published time, on a GTX 1660 Ti
    "best_seconds_to_0.995": 20.0,
    "dashboard_overhead_percent": 3.0,
    "first_frame_seconds": 1.0,
}


def gpu_info() -> dict[str, Any]:
    import torch

    properties = torch.cuda.get_device_properties(0)
    info: dict[str, Any] = {
        "name": properties.name,
        "compute_capability": f"{properties.major}.{properties.minor}",
        "memory_gib": round(properties.total_memory / 2**30, 1),
        "multiprocessors": properties.multi_processor_count,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "fp32_matmul_tflops": matmul_tflops("float32", "cuda"),
        "bf16_matmul_tflops": matmul_tflops("bfloat16", "cuda"),
    }
    try:
        import pynvml

        pynvml.nvmlInit()
        info["driver"] = pynvml.nvmlSystemGetDriverVersion()
        pynvml.nvmlShutdown()
    except Exception as error:  # the figures stand without the driver's version
        info["driver"] = f"unknown ({error})"
    return info


def measure_throughput(data_dir: Path, seconds: float, console: Console) -> list[dict[str, Any]]:
    from bench.throughput import engine_images_per_second, reference_images_per_second

    rows = []
    for model, settings in THROUGHPUT_VARIANTS:
        speed = engine_images_per_second(model, data_dir, seconds, device="cuda", **settings)
        rows.append({"model": model, "settings": settings, "images_per_second": round(speed)})
        console.print(f"gpu throughput {model} {settings}: {speed:,.0f} img/s")
    tutorial = reference_images_per_second("cnn", data_dir, seconds, batch_size=64, device="cuda")
    rows.append({"model": "cnn", "settings": {"tutorial loop, batch 64": True}, "images_per_second": round(tutorial)})
    console.print(f"gpu throughput cnn, the tutorial loop at batch 64: {tutorial:,.0f} img/s")
    return rows


def profile_steps(model: str, settings: dict[str, Any], steps: int = 30, device: str = "cuda") -> dict[str, Any]:
    """Wall and GPU-busy time of one training step, and its costliest kernels (torch's profiler).

    A wall time far above the GPU's busy time means the step waits on Python and kernel launches.
    """
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    from engine.config import recipe_config
    from engine.models import build_model

    config = recipe_config(model, device=device, **settings)
    net = build_model(model).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr, fused=True)
    x = torch.randn(config.batch_size, 1, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (config.batch_size,), device=device)
    synchronize = torch.cuda.synchronize if device == "cuda" else lambda: None
    activity = ProfilerActivity.CUDA if device == "cuda" else ProfilerActivity.CPU

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=config.amp):
            loss = F.cross_entropy(net(x).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(10):
        step()
    synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    wall = (time.perf_counter() - started) / steps
    with profile(activities=[activity]) as profiler:
        for _ in range(steps):
            step()
        synchronize()
    rows = sorted(profiler.key_averages(), key=lambda row: row.device_time_total, reverse=True)
    return {
        "wall_ms_per_step": round(1000 * wall, 3),
        "gpu_busy_ms_per_step": round(sum(row.device_time_total for row in rows) / steps / 1000, 3),
        "kernels": [
            {"kernel": row.key[:90], "calls": row.count, "us_per_step": round(row.device_time_total / steps, 1)}
            for row in rows[:6]
        ],
    }


PARTS = ("throughput", "profile", "accuracy", "app")


def measure(
    data_dir: Path,
    seconds: float,
    rounds: int,
    seeds: dict[str, list[int]],
    console: Console,
    parts: tuple[str, ...] = PARTS,
) -> dict:
    """The GPU section (`parts` of it); raises MeasureFailed where no CUDA device is there to measure."""
    import torch

    from bench.run import MeasureFailed, measure_accuracy, measure_app

    if not torch.cuda.is_available():
        raise MeasureFailed("no CUDA device here (torch sees none): the GPU section needs one")
    info = gpu_info()
    console.print(f"gpu: {info}")
    section: dict[str, Any] = {"gpu": info, "throughput": [], "profiles": [], "accuracy": [], "app": {}}
    if "throughput" in parts:
        section["throughput"] = measure_throughput(data_dir, seconds, console)
    if "profile" in parts:
        section["profiles"] = [
            {"model": model, "settings": settings, **profile_steps(model, settings)} for model, settings in PROFILED
        ]
    if "accuracy" in parts:
        section["accuracy"] = measure_accuracy(data_dir, seeds, console, ACCURACY_VARIANTS)
    if "app" in parts:
        section["app"] = measure_app(data_dir, rounds, console, preset=APP_PRESET, drawing=False)
    return section


def target_checks(section: dict[str, Any]) -> list[dict[str, Any]]:
    """Each GPU target as {name, target, measured, passed}; `measured` is the worst of the seeds where several ran."""

    def seconds_to(model: str) -> tuple[float, dict[str, Any]] | None:
        """The fastest recipe's time on its slowest seed, and that recipe; None where no recipe reached it on all."""
        variants: dict[str, list[dict[str, Any]]] = {}
        for run in section["accuracy"]:
            if run["model"] == model:
                variants.setdefault(json.dumps(run["settings"], sort_keys=True), []).append(run)
        reached = [
            (max(run["seconds_to_target"] for run in runs), runs[0]["settings"])
            for runs in variants.values()
            if all(run["seconds_to_target"] is not None for run in runs)
        ]
        return min(reached, key=lambda pair: pair[0]) if reached else None

    frame = section["app"].get("first_frame_seconds")
    cnn, best = seconds_to("cnn"), seconds_to("best")
    measured = {
        "cnn_seconds_to_0.990": cnn[0] if cnn else None,
        "best_seconds_to_0.995": best[0] if best else None,
        "dashboard_overhead_percent": section["app"].get("overhead_percent"),
        "first_frame_seconds": frame.get("median") if isinstance(frame, dict) else None,
    }
    recipes = {"cnn_seconds_to_0.990": cnn[1] if cnn else None, "best_seconds_to_0.995": best[1] if best else None}
    return [
        {
            "name": name,
            "recipe": _settings(recipes[name]) if recipes.get(name) is not None else None,
            "target": f"<= {target}" if name != "cnn_seconds_to_0.990" else f"< {target}",
            "measured": measured[name],
            "passed": isinstance(measured[name], (int, float))
            and (measured[name] < target if name == "cnn_seconds_to_0.990" else measured[name] <= target),
        }
        for name, target in TARGETS.items()
    ]


def tables(section: dict[str, Any]) -> list[Table]:
    gpu = section["gpu"]
    title = f"{gpu['name']}: float32 matmul {gpu['fp32_matmul_tflops']} TFLOP/s, bf16 {gpu['bf16_matmul_tflops']}"
    throughput = Table(title=f"GPU training throughput, images/s ({title})")
    for column in ("model", "settings over the recipe", "images/s"):
        throughput.add_column(column, justify="right" if column == "images/s" else "left")
    for row in section["throughput"]:
        throughput.add_row(row["model"], _settings(row["settings"]), f"{row['images_per_second']:,}")
    profiles: list[Table] = []
    accuracy = Table(title="GPU time to accuracy (training seconds, fresh process per run)")
    for column in ("model", "settings", "seed", "reached after", "epoch", "final test acc", "train", "run"):
        accuracy.add_column(column)
    for run in section["accuracy"]:
        reached = run["seconds_to_target"]
        accuracy.add_row(
            run["model"],
            _settings(run["settings"]),
            str(run["seed"]),
            "not reached" if reached is None else f"{reached:.2f} s",
            str(run["epoch_reached"]),
            f"{run['final_test_accuracy']:.4f}" if run["final_test_accuracy"] is not None else "-",
            f"{run['train_seconds']:.2f} s" if run["train_seconds"] is not None else "-",
            f"{run['wall_seconds']:.1f} s",
        )
    for profiled in section.get("profiles", []):
        console_table = Table(
            title=f"One {profiled['model']} step ({_settings(profiled['settings'])}): {profiled['wall_ms_per_step']} ms"
            f" wall, GPU busy {profiled['gpu_busy_ms_per_step']} ms"
        )
        for column in ("kernel", "calls", "µs per step"):
            console_table.add_column(column)
        for row in profiled["kernels"]:
            console_table.add_row(row["kernel"], str(row["calls"]), str(row["us_per_step"]))
        profiles.append(console_table)
    targets = Table(title="GPU targets")
    for column in ("target", "goal", "measured", "recipe", "result"):
        targets.add_column(column)
    for check in target_checks(section):
        targets.add_row(
            check["name"],
            check["target"],
            str(check["measured"]),
            check["recipe"] or "",
            "pass" if check["passed"] else "FAIL",
        )
    return [throughput, *profiles, accuracy, targets]


def _settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" if value is not True else key for key, value in settings.items()) or "recipe"
