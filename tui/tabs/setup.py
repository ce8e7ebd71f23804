"""The setup form: dataset, model, device and hyperparameters, validated as they are typed.

Validation is engine.config.field_errors (torch-free); each message shows beside its field.
The model and device lists need torch, so they arrive later through `set_catalog`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from engine.config import DATASETS, OPTIMIZERS, SCHEDULES, RunConfig, field_errors, recipe_config
from engine.recipes import MODEL_NAMES, RECIPES
from tui.engine_api import DeviceEntry, ModelEntry
from tui.formatting import format_switch

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


def parse_field(kind: str, text: str) -> Any:
    """The typed value of a text field; ValueError when the text is not one."""
    text = text.strip()
    if kind == "optional-int":
        return int(text) if text else None
    if kind == "int":
        return int(text)
    return float(text)


class NumberInput(Input):
    """A numeric field: it claims only the keys a number is typed with, so s, p, x, q, ? stay commands."""

    NUMBER_CHARACTERS = frozenset("0123456789.-+eE")

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character in self.NUMBER_CHARACTERS


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

    def __init__(self, config: RunConfig, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.base = config  # settings without a field (weight decay, validation size, compile) come from here
        self.models: dict[str, ModelEntry] = {}  # by name, once loaded
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        for field in FIELDS:
            with Horizontal(classes="field", id=f"row-{field.name}"):
                yield Label(field.label, classes="field-label")
                yield self._widget(field)
                yield Static("", id=f"error-{field.name}", classes="field-error")
            if field.name == "model":
                yield Static("loading models…", id="model-description")
        yield Static("", id="setup-plan")

    def _widget(self, field: Field) -> Widget:
        value = getattr(self.base, field.name)
        widget_id = f"field-{field.name}"
        if field.kind == "bool":
            return OnOffCheckbox(value, id=widget_id)
        if field.kind != "choice":
            return NumberInput(
                _format(value),
                type="number" if field.kind == "float" else "integer",
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
        return Select(
            [(choice, choice) for choice in choices], value=value, allow_blank=False, id=widget_id, compact=True
        )

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
        with self.prevent(Select.Changed):
            self.query_one("#field-device", Select).set_options(device_options)
            self.query_one("#field-device", Select).value = current
            if model_options:
                self.query_one("#field-model", Select).set_options(model_options)
            if self.base.model in self.models:
                self.query_one("#field-model", Select).value = self.base.model
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

    def field_values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """What the fields hold, and the fields whose text is not a value at all."""
        values: dict[str, Any] = {}
        parse_errors: dict[str, str] = {}
        for field in FIELDS:
            widget = self.query_one(f"#field-{field.name}")
            if isinstance(widget, Input):
                try:
                    values[field.name] = parse_field(field.kind, widget.value)
                except ValueError:
                    parse_errors[field.name] = PARSE_ERRORS[field.kind]
            elif isinstance(widget, Select):
                values[field.name] = None if widget.is_blank() else widget.value
            elif isinstance(widget, Checkbox):
                values[field.name] = bool(widget.value)
        return values, parse_errors

    def config(self) -> RunConfig:
        """The settings as they stand (check `validate_fields()` before using it)."""
        return self._config_from(self.field_values()[0])

    def _config_from(self, values: dict[str, Any]) -> RunConfig:
        # A field whose text is not a value keeps the previous setting, so it is reported once, as unreadable.
        usable = {k: v for k, v in values.items() if v is not None or k == "limit"}
        return self.base.with_changes(**usable)

    def validate_fields(self) -> dict[str, str]:
        """Show each field's problem beside it; return them all (empty when the setup can start)."""
        values, parse_errors = self.field_values()
        config = self._config_from(values)
        errors = {**field_errors(config), **parse_errors}
        self.errors = errors
        self.query_one("#setup-plan", Static).update(self._plan(config, errors))
        for field in FIELDS:
            message = errors.get(field.name, "")
            self.query_one(f"#error-{field.name}", Static).update(message)
            self.query_one(f"#row-{field.name}").set_class(bool(message), "-invalid")
        return errors

    def _plan(self, config: RunConfig, errors: dict[str, str]) -> str:
        if errors:
            return f"fix {len(errors)} setting{'s' if len(errors) > 1 else ''} marked in red, then press s to start"
        steps = math.ceil(config.train_size / config.batch_size)
        return (
            f"{config.train_size:,} training and {config.val_count():,} validation images, {steps:,} steps per"
            " epoch; press s to start, ? for every key"
        )

    def focus_first_error(self) -> None:
        for field in FIELDS:
            if field.name in self.errors:
                self.query_one(f"#field-{field.name}").focus()
                return

    def set_field(self, name: str, text: str) -> None:
        """Type `text` into a number field (the range test's rate) and check it as if typed; focus goes there."""
        widget = self.query_one(f"#field-{name}", Input)
        widget.value = text
        widget.focus()
        self.validate_fields()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._changed()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._changed()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "field-model" and not event.select.is_blank() and event.value != self.base.model:
            self.apply_recipe(str(event.value))
            return
        self._changed()

    def _changed(self) -> None:
        self.validate_fields()
