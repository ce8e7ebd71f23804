"""The dashboard under a flood of trainer events: what it handles, how often the charts redraw, how long it takes.

    python bench/dashboard_events.py [--events 50000] [--epochs 10]

A stand-in trainer posts BatchProgress events as fast as it can (far faster than any real batch rate),
with the epoch events between them. Printed: events emitted, messages the app handled (progress events
bypass the message queue: the display tick folds them in), chart redraws per second, and the time until the
app caught up.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

from engine.config import RunConfig
from engine.events import BatchProgress, EpochEnded, RunFinished, RunStarted
from tui.app import MnistTuiApp
from tui.messages import EngineEvent
from tui.widgets.charts import LineChart


class FloodTrainer:
    def __init__(self, config: RunConfig, *, runs_dir: Path, data_dir: Path, emit) -> None:
        self.config, self.emit, self.paused = config, emit, False
        self.emitted = 0

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def stop(self) -> None: ...

    def run(self) -> None:
        epochs, steps = self.config.epochs, FLOOD["events"] // self.config.epochs
        self.emit(RunStarted("bench-run", self.config.to_dict(), "cpu", "CPU", 7850, 50_000, 10_000, 10_000, ("0",)))
        for epoch in range(1, epochs + 1):
            for step in range(1, steps + 1):
                global_step = (epoch - 1) * steps + step
                self.emit(BatchProgress(epoch, epochs, step, steps, global_step, 1 / global_step, 1e5, 1.0, 1.0))
                self.emitted += 1
            self.emit(EpochEnded(epoch, epochs, 0.1, 0.9, 0.1, 0.9, 0.9, 0.001, 1.0))
        self.emit(RunFinished("completed", "done", "bench-run", {}))


FLOOD = {"events": 50_000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    FLOOD["events"] = args.events

    renders = []
    original_render = LineChart.render

    def counting_render(chart: LineChart):
        renders.append(time.perf_counter())
        return original_render(chart)

    LineChart.render = counting_render
    handled = []

    async def scenario() -> tuple[float, float]:
        app = MnistTuiApp(
            data_dir=Path("data"),
            runs_dir=Path("no-runs"),
            preset={"model": "linear", "epochs": args.epochs},
            catalog_loader=lambda: ([], [SimpleNamespace(name="linear", description="", parameters=7850, recipe={})]),
            trainer_loader=lambda: FloodTrainer,
        )

        def hook(message) -> None:
            if isinstance(message, EngineEvent):
                handled.append(message)

        async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
            await app.workers.wait_for_complete()
            renders.clear()
            start = time.perf_counter()
            await pilot.press("s")
            await app.workers.wait_for_complete()
            emitted_at = time.perf_counter()
            while app.live is None or app.live.finished is None:
                await pilot.pause()
            return emitted_at - start, time.perf_counter() - start

    emit_seconds, total_seconds = asyncio.run(scenario())
    print(f"progress events emitted:    {args.events:,} in {emit_seconds:.2f} s ({args.events / emit_seconds:,.0f}/s)")
    print(f"engine messages handled:    {len(handled):,} (progress events are folded in by the display tick)")
    print(f"app caught up after:        {total_seconds:.2f} s")
    print(
        f"chart renders:              {len(renders)} for 2 charts ({len(renders) / total_seconds / 2:.1f}/s per chart)"
    )


if __name__ == "__main__":
    main()
