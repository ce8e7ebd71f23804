"""The `?` screen: every key, what it does, and how to move around without a mouse."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = (
    ("s", "start a run with the current setup; a sweep when a field holds a list a,b or a range lo:hi"),
    (",", "Setup, on a picker (model, dataset, ...): mark several values to sweep over"),
    ("p", "pause / resume the run"),
    (
        "x",
        "stop the run, or a followed run after a confirm (finished epochs and checkpoints are kept), or a"
        " sweep's running trials (as stopped: starting the sweep again goes on)",
    ),
    (
        "e",
        "export the current run, or the run highlighted in the Runs tab (PNG + CSV); in the Sweep tab, the"
        " sweep's trials.csv and sweep.png",
    ),
    ("l", "Setup tab: find a learning rate (range test on the current setup; not while a run trains)"),
    ("← → s enter", "range test: move along the curve (shift: 10 steps), back to the suggestion, use this rate"),
    ("r", "Runs tab: resume the highlighted interrupted or stopped run"),
    ("c", "Runs tab on a narrow screen: switch between curves and confusion matrix"),
    ("space", "Runs tab: mark runs to compare their validation curves"),
    ("i", "Runs tab: open the highlighted run in the Mistakes and Draw tabs"),
    ("f", "Runs tab: follow the highlighted run in the Train tab (live while another process trains it)"),
    ("o / O", "Runs and Sweep tabs: sort by the next column / reverse the order"),
    ("enter", "Sweep tab: open the highlighted trial's run (Runs tab, Mistakes, Draw), or a past sweep"),
    ("a", "Sweep tab: list every sweep in the runs folder"),
    ("↑ ↓ ← → enter", "Mistakes tab, on the matrix: pick a (true, predicted) cell to see its mistakes"),
    ("w / a", "Mistakes tab: jump to the worst cell / show all mistakes again"),
    ("n / b", "Mistakes tab: next / previous page of the gallery"),
    ("arrows, space, c", "Draw tab: move the pen, paint (shift+arrows paint as they move), clear"),
    ("1 2 3 …", "switch tabs"),
    ("tab / shift+tab", "move focus between fields and panels"),
    ("↑ ↓ enter", "move in lists and tables, open a picker"),
    ("?", "this help"),
    ("q", "quit (asks first while a run or a sweep is training, then stops it cleanly)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with Vertical(id="help-dialog"):
            yield Static("[b]mnist-tui keys[/b]")
            yield Static(table)
            yield Static("[dim]escape, q or ? closes this help[/dim]")
