"""Tabs that, until told which run to show, show the newest trained run: loaded when first shown, not on mount."""

from __future__ import annotations


class FollowsNewestRun:
    """Mixed into a widget that implements `load_newest()` (start loading the newest trained run)."""

    requested = False  # a run was asked for, or the newest one looked up

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
