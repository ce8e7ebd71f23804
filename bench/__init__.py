"""The speed benchmark: `python -m bench --data-dir DIR` prints a table and writes bench/results/latest.json."""
