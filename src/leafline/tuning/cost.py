"""What a run will cost, forecast before it runs, and the cheapest instance type that meets a deadline.

Batch Transform bills each instance from TransformStartTime to TransformEndTime, so a run costs
count x (start-up + rows / (count x rows/s per instance)) x price per hour; the arithmetic is
leafline.runs.cost's, the one a run's record uses. The start-up (from the instances' start to the first
record scored: pulling and starting the image, loading the model) is an assumption, shown with every
forecast; a run that happened needs none, its record has the job's times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from leafline.runs.cost import Cost, duration_text, instance_cost
from leafline.spec.instance_types import INSTANCE_TYPES
from leafline.spec.prices import PriceTable
from leafline.tuning.choose import Choice, choose_settings
from leafline.tuning.profile import Summary

DEFAULT_STARTUP_MIN = 5.0


@dataclass(frozen=True)
class Estimate:
    choice: Choice
    instance_count: int
    rows: int
    minutes: float  # wall time, start-up included
    cost: Cost

    @property
    def usd(self) -> float | None:  # None: the table has no price for the type
        return self.cost.usd

    @property
    def usd_per_hour(self) -> float | None:
        return self.cost.usd_per_hour


def estimate(
    summary: Summary, instance_type: str, count: int, rows: int, prices: PriceTable,
    startup_min: float = DEFAULT_STARTUP_MIN,
) -> Estimate:  # fmt: skip
    choice = choose_settings(summary, instance_type)
    scoring_min = rows / (choice.rows_per_s * count) / 60.0
    minutes = startup_min + scoring_min
    assumed = f"forecast: {duration_text(scoring_min * 60)} scoring + {startup_min:g} min assumed start-up"
    return Estimate(choice, count, rows, minutes, instance_cost(instance_type, count, minutes * 60, prices, assumed))


def cheapest_meeting(
    summary: Summary, rows: int, deadline_min: float, prices: PriceTable,
    candidates: Iterable[str] | None = None, max_count: int = 4, startup_min: float = DEFAULT_STARTUP_MIN,
) -> list[Estimate]:  # fmt: skip
    """Every (type, count) that finishes within the deadline, cheapest first (then fastest)."""
    names = list(candidates) if candidates is not None else list(INSTANCE_TYPES)
    meeting = []
    for name in names:
        if prices.price(name) is None:
            continue
        for count in range(1, max_count + 1):
            option = estimate(summary, name, count, rows, prices, startup_min)
            if option.minutes <= deadline_min:
                meeting.append(option)
                break  # more instances of the same type only add start-up cost
    return sorted(meeting, key=lambda e: (e.usd or 0.0, e.minutes))
