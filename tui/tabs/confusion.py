"""The Confusion tab: the live run's newest validation matrix while it trains, its test matrix at the end."""

from __future__ import annotations

from tui.widgets.confusion import ConfusionView


class ConfusionTab(ConfusionView):
    """Drive: `tab.waiting()` when a run starts, `tab.show(evaluated)` for each of its evaluations."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            "the validation confusion matrix appears after the first epoch, the test one at the end", id=id
        )

    def waiting(self) -> None:
        self.show(None, "waiting for the first epoch")
