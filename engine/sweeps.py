"""Sweeps: many runs over a search space, with Optuna as the search engine.

A sweep is an Optuna study. Each trial is an ordinary run (the Trainer, in this process) whose config.json names
the sweep and the trial number, so everything that reads runs reads trials. Each epoch's validation accuracy is
reported to the study, and the median pruner stops a trial that falls behind (`trial.report`/`should_prune`).

The study lives, unless `storage` names a database, in Optuna's journal file `<runs>/sweeps/NAME/study.journal`:
an append-only log that Optuna locks per write, so several processes on one machine share it safely (SQLite
serialises writers behind one database lock and fails them with "database is locked" under contention).

A trial's own status (completed, pruned, diverged, failed, stopped) is its user attribute "status"; Optuna's state
is COMPLETE, PRUNED or FAIL. Two kinds of trial never count: `stopped` ones (Ctrl+C; a grid point stopped is
queued again when the sweep resumes) and `skipped` ones (a grid point another worker took first, or a trial
beyond the budget: the price of sharing a study without a central scheduler).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from engine.config import RunConfig, field_errors, recipe_config
from engine.events import EpochEnded, Event, RunStarted
from engine.runs import SWEEPS_FOLDER, atomic_write, write_json

if TYPE_CHECKING:
    import optuna

SPEC_FILE = "sweep.json"
JOURNAL_FILE = "study.journal"
TRIALS_FILE = "trials.csv"
PLOT_FILE = "sweep.png"
SAMPLERS = ("grid", "random", "tpe")
DEFAULT_RANGE_TRIALS = 20  # the budget of a sweep with a range and neither --trials nor --timeout
PRUNER_STARTUP_TRIALS = 2  # trials that finish before any is pruned: a median of one trial is too noisy
COUNTED = ("completed", "pruned", "diverged", "failed")  # what the budget counts

# What each run setting can vary as: "choice" takes only lists; "int" and "log" take ranges too.
SWEEPABLE: dict[str, Literal["choice", "bool", "int", "log"]] = {
    "dataset": "choice",
    "model": "choice",
    "optimizer": "choice",
    "schedule": "choice",
    "epochs": "int",
    "batch_size": "int",
    "lr": "log",
    "weight_decay": "log",
    "seed": "int",
    "val_size": "int",
    "limit": "int",
    "augment": "bool",
    "amp": "bool",
}
BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


class SpecError(ValueError):
    """A setting's sweep text that cannot be used; `option` is the command-line option it came from."""

    def __init__(self, name: str, message: str):
        self.option = f"--{name.replace('_', '-')}"
        super().__init__(f"{self.option}: {message}")


@dataclass(frozen=True)
class Choices:
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool  # log-uniform floats; else integers


Dimension = Choices | Range


def _value(name: str, text: str) -> Any:
    kind = SWEEPABLE[name]
    text = text.strip()
    try:
        if kind == "bool":
            return BOOLEANS[text.lower()]
        if kind == "int":
            return int(text)
        if kind == "log":
            return float(text)
    except (KeyError, ValueError):
        wanted = {"bool": "true or false", "int": "a whole number", "log": "a number"}[kind]
        raise SpecError(name, f"{text!r} is not {wanted}") from None
    return text


def parse_dimension(name: str, text: str) -> Dimension:
    """`a,b,c` (choices), `lo:hi` (a range: log-uniform for lr and weight decay, integers otherwise) or one value."""
    if name not in SWEEPABLE:
        raise SpecError(name, "cannot be swept")
    if ":" in text:
        if SWEEPABLE[name] in ("choice", "bool"):
            raise SpecError(name, f"takes a list of choices (a,b,c), not a range ({text!r})")
        low_text, _, high_text = text.partition(":")
        low, high = _value(name, low_text), _value(name, high_text)
        if not low < high:
            raise SpecError(name, f"the range {text!r} must go from a lower to a higher value")
        if SWEEPABLE[name] == "log" and low <= 0:
            raise SpecError(name, f"the range {text!r} is log-uniform: its lower end must be above 0")
        return Range(low, high, log=SWEEPABLE[name] == "log")
    values = tuple(dict.fromkeys(_value(name, part) for part in text.split(",") if part.strip()))
    if not values:
        raise SpecError(name, f"{text!r} gives no value: write a value, a list a,b,c or a range lo:hi")
    return Choices(values)


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep searches: the settings that vary (`space`), those fixed, the sampler and the budget."""

    name: str
    space: dict[str, Dimension]
    fixed: dict[str, Any] = field(default_factory=dict)
    sampler: str = "grid"
    trials: int | None = None  # None: the whole grid, or DEFAULT_RANGE_TRIALS without --timeout
    timeout: float | None = None  # seconds of this process's search
    prune: bool = True

    @property
    def grid(self) -> list[dict[str, Any]]:
        names = sorted(self.space)
        choices = [self._choices(name) for name in names]
        return [dict(zip(names, point, strict=True)) for point in itertools.product(*choices)]

    def _choices(self, name: str) -> tuple[Any, ...]:
        dimension = self.space[name]
        if not isinstance(dimension, Choices):
            raise SpecError(name, "the grid sampler takes lists only: use --sampler random or tpe for a range")
        return dimension.values

    @property
    def budget(self) -> int | None:
        """Trials to finish, counting those done before a resume; None: until the timeout."""
        if self.trials is not None:
            return self.trials
        if self.sampler == "grid":
            return len(self.grid)
        return None if self.timeout is not None else DEFAULT_RANGE_TRIALS

    def config(self, params: dict[str, Any], device: str, trial: int | None = None) -> RunConfig:
        """A trial's run config: the model's recipe, the fixed settings, then the trial's parameters."""
        settings = {**self.fixed, **params}
        model = settings.pop("model", RunConfig.model)
        return recipe_config(model, **settings, device=device, sweep=self.name, trial=trial)

    def to_dict(self) -> dict[str, Any]:
        """The spec as sweep.json holds it (budget and timeout apart: a resumed sweep may change them)."""
        space = {name: {"kind": type(d).__name__, **asdict(d)} for name, d in sorted(self.space.items())}
        return {"name": self.name, "space": space, "fixed": self.fixed, "sampler": self.sampler, "prune": self.prune}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SweepSpec:
        space: dict[str, Dimension] = {}
        for name, d in values["space"].items():
            space[name] = (
                Choices(tuple(d["values"])) if d["kind"] == "Choices" else Range(d["low"], d["high"], d["log"])
            )
        return cls(values["name"], space, values["fixed"], values["sampler"], prune=values["prune"])


def parse_spec(
    name: str,
    settings: dict[str, str],
    *,
    sampler: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    prune: bool = True,
) -> SweepSpec:
    """A spec from the options' texts (`settings`: RunConfig field name to its text). Raises SpecError naming the
    option for a text that is not a value, a list or a range, a value the run would refuse, or an empty grid."""
    if not name or "/" in name or name.startswith("."):
        raise SpecError("name", f"{name!r} cannot name a folder: use letters, digits, - and _")
    dimensions = {key: parse_dimension(key, text) for key, text in settings.items()}
    space = {k: d for k, d in dimensions.items() if isinstance(d, Range) or len(d.values) > 1}
    fixed = {k: d.values[0] for k, d in dimensions.items() if isinstance(d, Choices) and k not in space}
    has_range = any(isinstance(d, Range) for d in space.values())
    if sampler is None:
        sampler = "tpe" if has_range else "grid"
    if sampler not in SAMPLERS:
        raise SpecError("sampler", f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    if trials is not None and trials < 1:
        raise SpecError("trials", "must be at least 1")
    if timeout is not None and not timeout > 0:
        raise SpecError("timeout", "must be a number of seconds above 0")
    spec = SweepSpec(name, space, fixed, sampler, trials, timeout, prune)
    _check_values(spec)
    if sampler == "grid":
        if not spec.grid:
            raise SpecError("model", "the grid is empty")
        for point in spec.grid:  # every combination must be a run the trainer accepts
            errors = field_errors(spec.config(point, "cpu"))
            if errors:
                key, message = next(iter(errors.items()))
                raise SpecError(key, f"{message} (in the combination {point})")
    return spec


def _check_values(spec: SweepSpec) -> None:
    """Each choice, and each end of each range, checked as the trainer would check it, with the first model."""
    model = spec.fixed.get("model") or _first(spec.space.get("model")) or RunConfig.model
    for key, dimension in spec.space.items():
        values = dimension.values if isinstance(dimension, Choices) else (dimension.low, dimension.high)
        for value in values:
            settings = {**spec.fixed, "model": model, key: int(value) if SWEEPABLE[key] == "int" else value}
            message = field_errors(spec.config(settings, "cpu")).get(key)
            if message:
                raise SpecError(key, f"{value!r}: {message}")
    errors = field_errors(spec.config({"model": model}, "cpu"))
    for key in spec.fixed:
        if key in errors:
            raise SpecError(key, errors[key])


def _first(dimension: Dimension | None) -> Any:
    return dimension.values[0] if isinstance(dimension, Choices) else None


# --- the study ----------------------------------------------------------------------------------------


def sweep_folder(runs_dir: Path, name: str) -> Path:
    return Path(runs_dir) / SWEEPS_FOLDER / name


def open_study(spec: SweepSpec, runs_dir: Path, storage: str | None = None, create: bool = True) -> optuna.Study:
    """The sweep's study: in its journal file, or in the database at `storage` (shared between machines)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a failed trial is a row of the table, not a log line
    folder = sweep_folder(runs_dir, spec.name)
    backend: optuna.storages.BaseStorage | str
    if storage is None:
        from optuna.storages.journal import JournalFileBackend

        folder.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.JournalStorage(JournalFileBackend(str(folder / JOURNAL_FILE)))
    else:
        backend = _database(storage)
    if not create:
        return optuna.load_study(study_name=spec.name, storage=backend)
    return optuna.create_study(
        study_name=spec.name,
        storage=backend,
        direction="maximize",
        sampler=_sampler(spec),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP_TRIALS, n_warmup_steps=0)
        if spec.prune
        else optuna.pruners.NopPruner(),
        load_if_exists=True,
    )


SCHEMA_ATTEMPTS = 3


def _database(url: str) -> optuna.storages.RDBStorage:
    """Optuna's storage in the database at `url`. The first worker on a new database creates Optuna's tables;
    a worker racing it fails on a table the other has just made, and finds them all on its next attempt."""
    import optuna
    import sqlalchemy.engine
    import sqlalchemy.exc

    try:
        sqlalchemy.engine.make_url(url).get_dialect()
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ImportError) as error:
        raise SpecError(
            "storage", f"{error} (a database URL such as postgresql+psycopg://user:password@host/database)"
        ) from None
    for _ in range(SCHEMA_ATTEMPTS - 1):
        try:
            return optuna.storages.RDBStorage(url)
        except sqlalchemy.exc.DBAPIError:
            continue
    try:
        return optuna.storages.RDBStorage(url)
    except sqlalchemy.exc.OperationalError as error:  # the first line says why; the rest is the SQL and a link
        reason = (str(error.orig).strip().splitlines() or [type(error.orig).__name__])[0]
        raise RuntimeError(f"cannot use the database at {_public_url(url)}: {reason}") from error


def _sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    import optuna

    if spec.sampler == "grid":
        return optuna.samplers.GridSampler({name: list(spec._choices(name)) for name in spec.space})
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler()
    return optuna.samplers.TPESampler()


def suggest(spec: SweepSpec, trial: optuna.Trial) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, dimension in sorted(spec.space.items()):
        if isinstance(dimension, Choices):
            params[name] = trial.suggest_categorical(name, list(dimension.values))
        elif dimension.log:
            params[name] = trial.suggest_float(name, dimension.low, dimension.high, log=True)
        else:
            params[name] = trial.suggest_int(name, int(dimension.low), int(dimension.high))
    return params


def trial_status(trial: optuna.trial.FrozenTrial) -> str:
    """completed, pruned, diverged, failed, stopped, skipped, or running (a trial still being trained, or one
    whose process died: Optuna cannot tell them apart)."""
    from optuna.trial import TrialState

    status = trial.user_attrs.get("status")
    if status is not None:
        return str(status)
    return {TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}.get(trial.state, "running")


@dataclass
class TrialRow:
    """One trial as trials.csv, the live table and `mnist-tui sweeps` read it."""

    number: int
    status: str
    params: dict[str, Any]
    val_accuracy: float | None
    val_f1: float | None
    test_accuracy: float | None
    seconds: float | None
    run_dir: str | None


def trial_rows(study: optuna.Study) -> list[TrialRow]:
    """Every trial that counts or is running or stopped (skipped ones left out), by number."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        status = trial_status(trial)
        if status == "skipped":
            continue
        attrs = trial.user_attrs
        rows.append(
            TrialRow(
                number=trial.number,
                status=status,
                params=dict(trial.params),
                val_accuracy=attrs.get("val_accuracy"),
                val_f1=attrs.get("val_f1"),
                test_accuracy=attrs.get("test_accuracy"),
                seconds=attrs.get("seconds"),
                run_dir=attrs.get("run_dir"),
            )
        )
    return rows


def best_row(rows: list[TrialRow]) -> TrialRow | None:
    finished = [row for row in rows if row.status == "completed" and row.val_accuracy is not None]
    return max(finished, key=lambda row: row.val_accuracy or 0.0, default=None)


def importances(study: optuna.Study) -> dict[str, float]:
    """Optuna's parameter importances (its default evaluator) over the completed trials; empty when they are too
    few to say."""
    import warnings

    import optuna

    try:
        with warnings.catch_warnings():  # "importances will be equal" on a tiny sweep: the bars say as much
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError):  # fewer than two completed trials, or one parameter value only
        return {}


# --- running a sweep ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrialUpdate:
    """A trial's progress, as the objective sees it (for a live display)."""

    number: int
    device: str
    event: Event


class Sweep:
    """Runs a spec's trials in this process, `jobs` at a time, each on a device from `devices`."""

    def __init__(
        self,
        spec: SweepSpec,
        *,
        runs_dir: Path,
        data_dir: Path,
        devices: list[str],
        jobs: int = 1,
        storage: str | None = None,
        download: bool = True,
        on_update: Callable[[TrialUpdate], None] = lambda update: None,
        on_trial_end: Callable[[int], None] = lambda number: None,
    ):
        from engine.trainer import Trainer

        self.spec = spec
        self.runs_dir = Path(runs_dir)
        self.data_dir = Path(data_dir)
        self.jobs = jobs
        self.storage = storage
        self.download = download
        self.on_update = on_update
        self.on_trial_end = on_trial_end  # called with the trial's number once the study holds its outcome
        self.folder = sweep_folder(self.runs_dir, spec.name)
        self.study = open_study(spec, self.runs_dir, storage)
        self._devices: queue.Queue[str] = queue.Queue()
        for index in range(jobs):
            self._devices.put(devices[index % len(devices)])
        self._trainers: dict[int, Trainer] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def write_spec(self) -> None:
        """sweep.json, refusing a name already used by another spec (a resume must search the same space)."""
        path = self.folder / SPEC_FILE
        self.folder.mkdir(parents=True, exist_ok=True)
        spec = {**self.spec.to_dict(), "storage": _public_url(self.storage)}
        if path.is_file():
            if not same_spec(json.loads(path.read_text()), self.spec):
                raise SpecError(
                    "name", f"sweep {self.spec.name!r} exists with other settings: give a new --name, or --resume it"
                )
        write_json(path, spec)

    def stop(self) -> None:
        """Stop the running trials (as `stopped`) and start no more; safe from any thread or a signal handler."""
        self._stopping.set()
        with self._lock:
            for trainer in self._trainers.values():
                trainer.stop()

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    def run(self) -> None:
        """Search until the budget is done, the timeout passes, or stop()."""
        self.write_spec()
        self._requeue_stopped()
        if self._remaining() == 0:
            return
        self.study.optimize(
            self._objective,
            timeout=self.spec.timeout,
            n_jobs=self.jobs,
            callbacks=[self._after_trial],
            gc_after_trial=False,
        )

    def _counted(self, before: int | None = None) -> int:
        trials = self.study.get_trials(deepcopy=False)
        return sum(
            1
            for t in trials
            if (before is None or t.number < before)
            and trial_status(t) in (*COUNTED, *(("running",) if before is not None else ()))
        )

    def _remaining(self) -> int | None:
        budget = self.spec.budget
        return None if budget is None else max(0, budget - self._counted())

    def _requeue_stopped(self) -> None:
        """A grid point whose trial was stopped, and that no other trial covers, is queued to run again."""
        from optuna.trial import TrialState

        if self.spec.sampler != "grid":
            return
        trials = self.study.get_trials(deepcopy=False)
        covered: list[Any] = [t.params for t in trials if trial_status(t) not in ("stopped", "skipped")]
        covered += [t.system_attrs.get("fixed_params") for t in trials if t.state == TrialState.WAITING]
        for stopped in trials:
            if trial_status(stopped) != "stopped" or stopped.params in covered:
                continue
            self.study.enqueue_trial(stopped.params)
            covered.append(stopped.params)
            # GridSampler leaves a queued trial without the grid point it stands for, and then fails on it when
            # the grid runs out: the queued trial takes the stopped one's (through the storage, Optuna's own way).
            waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[-1]
            for key in ("search_space", "grid_id"):
                self.study._storage.set_trial_system_attr(waiting._trial_id, key, stopped.system_attrs[key])

    def _after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self._stopping.is_set() or self._remaining() == 0:
            study.stop()
        self.on_trial_end(trial.number)

    def _skip(self, trial: optuna.Trial) -> float:
        trial.set_user_attr("status", "skipped")
        return math.nan

    def _taken_by_earlier(self, number: int, params: dict[str, Any]) -> bool:
        return any(
            t.number < number and t.params == params and trial_status(t) not in ("stopped", "skipped")
            for t in self.study.get_trials(deepcopy=False)
        )

    def _objective(self, trial: optuna.Trial) -> float:
        """One trial: a run of the Trainer in this thread; its value is the best validation accuracy."""
        import optuna

        from engine.trainer import Trainer

        params = suggest(self.spec, trial)
        budget = self.spec.budget
        if self._stopping.is_set() or (budget is not None and self._counted(before=trial.number) >= budget):
            self.study.stop()
            return self._skip(trial)
        if self.spec.sampler == "grid" and self._taken_by_earlier(trial.number, params):
            return self._skip(trial)
        device = self._devices.get()
        try:
            pruned = threading.Event()

            def emit(event: Event) -> None:
                if isinstance(event, RunStarted):
                    trial.set_user_attr("run_dir", event.run_dir)
                if isinstance(event, EpochEnded):
                    trial.report(event.val_accuracy, event.epoch)
                    if event.epoch < event.epochs and trial.should_prune():
                        pruned.set()
                        trainer.stop(f"pruned by sweep {self.spec.name} (below the median after epoch {event.epoch})")
                self.on_update(TrialUpdate(trial.number, device, event))

            started = time.perf_counter()
            try:
                config = self.spec.config(params, device, trial.number)
                trainer = Trainer(
                    config, runs_dir=self.runs_dir, data_dir=self.data_dir, emit=emit, download=self.download
                )
            except ValueError as error:  # a combination the trainer refuses (ConfigError): this trial fails
                trial.set_user_attr("status", "failed")
                trial.set_user_attr("message", str(error))
                return math.nan
            with self._lock:
                self._trainers[trial.number] = trainer
                if self._stopping.is_set():
                    trainer.stop()
            finished = trainer.run()
        finally:
            with self._lock:
                self._trainers.pop(trial.number, None)
            self._devices.put(device)
        summary = finished.summary
        status = "pruned" if pruned.is_set() and finished.status == "stopped" else finished.status
        for key in ("val_accuracy", "val_f1", "test_accuracy"):
            if summary.get(key) is not None:
                trial.set_user_attr(key, summary[key])
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 2))
        trial.set_user_attr("message", finished.message)
        trial.set_user_attr("status", status)
        if status == "stopped":
            self.study.stop()
        if status == "pruned":
            raise optuna.TrialPruned(finished.message)
        if status != "completed" or summary.get("val_accuracy") is None:
            return math.nan  # Optuna records the trial as failed, and the sweep goes on
        return float(summary["val_accuracy"])

    def rows(self) -> list[TrialRow]:
        """The study's trials as they stand (safe from another thread while the sweep runs)."""
        return trial_rows(self.study)

    def importances(self) -> dict[str, float]:
        return importances(self.study)

    def write_files(self) -> list[Path]:
        """trials.csv and sweep.png in the sweep's folder; returns the paths written."""
        return write_sweep_files(self.study, self.folder, self.spec)


def same_spec(stored: dict[str, Any], spec: SweepSpec) -> bool:
    """Whether a sweep.json (as read back) holds this spec: what a resume needs (the storage apart)."""
    return {k: v for k, v in stored.items() if k != "storage"} == json.loads(json.dumps(spec.to_dict()))


def _public_url(storage: str | None) -> str | None:
    """The storage URL without its password (sweep.json is readable by whoever reads the runs folder)."""
    if storage is None:
        return None
    from sqlalchemy.engine import make_url

    return make_url(storage).render_as_string(hide_password=True)


def write_sweep_files(study: optuna.Study, folder: Path, spec: SweepSpec) -> list[Path]:
    rows = trial_rows(study)
    names = sorted(spec.space)
    trials_path = folder / TRIALS_FILE
    with atomic_write(trials_path) as f:
        writer = csv.writer(f)
        writer.writerow(["number", "status", *names, "val_accuracy", "val_f1", "test_accuracy", "seconds", "run_dir"])
        for row in rows:
            writer.writerow(
                [
                    row.number,
                    row.status,
                    *(row.params.get(name, "") for name in names),
                    *("" if v is None else v for v in (row.val_accuracy, row.val_f1, row.test_accuracy, row.seconds)),
                    row.run_dir or "",
                ]
            )
    plot_path = folder / PLOT_FILE
    plot_sweep(rows, names, plot_path)
    return [trials_path, plot_path]


def plot_sweep(rows: list[TrialRow], names: list[str], path: Path) -> None:
    """Validation accuracy against each parameter, one panel each, the best trial marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = names or ["number"]
    figure, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.5), squeeze=False)
    scored = [row for row in rows if row.val_accuracy is not None and row.status in ("completed", "pruned")]
    best = best_row(rows)
    for axis, name in zip(axes[0], names, strict=True):
        for status, color in (("completed", "tab:blue"), ("pruned", "tab:gray")):
            points = [row for row in scored if row.status == status]
            axis.scatter([_axis_value(row, name) for row in points], [row.val_accuracy for row in points], c=color)
        if best is not None:
            axis.scatter([_axis_value(best, name)], [best.val_accuracy], marker="*", s=250, c="tab:red", label="best")
            axis.legend(loc="best")
        if name in ("lr", "weight_decay") and scored and all(isinstance(_axis_value(r, name), float) for r in scored):
            axis.set_xscale("log")
        axis.set_xlabel(name)
        axis.set_ylabel("val accuracy")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_write(path, "wb") as f:
        figure.savefig(f, format="png", dpi=100)
    plt.close(figure)


def _axis_value(row: TrialRow, name: str) -> Any:
    value = row.number if name == "number" else row.params.get(name)
    return str(value) if isinstance(value, (str, bool)) else value


# --- listing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSummary:
    name: str
    done: int
    pruned: int
    failed: int
    best_val_accuracy: float | None
    best_run: str | None
    problem: str | None = None


def list_sweeps(runs_dir: Path) -> list[SweepSummary]:
    """Every sweep under `<runs>/sweeps`, by name, read from its study (a database one through the URL in its
    sweep.json, which needs that URL's password in the environment's URL for the same storage: not listed)."""
    summaries = []
    root = Path(runs_dir) / SWEEPS_FOLDER
    for spec_path in sorted(root.glob(f"*/{SPEC_FILE}")):
        name = spec_path.parent.name
        try:
            stored = json.loads(spec_path.read_text())
            if stored.get("storage"):
                summaries.append(SweepSummary(name, 0, 0, 0, None, None, f"in {stored['storage']}"))
                continue
            study = open_study(SweepSpec.from_dict(stored), runs_dir, create=False)
        except (OSError, ValueError, KeyError) as error:
            summaries.append(SweepSummary(name, 0, 0, 0, None, None, str(error)))
            continue
        rows = trial_rows(study)
        best = best_row(rows)
        summaries.append(
            SweepSummary(
                name,
                done=sum(row.status == "completed" for row in rows),
                pruned=sum(row.status == "pruned" for row in rows),
                failed=sum(row.status in ("failed", "diverged") for row in rows),
                best_val_accuracy=best.val_accuracy if best else None,
                best_run=Path(best.run_dir).name if best and best.run_dir else None,
            )
        )
    return summaries
