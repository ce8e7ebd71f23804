"""The arrow keys of a widget with a grid cursor: each calls its `action_move(rows, columns)`."""

from __future__ import annotations

from textual.binding import Binding

ARROW_BINDINGS = [
    Binding("up", "move(-1, 0)", "up", show=False),
    Binding("down", "move(1, 0)", "down", show=False),
    Binding("left", "move(0, -1)", "left", show=False),
    Binding("right", "move(0, 1)", "right", show=False),
]
