"""Shared presentation that every app may use: how forms are rendered (``forms``) and how
times are written (``times``)."""
