"""TEMP placeholder until H9's expiry chart is merged: the merger takes H9's file."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ExpiryMonth:
    label: str
    count: int


@dataclass(frozen=True)
class ExpiryChart:
    months: list[ExpiryMonth]


def expiry_months(records: Iterable, *, now: datetime, months: int = 24) -> ExpiryChart:
    """Certificates expiring in each of the coming ``months`` months (placeholder)."""
    counts: dict[tuple[int, int], int] = {}
    for record in records:
        if record.not_after is not None and record.not_after >= now:
            key = (record.not_after.year, record.not_after.month)
            counts[key] = counts.get(key, 0) + 1
    year, month = now.year, now.month
    shown = []
    for _ in range(months):
        shown.append(ExpiryMonth(f"{year}-{month:02d}", counts.get((year, month), 0)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return ExpiryChart(months=shown)
