"""The dashboard's seven tabs, one module each: each owns its widgets, its state and its background work."""
