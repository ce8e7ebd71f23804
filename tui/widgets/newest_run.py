"""Tabs that, until told which run to show, show the newest trained run: loaded when first shown, not on mount."""

from __future__ import annotations

from pathlib import Path

from textual.message import Message


class FollowsNewestRun:
    """Mixed into a widget that implements `load_newest()` (start loading the newest trained run)."""

    class Failed(Message):
        """The run could not be loaded or used; `message` says why, for the tab's status line."""

        def __init__(self, message: str):
            super().__init__()
            self.message = message

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
