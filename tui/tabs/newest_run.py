"""Tabs that, until told which run to show, show the newest trained run: loaded when first shown, not on mount."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message
from textual.worker import get_current_worker


class FollowsNewestRun:
    """Mixed into a tab widget (before its Textual base) that implements `load_newest()`: start loading the
    newest trained run."""

    class Failed(Message):
        """The run could not be loaded or used; `message` says why, for the tab's status line."""

        def __init__(self, message: str):
            super().__init__()
            self.message = message

    if TYPE_CHECKING:  # what the widget it is mixed into provides

        def post_message(self, message: Message) -> bool: ...

        @property
        def is_on_screen(self) -> bool: ...

    requested = False  # a run was asked for, or the newest one looked up
    runs_dir: Path

    def newest_run_or_say_none(self) -> Path | None:
        """The newest trained run in `runs_dir`; None, with a Failed message saying so, while there is none."""
        from engine.runs import newest_trained_run

        run_dir = newest_trained_run(self.runs_dir)
        if run_dir is None:
            self.post_message(self.Failed(f"no trained run in {self.runs_dir} yet: train one first"))
        return run_dir

    def load_newest(self) -> None:
        raise NotImplementedError

    def failure(self, run_dir: Path | None, error: Exception) -> str:
        """The status line for a run that could not be loaded."""
        return f"cannot load {run_dir}: {error}"

    def load_in_worker(self, run_dir: Path | None, load: Callable[[Path], Message]) -> None:
        """Called from the tab's thread worker: post `load(run_dir)` (the newest trained run's when None), unless
        another run was asked for meanwhile; a failure posts Failed instead and never takes the app down."""
        try:
            if run_dir is None:
                run_dir = self.newest_run_or_say_none()
                if run_dir is None:
                    return
            loaded = load(run_dir)
            if not get_current_worker().is_cancelled:
                self.post_message(loaded)
        except Exception as error:
            self.post_message(self.Failed(self.failure(run_dir, error)))

    def follow_newest(self) -> None:
        """A new run finished: show the newest trained run next time this tab is shown (now, if it is)."""
        self.requested = False
        if self.is_on_screen:
            self.on_show()

    def on_show(self) -> None:
        # A hidden tab costs nothing: no torch import, no scoring, until someone looks at it.
        if not self.requested:
            self.requested = True
            self.load_newest()
