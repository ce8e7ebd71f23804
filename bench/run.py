"""`python -m bench --data-dir DIR`: measure, print a table, write the figures as JSON.

Sections (`--only` picks some): throughput (engine vs the tutorial loop), accuracy (time to 0.990 for
cnn and 0.995 for best, in fresh processes), app (dashboard overhead, first frame, peak memory), gpu (all of
these on CUDA device 0, beside its matmul rates: bench/gpu.py).
Each figure is recorded with the load average at the time (other work on the machine slows every number),
and each section with the CPU's float32 matmul rate measured as it starts (bench/machine.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.machine import cpu_fp32_gflops

CPU_SECTIONS = ("throughput", "accuracy", "app")
SECTIONS = (*CPU_SECTIONS, "gpu")
THROUGHPUT_MODELS = ("linear", "mlp", "cnn")
TUTORIAL_BATCH_SIZE = 64  # pytorch/examples mnist
ACCURACY_TARGETS = {"cnn": 0.990, "best": 0.995}
APP_PRESET = {"model": "cnn"}  # its default recipe: two epochs over the 50,000 training images, ~13 s here
# Drawing on and off in 2 s blocks, 24 of them (48 s); the probe then stops the run. Its epochs are more than
# any machine trains in that time, so the measure lasts as long on a GPU as on a slow CPU.
ALTERNATING_PRESET = {"model": "cnn", "epochs": 100}
ALTERNATION_BLOCK_SECONDS = 2.0
ALTERNATION_BLOCKS = 24
APP_FIGURES = (
    "app_images_per_second",
    "app_peak_memory_mib",
    "overhead_percent",
    "overhead_percent_per_round",
    "drawing_overhead_percent",
    "ui_thread_percent_of_one_core",
    "ui_thread_percent_of_run_cpu",
    "first_frame_seconds",
)
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "latest.json"


class MeasureFailed(RuntimeError):
    """A measure that came out empty: its section fails with this reason, and the others still run."""


@dataclass
class ThroughputRow:
    model: str
    batch_size: int
    engine: float  # images/s, best of the rounds
    reference: float  # the tutorial loop at the same batch size
    ratio: float
    tutorial: float  # the tutorial loop as written, at batch 64
    tutorial_ratio: float
    load: float  # 1-minute load average when measured


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def measure_throughput(data_dir: Path, seconds: float, rounds: int, console: Console) -> list[ThroughputRow]:
    """Engine and reference alternate, round by round, so a burst of load hits both; the best round counts."""
    from bench.throughput import engine_images_per_second, reference_images_per_second
    from engine.config import recipe_config

    rows = []
    for model in THROUGHPUT_MODELS:
        engine, reference, tutorial, loads = [], [], [], []
        for _ in range(rounds):
            loads.append(load_average())
            reference.append(reference_images_per_second(model, data_dir, seconds))
            engine.append(engine_images_per_second(model, data_dir, seconds))
            tutorial.append(reference_images_per_second(model, data_dir, seconds, batch_size=TUTORIAL_BATCH_SIZE))
        row = ThroughputRow(
            model,
            recipe_config(model).batch_size,
            round(max(engine)),
            round(max(reference)),
            round(max(engine) / max(reference), 2),
            round(max(tutorial)),
            round(max(engine) / max(tutorial), 2),
            max(loads),
        )
        console.print(f"throughput {model}: {row.engine:,} vs {row.reference:,} img/s (x{row.ratio}), load {row.load}")
        rows.append(row)
    return rows


def measure_accuracy(
    data_dir: Path,
    seeds: dict[str, list[int]],
    console: Console,
    variants: tuple[tuple[str, dict[str, Any]], ...] = tuple((model, {}) for model in ACCURACY_TARGETS),
) -> list[dict[str, Any]]:
    """Each (model, settings over its recipe) variant, once per seed, each run in a fresh process."""
    from bench.app import wait_with_peak_memory

    results = []
    for model, settings in variants:
        target = ACCURACY_TARGETS[model]
        for seed in seeds[model]:
            load = load_average()
            command = [sys.executable, "-m", "bench.accuracy", f"--model={model}", f"--target={target}"]
            command += [f"--data-dir={data_dir}", f"--seed={seed}", f"--settings={json.dumps(settings)}"]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            code, peak = wait_with_peak_memory(process, timeout=3600)
            if code != 0:
                raise RuntimeError(f"{' '.join(command)} exited {code}: {process.stderr.read().strip()}")
            result = {**json.loads(process.stdout.read()), "peak_memory_mib": round(peak), "load": load}
            if result["status"] != "completed":
                console.print(f"accuracy {model} {settings or ''} seed {seed}: {result['status']}: {result['message']}")
            else:
                console.print(
                    f"accuracy {model} {settings or ''} seed {seed}:"
                    f" {result['final_test_accuracy']} after {result['train_seconds']:.1f} s"
                    f" of training; {target} reached at {result['seconds_to_target']} s, load {load}"
                )
            results.append(result)
    return results


def measure_drawing_cost(data_dir: Path, scratch: Path, rounds: int, console: Console) -> dict[str, Any]:
    """Drawing switched off and on in blocks within one dashboard run per round (see measure_app)."""
    from bench.app import Alternation, app_run, drawing_ratios

    alternation = Alternation(ALTERNATION_BLOCK_SECONDS, ALTERNATION_BLOCKS)
    ratios, blocks = [], []
    for index in range(rounds):
        runs_dir = scratch / f"alternating-{index}"
        _, _, measured = app_run(data_dir, runs_dir, ALTERNATING_PRESET, alternation=alternation)
        blocks.extend(measured["blocks"])
        ratios.extend(drawing_ratios(measured["blocks"]))  # its CPU time is not steady drawing: not counted
        console.print(f"drawing on/off round {index + 1}/{rounds}: {len(ratios)} drawing blocks so far")
    if not ratios:
        timed = sum(speed is not None for _, speed in blocks)
        raise MeasureFailed(
            f"the drawing on/off measure compared no block: {len(blocks)} blocks in {rounds} rounds, {timed} with a"
            " training speed (a block needs two progress readings within one epoch, and a drawing block a"
            " non-drawing neighbour with a speed)"
        )
    quartiles = statistics.quantiles(ratios, n=4)[::-1] if len(ratios) > 1 else None
    return {
        "alternating_preset": ALTERNATING_PRESET,
        "drawing_blocks": len(ratios),
        "drawing_overhead_percent": round(100 * (1 - statistics.median(ratios)), 1) if ratios else None,
        "drawing_overhead_percent_quartiles": [round(100 * (1 - q), 1) for q in quartiles] if quartiles else None,
    }


def measure_app(
    data_dir: Path, rounds: int, console: Console, preset: dict[str, Any] = APP_PRESET, drawing: bool = True
) -> dict[str, Any]:
    """The dashboard's cost on training three ways.

    - Sequential pairs: CLI and dashboard runs one after the other as a user runs them, the order swapping
      each round; the median of the pairs' overheads. On this VM the speed of a run drifts by 10-20%, so
      this figure is as noisy as that.
    - Drawing on and off: in one longer dashboard run per round, drawing switches off and on every few
      seconds; each drawing block's speed against its neighbours'. Neighbouring blocks share the machine's
      state, so this resolves a few percent. Conservative: drawing restarts at each block with the loss
      chart's interval already elapsed, so an "on" block redraws it more often than steady drawing would.
    - The UI thread's own CPU time while the run trains: the trainer can only lose time while it runs.
    """
    from bench.app import (
        NOT_INSTALLED,
        app_run,
        cli_run,
        dashboard_installed,
        mnist_tui_command,
        seconds_to_first_frame,
    )

    result: dict[str, Any] = {"preset": preset, "rounds": rounds, "load": load_average()}
    cli, app, cli_memory, app_memory, cpu = [], [], [], [], []
    installed = dashboard_installed()
    with tempfile.TemporaryDirectory(prefix="mnist-tui-bench-") as scratch:
        for index in range(rounds):
            sides = ["cli"] if not installed else ["cli", "app"] if index % 2 == 0 else ["app", "cli"]
            for side in sides:
                runs_dir = Path(scratch) / f"{side}-{index}"
                if side == "cli":
                    speed, peak = cli_run(data_dir, runs_dir, preset)
                    cli.append(speed)
                    cli_memory.append(peak)
                else:
                    speed, peak, seconds = app_run(data_dir, runs_dir, preset)
                    app.append(speed)
                    app_memory.append(peak)
                    cpu.append(seconds)
            dashboard = f", dashboard {app[-1]:,.0f} img/s" if installed else ""
            console.print(f"app round {index + 1}/{rounds}: cli {cli[-1]:,.0f} img/s{dashboard}")
        result["cli_images_per_second"] = round(statistics.median(cli))
        result["cli_peak_memory_mib"] = round(max(cli_memory))
        if installed:
            overheads = [100 * (1 - a / c) for a, c in zip(app, cli, strict=True)]
            result["app_images_per_second"] = round(statistics.median(app))
            result["app_peak_memory_mib"] = round(max(app_memory))
            result["overhead_percent"] = round(statistics.median(overheads), 1)
            result["overhead_percent_per_round"] = [round(overhead, 1) for overhead in overheads]
            if drawing:
                result.update(measure_drawing_cost(data_dir, Path(scratch), rounds, console))
            ui = sum(seconds["ui_thread_cpu_seconds"] for seconds in cpu)
            result["ui_thread_percent_of_one_core"] = round(100 * ui / sum(s["window_seconds"] for s in cpu), 2)
            result["ui_thread_percent_of_run_cpu"] = round(100 * ui / sum(s["process_cpu_seconds"] for s in cpu), 2)
            command = [*mnist_tui_command(), f"--data-dir={data_dir}", f"--runs-dir={Path(scratch) / 'startup'}"]
            try:
                frames = [seconds_to_first_frame(command) for _ in range(3)]
                frame = {"best": round(min(frames), 3), "median": round(statistics.median(frames), 3)}
            except RuntimeError as error:  # the dashboard is there but drew nothing: report why, keep the rest
                frame = f"failed: {error}"
            result["first_frame_seconds"] = frame
        else:
            for name in APP_FIGURES:
                result[name] = NOT_INSTALLED
    result["load_after"] = load_average()
    console.print(f"app: {result}")
    return result


def measure_gpu(*args: Any) -> dict[str, Any]:
    from bench import gpu

    return gpu.measure(*args)


def machine() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "not reached"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def tables(results: dict[str, Any]) -> list[Table]:
    out = []
    rates = results.get("cpu_fp32_matmul_gflops", {})

    def rate(section: str) -> str:
        return f"; CPU float32 matmul {rates[section]} GFLOP/s" if section in rates else ""

    if "throughput" in results:
        table = Table(title=f"Training throughput, images/s (steady state, best round{rate('throughput')})")
        columns = (
            "model",
            "batch",
            "engine",
            "tutorial loop",
            "speed-up",
            "tutorial loop, batch 64",
            "speed-up",
            "load",
        )
        for column in columns:
            table.add_column(column, justify="left" if column == "model" else "right")
        for row in results["throughput"]:
            table.add_row(
                row["model"],
                str(row["batch_size"]),
                f"{row['engine']:,}",
                f"{row['reference']:,}",
                f"x{row['ratio']:.2f}",
                f"{row['tutorial']:,}",
                f"x{row['tutorial_ratio']:.2f}",
                f"{row['load']:.2f}",
            )
        out.append(table)
    if "accuracy" in results:
        table = Table(title=f"Time to accuracy (default recipe, test split scored after each epoch{rate('accuracy')})")
        for column in ("model", "seed", "target", "reached after", "epoch", "final test acc", "train", "run", "peak"):
            table.add_column(column, justify="left" if column == "model" else "right")
        for run in results["accuracy"]:
            reached = run["seconds_to_target"]
            table.add_row(
                run["model"],
                str(run["seed"]),
                f"{run['target']:.3f}",
                "not reached" if reached is None else f"{reached:.1f} s",
                _fmt(run["epoch_reached"]),
                _fmt(run["final_test_accuracy"]),
                f"{run['train_seconds']:.1f} s" if run["train_seconds"] is not None else run["status"],
                f"{run['wall_seconds']:.1f} s",
                f"{run['peak_memory_mib']} MiB",
            )
        out.append(table)
    if "app" in results:
        app = results["app"]
        table = Table(
            title=f"The app: a {app['preset']} run, headless CLI vs dashboard (headless run_test),"
            f" {app['rounds']} rounds, medians{rate('app')}"
        )
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_row("CLI images/s", f"{app['cli_images_per_second']:,}")
        speed = app["app_images_per_second"]
        table.add_row("dashboard images/s", f"{speed:,}" if isinstance(speed, int) else speed)
        overhead = app["overhead_percent"]
        if isinstance(overhead, float):
            rounds = ", ".join(f"{value}%" for value in app["overhead_percent_per_round"])
            table.add_row("dashboard overhead, sequential pairs", f"{overhead}% (rounds: {rounds})")
            if "drawing_overhead_percent" in app:
                drawing = app["drawing_overhead_percent"]
                quartiles = app["drawing_overhead_percent_quartiles"]
                table.add_row(
                    "drawing cost, on/off blocks in one run",
                    f"{drawing}% (quartiles {quartiles[0]}% to {quartiles[2]}%, {app['drawing_blocks']} blocks)"
                    if quartiles
                    else str(drawing),
                )
            table.add_row("dashboard UI thread while training", f"{app['ui_thread_percent_of_one_core']}% of one core")
            table.add_row("  as a share of the run's CPU time", f"{app['ui_thread_percent_of_run_cpu']}%")
        else:
            table.add_row("dashboard overhead", str(overhead))
        frame = app["first_frame_seconds"]
        table.add_row(
            "launch to first frame",
            f"{frame['best']} s (median {frame['median']})" if isinstance(frame, dict) else frame,
        )
        table.add_row("peak memory, CLI run", f"{app['cli_peak_memory_mib']} MiB")
        table.add_row("peak memory, dashboard run", str(app["app_peak_memory_mib"]))
        out.append(table)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding MNIST/raw/...")
    parser.add_argument(
        "--only",
        default=",".join(CPU_SECTIONS),
        help=f"comma-separated sections: {', '.join(SECTIONS)} (default: all but gpu)",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per throughput figure")
    parser.add_argument("--rounds", type=int, default=2, help="repeats of each throughput and app figure")
    parser.add_argument("--cnn-seeds", default="0,1,2", help="seeds for cnn's time to accuracy")
    parser.add_argument("--best-seeds", default="0", help="seeds for best's time to accuracy (empty: skip)")
    parser.add_argument("--gpu-parts", default="throughput,profile,accuracy,app", help="parts of the gpu section")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    return parser


def _seeds(text: str) -> list[int]:
    return [int(seed) for seed in text.split(",") if seed.strip()]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        build_parser().error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    console = Console()
    started = time.perf_counter()
    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "load_before": load_average(),
    }
    seeds = {"cnn": _seeds(args.cnn_seeds), "best": _seeds(args.best_seeds)}
    gpu_parts = tuple(part.strip() for part in args.gpu_parts.split(",") if part.strip())
    measures = {
        "throughput": lambda: [
            asdict(row) for row in measure_throughput(args.data_dir, args.seconds, args.rounds, console)
        ],
        "accuracy": lambda: measure_accuracy(args.data_dir, seeds, console),
        "app": lambda: measure_app(args.data_dir, args.rounds, console),
        "gpu": lambda: measure_gpu(args.data_dir, args.seconds, args.rounds, seeds, console, gpu_parts),
    }
    failed: dict[str, str] = {}
    rates: dict[str, float] = results.setdefault("cpu_fp32_matmul_gflops", {})
    for section in SECTIONS:
        if section not in sections:
            continue
        rates[section] = cpu_fp32_gflops()
        console.print(f"{section}: CPU float32 matmul {rates[section]} GFLOP/s, load {load_average()}")
        try:
            results[section] = measures[section]()
        except MeasureFailed as error:
            failed[section] = str(error)
            console.print(f"[bold red]section {section} failed:[/] {error}")
    if failed:
        results["failed"] = failed
    results["load_after"] = load_average()
    rates["after"] = cpu_fp32_gflops()
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    for table in tables(results):
        console.print(table)
    if "gpu" in results:
        from bench import gpu

        app = {"app": results["gpu"]["app"]} if results["gpu"]["app"] else {}
        for table in [*gpu.tables(results["gpu"]), *tables(app)]:
            console.print(table)
    console.print(f"load average {results['load_before']} before, {results['load_after']} after (2 cores)")
    console.print(f"CPU float32 matmul, GFLOP/s: {', '.join(f'{name} {rate}' for name, rate in rates.items())}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.out}")
    for section, reason in failed.items():
        console.print(f"[bold red]section {section} failed:[/] {reason}")
    return 1 if failed else 0
