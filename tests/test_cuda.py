"""The CUDA paths, proven on a GPU: marked `cuda`, skipped with the reason where torch sees no CUDA device.

`bench/gpu_check.sh` runs these (`pytest -m cuda`) on a GPU machine; elsewhere they skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import trainer as trainer_module
from engine.checkpoints import load_model
from engine.config import RunConfig, recipe_config
from engine.devices import list_devices
from engine.events import BatchProgress, Event, Notice, PauseChanged
from engine.system import SystemSampler
from engine.trainer import Trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here (torch sees none)"),
]
ROOT = Path(__file__).resolve().parents[1]
TINY_CUDA = dict(model="cnn", device="cuda", epochs=2, batch_size=32, lr=0.01)


def train(config: RunConfig, runs_dir: Path, data_dir: Path, emit=lambda event: None) -> tuple[Trainer, dict]:
    trainer = Trainer(config, runs_dir=runs_dir, data_dir=data_dir, emit=emit, download=False)
    finished = trainer.run()
    return trainer, {"status": finished.status, "message": finished.message, **finished.summary}


def test_a_fresh_process_trains_on_cuda(tiny_data: Path, tmp_path: Path) -> None:
    """The CLI in a process that has not touched CUDA yet (the other tests share one that has)."""
    cli = [sys.executable, "-c", "from tui.cli import entry_point; entry_point()", "train"]
    settings = ["--model=cnn", "--device=cuda", "--epochs=1", "--batch-size=32"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    trained = subprocess.run(
        [*cli, f"--data-dir={tiny_data}", f"--runs-dir={tmp_path}", *settings], env=env, capture_output=True, text=True
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    (summary,) = [json.loads(path.read_text()) for path in tmp_path.glob("*/summary.json")]
    assert summary["status"] == "completed" and summary["peak_gpu_memory_mib"] > 0


def test_the_device_picker_lists_each_gpu_with_its_name_and_free_memory() -> None:
    listed = {device.name: device.label for device in list_devices()}
    for index in range(torch.cuda.device_count()):
        label = listed[f"cuda:{index}"]
        assert label.startswith(torch.cuda.get_device_name(index)) and "GiB free" in label
    assert list(listed)[0] == "cuda:0" and "cpu" in listed


def test_cnn_reaches_99_percent_with_its_default_recipe(real_data: Path, tmp_path: Path) -> None:
    _, summary = train(recipe_config("cnn", device="cuda"), tmp_path, real_data)
    assert summary["status"] == "completed", summary["message"]
    assert summary["device"] == "cuda:0"
    assert summary["test_accuracy"] >= 0.990
    assert summary["peak_gpu_memory_mib"] > 0


def test_bf16_autocast_trains_and_is_faster_than_float32(real_data: Path, tmp_path: Path) -> None:
    if torch.cuda.get_device_capability() < (8, 0):
        pytest.skip(f"{torch.cuda.get_device_name()} has no bf16 tensor cores (compute capability below 8.0)")
    from bench.throughput import engine_images_per_second

    _, summary = train(RunConfig(**{**TINY_CUDA, "amp": True, "limit": 6000}), tmp_path, real_data)
    assert summary["status"] == "completed" and summary["test_accuracy"] > 0.9
    # Large batches of the widest model, where arithmetic and memory traffic (not kernel launches) set the pace.
    settings = dict(device="cuda", batch_size=2048, lr=0.01)
    float32 = engine_images_per_second("best", real_data, seconds=3, amp=False, **settings)
    bf16 = engine_images_per_second("best", real_data, seconds=3, amp=True, **settings)
    print(f"best, batch 2048: float32 {float32:,.0f} img/s, bf16 {bf16:,.0f} img/s")
    assert bf16 > float32


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
def test_fused_optimizer_kernels_are_used(tiny_data: Path, tmp_path: Path, optimizer: str) -> None:
    trainer, summary = train(RunConfig(**{**TINY_CUDA, "optimizer": optimizer}), tmp_path, tiny_data)
    assert summary["status"] == "completed", summary["message"]
    assert trainer.state.optimizer.defaults["fused"] is True
    assert all(p.is_cuda for group in trainer.state.optimizer.param_groups for p in group["params"])


def test_out_of_memory_fails_the_run_with_its_message_and_the_next_run_works(real_data: Path, tmp_path: Path) -> None:
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(2 * 2**30 / total, 0)  # a 2 GiB GPU, as far as this process knows
    try:
        # 40,000 images of 32x28x28 float32 activations: 4 GB for one layer's output alone.
        config = RunConfig(model="best", device="cuda", epochs=1, batch_size=40_000, limit=50_000, val_size=5000)
        _, summary = train(config, tmp_path, real_data)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, 0)
    assert summary["status"] == "failed"
    assert (
        summary["message"].startswith("out of memory on cuda")
        and "lower the batch size (now 40000)" in summary["message"]
    )
    _, after = train(RunConfig(**{**TINY_CUDA, "limit": 3000}), tmp_path, real_data)
    assert after["status"] == "completed", after["message"]


def test_pause_and_stop_take_effect_before_the_next_batch(tiny_data: Path, tmp_path: Path) -> None:
    """Requests made during a batch (here from the event the trainer emits) stop the very next one."""
    config = RunConfig(**{**TINY_CUDA, "batch_size": 8, "epochs": 3})
    seen: list[Event] = []
    steps_at: dict[str, int] = {}

    def optimizer_steps() -> int:
        return int(next(iter(trainer.state.optimizer.state.values()))["step"].item())

    def emit(event: Event) -> None:
        seen.append(event)
        if isinstance(event, BatchProgress) and event.global_step >= 20 and "pause" not in steps_at:
            steps_at["pause"] = event.global_step
            trainer.pause()
        elif isinstance(event, PauseChanged) and event.paused:
            steps_at["while paused"] = optimizer_steps()
            trainer.resume()
        elif isinstance(event, BatchProgress) and event.global_step >= 90 and "stop" not in steps_at:
            steps_at["stop"] = event.global_step
            trainer.stop()

    trainer = Trainer(config, runs_dir=tmp_path, data_dir=tiny_data, emit=emit, download=False)
    finished = trainer.run()
    assert finished.status == "stopped"
    assert steps_at["while paused"] == steps_at["pause"]  # no batch ran between the request and the pause
    assert optimizer_steps() == steps_at["stop"]  # nor between the stop and the end
    assert [e.paused for e in seen if isinstance(e, PauseChanged)] == [True, False]


def count_host_syncs(config: RunConfig, data_dir: Path, runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """Synchronizing CUDA calls over a whole run, with progress reported only at each epoch's end."""
    monkeypatch.setattr(trainer_module, "PROGRESS_INTERVAL_SECONDS", float("inf"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            _, summary = train(config, runs_dir, data_dir)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert summary["status"] == "completed", summary["message"]
    return sum("synchronizing" in str(warning.message) for warning in caught)


def test_the_training_loop_waits_for_the_gpu_once_per_epoch_not_per_step(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    many_steps = count_host_syncs(RunConfig(**{**TINY_CUDA, "batch_size": 5}), tiny_data, tmp_path / "a", monkeypatch)
    few_steps = count_host_syncs(RunConfig(**{**TINY_CUDA, "batch_size": 50}), tiny_data, tmp_path / "b", monkeypatch)
    # 2 epochs of 100 steps against 2 of 10: a sync per step would add 180.
    print(f"host syncs: {many_steps} with 200 steps, {few_steps} with 20")
    assert many_steps - few_steps < 10


def test_torch_compile_trains_on_cuda(tiny_data: Path, tmp_path: Path) -> None:
    notices: list[Notice] = []
    _, summary = train(
        RunConfig(**{**TINY_CUDA, "compile": True}),
        tmp_path,
        tiny_data,
        emit=lambda event: notices.append(event) if isinstance(event, Notice) else None,
    )
    assert summary["status"] == "completed", summary["message"]
    assert not [n.message for n in notices if "compile" in n.message]


@pytest.fixture(scope="module")
def gpu_run(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs_dir = tmp_path_factory.mktemp("gpu-runs")
    _, summary = train(RunConfig(**TINY_CUDA), runs_dir, tiny_data)
    assert summary["status"] == "completed", summary["message"]
    return runs_dir / summary["run"]


def test_a_checkpoint_written_on_the_gpu_loads_on_a_cpu_only_machine(gpu_run: Path, tmp_path: Path) -> None:
    from PIL import Image

    image = tmp_path / "seven.png"
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[4:24, 12:16] = 255
    Image.fromarray(pixels).save(image)
    cpu_only = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    probe = (
        "import json, sys, torch; from engine.checkpoints import load_model;"
        "model, config, state = load_model(sys.argv[1]);"
        "print(json.dumps({'cuda': torch.cuda.is_available(), 'device': str(next(model.parameters()).device)}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe, str(gpu_run)], env=cpu_only, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == {"cuda": False, "device": "cpu"}

    cli = [sys.executable, "-c", "from tui.cli import entry_point; entry_point()", "predict"]
    predicted = subprocess.run(
        [*cli, "--runs-dir", str(gpu_run.parent), gpu_run.name, str(image)],
        env=cpu_only,
        capture_output=True,
        text=True,
    )
    assert predicted.returncode == 0, predicted.stderr
    assert "seven.png" in predicted.stdout

    model, _, _ = load_model(gpu_run)  # CPU by default
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_the_draw_tab_classifies_with_a_gpu_trained_run(gpu_run: Path) -> None:
    from test_inspect_tui import TabApp, settle
    from textual.widgets import Static

    from tui.tabs.draw import DrawTab
    from tui.widgets.canvas import DrawingCanvas

    async def scenario() -> None:
        tab = DrawTab(runs_dir=gpu_run.parent)
        async with TabApp(tab).run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert tab.predictor is not None and tab.predictor.run_dir == gpu_run
            tab.query_one(DrawingCanvas).focus()
            await pilot.press("space", *["shift+down"] * 6)
            await settle(pilot)
            assert "prediction:" in str(tab.query_one("#draw-prediction", Static).content)
            probabilities = tab.predictor.predict(tab.query_one(DrawingCanvas).pixels)
            assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)

    asyncio.run(scenario())


def test_the_system_sampler_reads_the_gpu_through_nvml() -> None:
    pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed")
    sampler = SystemSampler(gpus=[0])
    try:
        sample = sampler.sample()
    finally:
        sampler.close()
    assert not [note for note in sample.notes if note.startswith("GPU")]
    (gpu,) = sample.gpus
    assert gpu.name and gpu.memory_total_mib > 1000 and gpu.memory_used_mib is not None
    assert gpu.utilization_percent is not None and 0 <= gpu.utilization_percent <= 100
