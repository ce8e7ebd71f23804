"""The dashboard's widgets, grouped by what the user sees."""
