"""What a run's instances cost: the one place the arithmetic is done, and the text saying how.

SageMaker bills each transform instance from TransformStartTime ("when the transform job starts on ML
instances") to TransformEndTime (DescribeTransformJob's documentation); the wait from CreationTime to
TransformStartTime, while instances are found, is not billed. So a run that happened costs

    instance_count x (TransformEndTime - TransformStartTime) x the price per instance-hour

with nothing assumed: the run record stores that figure and how it was reached, and every display (the
demo's summary, the dashboard) shows the record's figure instead of computing one. A forecast before a
run (`leafline tune`) has no job times yet, so it assumes a start-up on top of the scoring time, and uses
the same arithmetic (`instance_cost`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leafline.prices import PriceTable, load_price_table
from leafline.runs.record import job_seconds

BILLED_INTERVAL = "TransformStartTime to TransformEndTime"  # what SageMaker bills, per instance


@dataclass(frozen=True)
class Cost:
    instance_type: str
    instance_count: int
    billed_s: float  # per instance
    billed_from: str  # how billed_s was found: BILLED_INTERVAL for a run, the assumptions for a forecast
    usd_per_hour: float | None  # None: the price table has no price for the type
    price_source: str  # the price table's provenance (says when it is an estimate)

    @property
    def instance_hours(self) -> float:
        return self.instance_count * self.billed_s / 3600.0

    @property
    def usd(self) -> float | None:
        return None if self.usd_per_hour is None else self.instance_hours * self.usd_per_hour

    def basis(self) -> str:
        """How the figure was computed, e.g. "ml.m5.xlarge x 1, 1.7 s billed (TransformStartTime to
        TransformEndTime) x $0.33/h; ESTIMATED prices for sa-east-1 as of ..."."""
        price = f"x ${self.usd_per_hour:g}/h" if self.usd_per_hour is not None else "x no price for the type"
        return (f"{self.instance_type} x {self.instance_count}, {duration_text(self.billed_s)} billed "
                f"({self.billed_from}) {price}; {self.price_source}")  # fmt: skip

    def to_record(self) -> dict[str, Any]:
        """The run record's `cost` (leafline.run/2; documented in leafline.runs.record)."""
        usd = self.usd
        return {
            "usd": None if usd is None else round(usd, 6),
            "usd_per_hour": self.usd_per_hour,
            "instance_hours": round(self.instance_hours, 6),
            "basis": self.basis(),
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "billed_s": round(self.billed_s, 3),
            "billed_from": self.billed_from,
            "price_source": self.price_source,
        }


def instance_cost(
    instance_type: str, instance_count: int, billed_s: float, prices: PriceTable, billed_from: str
) -> Cost:
    """instance_count instances, each billed billed_s seconds, at the table's hourly price for the type."""
    return Cost(instance_type, instance_count, billed_s, billed_from, prices.price(instance_type), prices.provenance())


def job_cost(
    instance_type: str, instance_count: int, job: Mapping[str, Any], prices: PriceTable | None = None
) -> Cost | None:
    """What a transform job (its DescribeTransformJob) was billed, or None when it never started on instances."""
    billed_s = job_seconds(job.get("TransformStartTime"), job.get("TransformEndTime"))
    if billed_s is None:
        return None
    return instance_cost(instance_type, instance_count, billed_s, prices or load_price_table(None), BILLED_INTERVAL)


def usd_text(usd: float | None) -> str:
    """A cost as every display writes it: 4 decimals, 6 below a cent (a short run costs fractions of one)."""
    if usd is None:
        return "unknown (no price for the type)"
    return f"${usd:,.4f}" if usd >= 0.01 or usd == 0 else f"${usd:.6f}"


def cost_text(cost: Mapping[str, Any] | None) -> str:
    """A record's cost and how it was computed, for people: "$0.000156: ml.m5.xlarge x 1, 1.7 s billed ..."."""
    if not cost:
        return "not known (the record has no job times)"
    basis = cost.get("basis")
    return f"{usd_text(cost.get('usd'))}: {basis}" if basis else usd_text(cost.get("usd"))


def duration_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
