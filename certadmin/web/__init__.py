"""Shared presentation every app may use: how forms are rendered (``forms``)."""
