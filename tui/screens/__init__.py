"""Screens pushed over the dashboard: help and confirmations."""
