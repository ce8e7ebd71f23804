"""The dashboard follows runs trained by other processes: their rows in the Runs tab, the Train tab moving as for a
local run, `x` stopping them through their run lock, the system pane, and what watching costs when nothing moves."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_run import fake_catalog, fake_trainer_class
from test_app import MessageWaiter
from test_system import FakeNvml

from bench.watch_idle import watch_cpu_seconds, write_runs
from engine.config import RunConfig
from engine.events import RunStarted
from engine.progress import PROGRESS_FILE, ProgressRecord, RunProgress, encode
from engine.runs import LAST_CHECKPOINT, LOCK_FILE, process_start_time, read_summary, write_json
from engine.system import SystemSampler
from tui.app import MnistTuiApp
from tui.engine_api import SamplerFactory
from tui.tabs.runs import NOW, RunsPanel
from tui.tabs.train import TrainTab
from tui.widgets.system import SystemPane

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[1]
# batch 2 on 500 images: 250 steps an epoch, a second or two an epoch on this CPU
LONG_RUN = ["--model", "linear", "--schedule", "none", "--batch-size", "2", "--device", "cpu", "--no-download"]


def make_app(runs_dir: Path, system_sampler: SamplerFactory = SystemSampler) -> MnistTuiApp:
    return MnistTuiApp(
        data_dir=Path("data"),
        runs_dir=runs_dir,
        catalog_loader=fake_catalog,
        trainer_loader=fake_trainer_class,
        system_sampler=system_sampler,
    )


def train_in_another_process(tiny_data: Path, runs_dir: Path, epochs: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui", "train", *LONG_RUN, "--epochs", str(epochs), "--data-dir", str(tiny_data),
         "--runs-dir", str(runs_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip


def drawn_end(message: object) -> bool:
    return isinstance(message, TrainTab.Drawn) and message.finished is not None


def drawn_epochs(app: MnistTuiApp, epochs: int):
    """A condition on messages: the Train tab has drawn at least `epochs` finished epochs."""
    return lambda message: isinstance(message, TrainTab.Drawn) and len(app.live.epochs) >= epochs


def pane_text(app: MnistTuiApp) -> str:
    return str(app.query_one(SystemPane).render())


def test_a_run_trained_by_another_process_is_followed_to_its_end(tiny_data: Path, runs_dir: Path) -> None:
    runs_dir.mkdir()
    trainer = train_in_another_process(tiny_data, runs_dir, epochs=40)
    steps: list[int] = []
    now_cells: list[str] = []
    waiter = MessageWaiter()

    def watch(message: object) -> None:
        waiter(message)
        if isinstance(message, TrainTab.Drawn) and app.live is not None and app.live.progress is not None:
            steps.append(app.live.progress.global_step)
            panel = app.query_one(RunsPanel)
            if panel.progress:
                now_cells.append(str(panel.query_one("#runs-table").get_cell(next(iter(panel.progress)), NOW)))

    app = make_app(runs_dir)

    async def scenario() -> None:
        async with app.run_test(size=(120, 40), message_hook=watch) as pilot:
            ended = await waiter.wait_for(drawn_end, timeout=180)
            assert ended.finished.status == "completed"
            await pilot.press("2")
            await pilot.pause()
            follows = app.query_one(TrainTab).followed
            assert follows is not None and follows.pid == trainer.pid
            assert app.live.progress.step == 250 and len(app.live.epochs) == 40 and app.live.evaluation.split == "test"
            assert app.status == "finished"

    asyncio.run(scenario())
    assert trainer.wait(30) == 0, trainer.stderr.read()
    assert len(set(steps)) >= 3 and steps == sorted(steps), steps  # it moved while training, never backwards
    assert any("img/s" in cell for cell in now_cells), now_cells  # the Runs tab's live row


def test_x_stops_a_followed_run_through_its_lock_and_keeps_its_epochs(tiny_data: Path, runs_dir: Path) -> None:
    runs_dir.mkdir()
    trainer = train_in_another_process(tiny_data, runs_dir, epochs=1000)
    waiter = MessageWaiter()
    app = make_app(runs_dir)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
            await waiter.wait_for(drawn_epochs(app, 1), timeout=180)
            await pilot.press("2")
            assert "trainer (process" in pane_text(app)
            await pilot.press("x")
            await pilot.pause()
            assert trainer.poll() is None  # nothing is signalled before the answer
            await pilot.press("y")
            ended = await waiter.wait_for(drawn_end, timeout=60)
            assert ended.finished.status == "stopped"
            assert not app.query_one(TrainTab).following_live

    asyncio.run(scenario())
    assert trainer.wait(30) == 143  # the stop signal, handled: the batch finished, the files written
    run_dir = next(runs_dir.iterdir())
    summary = read_summary(run_dir)
    assert summary["status"] == "stopped" and 1 <= summary["epochs_completed"] < 1000
    assert (run_dir / LAST_CHECKPOINT).is_file() and not (run_dir / LOCK_FILE).exists()


def write_live_run(runs_dir: Path, device: str, pid: int | None = None) -> Path:
    """A run folder that reads as trained right now on `device` by process `pid` (this one by default)."""
    run_dir = runs_dir / "20261126-010203-mnist-cnn"
    run_dir.mkdir(parents=True)
    config = RunConfig(model="cnn", device=device).to_dict()
    write_json(run_dir / "config.json", config)
    pid = pid or os.getpid()
    (run_dir / LOCK_FILE).write_text(f"{pid} {process_start_time(pid)}\n")
    started = RunStarted(str(run_dir), config, device, "NVIDIA H100", 7850, 50_000, 10_000, 10_000, ("0",))
    (run_dir / PROGRESS_FILE).write_bytes(encode(ProgressRecord(0.0, started, pid, process_start_time(pid))))
    return run_dir


def test_a_followed_run_whose_trainer_is_killed_ends_as_interrupted(runs_dir: Path) -> None:
    trainer = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    write_live_run(runs_dir, "cpu", trainer.pid)
    waiter = MessageWaiter()
    app = make_app(runs_dir)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
            await waiter.wait_for(lambda m: isinstance(m, TrainTab.Drawn) and app.live.started is not None, timeout=30)
            assert app.query_one(TrainTab).following_live
            trainer.kill()
            trainer.wait()
            ended = await waiter.wait_for(drawn_end, timeout=30)
            await pilot.pause()
            assert ended.finished.status == "interrupted" and "ended without finishing" in ended.finished.message
            assert app.status == "interrupted" and not app.query_one(TrainTab).following_live

    asyncio.run(scenario())


def test_the_system_pane_shows_each_gpu_of_a_followed_run_through_nvml(runs_dir: Path) -> None:
    write_live_run(runs_dir, "cuda:1")
    samplers: list[SystemSampler] = []

    def sampler_with_fake_nvml(pid: int, gpus: list[int]) -> SystemSampler:
        samplers.append(SystemSampler(pid, gpus, nvml=FakeNvml()))
        return samplers[-1]

    waiter = MessageWaiter()
    app = make_app(runs_dir, sampler_with_fake_nvml)

    async def scenario() -> None:
        async with app.run_test(size=(120, 40), message_hook=waiter) as pilot:
            await waiter.wait_for(lambda m: isinstance(m, TrainTab.SystemSampled) and m.sample.gpus, timeout=30)
            await pilot.pause()
            text = pane_text(app)
            assert f"trainer (process {os.getpid()}): CPU" in text and "machine: CPU" in text
            assert "GPU 1 NVIDIA H100 80GB HBM3: 86% · 3.0/80.0 GiB · 61 °C · ? W" in text  # no power reading: "?"

    asyncio.run(scenario())
    assert (samplers[-1].pid, samplers[-1].gpus) == (os.getpid(), [1])


def test_the_system_pane_without_a_gpu_or_nvml_says_so(runs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml now raises ImportError
    waiter = MessageWaiter()
    app = make_app(runs_dir)

    async def scenario() -> None:
        async with app.run_test(size=(80, 24), message_hook=waiter) as pilot:
            await waiter.wait_for(lambda m: isinstance(m, TrainTab.SystemSampled), timeout=30)
            await pilot.pause()
            text = pane_text(app)
            assert "this dashboard: CPU" in text and "RSS" in text and "machine: CPU" in text and "GPU" not in text
            write_live_run(runs_dir, "cuda:0")  # now a run on a GPU, with no NVML to ask
            await waiter.wait_for(lambda m: isinstance(m, TrainTab.SystemSampled) and m.sample.notes, timeout=30)
            await pilot.pause()
            assert "nvidia-ml-py is not installed" in pane_text(app)

    asyncio.run(scenario())


def test_a_live_row_shows_all_its_figures_as_they_grow(runs_dir: Path) -> None:
    name = write_live_run(runs_dir, "cpu").name
    app = make_app(runs_dir)

    async def scenario() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("4")
            await app.workers.wait_for_complete()
            await pilot.pause()
            panel = app.query_one(RunsPanel)
            panel.show_progress({name: RunProgress("running", 1, 10, 5, 196, 900.0)})
            panel.show_progress({name: RunProgress("paused", 10, 10, 150, 196, 12345.0, 0.9912)})
            await pilot.pause()
            table = panel.query_one("#runs-table")
            header, row = (strip.text for strip in table.render_lines(table.region.reset_offset)[:2])
            assert "now" in header and "paused" in row and "10/10 150/196 12,345 img/s val 0.9912" in row

    asyncio.run(scenario())


def test_the_dashboard_watching_idle_runs_costs_little_cpu(tmp_path: Path) -> None:
    names = write_runs(tmp_path, 50)
    cpu = watch_cpu_seconds(tmp_path, names[-1], seconds=3, dashboard=True)
    assert cpu / 3 < 0.1, f"{cpu:.3f} CPU s in 3 s"
