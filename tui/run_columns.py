"""The columns of a runs table, shared by the Runs tab and `mnist-tui runs`: heading, text and sort value.

No Textual here: the headless command uses them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from engine.runs import RunRecord, differing_settings
from tui.formatting import format_duration, format_metric, format_switch

# Short headings, so a few setting columns still leave room for the results at 80 columns.
SETTING_HEADINGS = {
    "device": "device",
    "batch_size": "batch",
    "lr": "lr",
    "optimizer": "optim",
    "schedule": "schedule",
    "weight_decay": "wd",
    "seed": "seed",
    "val_size": "val size",
    "limit": "limit",
    "augment": "augment",
    "amp": "amp",
    "compile": "compile",
    "sweep": "sweep",
    "trial": "trial",
}


@dataclass(frozen=True)
class RunColumn:
    heading: str
    text: Callable[[RunRecord], str]
    value: Callable[[RunRecord], Any]  # what the column sorts by; None when unknown
    justify: Literal["left", "right"] = "right"

    @property
    def name(self) -> str:
        """The name `mnist-tui runs --sort` takes: the heading, with a dash for a space."""
        return self.heading.strip().replace(" ", "-")

    def sort_key(self, run: RunRecord, reverse: bool = False) -> tuple[bool, Any]:
        return sort_key(self.value(run), reverse)


def sort_key(value: Any, reverse: bool = False) -> tuple[bool, Any]:
    """Orders a column's values, unknown ones (None) last whichever way the sort goes."""
    return ((value is None) != reverse, value)


def run_date(run: RunRecord) -> str:
    """'11-25 04:38' from the folder name's timestamp (YYYYmmdd-HHMMSS-...)."""
    stamp = run.name[:15]
    if len(stamp) == 15 and stamp[8] == "-" and stamp.replace("-", "").isdigit():
        return f"{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
    return "?"


def format_setting(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return format_switch(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def setting_column(name: str) -> RunColumn:
    return RunColumn(
        SETTING_HEADINGS.get(name, name),
        lambda run: format_setting(run.config.get(name)),
        lambda run: run.config.get(name),
    )


def _summary(name: str) -> Callable[[RunRecord], Any]:
    return lambda run: (run.summary or {}).get(name)


def _data_and_model(run: RunRecord) -> str:
    return f"{run.config.get('dataset', '?')}/{run.config.get('model', '?')}"


NAME = RunColumn("run", lambda run: run.name, lambda run: run.name, "left")
DATE = RunColumn("  date", run_date, lambda run: run.name, "left")  # two spaces: room for the compare mark
DATA_MODEL = RunColumn("data/model", _data_and_model, _data_and_model, "left")
STATUS = RunColumn("status", lambda run: run.status, lambda run: run.status, "left")
EPOCHS = RunColumn(
    "epochs",
    lambda run: f"{len(run.epochs)}/{run.config.get('epochs', '?')}",
    lambda run: (len(run.epochs), run.config.get("epochs") or 0),
)
VAL_ACCURACY = RunColumn("val acc", lambda run: format_metric(run.best_val_accuracy), lambda run: run.best_val_accuracy)
TEST_ACCURACY = RunColumn(
    "test acc", lambda run: format_metric(_summary("test_accuracy")(run)), _summary("test_accuracy")
)
TEST_F1 = RunColumn("test F1", lambda run: format_metric(_summary("test_f1")(run)), _summary("test_f1"))
TIME = RunColumn("time", lambda run: format_duration(_summary("duration_seconds")(run)), _summary("duration_seconds"))
RESULTS = (EPOCHS, VAL_ACCURACY, TEST_ACCURACY, TEST_F1, TIME)


def setting_columns(runs: list[RunRecord]) -> list[RunColumn]:
    """A column for each setting that differs between these runs, so no two differing runs look alike."""
    return [setting_column(name) for name in differing_settings(runs)]


def tab_columns(runs: list[RunRecord]) -> list[RunColumn]:
    """The Runs tab's: status straight after the run's date and model, then the settings that differ, results last."""
    return [DATE, DATA_MODEL, STATUS, *setting_columns(runs), *RESULTS]


def command_columns(runs: list[RunRecord]) -> list[RunColumn]:
    """`mnist-tui runs`': the run's full name (what --resume and export take) first, its status last."""
    return [NAME, *setting_columns(runs), *RESULTS, STATUS]


def sortable_columns() -> list[RunColumn]:
    """Every column a runs table can show, for `mnist-tui runs --sort`."""
    return [NAME, DATE, DATA_MODEL, STATUS, *RESULTS, *map(setting_column, SETTING_HEADINGS)]
