"""`mnist-tui sweep --storage URL`: two workers, as on two machines (each its own runs folder), join one study in a
throwaway PostgreSQL cluster that the test starts (Debian's postgresql package; .ci/run installs it)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest

from engine.sweeps import trial_rows


def _postgres_binary(name: str) -> str | None:
    """On PATH, else in the newest of Debian's /usr/lib/postgresql/VERSION/bin (not on PATH by default)."""
    return shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new cluster on a Unix socket in a temporary folder; its URL (SQLAlchemy's, through psycopg)."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install '.[postgres]'")
    initdb, pg_ctl = _postgres_binary("initdb"), _postgres_binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed (Debian: apt-get install postgresql)")
    as_user: Callable[[list[str]], list[str]] = lambda command: command
    folder = Path(tempfile.mkdtemp(prefix="mnist-tui-pg-"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: the package's own user runs it
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_user = lambda command: ["runuser", "-u", "postgres", "--", *command]
    data, port = folder / "data", _free_port()
    run = lambda command: subprocess.run(as_user(command), check=True, capture_output=True, timeout=120)
    try:
        run([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"])
        options = f"-k {folder} -c listen_addresses='' -p {port}"
        run([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"])
        yield f"postgresql+psycopg://postgres@/postgres?host={folder}&port={port}"
        run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_on_two_runs_folders_join_one_study_in_postgres(
    tiny_data: Path, tmp_path: Path, postgres_url: str
) -> None:
    def worker(runs_dir: Path) -> subprocess.Popen[bytes]:
        words = ["sweep", "--name", "shared", "--model", "linear", "--epochs", "1", "--lr", "0.001,0.01",
                 "--batch-size", "32,64", "--no-prune", "--storage", postgres_url,
                 "--data-dir", str(tiny_data), "--runs-dir", str(runs_dir), "--no-download"]  # fmt: skip
        return subprocess.Popen([sys.executable, "-m", "tui", *words], stdout=subprocess.PIPE)

    folders = [tmp_path / "machine-a", tmp_path / "machine-b"]
    workers = [worker(folder) for folder in folders]
    for process in workers:
        out, _ = process.communicate(timeout=240)
        assert process.returncode == 0, out.decode()
    # Each worker's trials.csv holds the study as it stood when that worker ended: the study itself is complete.
    rows = trial_rows(optuna.load_study(study_name="shared", storage=postgres_url))
    assert {row.status for row in rows} == {"completed"}
    assert len({(row.params["lr"], row.params["batch_size"]) for row in rows}) == len(rows) == 4
    assert {Path(row.run_dir or "").parent for row in rows} <= set(folders)
    trained = [run for folder in folders for run in folder.iterdir() if run.name != "sweeps"]
    assert len(trained) == 4  # every grid point trained once, on one machine or the other
