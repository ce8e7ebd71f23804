"""Leaf widgets the tabs are built from: charts, the progress line, the log, matrices, digits, the canvas."""
