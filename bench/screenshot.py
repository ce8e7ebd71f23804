"""The README's picture: the dashboard after a real run, saved as SVG (renders on code hosts).

`python -m bench.screenshot --data-dir ../shared/datasets --out docs/dashboard.svg` trains the preset
(default: cnn, its recipe) in the headless dashboard at 120x40 and saves the Train tab once the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

from bench.app import dashboard_class


async def screenshot(data_dir: Path, out: Path, preset: dict, size: tuple[int, int]) -> None:
    out, data_dir = out.resolve(), data_dir.resolve()
    with tempfile.TemporaryDirectory(prefix="mnist-tui-screenshot-") as scratch:
        os.chdir(scratch)  # the log shows the run folder as runs/..., as a user's own would
        app = dashboard_class()(data_dir=data_dir, runs_dir=Path("runs"), preset=preset, start=True)
        async with app.run_test(size=size) as pilot:
            while app.live is None or app.live.finished is None:
                await pilot.pause(0.2)
            await pilot.pause(1.5)  # the display tick draws the last figures
            out.parent.mkdir(parents=True, exist_ok=True)
            app.save_screenshot(filename=out.name, path=str(out.parent))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding MNIST/raw/...")
    parser.add_argument("--out", type=Path, default=Path("docs/dashboard.svg"))
    parser.add_argument("--preset", type=json.loads, default={"model": "cnn"}, help="run settings as JSON")
    args = parser.parse_args()
    asyncio.run(screenshot(args.data_dir, args.out, args.preset, (120, 40)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
