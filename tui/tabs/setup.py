"""The setup form: dataset, model, device and hyperparameters, validated as they are typed.

Validation is engine.config.field_errors (torch-free); each message shows beside its field.
The model and device lists need torch, so they arrive later through `set_catalog`.

A field may hold several values, as `mnist-tui sweep` takes them: a number field a list `a,b,c` or a range `lo:hi`,
a picker several choices (`,` on it opens a list to mark them in). Then the setup is a sweep: its name and budget
get rows of their own, engine.sweeps' parser checks it (its messages beside the fields), and `sweep` holds the plan.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from engine.config import DATASETS, OPTIMIZERS, SCHEDULES, RunConfig, field_errors, recipe_config
from engine.recipes import MODEL_NAMES, RECIPES
from engine.sweeps import (
    DEFAULT_RANGE_TRIALS,
    SPEC_FILE,
    SWEEPABLE,
    SpecError,
    SweepSpec,
    parse_dimension,
    parse_spec,
    same_spec,
    sweep_folder,
)
from tui.engine_api import DeviceEntry, ModelEntry
from tui.formatting import format_switch
from tui.live_sweep import SweepPlan
from tui.screens.choices import ChoicesScreen

AUTO_DEVICE = "auto"


@dataclass(frozen=True)
class Field:
    name: str  # a RunConfig field
    label: str
    kind: str  # "choice", "int", "float", "optional-int" or "bool"


FIELDS = (
    Field("dataset", "dataset", "choice"),
    Field("model", "model", "choice"),
    Field("device", "device", "choice"),
    Field("epochs", "epochs", "int"),
    Field("batch_size", "batch size", "int"),
    Field("lr", "learning rate", "float"),
    Field("optimizer", "optimizer", "choice"),
    Field("schedule", "schedule", "choice"),
    Field("seed", "seed", "int"),
    Field("limit", "image limit", "optional-int"),
    Field("augment", "augmentation", "bool"),
    Field("amp", "mixed precision", "bool"),
)
PARSE_ERRORS = {
    "int": "must be a whole number",
    "float": "must be a number, e.g. 0.003",
    "optional-int": "must be a whole number, or empty for all images",
}
SWEEP_ROWS = (("sweep_name", "sweep name"), ("sweep_trials", "trials"))  # shown while the setup is a sweep
OPTION_FIELDS = {"--name": "sweep_name", "--trials": "sweep_trials"}  # a SpecError's option -> its row


def holds_several(field: Field, text: str) -> bool:
    """A list (a picker's several choices, joined by commas), or a number field's range lo:hi."""
    return "," in text or (field.kind != "choice" and ":" in text)


def spec_problem(error: SpecError) -> tuple[str, str]:
    """(the row, the message without its option) of a sweep spec the engine refused."""
    row = OPTION_FIELDS.get(error.option, error.option.removeprefix("--").replace("-", "_"))
    return row, str(error).removeprefix(f"{error.option}: ")


def new_sweep_name(runs_dir: Path | None, now: datetime) -> str:
    """sweep-YYYYmmdd-HHMMSS, with -2, -3, ... while a sweep of that name exists."""
    name = base = f"sweep-{now:%Y%m%d-%H%M%S}"
    count = 1
    while runs_dir is not None and sweep_folder(runs_dir, name).exists():
        count += 1
        name = f"{base}-{count}"
    return name


def parse_field(kind: str, text: str) -> Any:
    """The typed value of a text field; ValueError when the text is not one."""
    text = text.strip()
    if kind == "optional-int":
        return int(text) if text else None
    if kind == "int":
        return int(text)
    return float(text)


class NumberInput(Input):
    """A numeric field, a list of numbers a,b,c or a range lo:hi: it claims only the keys those are typed with,
    so s, p, x, q, ? stay commands."""

    NUMBER_CHARACTERS = frozenset("0123456789.-+eE,:")
    RESTRICT = {"float": r"[-+0-9eE.,:]*", "int": r"[-+0-9,:]*", "optional-int": r"[-+0-9,:]*"}

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character in self.NUMBER_CHARACTERS


class ChoiceSelect(Select[str]):
    """A picker of one value; `,` opens a list to mark several (the setup becomes a sweep over them), shown here as
    one more option, "cnn, mlp", whose value is the list "cnn,mlp"."""

    BINDINGS = [Binding("comma", "choose_several", "Choose several")]

    class SeveralRequested(Message):
        def __init__(self, select: ChoiceSelect) -> None:
            super().__init__()
            self.select = select

    def __init__(self, choices: list[tuple[str, str]], value: str, *, id: str) -> None:
        super().__init__(choices, value=value, allow_blank=False, id=id, compact=True)
        self.choices = choices  # the options themselves, without a list of several

    def action_choose_several(self) -> None:
        self.post_message(self.SeveralRequested(self))

    @property
    def chosen(self) -> tuple[str, ...]:
        return tuple(str(self.value).split(",")) if not self.is_blank() else ()

    def set_choices(self, choices: list[tuple[str, str]], value: str) -> None:
        """New options (the catalog's), `value` chosen: one of them, or several joined by commas."""
        self.choices = choices
        several = value.split(",")
        with self.prevent(Select.Changed):
            self.set_options([*choices, (", ".join(several), value)] if len(several) > 1 else choices)
            self.value = value

    def choose(self, values: tuple[str, ...]) -> None:
        """Choose these (posts Select.Changed when that changes the value)."""
        value = ",".join(values)
        with self.prevent(Select.Changed):
            self.set_options([*self.choices, (", ".join(values), value)] if len(values) > 1 else self.choices)
        self.value = value


def _format(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


class OnOffCheckbox(Checkbox):
    """A checkbox labelled with its state: its ▐X▌ looks the same on and off in a terminal without colour."""

    def __init__(self, value: bool, *, id: str | None = None) -> None:
        super().__init__(format_switch(value), value, id=id, compact=True)

    def watch_value(self) -> None:
        super().watch_value()
        self.label = format_switch(self.value)


class SetupPanel(VerticalScroll):
    """One row per setting: label, widget, and what is wrong with it (if anything)."""

    can_focus = False  # tab goes straight from field to field; the panel scrolls to the focused one

    def __init__(self, config: RunConfig, *, runs_dir: Path | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.base = config  # settings without a field (weight decay, validation size, compile) come from here
        self.runs_dir = runs_dir  # where a sweep of the name given may exist already (None: not looked for)
        self.models: dict[str, ModelEntry] = {}  # by name, once loaded
        self.errors: dict[str, str] = {}
        self.sweep: SweepPlan | None = None  # while the fields make a valid sweep
        self.name_typed = False  # the sweep name is the user's, not one made up here

    def compose(self) -> ComposeResult:
        for field in FIELDS:
            with Horizontal(classes="field", id=f"row-{field.name}"):
                yield Label(field.label, classes="field-label")
                yield self._widget(field)
                yield Static("", id=f"error-{field.name}", classes="field-error")
            if field.name == "model":
                yield Static("loading models…", id="model-description")
        for name, label in SWEEP_ROWS:
            with Horizontal(classes="field sweep-field", id=f"row-{name}"):
                yield Label(label, classes="field-label")
                if name == "sweep_name":
                    yield Input("", placeholder="its folder: runs/sweeps/NAME", id="field-sweep_name", compact=True)
                else:
                    yield NumberInput("", restrict=NumberInput.RESTRICT["int"], id="field-sweep_trials", compact=True)
                yield Static("", id=f"error-{name}", classes="field-error")
        yield Static("", id="setup-plan")

    def _widget(self, field: Field) -> Widget:
        value = getattr(self.base, field.name)
        widget_id = f"field-{field.name}"
        if field.kind == "bool":
            return OnOffCheckbox(value, id=widget_id)
        if field.kind != "choice":
            return NumberInput(
                _format(value),
                restrict=NumberInput.RESTRICT[field.kind],
                placeholder="all" if field.kind == "optional-int" else "",
                id=widget_id,
                compact=True,
            )
        choices = {
            "dataset": DATASETS,
            "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES,
            "model": MODEL_NAMES if value in MODEL_NAMES else (*MODEL_NAMES, value),
            "device": (value,),
        }[field.name]
        return ChoiceSelect([(choice, choice) for choice in choices], value, id=widget_id)

    def on_mount(self) -> None:
        self.validate_fields()

    # --- catalog ------------------------------------------------------------------------------------

    def set_catalog(self, devices: Sequence[DeviceEntry], models: Sequence[ModelEntry]) -> None:
        """Fill the device and model pickers (engine.devices.DeviceInfo, engine.models.ModelInfo)."""
        self.models = {info.name: info for info in models}
        current = self.base.device
        device_options = [(f"{AUTO_DEVICE}: best available", AUTO_DEVICE)]
        device_options += [(f"{info.name}: {info.label}", info.name) for info in devices]
        if current not in {value for _, value in device_options}:
            device_options.append((f"{current} (not found here)", current))
        model_options = [(f"{info.name} ({info.parameters:,} parameters)", info.name) for info in models]
        device_select = self.query_one("#field-device", ChoiceSelect)
        model_select = self.query_one("#field-model", ChoiceSelect)
        device_select.set_choices(device_options, str(device_select.value))
        model = str(model_select.value)
        if model_options and all(name in self.models for name in model.split(",")):
            model_select.set_choices(model_options, model)
        elif model_options:  # an unknown name stays out of the picker; its field shows why
            model_select.set_choices(model_options, model_options[0][1])
        self._describe_model()
        self.validate_fields()

    def apply_recipe(self, model: str) -> None:
        """Fill every field from the model's recipe, keeping the dataset and the device."""
        self.base = recipe_config(model, self.base)
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            for field in FIELDS:
                widget = self.query_one(f"#field-{field.name}")
                value = getattr(self.base, field.name)
                if isinstance(widget, Input):
                    widget.value = _format(value)
                elif isinstance(widget, Select) and field.name not in ("device", "model"):
                    widget.value = value
                elif isinstance(widget, Select) and value in self.models:
                    widget.value = value  # an unknown name stays out of the picker; its field shows why
                elif isinstance(widget, Checkbox):
                    widget.value = bool(value)
        self._describe_model()
        self.validate_fields()

    def _describe_model(self) -> None:
        info = self.models.get(self.base.model)
        recipe = RECIPES.get(self.base.model)
        if info is not None:
            text = f"{info.description}; {info.parameters:,} parameters"
        else:  # the parameter count needs the model built, so torch
            text = f"{recipe.description}; counting parameters…" if recipe else "loading models…"
        self.query_one("#model-description", Static).update(text)

    # --- values and validation ----------------------------------------------------------------------

    def field_values(self) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
        """What the fields hold: their values, the fields whose text is not a value at all, and the texts of those
        that hold several values (a sweep's)."""
        values: dict[str, Any] = {}
        parse_errors: dict[str, str] = {}
        several: dict[str, str] = {}
        for field in FIELDS:
            widget = self.query_one(f"#field-{field.name}")
            if isinstance(widget, Input):
                if holds_several(field, widget.value):
                    several[field.name] = widget.value.strip()
                    continue
                try:
                    values[field.name] = parse_field(field.kind, widget.value)
                except ValueError:
                    parse_errors[field.name] = PARSE_ERRORS[field.kind]
            elif isinstance(widget, Select):
                value = None if widget.is_blank() else str(widget.value)
                if value is not None and holds_several(field, value):
                    several[field.name] = value
                else:
                    values[field.name] = value
            elif isinstance(widget, Checkbox):
                values[field.name] = bool(widget.value)
        return values, parse_errors, several

    def config(self) -> RunConfig:
        """The settings as they stand (check `validate_fields()` before using it); a field holding several values
        keeps the previous setting."""
        return self._config_from(self.field_values()[0])

    def _config_from(self, values: dict[str, Any]) -> RunConfig:
        # A field whose text is not a value keeps the previous setting, so it is reported once, as unreadable.
        usable = {k: v for k, v in values.items() if v is not None or k == "limit"}
        return self.base.with_changes(**usable)

    def validate_fields(self) -> dict[str, str]:
        """Show each field's problem beside it; return them all (empty when the setup can start)."""
        values, parse_errors, several = self.field_values()
        config = self._config_from(values)
        errors = {k: v for k, v in {**field_errors(config), **parse_errors}.items() if k not in several}
        self.sweep = None
        self.set_class(bool(several), "-sweep")
        if several:
            errors.update(self._check_sweep(config, several, errors))
        self.errors = errors
        plan = self._plan(config, errors)
        unshown = [f"{k.replace('_', ' ')}: {v}" for k, v in errors.items() if k not in self.row_names]
        self.query_one("#setup-plan", Static).update("; ".join([*unshown, plan]))
        for name in self.row_names:
            message = errors.get(name, "")
            self.query_one(f"#error-{name}", Static).update(message)
            self.query_one(f"#row-{name}").set_class(bool(message), "-invalid")
        return errors

    @property
    def row_names(self) -> list[str]:
        return [field.name for field in FIELDS] + [name for name, _label in SWEEP_ROWS]

    def _check_sweep(self, config: RunConfig, several: dict[str, str], errors: dict[str, str]) -> dict[str, str]:
        """The fields that hold several values, each read as `mnist-tui sweep` reads its option, then the whole
        sweep; sets `sweep` when it can start. Returns the problems found, by row."""
        problems: dict[str, str] = {}
        devices = [name.strip() for name in several.get("device", config.device).split(",") if name.strip()]
        for name, text in several.items():
            if name == "device":  # not a run setting the study searches: the trials' places
                continue
            try:
                parse_dimension(name, text)
            except SpecError as error:
                problems[name] = spec_problem(error)[1]
        trials_text = self.query_one("#field-sweep_trials", Input).value.strip()
        trials = None
        try:
            trials = int(trials_text) if trials_text else None
        except ValueError:
            problems["sweep_trials"] = "must be a whole number, or empty for the default"
        name_input = self.query_one("#field-sweep_name", Input)
        if not name_input.value.strip() and not self.name_typed:
            self._set_sweep_name(new_sweep_name(self.runs_dir, datetime.now()))
        if problems or errors:  # the sweep as a whole is checked once each field reads
            return problems
        settings = {name: several.get(name, "") or self._text(config, name) for name in SWEEPABLE}
        try:
            spec = parse_spec(name_input.value.strip(), {k: v for k, v in settings.items() if v}, trials=trials)
        except SpecError as error:
            row, message = spec_problem(error)
            return {row: message}
        if not spec.space:
            return {"device": "several devices need a field holding a list or a range to sweep over"}
        trials_input = self.query_one("#field-sweep_trials", Input)
        trials_input.placeholder = f"all {len(spec.grid)}" if spec.sampler == "grid" else str(DEFAULT_RANGE_TRIALS)
        continues = self._existing(spec)
        if continues is None:
            if self.name_typed:
                return {"sweep_name": "a sweep with other settings has this name: give another one"}
            self._set_sweep_name(new_sweep_name(self.runs_dir, datetime.now()))
            return self._check_sweep(config, several, errors)
        self.sweep = SweepPlan(spec, devices, continues)
        return {}

    def _text(self, config: RunConfig, name: str) -> str:
        """A setting's value as a sweep's option text ("" for none: every image)."""
        value = getattr(config, name)
        return "" if value is None else format_switch(value) if isinstance(value, bool) else _format(value)

    def _existing(self, spec: SweepSpec) -> bool | None:
        """False: no sweep has this name yet; True: one with these settings (starting it continues it); None: one
        with other settings."""
        if self.runs_dir is None:
            return False
        path = sweep_folder(self.runs_dir, spec.name) / SPEC_FILE
        if not path.is_file():
            return False
        try:
            return True if same_spec(json.loads(path.read_text()), spec) else None
        except (OSError, ValueError):
            return None

    def _set_sweep_name(self, name: str) -> None:
        with self.prevent(Input.Changed):
            self.query_one("#field-sweep_name", Input).value = name

    def _plan(self, config: RunConfig, errors: dict[str, str]) -> str:
        if errors:
            return f"fix {len(errors)} setting{'s' if len(errors) > 1 else ''} marked in red, then press s to start"
        if self.sweep is not None:
            return self._sweep_plan(self.sweep)
        steps = math.ceil(config.train_size / config.batch_size)
        return (
            f"{config.train_size:,} training and {config.val_count():,} validation images, {steps:,} steps per"
            " epoch; press s to start, ? for every key; a list a,b or a range lo:hi in a field makes a sweep"
        )

    def _sweep_plan(self, plan: SweepPlan) -> str:
        spec = plan.spec
        labels = {field.name: field.label for field in FIELDS}
        over = " × ".join(labels.get(name, name.replace("_", " ")) for name in sorted(spec.space))
        budget = f"{spec.budget} trials"
        at_once = f"{len(plan.devices)} at a time on {', '.join(plan.devices)}"
        if plan.continues:
            return (
                f"continues sweep {spec.name}: {budget} in all, those done count ({spec.sampler} over {over}),"
                f" {at_once}; press s to go on"
            )
        return f"sweep {spec.name}: {budget} ({spec.sampler} over {over}), {at_once}; press s to start"

    def focus_first_error(self) -> None:
        for name in self.row_names:
            if name in self.errors:
                self.query_one(f"#field-{name}").focus()
                return

    def set_field(self, name: str, text: str) -> None:
        """Type `text` into a number field (the range test's rate) and check it as if typed; focus goes there."""
        widget = self.query_one(f"#field-{name}", Input)
        widget.value = text
        widget.focus()
        self.validate_fields()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "field-sweep_name":
            self.name_typed = True
        self._changed()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._changed()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = "" if event.select.is_blank() else str(event.value)
        if event.select.id == "field-model" and value and "," not in value and value != self.base.model:
            self.apply_recipe(value)
            return
        self._changed()

    def on_choice_select_several_requested(self, message: ChoiceSelect.SeveralRequested) -> None:
        select = message.select
        name = (select.id or "").removeprefix("field-")
        label = next(field.label for field in FIELDS if field.name == name)

        def chosen(values: tuple[str, ...] | None) -> None:
            if values is not None:
                select.choose(values)
                select.focus()

        self.app.push_screen(ChoicesScreen(label, select.choices, set(select.chosen)), callback=chosen)

    def _changed(self) -> None:
        self.validate_fields()
