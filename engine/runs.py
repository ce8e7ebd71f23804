"""Runs on disk: one folder per run, every file either complete or absent.

Layout of `<runs_dir>/<YYYYmmdd-HHMMSS>-<dataset>-<model>/`:
  config.json     the RunConfig
  metrics.jsonl   one JSON line per finished epoch ({"kind": "epoch"}) and per evaluation ({"kind": "evaluation"})
  summary.json    the final results row (absent while running, or when the process was killed)
  best.pt/last.pt checkpoints (written by the trainer through `atomic_write`)
  run.pid         the id of the process training it and, where /proc tells, when that process started;
                  present only while it trains

A run with no summary.json is "running" while the process named in run.pid is alive (and started when run.pid
says: a dead trainer's id may since have gone to another process), else "interrupted".
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from engine.config import RunConfig
from engine.events import EpochEnded, Evaluated, event_from_dict

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
BEST_CHECKPOINT = "best.pt"
LAST_CHECKPOINT = "last.pt"
LOCK_FILE = "run.pid"
TEMP_SUFFIX = ".tmp"  # atomic_write's temporary files: hidden, and never a run file
# A write that fails with less than this left where it wrote has met a full disk, whatever error it raised
# (torch.save reports a short write as "[enforce fail at inline_container.cc] unexpected pos").
FULL_DISK_MARGIN_BYTES = 1 << 20

SWEEPS_FOLDER = "sweeps"  # <runs>/sweeps/NAME holds a sweep's study and files (engine/sweeps.py), not a run


class RunsError(RuntimeError):
    """A runs directory or run that cannot be used; the message says which and why."""


class DiskFullError(OSError):
    """No space left where a file was being written; the message says where, how much is free, what to do."""

    def __init__(self, folder: Path):
        free = shutil.disk_usage(folder).free
        message = (
            f"no space left on the disk that holds {folder} ({free / 1e6:.1f} MB free there): free some space,"
            " or choose another folder with --runs-dir"
        )
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror or ""


def is_disk_full(error: BaseException, folder: Path) -> bool:
    """An ENOSPC anywhere in the error's chain, or a failed write with next to nothing left in `folder`."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return True
        cause = cause.__cause__ or cause.__context__
    if not isinstance(error, (OSError, RuntimeError)):
        return False
    try:
        return shutil.disk_usage(folder).free < FULL_DISK_MARGIN_BYTES
    except OSError:
        return False


@contextmanager
def atomic_write(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path`.

    A full disk raises DiskFullError (an OSError) with a message for the user, whatever the writer raised.
    The file ends up with the permissions a plain `open(path, "w")` gives: the umask's for a new file, the
    old file's when it replaces one (`tempfile.mkstemp` would make every run file private to its owner).
    """
    path = Path(path)
    fd, temp_name = _create_temp_file(path)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        disk_full = is_disk_full(error, path.parent)  # measured while the partial file still takes its space
        Path(temp_name).unlink(missing_ok=True)
        if disk_full:
            raise DiskFullError(path.parent) from error
        raise
    _fsync_directory(path.parent)


def _create_temp_file(path: Path) -> tuple[int, str]:
    """A new hidden file beside `path`, created with mode 0o666 so the kernel applies the umask."""
    while True:
        temp_name = str(path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            fd = os.open(temp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            os.chmod(fd, os.stat(path).st_mode & 0o7777)
        except FileNotFoundError:
            pass
        return fd, temp_name


def _fsync_directory(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, value: Any) -> None:
    with atomic_write(path) as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def epoch_record(ended: EpochEnded) -> dict[str, Any]:
    """An EpochEnded as its line in metrics.jsonl."""
    return {"kind": "epoch", **asdict(ended)}


def evaluation_record(evaluated: Evaluated) -> dict[str, Any]:
    """An Evaluated as its line in metrics.jsonl."""
    return {"kind": "evaluation", **asdict(evaluated)}


def epoch_from_record(record: dict[str, Any]) -> EpochEnded:
    """The EpochEnded a line of metrics.jsonl was written from; KeyError or TypeError for one that is not."""
    return event_from_dict(EpochEnded, record)


def evaluation_from_record(record: dict[str, Any]) -> Evaluated:
    """The Evaluated a line of metrics.jsonl was written from; KeyError or TypeError for one that is not."""
    return event_from_dict(Evaluated, record)


def check_writable(runs_dir: Path) -> Path:
    """Create the runs directory if needed and prove a file can be written there, before any training."""
    runs_dir = Path(runs_dir).expanduser()
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=runs_dir):
            pass
    except OSError as error:
        raise RunsError(
            f"cannot write runs to {runs_dir} ({error.strerror or error}): choose another folder with --runs-dir"
            " or fix its permissions"
        ) from None
    return runs_dir


class RunDirectory:
    """Writes one run's files; the trainer is its only writer."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, runs_dir: Path, dataset: str, model: str, config: dict[str, Any]) -> RunDirectory:
        runs_dir = check_writable(runs_dir)
        stem = f"{datetime.now():%Y%m%d-%H%M%S}-{dataset}-{model}"
        for attempt in range(1, 1000):
            path = runs_dir / (stem if attempt == 1 else f"{stem}-{attempt}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise RunsError(f"could not find a free run name under {runs_dir}")
        run = cls(path)
        write_json(path / CONFIG_FILE, config)
        return run

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Add one line: the file is rewritten whole through atomic_write, so a kill never leaves half a line."""
        self._write_metrics([*read_metric_records(self.path), record])

    def _write_metrics(self, records: list[dict[str, Any]]) -> None:
        with atomic_write(self.path / METRICS_FILE) as f:
            f.write("".join(json.dumps(record) + "\n" for record in records))

    def drop_metrics_after(self, epoch: int) -> None:
        """Forget the records of work a resumed run redoes: epochs after `epoch`, and any test evaluation."""
        records = read_metric_records(self.path)
        self._write_metrics([r for r in records if r.get("split") != "test" and r.get("epoch", 0) <= epoch])

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.path / SUMMARY_FILE, summary)

    def remove_summary(self) -> None:
        (self.path / SUMMARY_FILE).unlink(missing_ok=True)

    def remove_temp_files(self) -> None:
        """Temporary files a killed process left behind (never complete, never read)."""
        for temp in self.path.glob(f".*{TEMP_SUFFIX}"):
            temp.unlink(missing_ok=True)

    def lock(self) -> None:
        """Mark the run as being trained by this process (see `running_pid`)."""
        pid = os.getpid()
        started = process_start_time(pid)
        with atomic_write(self.path / LOCK_FILE) as f:
            f.write(f"{pid} {started}\n" if started else f"{pid}\n")

    def unlock(self) -> None:
        try:
            (self.path / LOCK_FILE).unlink(missing_ok=True)
        except OSError:  # a lock left behind reads as "interrupted" once this process has ended
            pass


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def process_start_time(pid: int) -> str | None:
    """When process `pid` started, in clock ticks after boot (Linux's /proc), or None where that is unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) ": field 3 onwards; the name may hold spaces
    return fields[19] if len(fields) > 19 else None


def running_pid(path: Path) -> int | None:
    """The id of the live process training the run at `path`, or None (never started, finished, or killed)."""
    try:
        fields = (Path(path) / LOCK_FILE).read_text().split()
        pid = int(fields[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    if pid <= 0 or not _process_alive(pid):
        return None
    recorded = fields[1] if len(fields) > 1 else None
    if recorded is not None and process_start_time(pid) not in (None, recorded):
        return None  # the trainer died and its id now names another process
    return pid


def signal_trainer(path: Path, number: int) -> int:
    """Send signal `number` to the process training the run at `path` and return its id.

    RunsError when no live process trains it: a stale lock's id, gone or reused by another process, is never
    signalled. Where the platform has pidfd_open, the process is pinned before its start time is checked again,
    so it cannot end and hand its id on between the check and the signal.
    """
    name = Path(path).name
    pid = running_pid(path)
    if pid is None:
        raise RunsError(f"{name} is not running")
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise RunsError(f"{name} is not running (its process {pid} has just ended)") from None
    except (AttributeError, OSError):  # no pidfd here (macOS, an old kernel): the check above is the guard
        os.kill(pid, number)
        return pid
    try:
        if running_pid(path) != pid:
            raise RunsError(f"{name} is not running (its process {pid} has just ended)")
        signal.pidfd_send_signal(pidfd, number)
    finally:
        os.close(pidfd)
    return pid


@dataclass
class RunRecord:
    """A run as read back from disk, whatever state it was left in; its records as the events that wrote them."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any] | None
    epochs: list[EpochEnded] = field(default_factory=list)
    evaluations: list[Evaluated] = field(default_factory=list)
    problem: str | None = None  # why the folder cannot be read as a run (its status is then "broken")

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def status(self) -> str:
        """completed, stopped, failed or diverged (from summary.json); running; interrupted (killed); or broken."""
        if self.problem is not None:
            return "broken"
        if running_pid(self.path) is not None:
            return "running"
        return self.summary.get("status", "unknown") if self.summary else "interrupted"

    def latest_evaluation(self, split: str | None = None) -> Evaluated | None:
        matching = [e for e in self.evaluations if split is None or e.split == split]
        return matching[-1] if matching else None

    @property
    def best_val_accuracy(self) -> float | None:
        values = [e.val_accuracy for e in self.epochs]
        return max(values) if values else None


def read_metric_records(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl's records in order; a torn line (from a killed process) is skipped."""
    try:
        text = (Path(path) / METRICS_FILE).read_text()
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def read_metrics(path: Path) -> tuple[list[EpochEnded], list[Evaluated]]:
    """The epoch and evaluation records, as the events they were written from; a record that does not read as
    one (written by another version, or damaged) is skipped like a torn line."""
    epochs: list[EpochEnded] = []
    evaluations: list[Evaluated] = []
    for record in read_metric_records(path):
        try:
            if record.get("kind") == "epoch":
                epochs.append(epoch_from_record(record))
            elif record.get("kind") == "evaluation":
                evaluations.append(evaluation_from_record(record))
        except (KeyError, TypeError, ValueError):
            continue
    return epochs, evaluations


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def read_summary(path: Path) -> dict[str, Any] | None:
    """The results row in a run folder's summary.json, or None (still running, killed, or unreadable)."""
    return _read_json(Path(path) / SUMMARY_FILE)


def read_config(path: Path) -> dict[str, Any]:
    """The settings in a run folder's config.json; RunsError says why they cannot be read."""
    try:
        value = json.loads((Path(path) / CONFIG_FILE).read_text())
    except FileNotFoundError:
        raise RunsError(f"no {CONFIG_FILE}") from None
    except OSError as error:
        raise RunsError(f"{CONFIG_FILE} cannot be read ({error.strerror or error})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunsError(f"{CONFIG_FILE} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise RunsError(f"{CONFIG_FILE} holds a JSON {type(value).__name__}, not the run's settings")
    return value


def _read_run(path: Path) -> RunRecord:
    epochs, evaluations = read_metrics(path)
    return RunRecord(path, read_config(path), read_summary(path), epochs, evaluations)


def load_run(path: Path) -> RunRecord:
    path = Path(path)
    try:
        return _read_run(path)
    except RunsError as error:
        raise RunsError(f"{path} is not a run folder ({error})") from None


def list_runs(runs_dir: Path) -> list[RunRecord]:
    """Every folder under runs_dir, newest first: one that cannot be read as a run is listed as broken."""
    runs_dir = Path(runs_dir).expanduser()
    if not runs_dir.is_dir():
        return []
    runs = []
    for child in sorted(runs_dir.iterdir(), reverse=True):
        if not child.is_dir() or child.name.startswith(".") or child.name == SWEEPS_FOLDER:
            continue
        try:
            runs.append(_read_run(child))
        except RunsError as error:
            runs.append(RunRecord(child, {}, None, problem=str(error)))
    return runs


# Settings that have a runs table column of their own whatever their values (epochs: done/planned).
SETTINGS_SHOWN_ANYWAY = ("dataset", "model", "epochs")


def differing_settings(runs: list[RunRecord]) -> list[str]:
    """The settings (RunConfig field names, in its order) whose values are not the same in all readable runs."""
    configs = [run.config for run in runs if run.problem is None]
    names = [setting.name for setting in fields(RunConfig) if setting.name not in SETTINGS_SHOWN_ANYWAY]
    return [name for name in names if len({json.dumps(config.get(name)) for config in configs}) > 1]


def newest_trained_run(runs_dir: Path) -> Path | None:
    """The newest readable run that has a checkpoint to load, or None."""
    for run in list_runs(runs_dir):
        if run.problem is None and ((run.path / BEST_CHECKPOINT).is_file() or (run.path / LAST_CHECKPOINT).is_file()):
            return run.path
    return None


def find_run(runs_dir: Path, name_or_path: str) -> Path:
    """A run given by its folder name or by a path; either way it must resolve to a run folder inside runs_dir.

    Names like `../x`, absolute paths elsewhere, and symlinks pointing out of runs_dir are refused, so nothing
    given on a command line can make mnist-tui read or write outside the runs folder.
    """
    runs_root = Path(runs_dir).expanduser().resolve()
    given = Path(name_or_path).expanduser()
    if name_or_path in ("", ".", ".."):
        raise RunsError(f"no run folder at {name_or_path!r}")
    inside = runs_root / given
    candidate = given if given.is_absolute() or (given.is_dir() and not inside.is_dir()) else inside
    resolved = candidate.resolve()
    if resolved.parent != runs_root:
        raise RunsError(
            f"{name_or_path} is not a run folder directly inside the runs folder {runs_root}:"
            " give a name from `mnist-tui runs`, or point --runs-dir at the folder that holds the run"
        )
    if not (resolved / CONFIG_FILE).is_file():
        known = ", ".join(r.name for r in list_runs(runs_root)[:3]) or "none yet"
        raise RunsError(f"no run named {name_or_path!r} (in {runs_root}; latest: {known}); see `mnist-tui runs`")
    return resolved
