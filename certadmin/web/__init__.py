"""Shared presentation that every app may use: how times are written (``times``)."""
