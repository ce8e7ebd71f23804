"""`mnist-tui serve`: the token guard, its messages, and the dashboard driven in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tui.serve import announce, is_loopback

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
# As this machine's probe starts it: its closed network refuses Chromium's background connections otherwise.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def serve_command(*options: str) -> list[str]:
    return [sys.executable, "-m", "tui", "serve", *options]


@contextmanager
def server(tmp_path: Path, data_dir: Path, *options: str) -> Iterator[tuple[str, Path]]:
    """A running `mnist-tui serve --port 0`: (the URL it printed, its runs folder)."""
    runs_dir = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    command = serve_command("--port=0", f"--data-dir={data_dir}", f"--runs-dir={runs_dir}", *options)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        first_line = process.stdout.readline()
        found = re.search(r"http://\S+", first_line)
        if not found:
            raise AssertionError(f"no URL printed: {first_line}{process.stdout.read() if process.poll() else ''}")
        yield found.group(0), runs_dir
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_every_request_needs_the_token(tmp_path: Path, tiny_data: Path) -> None:
    with server(tmp_path, tiny_data) as (url, _):
        base = url.split("?")[0]
        token = url.split("token=")[1]
        assert status_of(url) == 200
        for refused in (base, f"{base}?token=wrong-token", f"{base}ws", f"{base}static/js/textual.js"):
            assert status_of(refused) == 403, refused
        with urllib.request.urlopen(url, timeout=10) as response:
            assert f"mnist_tui_token={token}" in response.headers["Set-Cookie"]
            assert "HttpOnly" in response.headers["Set-Cookie"]
        listing = urllib.request.Request(f"{base}static/", headers={"Cookie": f"mnist_tui_token={token}"})
        with pytest.raises(urllib.error.HTTPError) as refused_listing:
            urllib.request.urlopen(listing, timeout=10)
        assert refused_listing.value.code in (403, 404)  # no folder listings, token or not


def test_bad_addresses_ports_and_tokens_say_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use = subprocess.run(serve_command(f"--port={port}"), capture_output=True, text=True, timeout=60)
    assert in_use.returncode == 1
    assert f"port {port} is already in use on 127.0.0.1: choose another with --port" in in_use.stderr
    foreign = subprocess.run(serve_command("--host=192.0.2.1", "--port=0"), capture_output=True, text=True, timeout=60)
    assert foreign.returncode == 1 and "cannot listen on 192.0.2.1" in foreign.stderr
    assert "Traceback" not in in_use.stderr + foreign.stderr
    for bad in (["--token"], ["--token="], ["--port=70000"]):
        refused = subprocess.run(serve_command(*bad), capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2 and "mnist-tui serve: error:" in refused.stderr, bad


def test_loopback_prints_the_ssh_command_and_other_addresses_warn() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("gpu-box")
    local = announce("127.0.0.1", 8000, "secret-token")
    assert "http://localhost:8000/?token=secret-token" in local and "ssh -N -L 8000:127.0.0.1:8000" in local
    public = announce("0.0.0.0", 8000, "secret-token")
    assert f"http://{socket.gethostname()}:8000/?token=secret-token" in public and "needs the token" in public
    assert "http://192.0.2.7:8000/?token=secret-token" in announce("192.0.2.7", 8000, "secret-token")


def screen_text(frames: list) -> str:
    text = "".join(frame.decode("utf-8", "ignore") if isinstance(frame, bytes) else frame for frame in frames)
    return ANSI.sub("", text)


def wait_until(condition, timeout: float, what: str, page, frames: list) -> None:
    """Check `condition` every 0.1 s; Playwright's sync API delivers the page's events only while it waits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            screen = screen_text(frames)[-3000:]
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; the screen's end:\n{screen}")
        page.wait_for_timeout(100)


def start_run(page, frames: list, runs_dir: Path) -> None:
    """Press s as a user would until the run starts: PyTorch loads behind the first frame, and until it has,
    the dashboard answers "still loading ...: press s again"."""
    deadline = time.monotonic() + 90
    while not list(runs_dir.glob("*/config.json")):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"no run started after 90 s of pressing s; the screen's end:\n{screen_text(frames)[-3000:]}"
            )
        page.keyboard.press("s")
        page.wait_for_timeout(1000)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/run installs Debian's chromium)")
def test_the_dashboard_in_headless_chromium_trains_a_run(tmp_path: Path, tiny_data: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")
    with server(tmp_path, tiny_data) as (url, runs_dir), sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        frames: list = []
        page.on("websocket", lambda socket: socket.on("framereceived", lambda payload: frames.append(payload)))
        page.goto(url)
        wait_until(
            lambda: "1 Setup" in screen_text(frames) and "6 Draw" in screen_text(frames), 60, "the tabs", page, frames
        )
        page.locator(".textual-terminal").click()
        page.keyboard.press("2")  # the Train tab
        start_run(page, frames, runs_dir)  # the setup's defaults: cnn on the tiny data
        summaries = lambda: [json.loads(p.read_text()) for p in runs_dir.glob("*/summary.json")]  # noqa: E731
        wait_until(lambda: bool(summaries()), 120, "the run's summary.json", page, frames)
        assert summaries()[0]["status"] == "completed"
        wait_until(lambda: "finished" in screen_text(frames), 30, "the dashboard to say the run finished", page, frames)

        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot))
        browser.close()
    from PIL import Image

    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # text, charts and tabs, not a blank page


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/run installs Debian's chromium)")
def test_closing_the_tab_stops_its_run_and_keeps_it(tmp_path: Path, tiny_data: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")
    preset = ("--model=linear", "--epochs=5000")  # every tab's Setup starts from the server's run options
    with server(tmp_path, tiny_data, *preset) as (url, runs_dir), sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        frames: list = []
        page.on("websocket", lambda socket: socket.on("framereceived", lambda payload: frames.append(payload)))
        page.goto(url)
        wait_until(lambda: "1 Setup" in screen_text(frames), 60, "the first frame", page, frames)
        page.locator(".textual-terminal").click()
        start_run(page, frames, runs_dir)
        wait_until(lambda: list(runs_dir.glob("*/last.pt")), 60, "the run's first epoch", page, frames)
        page.close()
        deadline = time.monotonic() + 30
        while not list(runs_dir.glob("*/summary.json")) and time.monotonic() < deadline:
            browser.new_page().close()  # lets Playwright deliver events while the server winds the tab down
        browser.close()
    (summary,) = [json.loads(path.read_text()) for path in runs_dir.glob("*/summary.json")]
    assert summary["status"] == "stopped" and summary["epochs_completed"] >= 1
    assert not list(runs_dir.glob("*/run.pid"))  # the lock is released: the run can be resumed
