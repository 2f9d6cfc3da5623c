"""Shared presentation that every app may use: htmx answers, CSV cells, form rendering and
time text. It sits below the Django apps and imports none of them."""
