"""The speed benchmark: `python -m bench --data-dir DIR` prints a table and writes bench/results/latest.json."""

# The engine first: it sets the OpenMP wait policy, which only counts if set before torch loads.
import engine  # noqa: F401
